"""``scan --isolate``: each file parsed in a limited child; a kill or a limit is a finding for
that file and the run goes on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelxray
from modelxray.engine import ScanOptions
from modelxray.isolate import IsolationSettings, result_from_dict, scan_isolated
from modelxray.model import Confidence, FileResult, Finding, Location, Severity
from modelxray.policy import Policy, load_policy, policy_from_dict, policy_to_dict


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("iso")
    heavy = d / "a_heavy.pkl"
    heavy.write_bytes(b"\x80\x04" + b"(1" * 6_000_000 + b"N.")  # valid, ~seconds of CPU to model
    big = d / "b_big.json"
    big.write_text(json.dumps({"rows": [list(range(50)) for _ in range(100_000)]}))
    small = d / "c_small.json"
    small.write_text('{"ok": true}')
    return {"heavy": heavy, "big": big, "small": small}


def test_cpu_limit_is_a_finding_and_the_run_continues(files: dict[str, Path]) -> None:
    report = scan_isolated(
        [str(files["heavy"]), str(files["small"])],
        ScanOptions(),
        IsolationSettings(cpu_seconds=1),
    )
    heavy, small = report.files
    assert [f.rule_id for f in heavy.findings] == ["MX-SCAN-008"]
    assert heavy.findings[0].evidence["cause"] == "cpu"
    assert heavy.findings[0].evidence["exit"] == -24  # SIGXCPU
    assert heavy.status == "unscannable" and heavy.verdict == "error"
    assert small.status == "scanned" and small.verdict == "allowed"


def test_memory_limit_fails_closed(files: dict[str, Path]) -> None:
    report = scan_isolated(
        [str(files["big"]), str(files["small"])], ScanOptions(), IsolationSettings(memory_mb=20)
    )
    big, small = report.files
    assert big.verdict == "error"
    assert {f.rule_id for f in big.findings} & {"MX-SCAN-002", "MX-SCAN-008"}
    assert small.verdict == "allowed"


def test_isolated_result_matches_in_process(files: dict[str, Path], tmp_path: Path) -> None:
    import modelxray

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(b"cposix\nsystem\n(Vecho MODELXRAY_MARKER > /tmp/modelxray_marker_iso\ntR.")
    plain = modelxray.scan(str(evil))
    iso = scan_isolated(str(evil))
    assert [f.rule_id for f in iso.findings] == [f.rule_id for f in plain.findings]
    assert iso.files[0].verdict == plain.files[0].verdict == "blocked"
    assert iso.findings[0].location == plain.findings[0].location


def test_result_round_trip() -> None:
    r = FileResult(path="x", size=3, sha256="ab", formats=["pickle"], status="scanned")
    r.findings.append(
        Finding(
            "MX-SCAN-001",
            Severity.HIGH,
            Confidence.MEDIUM,
            Location("x", ("a", "b")),
            "m",
            {"k": 1},
            "docs/rules/MX-SCAN-001.md",
        )  # fmt: skip
    )
    back = result_from_dict(json.loads(json.dumps(r.to_dict())))
    assert back.to_dict() == r.to_dict()


def test_cli_isolate(files: dict[str, Path]) -> None:
    from modelxray.cli import main

    assert main(["scan", "--isolate", "--no-policy", str(files["small"])]) == 0
    rc = main(["scan", "--isolate", "--no-policy", "--isolate-cpu-seconds", "1", "-q",
               str(files["heavy"]), str(files["small"])])  # fmt: skip
    assert rc == 1


def _rich_policy(tmp_path: Path, sha: str) -> Policy:
    pf = tmp_path / "modelxray.toml"
    pf.write_text(
        f"""
