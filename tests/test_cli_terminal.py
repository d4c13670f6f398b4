"""The command line at a terminal and in pipelines: progress, streaming, signals, broken pipes,
usage errors found before the scan, colours, policy discovery and standard input.

Signal and pipe tests run the real CLI as a child process; progress and colour tests give it a
pseudo-terminal (``os.openpty``).  No assertion depends on how long anything takes.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelxray import engine
from modelxray.cli import EXIT_BROKEN_PIPE, main
from modelxray.model import FileResult, Report
from modelxray.policy import Policy
from modelxray.reports import json_report, sarif
from modelxray.sources import spool_stdin
from tests.report_schema import validate_json_report, validate_sarif

EXAMPLES = Path(__file__).parent.parent / "examples"
MAL = EXAMPLES / "malicious_lambda.h5"
LOW = EXAMPLES / "tensor_math_lambda.keras"  # one LOW finding (MX-KERAS-104)
JOBLIB = Path(__file__).parent / "data" / "joblib_legacy"
# A protocol-0 pickle that would run `echo` if loaded; it is only ever scanned.
P0_PAYLOAD = b"cos\nsystem\n(S'echo modelxray-p0-marker'\ntR."

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and ptys")


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "modelxray", *args]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def big_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thousands of small real pickles: a scan long enough to interrupt part-way."""
    folder = tmp_path_factory.mktemp("big")
    data = pickle.dumps({"weights": list(range(64)), "name": "layer"}, protocol=4)
    for i in range(3000):
        (folder / f"f{i:04d}.pkl").write_bytes(data)
    return folder


@pytest.fixture
def small_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "small"
    folder.mkdir()
    for i in range(12):
        (folder / f"m{i:02d}.pkl").write_bytes(pickle.dumps({"i": i}))
    return folder


