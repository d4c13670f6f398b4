"""The scanners under comparison: how to install, run and read each one.

Every tool, modelxray included, runs as a subprocess on the same input.  Each adapter reads the
tool's *own* verdict semantics (exit code, JSON report, summary text), as verified against its
``--help`` and real runs with picklescan 1.0.5, fickling 0.1.12, modelscan 0.8.8 and
modelaudit 0.2.54:

* **modelxray**: ``scan -f json -o FILE --no-policy --no-cache``; exit 0 = gate passed,
  1 = gate failed, 2 = usage/internal error.  Per file: ``verdict`` ``blocked`` (a finding at
  or above the gate) or ``error`` (could not be fully scanned, fails the gate) or ``allowed``.
* **picklescan**: text only; exit 0 = no *dangerous* global, 1 = dangerous global found,
  2 = scan error.  ``Scanned files: N`` tells whether anything was looked at.
* **fickling**: ``--check-safety --json-output FILE``; exit 0 = LIKELY_SAFE, 1 = anything above
  LIKELY_SAFE, 2 = error (it cannot open ZIP/7z containers from the CLI).  Single file only.
* **modelscan**: ``-r json -o FILE --show-skipped``; exit 0 clean, 1 issues, 2 errors,
  3 nothing supported was scanned, 4 usage; precedence 3 > 2 > 1.  JSON ``summary.total_issues``,
  ``issues[]``, ``errors[]``, ``summary.scanned`` / ``summary.skipped``.
* **modelaudit**: ``scan --no-cache -f json -o FILE``; exit 0 clean, 1 any issue at WARNING or
  above, 2 scan error / incomplete coverage.  JSON ``issues[].severity``, ``has_errors``,
  ``files_scanned``.  Telemetry (PostHog) is disabled with ``PROMPTFOO_DISABLE_TELEMETRY=1`` and
  ``NO_ANALYTICS=1`` (both are set for every tool, with ``DO_NOT_TRACK=1``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("MODELXRAY_BENCH_CACHE", Path.home() / ".cache" / "modelxray-bench"))
VENVS = CACHE / "venvs"
MEASURE = Path(__file__).resolve().with_name("_measure.py")

# Set for every tool: no telemetry, no colour, no update checks, wide consoles (modelscan's
# ``rich`` output wraps at 80 columns when piped).
QUIET_ENV = {
    "PROMPTFOO_DISABLE_TELEMETRY": "1",
    "PROMPTFOO_DISABLE_UPDATE": "1",
    "NO_ANALYTICS": "1",
    "DO_NOT_TRACK": "1",
    "NO_COLOR": "1",
    "COLUMNS": "1000",
    "TERM": "dumb",
    "KERAS_BACKEND": "torch",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "HF_HUB_OFFLINE": "1",
    "PYTHONWARNINGS": "ignore",
}

# Each tool keeps its bytecode cache here (the dev shell may set PYTHONDONTWRITEBYTECODE, and
# an editable install has no compiled bytecode): every tool then starts from warm .pyc files.
QUIET_ENV["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")

# Outcome kinds.
DETECT = "detect"  # the tool's own report flags the input
CLEAN = "clean"  # the tool scanned it and said nothing
ERROR = "error"  # the tool failed or said its scan was incomplete (no finding)
SKIP = "skip"  # the tool did not look at the input at all (unsupported, filtered out)
NA = "n/a"  # the tool has no mode for this kind of input


# --------------------------------------------------------------------------- process runner


@dataclass
class Run:
    argv: list[str]
    rc: int
    wall: float  # seconds, spawn to reap
    maxrss_mb: float  # peak resident set of the process (and its reaped children)
    stdout: str
    stderr: str
    timed_out: bool = False
    cpu: float = 0.0  # user + system seconds of the tool and its reaped children


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 600.0,
    keep_output: int = 2_000_000,
) -> Run:
    """Run one process; its wall time (fork to reap) and *its own* peak RSS.

    A small stdlib-only helper (``_measure.py``, started with ``-I -S``) forks and execs the tool
    and reads ``wait4`` rusage: the tool is forked from that ~10 MB helper, not from this
    harness (Linux carries a forked process's pre-exec high-water mark into ``ru_maxrss``), and
    the figure is the tool's own, not a maximum over every child this harness ever started."""
    cwd.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    full_env.update(QUIET_ENV)
    if env:
        full_env.update(env)
    out_path, err_path, res_path = cwd / ".stdout", cwd / ".stderr", cwd / ".measure.json"
    res_path.unlink(missing_ok=True)
    helper = [sys.executable, "-I", "-S", str(MEASURE), str(res_path), str(out_path),
              str(err_path), "--", *argv]  # fmt: skip
    proc = subprocess.Popen(
        helper,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    try:
        res = json.loads(res_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        res = {"rc": -9 if timed_out else 127, "wall": float(timeout), "maxrss_kb": 0}

    def _read(p: Path) -> str:
        try:
            with open(p, "rb") as f:
                return f.read(keep_output).decode("utf-8", "replace")
        except OSError:
            return ""

    return Run(list(argv), int(res["rc"]), float(res["wall"]), res["maxrss_kb"] / 1024.0,
               _read(out_path), _read(err_path), timed_out, float(res.get("cpu", 0.0)))  # fmt: skip


# --------------------------------------------------------------------------- outcomes


@dataclass
class Outcome:
    kind: str
    rc: int
    detail: str = ""
    # Directory scans: how many files the tool says it judged, and which it flagged.
    judged: int | None = None
    flagged: set[str] = field(default_factory=set)


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # fickling appends one object per stacked pickle: take them all.
        objs, dec, i = [], json.JSONDecoder(), 0
        while i < len(text):
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                break
            try:
                obj, i = dec.raw_decode(text, i)
            except ValueError:
                break
            objs.append(obj)
        return objs or None


def _short(text: str, n: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _rel(name: str, root: Path) -> str:
    """A reported path, relative to the scanned folder, without ``:member`` suffixes."""
    name = name.split(":", 1)[0] if not Path(name).exists() else name
    p = Path(name)
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)


# --------------------------------------------------------------------------- tools


@dataclass
class Tool:
    name: str
    packages: tuple[str, ...] = ()  # pip requirements for its own venv (empty: this Python)
    executable: str = ""
    supports_dir: bool = True
    supports_file: bool = True
    command: Callable[[Tool, Path, Path], list[str]] = field(default=lambda t, p, w: [])
    interpret: Callable[[Run, Path, Path], Outcome] = field(
        default=lambda r, p, w: Outcome(ERROR, r.rc)
    )
    dist: str = ""  # distribution name, for the version

    @property
    def venv(self) -> Path:
        return VENVS / self.name

    def exe(self) -> str:
        if not self.packages:  # the one installed next to this Python, else on PATH
            beside = Path(sys.executable).with_name(self.executable)
            if beside.exists():
                return str(beside)
            return shutil.which(self.executable) or str(beside)
        return str(self.venv / "bin" / self.executable)

    def installed(self) -> bool:
        return Path(self.exe()).exists()

    def install(self, log: Callable[[str], None] = print) -> None:
        """Create ``~/.cache/modelxray-bench/venvs/<name>`` and pip-install the tool into it."""
        if not self.packages or self.installed():
            return
        log(f"installing {self.name} into {self.venv} …")
        self.venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.venv)], check=True)
        subprocess.run([*self._pip(), "--upgrade", "pip"], check=True)
        subprocess.run([*self._pip(), *self.packages], check=True)

    def _pip(self) -> list[str]:
        return [str(self.venv / "bin" / "python"), "-m", "pip", "install", "-q",
                "--disable-pip-version-check"]  # fmt: skip

    def version(self) -> str:
        python = str(self.venv / "bin" / "python") if self.packages else sys.executable
        code = f"import importlib.metadata as m; print(m.version({self.dist!r}))"
        try:
            out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return "?"
        return out.stdout.strip() or "?"

    def run(self, target: Path, workdir: Path, timeout: float = 600.0) -> tuple[Run, Outcome]:
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        argv = self.command(self, target, workdir)
        r = run_measured(argv, cwd=workdir, timeout=timeout)
        if r.timed_out:
            return r, Outcome(ERROR, r.rc, f"timeout after {timeout:.0f}s")
        try:
            return r, self.interpret(r, target, workdir)
        except Exception as exc:  # noqa: BLE001 - a report we cannot read is an error row
            return r, Outcome(ERROR, r.rc, f"unreadable report: {exc!r}")