fail_on = "medium"
fail_on_unsupported = true
approved_formats = ["pickle"]
include = ["*.pkl"]
exclude = ["skip/*"]
[rules.MX-SCAN-008]
state = "warn"
severity = "low"
[rules.MX-SCAN-003]
state = "off"
[[allow.pickle_globals]]
global = "my_company.models.Classifier"
reason = "our own estimator"
[[deny.keras_modules]]
module = "legacy_layers"
reason = "retired"
[[suppress]]
sha256 = "{sha}"
rule = "*"
reason = "reviewed"
expires = 2001-01-01
"""
    )
    return load_policy(str(pf))


def test_policy_crosses_into_the_child_as_data(tmp_path: Path) -> None:
    policy = _rich_policy(tmp_path, "ab" * 32)
    data = json.loads(json.dumps(policy_to_dict(policy)))
    assert policy_from_dict(data, source=policy.source) == policy
    assert policy_from_dict(policy_to_dict(Policy())) == Policy()


def test_isolated_scan_uses_the_policy(tmp_path: Path) -> None:
    """Allow-lists, rule states and suppressions decide the same with and without --isolate."""
    own = tmp_path / "own.pkl"
    own.write_bytes(b"cmy_company.models\nClassifier\n)R.")
    other = tmp_path / "other.pkl"
    other.write_bytes(b"cother_company.models\nThing\n)R.")
    expired = tmp_path / "expired.pkl"
    expired.write_bytes(
        b"cposix\nsystem\n(Vecho MODELXRAY_MARKER > /tmp/modelxray_marker_isop\ntR."
    )
    policy = _rich_policy(tmp_path, hashlib.sha256(expired.read_bytes()).hexdigest())
    paths = [str(own), str(other), str(expired)]
    plain = modelxray.scan(paths, ScanOptions(policy=policy))
    iso = scan_isolated(paths, ScanOptions(policy=policy))
    assert [r.to_dict() | {"seconds": 0} for r in iso.files] == [
        r.to_dict() | {"seconds": 0} for r in plain.files
    ]
    verdicts = {Path(r.path).name: r.verdict for r in iso.files}
    assert verdicts == {"own.pkl": "allowed", "other.pkl": "blocked", "expired.pkl": "blocked"}
    # one expired-suppression finding, not one from the child and one from the parent
    rule_ids = [f.rule_id for f in iso.files[2].findings]
    assert rule_ids.count("MX-SCAN-006") == 1


def _comparable(report: modelxray.Report) -> list[dict[str, object]]:
    return [r.to_dict() | {"seconds": 0} for r in report.files]


@pytest.mark.parametrize("folder", ["examples", "tests/data"])
def test_pool_matches_the_plain_scan_on_a_folder(folder: str) -> None:
    """Every file of a real folder: same findings, statuses, verdicts and model-data links."""
    root = Path(__file__).resolve().parent.parent / folder
    options = ScanOptions(jobs=2)
    plain = modelxray.scan(str(root), options)
    iso = scan_isolated(str(root), options, IsolationSettings(recycle_after=3))
    assert len(iso.files) > 3
    assert _comparable(iso) == _comparable(plain)


def _spy(monkeypatch: pytest.MonkeyPatch, log: Path, kill_name: str = "") -> None:
    """Wrap the worker's scan_file (before the pool forks): note the worker's pid per file and
    kill the worker outright on the file named ``kill_name``."""
    import os
    import signal

    import modelxray.isolate as isolate

    real = isolate.scan_file
    scanner = os.getpid()

    def spy(source: modelxray.engine.SourceFile, options: ScanOptions) -> FileResult:
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        if Path(source.display).name == kill_name:
            assert os.getpid() != scanner, "parsed by the scanning process, not a worker"
            os.kill(os.getpid(), signal.SIGKILL)
        return real(source, options)

    monkeypatch.setattr(isolate, "scan_file", spy)


def _small_files(tmp_path: Path, n: int) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp_path / f"f{i}.json"
        p.write_text(json.dumps({"i": i}))
        paths.append(str(p))
    return paths


def test_a_killed_worker_costs_only_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    paths = _small_files(tmp_path, 5)
    log = tmp_path / "pids.log"
    _spy(monkeypatch, log, kill_name="f2.json")
    iso = scan_isolated(paths, ScanOptions(jobs=1), IsolationSettings(recycle_after=100))
    by_name = {Path(r.path).name: r for r in iso.files}
    killed = by_name.pop("f2.json")
    assert [f.rule_id for f in killed.findings] == ["MX-SCAN-008"]
    assert "SIGKILL" in killed.findings[0].message
    assert killed.findings[0].evidence["cause"] == "crash"
    assert killed.findings[0].evidence["exit"] == -9
    assert killed.status == "unscannable" and killed.verdict == "error"
    assert [r.verdict for r in by_name.values()] == ["allowed"] * 4
    assert [r.status for r in by_name.values()] == ["scanned"] * 4
    pids = log.read_text().split()
    assert len(pids) == 5 and os.getpid() not in map(int, pids)
    # the worker that died on f2 is replaced: f3 and f4 are read by a fresh one
    assert pids[0] == pids[1] == pids[2] != pids[3] == pids[4]


def test_workers_are_recycled_after_n_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _small_files(tmp_path, 7)
    log = tmp_path / "pids.log"
    _spy(monkeypatch, log)
    iso = scan_isolated(paths, ScanOptions(jobs=1), IsolationSettings(recycle_after=3))
    assert [r.verdict for r in iso.files] == ["allowed"] * 7
    pids = log.read_text().split()
    assert [len(set(pids[i : i + 3])) for i in (0, 3, 6)] == [1, 1, 1]
    assert len(set(pids)) == 3


def test_no_worker_outlives_the_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    paths = _small_files(tmp_path, 6)
    log = tmp_path / "pids.log"
    _spy(monkeypatch, log)
    scan_isolated(paths, ScanOptions(jobs=2), IsolationSettings(recycle_after=2))
    for pid in set(map(int, log.read_text().split())):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


# ------------------------------------------------------------------------------ remote files


@pytest.fixture
def web(tmp_path: Path, files: dict[str, Path]) -> Iterator[tuple[str, Path]]:
    """A loopback web server over a folder (range requests), and the folder."""
    import shutil

    import tests.remote_servers as rs

    root = tmp_path / "www"
    root.mkdir()
    for p in _small_files(tmp_path, 3):
        shutil.copy(p, root)
    shutil.copy(files["heavy"], root)
    (root / "evil.pkl").write_bytes(
        b"cposix\nsystem\n(Vecho MODELXRAY_MARKER > /tmp/modelxray_marker_iso\ntR."
    )
    server = rs.StaticServer(root)
    try:
        yield server.url, root
    finally:
        server.close()


def test_remote_files_are_parsed_in_the_workers(
    web: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--isolate`` with ``https://`` (any remote source): each remote file is read and
    parsed by a limited worker, never by the scanning process; a worker killed on one costs
    that file only; results match the plain scan."""
    import os

    url, _ = web
    uris = [f"{url}/f{i}.json" for i in range(3)] + [f"{url}/evil.pkl"]
    plain = modelxray.scan(uris, ScanOptions(jobs=1))
    log = tmp_path / "pids.log"
    _spy(monkeypatch, log, kill_name="f1.json")
    iso = scan_isolated(uris, ScanOptions(jobs=1), IsolationSettings(recycle_after=100))
    pids = [int(p) for p in log.read_text().split()]
    assert len(pids) == 4 and os.getpid() not in pids
    killed = iso.files[1]
    assert [f.rule_id for f in killed.findings] == ["MX-SCAN-008"]
    assert killed.verdict == "error" and killed.path == uris[1]
    kept = [0, 2, 3]
    assert [_comparable(iso)[i] for i in kept] == [_comparable(plain)[i] for i in kept]
    assert iso.files[3].verdict == "blocked" and iso.files[3].bytes_fetched
    assert not Path("/tmp/modelxray_marker_iso").exists()


def test_a_remote_file_is_held_to_the_cpu_limit(web: tuple[str, Path]) -> None:
    url, _ = web
    report = scan_isolated(
        [f"{url}/a_heavy.pkl", f"{url}/f0.json"], ScanOptions(), IsolationSettings(cpu_seconds=1)
    )
    heavy, small = report.files
    assert [f.rule_id for f in heavy.findings] == ["MX-SCAN-008"]
    assert heavy.findings[0].evidence["cause"] == "cpu"
    assert small.verdict == "allowed"


def test_cli_isolate_scans_a_remote_file_in_a_worker(web: tuple[str, Path]) -> None:
    import subprocess
    import sys

    url, _ = web
    proc = subprocess.run(
        [sys.executable, "-m", "modelxray", "scan", "--isolate", "--isolate-cpu-seconds", "1",
         "-f", "json", "--no-policy", f"{url}/a_heavy.pkl", f"{url}/evil.pkl"],
        capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).parent.parent / "src")},
    )  # fmt: skip
    report = json.loads(proc.stdout)
    heavy, evil = report["files"]
    assert [f["rule_id"] for f in heavy["findings"]] == ["MX-SCAN-008"]
    assert evil["verdict"] == "blocked"