def _read_tty(master: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return b"".join(chunks)


def _run_on_tty(
    args: list[str], tty: str, env: dict[str, str], other: Path
) -> tuple[int, bytes, bytes]:
    """Run the CLI with ``tty`` ("stdout" or "stderr") on a pseudo-terminal, the other stream
    into the file ``other``; returns (exit code, terminal bytes, other stream's bytes)."""
    master, slave = os.openpty()
    with open(other, "wb") as sink:
        if tty == "stdout":
            proc = subprocess.Popen(
                _cmd(*args), stdin=subprocess.DEVNULL, stdout=slave, stderr=sink, env=env
            )
        else:
            proc = subprocess.Popen(
                _cmd(*args), stdin=subprocess.DEVNULL, stdout=sink, stderr=slave, env=env
            )
        os.close(slave)
        seen = _read_tty(master)
        code = proc.wait(timeout=300)
    return code, seen, other.read_bytes()


# ------------------------------------------------------------------------------ progress


def test_progress_is_shown_on_a_terminal(small_folder: Path, tmp_path: Path) -> None:
    code, tty, out = _run_on_tty(
        ["scan", "-f", "json", str(small_folder)], "stderr", _env(), tmp_path / "out"
    )
    assert code == 0, tty
    assert b"modelxray 0/12 files" in tty  # drawn before the first file is judged
    assert b"m00.pkl" in tty  # the current file
    assert tty.endswith(b"\r\x1b[K")  # taken away before the CLI ends
    assert len(json.loads(out)["files"]) == 12  # stdout holds the report alone


@pytest.mark.parametrize(
    ("extra_args", "env"),
    [([], {"CI": "true"}), (["--no-progress"], {})],
    ids=["ci", "no-progress"],
)
def test_progress_is_off_in_ci_and_on_request(
    small_folder: Path, tmp_path: Path, extra_args: list[str], env: dict[str, str]
) -> None:
    code, tty, _ = _run_on_tty(
        ["scan", *extra_args, "-f", "json", str(small_folder)],
        "stderr",
        _env(**env),
        tmp_path / "out",
    )
    assert code == 0
    assert b"files" not in tty and b"\x1b[K" not in tty


def test_progress_is_absent_in_pipes(small_folder: Path) -> None:
    proc = subprocess.run(
        _cmd("scan", str(small_folder)), capture_output=True, env=_env(), timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == b""
    assert b"\r" not in proc.stdout and b"\x1b" not in proc.stdout


def test_progress_line_fits_and_spells_out_hostile_names() -> None:
    from modelxray.progress import Progress

    class Sink:
        def write(self, text: str) -> None: ...

        def flush(self) -> None: ...

    bar = Progress(Sink(), 3)  # type: ignore[arg-type]
    bar.advance(FileResult(path="a", size=1, sha256="", findings=[], verdict="blocked"), "")
    bar.current = "models/\x1b]0;pwned\x07" + "x" * 200 + ".pkl"
    line = bar.text(80)
    assert len(line) <= 79 and line.startswith("modelxray 1/3 files  33%")
    assert "1 blocked" in line
    assert "\x1b" not in line and "\x07" not in line and line.endswith("x.pkl")


# ------------------------------------------------------------------------------ streaming


def test_jsonl_streams_one_line_per_file_then_a_summary() -> None:
    proc = subprocess.run(
        _cmd("scan", "-f", "jsonl", str(JOBLIB)), capture_output=True, text=True, timeout=300
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    files = [d for d in lines if d["type"] == "file" and not d.get("revised")]
    revised = [d for d in lines if d.get("revised")]
    summary = lines[-1]
    assert summary["type"] == "summary" and summary["complete"] is True
    assert "files" not in summary and summary["summary"]["files"] == len(files)
    assert [d["path"] for d in files] == sorted(d["path"] for d in files)  # source order
    assert len(files) == len(list(JOBLIB.iterdir()))
    # joblib's .npy.z sidecars are unsupported until their model is seen: then revised.
    assert revised and all(d["status"] == "scanned" for d in revised)
    assert {f["rule_id"] for d in revised for f in d["findings"]} == {"MX-SCAN-011"}
    # Revised lines replace the earlier ones: together the lines are the JSON report.
    final = {d["path"]: d for d in lines[:-1]}
    doc = {k: v for k, v in summary.items() if k != "type"}
    doc["files"] = [{k: v for k, v in d.items() if k not in ("type", "revised")}
                    for d in final.values()]  # fmt: skip
    validate_json_report(doc)


# ------------------------------------------------------------------------------ signals


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    """Whether ``pid`` is still a live process (a zombie awaiting its reaper is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _wait_for_workers(proc: subprocess.Popen[bytes]) -> set[int]:
    """The pool's workers, once they exist (the scan has started)."""
    deadline = time.monotonic() + 120  # a guard against hanging, not an assertion
    while time.monotonic() < deadline and proc.poll() is None:
        workers = _descendants(proc.pid)
        if len(workers) >= 2:
            return workers
        time.sleep(0.005)
    raise AssertionError("the pool never started")


def test_sigint_mid_scan_reports_what_was_judged(big_folder: Path) -> None:
    """Ctrl-C as a terminal sends it: to the whole process group, workers included."""
    proc = subprocess.Popen(
        _cmd("scan", "-j", "2", "-f", "jsonl", str(big_folder)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
        start_new_session=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the scan is under way: one file has been judged
    assert json.loads(first)["type"] == "file"
    workers = _descendants(proc.pid)
    assert len(workers) >= 2  # the pool, as the test means to check
    os.killpg(proc.pid, signal.SIGINT)
    rest = proc.stdout.read()  # (not communicate(): it would skip what readline buffered)
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.wait(timeout=300)
    assert proc.returncode == 130, err
    lines = [json.loads(line) for line in [first, *rest.splitlines()]]
    summary = lines[-1]
    judged = summary["interrupted"]["files_judged"]
    assert summary["type"] == "summary" and summary["complete"] is False
    assert summary["failed"] is True and summary["verdict"] == "error"
    assert summary["interrupted"]["signal"] == "SIGINT"
    assert summary["interrupted"]["files_total"] == 3000 and 1 <= judged < 3000
    assert len(lines) - 1 == judged
    message = err.decode()
    assert f"interrupted: {judged} of 3000 files judged" in message
    assert "Traceback" not in message and "KeyboardInterrupt" not in message
    assert not [pid for pid in workers if _running(pid)]


def test_sigterm_writes_the_partial_report_where_o_points(big_folder: Path, tmp_path: Path):
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        _cmd("scan", "-j", "2", "-f", "json", "-o", str(out), str(big_folder)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_env(),
    )
    workers = _wait_for_workers(proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    doc = json.loads(out.read_text())
    validate_json_report(doc)
    assert doc["complete"] is False and doc["failed"] is True
    assert doc["interrupted"]["signal"] == "SIGTERM"
    assert doc["interrupted"]["files_judged"] == len(doc["files"]) < 3000
    assert b"interrupted: " in err and b"Traceback" not in err
    assert not [pid for pid in workers if _running(pid)]


def test_an_interrupted_report_fails_and_says_so_in_every_format(tmp_path: Path) -> None:
    done = FileResult(path=str(LOW), size=1, sha256="", verdict="allowed")
    policy = Policy(report_only=True)
    report = Report(files=[done], gate=policy.gate(), interrupted="SIGINT", total=5)
    assert report.failed and report.verdict == "error"  # even report-only
    doc = json_report.to_dict(report)
    validate_json_report(doc)
    assert doc["interrupted"] == {"signal": "SIGINT", "files_judged": 1, "files_total": 5}
    log = sarif.to_dict(report, root=str(tmp_path))
    validate_sarif(log)
    run = log["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["properties"]["complete"] is False and run["properties"]["failed"] is True
    from modelxray.reports import render

    for fmt in ("console", "html"):
        with open(tmp_path / fmt, "w", encoding="utf-8") as f:
            render(report, fmt, f)
        assert "interrupted: 1 of 5 files judged" in (tmp_path / fmt).read_text()


# ------------------------------------------------------------------------------ pipes


@pytest.mark.parametrize(
    "args",
    [
        ["rules"],
        ["explain", "MX-KERAS-101"],
        ["scan", "-f", "json", str(EXAMPLES)],
        ["scan", "-f", "jsonl", "-j", "2", "PLACEHOLDER"],
    ],  # fmt: skip
    ids=["rules", "explain", "scan-json", "scan-jsonl"],
)
def test_a_reader_that_went_away_ends_the_run_quietly(args: list[str], big_folder: Path):
    """`modelxray … | head`: the reader is gone before the first write (deterministic)."""
    args = [str(big_folder) if a == "PLACEHOLDER" else a for a in args]
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(_cmd(*args), stdout=write_end, stderr=subprocess.PIPE, env=_env())
    os.close(write_end)
    os.close(read_end)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == EXIT_BROKEN_PIPE == 141
    assert err == b"", err


# ------------------------------------------------------------------------------ usage errors


@pytest.fixture
def scan_never_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    started: list[str] = []

    def refuse(*args: object, **kwargs: object) -> list[object]:
        started.append("plan")
        raise AssertionError("the scan started")

    monkeypatch.setattr(engine, "plan", refuse)
    monkeypatch.setattr(engine, "iter_results", refuse)
    yield started


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (lambda t: ["-o", str(t / "missing" / "r.json")], "does not exist"),
        (lambda t: ["-o", str(t)], "is a folder"),
        (lambda t: ["--policy", str(t / "missing.toml")], "no such policy file"),
        (lambda t: ["--policy", str(t / "p.toml"), "--no-policy"], "cannot be used together"),
        (lambda t: ["--policy", str(t / "bad.toml")], "not valid TOML"),
        (lambda t: ["--fail-on", "severe"], "none)"),
    ],
    ids=[
        "o-parent-missing",
        "o-is-folder",
        "policy-missing",
        "policy-conflict",
        "policy-bad",
        "fail-on",
    ],  # fmt: skip
)
def test_usage_errors_fail_before_the_scan(
    make_args,
    expected,
    tmp_path,
    big_folder,
    scan_never_starts,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "p.toml").write_text('fail_on = "low"\n')
    (tmp_path / "bad.toml").write_text("fail_on = \n")
    before = sorted(tmp_path.rglob("*"))
    assert main(["scan", "-f", "jsonl", *make_args(tmp_path), str(big_folder)]) == 2
    captured = capsys.readouterr()
    assert scan_never_starts == []
    assert captured.out == ""  # no report
    assert sorted(tmp_path.rglob("*")) == before  # no report file either
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("modelxray: "), captured.err
    assert expected in lines[0] and "internal error" not in lines[0]


# ------------------------------------------------------------------------------ colour


@pytest.mark.parametrize(
    ("args", "env", "coloured"),
    [
        ([], {}, True),
        ([], {"NO_COLOR": "1"}, False),
        (["--color", "never"], {}, False),
        (["--color", "always"], {"NO_COLOR": "1"}, True),
    ],
    ids=["auto-tty", "no-color", "never", "always"],
)
def test_colour_follows_no_color_and_the_option(
    args: list[str], env: dict[str, str], coloured: bool, tmp_path: Path
) -> None:
    code, tty, _ = _run_on_tty(["scan", *args, str(MAL)], "stdout", _env(**env), tmp_path / "err")
    assert code == 1
    assert b"MX-KERAS-101" in tty
    assert (b"\x1b[" in tty) is coloured


def test_colour_always_reaches_a_pipe_and_auto_does_not() -> None:
    auto = subprocess.run(_cmd("scan", str(MAL)), capture_output=True, env=_env(), timeout=300)
    always = subprocess.run(
        _cmd("scan", "--color", "always", str(MAL)), capture_output=True, env=_env(), timeout=300
    )
    assert b"\x1b[" not in auto.stdout and b"\x1b[" in always.stdout


# ------------------------------------------------------------------------------ wording


def test_console_says_allowed_blocked_error_never_ok(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    proc = subprocess.run(
        _cmd("scan", "--fail-on", "none", str(EXAMPLES)), capture_output=True, text=True
    )
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert any(line.split()[:2] == ["allowed", str(MAL)] for line in lines), proc.stdout
    assert not [line for line in lines if line.split()[:1] == ["ok"]]
    proc = subprocess.run(
        _cmd("scan", "--fail-on-unsupported", str(tmp_path)), capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert f"blocked {tmp_path / 'notes.txt'}  (-; unsupported)" in proc.stdout


# ------------------------------------------------------------------------------ policy


def _scan_json(out: Path, *paths: str) -> tuple[int, dict[str, object]]:
    code = main(["scan", "-f", "json", "-o", str(out), *paths])
    return code, json.loads(out.read_text())


def test_policy_is_found_from_a_subfolder_up_to_the_project_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outer = tmp_path / "outer"
    project = outer / "project"
    deep = project / "src" / "deep"
    deep.mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "modelxray.toml").write_text('fail_on = "low"\n')
    # Above the project root: never reached from inside the project.
    (outer / "modelxray.toml").write_text('fail_on = "critical"\n')
    monkeypatch.chdir(deep)
    code, doc = _scan_json(tmp_path / "r.json", str(LOW))
    assert code == 1  # the project's fail_on = "low" blocks the LOW finding
    assert doc["policy"]["source"] == str(project / "modelxray.toml")  # type: ignore[index]
    text = tmp_path / "r.txt"
    assert main(["scan", "-o", str(text), str(LOW)]) == 1
    footer = text.read_text().splitlines()[-1]
    fingerprint = doc["policy"]["fingerprint"]  # type: ignore[index]
    assert footer == f"  policy: {project / 'modelxray.toml'} (sha256 {fingerprint})"
    # Another project without a policy: the defaults, not the policy above it.
    other = outer / "other"
    (other / ".git").mkdir(parents=True)
    monkeypatch.chdir(other)
    code, doc = _scan_json(tmp_path / "r2.json", str(LOW))
    assert code == 0 and doc["policy"]["source"] is None  # type: ignore[index]


def test_a_policy_inside_the_scanned_folder_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)
    models = tmp_path / "models"
    models.mkdir()
    shutil.copy(MAL, models / "model.h5")
    (models / "modelxray.toml").write_text('fail_on = "none"\nreport_only = true\n')
    monkeypatch.chdir(work)
    code, doc = _scan_json(tmp_path / "r.json", str(models))
    assert code == 1 and doc["policy"]["source"] is None  # type: ignore[index]
    rules = {f["rule_id"] for r in doc["files"] for f in r["findings"]}  # type: ignore[attr-defined]
    assert {"MX-KERAS-101", "MX-REPO-106"} <= rules


# ------------------------------------------------------------------------------ stdin


def test_stdin_is_scanned(tmp_path: Path) -> None:
    env = _env(TMPDIR=str(tmp_path))
    proc = subprocess.run(
        _cmd("scan", "-f", "json", "-", str(LOW)),
        input=P0_PAYLOAD,
        capture_output=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    first = doc["files"][0]
    assert first["path"] == "<stdin>" and first["verdict"] == "blocked"
    assert first["max_severity"] == "critical" and first["size"] == len(P0_PAYLOAD)
    assert doc["files"][1]["path"] == str(LOW)
    assert list(tmp_path.iterdir()) == []  # the spooled copy is gone
    assert main(["scan", "-", "-"]) == 2


def test_stdin_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    within = spool_stdin(io.BytesIO(b"x" * 10), max_bytes=10)
    assert within.path is not None and Path(within.path).read_bytes() == b"x" * 10
    os.unlink(within.path)
    over = spool_stdin(io.BytesIO(b"x" * 11), max_bytes=10)
    assert over.path is None
    assert [rule.id for rule, _, _ in over.problems] == ["MX-SCAN-002"]
    assert list(tmp_path.iterdir()) == []
    result = engine.scan_file(over, engine.ScanOptions())
    assert result.verdict == "error"


def test_a_signal_while_a_line_is_written_stops_the_run_once() -> None:
    """A signal during :meth:`_Stopper.hold` waits for the line, then stops the run, once."""
    from modelxray.cli import _Interrupted, _Stopper

    stopper = _Stopper()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    written = []
    try:
        with pytest.raises(_Interrupted) as stopped:
            with stopper.hold():
                stopper(signal.SIGTERM, None)  # what the signal does, mid-line
                written.append("the whole line")
        assert stopped.value.signum == signal.SIGTERM and written == ["the whole line"]
        with stopper.hold():  # writing the partial report: not stopped again
            written.append("the report")
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # later signals are ignored
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_allowed_beside_a_critical_finding_says_the_gate_did_not_block_it() -> None:
    """Under ``--fail-on none`` the malicious example is allowed by the gate: the console says
    that is the gate's doing, never a plain "allowed" above a CRITICAL finding."""
    examples = Path(__file__).resolve().parents[1] / "examples"
    proc = subprocess.run(
        [sys.executable, "-m", "modelxray", "scan", "--fail-on", "none", "--color", "never",
         str(examples / "malicious_lambda.h5"), str(examples / "clean_dense.keras")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = proc.stdout.splitlines()
    evil = next(line for line in lines if "malicious_lambda.h5" in line and "allowed" in line)
    assert "not blocked by this gate; worst finding CRITICAL" in evil
    clean = next(line for line in lines if "clean_dense.keras" in line)
    assert "not blocked" not in clean
    assert proc.returncode == 0