# ---- modelxray


def _mx_command(t: Tool, target: Path, work: Path) -> list[str]:
    # --no-cache: every run judges every file (as modelaudit's --no-cache), not a cache hit.
    return [t.exe(), "scan", "--no-policy", "--no-cache", "-f", "json", "-o",
            str(work / "report.json"), str(target)]  # fmt: skip


def _mx_interpret(r: Run, target: Path, work: Path) -> Outcome:
    doc = _load_json(work / "report.json")
    if not isinstance(doc, dict):
        return Outcome(ERROR, r.rc, _short(r.stderr or "no report"))
    files = doc.get("files", [])
    flagged = {_rel(f["path"], target) for f in files if f.get("verdict") in ("blocked", "error")}
    blocked = [f for f in files if f.get("verdict") == "blocked"]
    errors = [f for f in files if f.get("verdict") == "error"]
    unsupported = [f for f in files if f.get("status") == "unsupported"]
    rules = sorted({x["rule_id"] for f in blocked + errors for x in f.get("findings", [])})
    detail = ",".join(rules[:3])
    if blocked:
        kind = DETECT
    elif errors:
        kind = ERROR
    elif files and len(unsupported) == len(files):
        kind = SKIP
        detail = "unsupported"
    else:
        kind = CLEAN
    return Outcome(kind, r.rc, detail, judged=len(files), flagged=flagged)


