"""The hostile battery (``benchmarks/hostile.py``, issue 15 §6): each input ends in the right
finding and verdict, never an allow.

The inputs are the battery's own builders at small sizes, scanned under limits scaled down to
match (the full sizes and the 10 s / 256 MB targets are measured by the benchmark, not here:
no timed assertions).  Also: special files named on the command line are never opened, no
native child outlives a SIGKILLed scanner, and a folder scan on several processes survives a
worker that dies.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modelxray import ScanOptions, scan
from modelxray.budget import Limits
from modelxray.model import Confidence, Location, Severity
from modelxray.rules import scan as scan_rules
from modelxray.scanning import MAX_LOCATIONS, MAX_REPEATS, Collector

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile.py"


def hostile() -> ModuleType:
    """``benchmarks/hostile.py``, the battery's builders (one home for them)."""
    spec = importlib.util.spec_from_file_location("mx_hostile", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def small_input(folder: Path, name: str) -> Path:
    """One input of the battery at its small size (the rule table's MX-ARCHIVE-010 sample)."""
    file, builder, _, small = hostile().INPUTS[name]
    path: Path = folder / file
    builder(path, **small)
    return path


@pytest.fixture(scope="module")
def battery(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    built: dict[str, Path] = hostile().build(tmp_path_factory.mktemp("hostile"), small=True)
    return built


def _scan(path: Path, **limits: Any) -> tuple[str, list[Any]]:
    report = scan(path, ScanOptions(limits=replace(Limits(), **limits)))
    [result] = report.files
    return str(result.verdict), result.findings


def _limit_hit(findings: list[Any], limit: str) -> bool:
    return any(
        f.rule_id == scan_rules.INCOMPLETE.id and f.evidence.get("limit") == limit for f in findings
    )


def test_nested_zip_stops_at_the_per_file_decompression_budget(battery: dict[str, Path]) -> None:
    path = battery["42.zip-style nested zip"]
    # 4 x 4 x 4 members of 64 MiB each: the budget counts all of them together.
    verdict, findings = _scan(path, max_decompressed_bytes_per_file=100 << 20)
    assert verdict == "error"
    # One member (64 MiB) stays under the budget: it is the members together, across nesting
    # levels, that reach it; the whole file stops there, reported once (not once per member).
    hits = [f for f in findings if f.evidence.get("limit") == "max_decompressed_bytes_per_file"]
    assert len(hits) == 1
    assert hits[0].rule_id == scan_rules.INCOMPLETE.id
    assert hits[0].location.inner == ()


def test_gguf_key_count_is_refused_before_reading_keys(battery: dict[str, Path]) -> None:
    path = battery["GGUF declaring 10 M keys"]
    verdict, findings = _scan(path, max_gguf_keys=1000)
    assert verdict == "error"
    [hit] = [f for f in findings if f.evidence.get("limit") == "max_gguf_keys"]
    assert hit.evidence["keys_read"] == 0  # checked against the header's count, up front
    assert _scan(path)[0] == "allowed"  # 3,000 keys are within the default limit


def test_overlapping_zip_entries_are_a_finding(battery: dict[str, Path]) -> None:
    path = battery["overlapping-entry zip bomb"]
    verdict, findings = _scan(path)
    assert verdict in ("blocked", "error")
    [overlap] = [f for f in findings if f.rule_id == "MX-ARCHIVE-010"]
    assert overlap.severity == Severity.HIGH
    assert overlap.evidence["overlapping_entries"] == 49
    assert overlap.evidence["pairs"][0] == ["0000000", "0000001"]
    assert _limit_hit(findings, "overlapping_entries")  # those entries were not read


def test_a_zip_without_overlaps_has_no_overlap_finding(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "plain.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for i in range(5):
            z.writestr(f"m{i}.txt", "hello " * 100)
    assert not [f for f in _scan(path)[1] if f.rule_id == "MX-ARCHIVE-010"]


def test_tar_member_count_is_limited(battery: dict[str, Path]) -> None:
    path = battery["tar with 1 M members"]
    verdict, findings = _scan(path, max_members=1000)
    assert verdict == "error"
    assert _limit_hit(findings, "max_members")
    # 1,000 empty "pickles": the same finding, listed MAX_REPEATS times and counted once
    alike = [f for f in findings if f.rule_id == scan_rules.UNRECOGNISED_MODEL.id]
    assert len(alike) == MAX_REPEATS
    assert alike[0].evidence["occurrences"] == 1000


def test_onnx_node_count_is_limited(battery: dict[str, Path]) -> None:
    path = battery["ONNX with 10 M nodes"]
    verdict, findings = _scan(path, max_onnx_nodes=1000)
    assert verdict == "error"
    [hit] = [f for f in findings if f.evidence.get("limit") == "max_onnx_nodes"]
    assert hit.evidence["nodes_read"] == 1000
    assert _scan(path)[0] == "allowed"


def test_repeated_findings_are_counted_not_listed() -> None:
    sink = Collector(Limits())
    for i in range(1000):
        sink.report(scan_rules.UNPARSEABLE, Location("a.tar", (f"m{i}",)), "same thing")
    sink.report(scan_rules.UNPARSEABLE, Location("a.tar", ("m1",)), "same thing")  # exact repeat
    assert len(sink.findings) == MAX_REPEATS
    first = sink.findings[0]
    assert first.evidence["occurrences"] == 1000
    assert first.evidence["more_locations"][0] == str(Location("a.tar", (f"m{MAX_REPEATS}",)))
    assert len(first.evidence["more_locations"]) == MAX_LOCATIONS
    # another message, another severity: listed on their own
    sink.report(scan_rules.UNPARSEABLE, Location("a.tar", ("m1",)), "other thing")
    sink.report(
        scan_rules.UNPARSEABLE, Location("a.tar", ("x",)), "same thing", severity=Severity.LOW
    )
    assert len(sink.findings) == MAX_REPEATS + 2
    assert sink.findings[-1].confidence == Confidence.HIGH


# ------------------------------------------------------------------------------ special files


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    # The timeout only turns a hang into a failure; nothing here measures time.
    return subprocess.run(
        [sys.executable, "-m", "modelxray", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def test_fifo_named_on_the_command_line_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "model.pkl"
    os.mkfifo(fifo)
    run = _cli("scan", "-f", "json", "--no-policy", str(fifo), cwd=tmp_path)
    assert run.returncode == 1
    [result] = json.loads(run.stdout)["files"]
    assert result["verdict"] == "error"
    assert [f["rule_id"] for f in result["findings"]] == ["MX-SCAN-010"]


def test_fifo_named_as_the_policy_is_never_opened(tmp_path: Path) -> None:
    fifo = tmp_path / "modelxray.toml"
    os.mkfifo(fifo)
    (tmp_path / "a.json").write_text("{}")
    run = _cli("scan", "--policy", str(fifo), str(tmp_path / "a.json"), cwd=tmp_path)
    assert run.returncode == 2
    assert "not a regular file" in run.stderr


# ------------------------------------------------------------------------------ children


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_no_worker_outlives_a_killed_scanner(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    outcome = hostile().sigkill_orphan("worker", tmp_path, env=env)
    assert outcome["child_survived"] is False


def test_a_worker_limits_its_cpu_time_per_item() -> None:
    import resource

    from modelxray import pool

    def limits(_item: int) -> int:
        soft, _ = resource.getrlimit(resource.RLIMIT_CPU)
        return int(soft)

    [soft] = list(pool.ordered_map([0], limits, 1, lambda item, code: -1, cpu_seconds=30))
    assert soft != resource.RLIM_INFINITY
    assert 0 < soft <= int(resource.getrusage(resource.RUSAGE_SELF).ru_utime) + 64


# ------------------------------------------------------------------------------ folder pool


def _folder(tmp_path: Path, n: int) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    for i in range(n):
        (folder / f"f{i:02d}.json").write_text(json.dumps({"a": i}))
    (folder / "f03.pkl").write_bytes(b"cos\nsystem\n(S'echo x'\ntR.")
    return folder


def test_a_dead_worker_costs_its_file_an_error_not_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelxray import engine

    folder = _folder(tmp_path, 12)
    real = engine.scan_file
    me = os.getpid()

    def scan_file(source: Any, options: Any) -> Any:
        # Only in a pool worker (never this test's process): die as an OOM kill would.
        if source.display.endswith("f05.json") and os.getpid() != me:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(source, options)

    monkeypatch.setattr(engine, "scan_file", scan_file)
    report = scan(folder, ScanOptions(jobs=2))
    names = [Path(r.path).name for r in report.files]
    assert names == sorted(names)  # source order
    assert len(names) == 13
    verdicts = {Path(r.path).name: str(r.verdict) for r in report.files}
    assert verdicts.pop("f05.json") == "error"
    assert verdicts.pop("f03.pkl") == "blocked"
    assert set(verdicts.values()) == {"allowed"}
    [dead] = [r for r in report.files if r.path.endswith("f05.json")]
    [finding] = dead.findings
    assert finding.rule_id == scan_rules.ISOLATED_FAILURE.id
    assert "SIGKILL" in finding.message


def test_results_in_source_order_with_and_without_the_pool(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 20)
    one = scan(folder, ScanOptions(jobs=1))
    two = scan(folder, ScanOptions(jobs=2))
    assert [(r.path, r.verdict) for r in one.files] == [(r.path, r.verdict) for r in two.files]


def test_the_pool_starts_only_when_it_pays() -> None:
    from modelxray.engine import pool_pays
    from modelxray.sources import SourceFile

    small = [SourceFile(f"f{i}", f"f{i}", 100) for i in range(2)]
    assert not pool_pays(small, 2)
    assert not pool_pays(small * 3, 2)  # 6 small files: not worth two forks
    assert pool_pays(small * 4, 2)
    big = [SourceFile(f"f{i}", f"f{i}", 64 << 20) for i in range(2)]
    assert pool_pays(big, 2)
    assert not pool_pays(big, 1)
    unreadable = [SourceFile("x", None, 0), SourceFile("y", "y", 64 << 20)]
    assert not pool_pays(unreadable, 2)
