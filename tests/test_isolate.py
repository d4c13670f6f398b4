"""``scan --isolate``: each file parsed in a limited child; a kill or a limit is a finding for
that file and the run goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelxray.engine import ScanOptions
from modelxray.isolate import IsolationSettings, result_from_dict, scan_isolated
from modelxray.model import Confidence, FileResult, Finding, Location, Severity


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