# ---- picklescan


def _ps_command(t: Tool, target: Path, work: Path) -> list[str]:
    return [t.exe(), "-p", str(target)]


def _ps_interpret(r: Run, target: Path, work: Path) -> Outcome:
    text = r.stdout + r.stderr
    scanned = None
    for line in text.splitlines():
        if line.strip().startswith("Scanned files:"):
            scanned = int(line.split(":", 1)[1].split()[0])
    flagged = set()
    for line in text.splitlines():
        if "dangerous import" in line and ":" in line:
            flagged.add(_rel(line.split(":", 1)[0].strip(), target))
    dangerous = [ln for ln in text.splitlines() if "dangerous" in ln.lower() and "FOUND" in ln]
    if r.rc == 1:
        return Outcome(DETECT, 1, _short(dangerous[0] if dangerous else ""), scanned, flagged)
    if r.rc == 2:
        note = "scan error" + (" (dangerous global listed)" if dangerous else "")
        return Outcome(ERROR, 2, note, scanned, flagged)
    if r.rc == 0 and scanned == 0:
        return Outcome(SKIP, 0, "Scanned files: 0", scanned)
    if r.rc == 0:
        return Outcome(CLEAN, 0, "", scanned)
    return Outcome(ERROR, r.rc, _short(r.stderr), scanned)


# ---- fickling


def _fk_command(t: Tool, target: Path, work: Path) -> list[str]:
    return [t.exe(), "--check-safety", "--json-output", str(work / "fickling.json"), str(target)]


def _fk_interpret(r: Run, target: Path, work: Path) -> Outcome:
    doc = _load_json(work / "fickling.json")
    docs = doc if isinstance(doc, list) else [doc] if isinstance(doc, dict) else []
    severities = [str(d.get("severity", "?")) for d in docs if isinstance(d, dict)]
    detail = ",".join(sorted(set(severities)))
    if r.rc == 1:
        return Outcome(DETECT, 1, detail)
    if r.rc == 0:
        return Outcome(CLEAN, 0, detail)
    return Outcome(ERROR, r.rc, _short(r.stderr.strip().splitlines()[-1] if r.stderr else ""))


# ---- modelscan


def _ms_command(t: Tool, target: Path, work: Path) -> list[str]:
    return [t.exe(), "-p", str(target), "-r", "json", "-o", str(work / "modelscan.json"),
            "--show-skipped", "-l", "ERROR"]  # fmt: skip


def _ms_interpret(r: Run, target: Path, work: Path) -> Outcome:
    doc = _load_json(work / "modelscan.json")
    if not isinstance(doc, dict):
        kind = SKIP if r.rc == 3 else ERROR
        return Outcome(kind, r.rc, _short(r.stdout + r.stderr))
    summary = doc.get("summary", {})
    issues = doc.get("issues", []) or []
    errors = doc.get("errors", []) or []
    scanned = (summary.get("scanned") or {}).get("total_scanned")
    base = target if target.is_dir() else target.parent
    root = Path(summary.get("absolute_path") or base)
    flagged = {_rel(str(root / i.get("source", "")), target) for i in issues}
    if issues:
        sev = sorted({str(i.get("severity")) for i in issues})
        return Outcome(DETECT, r.rc, f"{len(issues)} issue(s) {','.join(sev)}", scanned, flagged)
    if errors:
        cats = sorted({str(e.get("category")) for e in errors})
        return Outcome(ERROR, r.rc, ",".join(cats), scanned)
    if r.rc == 3 or scanned == 0:
        return Outcome(SKIP, r.rc, "nothing supported scanned", scanned)
    if r.rc == 0:
        return Outcome(CLEAN, 0, "", scanned)
    return Outcome(ERROR, r.rc, _short(r.stderr), scanned)


# ---- modelaudit


def _ma_command(t: Tool, target: Path, work: Path) -> list[str]:
    return [t.exe(), "scan", "--no-cache", "-f", "json", "-o", str(work / "modelaudit.json"),
            str(target)]  # fmt: skip


_MA_BLOCKING = {"critical", "warning", "error", "high", "medium"}


def _ma_interpret(r: Run, target: Path, work: Path) -> Outcome:
    doc = _load_json(work / "modelaudit.json")
    if not isinstance(doc, dict):
        return Outcome(ERROR, r.rc, _short(r.stderr.strip().splitlines()[-1] if r.stderr else ""))
    issues = [i for i in doc.get("issues", []) or [] if isinstance(i, dict)]
    serious = [i for i in issues if str(i.get("severity", "")).lower() in _MA_BLOCKING]
    scanned = doc.get("files_scanned")
    flagged = set()
    for i in serious:
        loc = str(i.get("location") or "")
        if loc:
            loc = loc.split(" (", 1)[0]
            flagged.add(_rel(loc, target))
    if r.rc == 1 or serious:
        sev = sorted({str(i.get("severity")) for i in serious})
        codes = sorted({str(i.get("rule_code")) for i in serious if i.get("rule_code")})
        return Outcome(DETECT, r.rc, f"{','.join(sev)} {','.join(codes[:3])}", scanned, flagged)
    if r.rc == 2 or doc.get("has_errors"):
        msgs = [str(i.get("message", "")) for i in issues]
        return Outcome(ERROR, r.rc, _short(msgs[0] if msgs else "has_errors"), scanned)
    if r.rc == 0:
        return Outcome(CLEAN, 0, "", scanned)
    return Outcome(ERROR, r.rc, _short(r.stderr), scanned)


MODELXRAY = Tool(
    "modelxray",
    dist="modelxray",
    executable="modelxray",
    command=_mx_command,
    interpret=_mx_interpret,
)
PICKLESCAN = Tool(
    "picklescan",
    dist="picklescan",
    packages=("picklescan[7z]", "numpy"),
    executable="picklescan",
    command=_ps_command,
    interpret=_ps_interpret,
)
FICKLING = Tool(
    "fickling",
    dist="fickling",
    # 0.1.12's wheel forgets typing_extensions on Python < 3.12.
    packages=("fickling[archive]", "typing_extensions"),
    executable="fickling",
    supports_dir=False,
    command=_fk_command,
    interpret=_fk_interpret,
)
MODELSCAN = Tool(
    "modelscan",
    dist="modelscan",
    # numpy < 2.3: modelscan 0.8.8 calls numpy.lib.format private helpers removed in 2.3, so
    # every .npy scan errors with a current numpy.  Without TensorFlow (2+ GB) it cannot scan
    # .keras files (DEPENDENCY error); that is how most users install it.
    packages=("modelscan[h5py]", "numpy<2.3"),
    executable="modelscan",
    command=_ms_command,
    interpret=_ms_interpret,
)
MODELAUDIT = Tool(
    "modelaudit",
    dist="modelaudit",
    # Its base install plus the extras for the formats in the corpus; no torch/TF (no extra of
    # modelaudit needs them for static scanning).
    packages=("modelaudit[h5]", "py7zr", "onnx", "safetensors"),
    executable="modelaudit",
    command=_ma_command,
    interpret=_ma_interpret,
)


REPO = Path(__file__).resolve().parents[1]


class ModelxrayVenv(Tool):
    """modelxray installed like a user installs it (a wheel built from this checkout, in its own
    venv, with the optional 7z/lz4/zstd readers), so it starts under the same conditions as the
    peers: no editable-install path hooks, no unrelated ``.pth`` files, bytecode compiled."""

    def snapshot(self) -> Path:
        """A copy of the checkout's packaging inputs (pip builds in-tree; keep the repo clean)."""
        dst = CACHE / "src-snapshot"
        if dst.exists():
            shutil.rmtree(dst)
        dst.mkdir(parents=True)
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (REPO / name).exists():
                shutil.copy2(REPO / name, dst / name)
        shutil.copytree(REPO / "src", dst / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))  # fmt: skip
        return dst

    def install(self, log: Callable[[str], None] = print) -> None:
        """(Re)install the current checkout; dependencies are installed once."""
        src = self.snapshot()
        if not self.installed():
            log(f"installing modelxray (from this checkout) into {self.venv} …")
            self.venv.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "venv", "--clear", str(self.venv)], check=True)
            subprocess.run([*self._pip(), "--upgrade", "pip"], check=True)
            subprocess.run([*self._pip(), f"{src}[7z,lz4,zstd]"], check=True)
        else:
            log("refreshing modelxray in its benchmark venv from this checkout …")
            subprocess.run([*self._pip(), "--no-deps", "--force-reinstall", str(src)], check=True)


MODELXRAY_VENV = ModelxrayVenv(
    "modelxray",
    dist="modelxray",
    packages=("<this checkout>",),
    executable="modelxray",
    command=_mx_command,
    interpret=_mx_interpret,
)

PEERS = (PICKLESCAN, FICKLING, MODELSCAN, MODELAUDIT)
ALL_TOOLS = (MODELXRAY, *PEERS)


def install_all(names: Sequence[str], log: Callable[[str], None] = print) -> None:
    for t in PEERS:
        if t.name in names:
            t.install(log)


if __name__ == "__main__":  # python benchmarks/peers.py [install]
    install_all([t.name for t in PEERS])
    for t in ALL_TOOLS:
        print(t.name, t.version(), t.exe())
