"""The command line: exit codes, clean JSON on stdout, rules and explain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from modelxray.cli import main
from modelxray.rules import ALL_RULES

EXAMPLES = Path(__file__).parent.parent / "examples"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelxray", *args], capture_output=True, text=True, timeout=120
    )


def test_examples_gate_fails_on_the_malicious_lambda():
    proc = _run("scan", str(EXAMPLES))
    assert proc.returncode == 1, proc.stderr
    assert "MX-KERAS-101" in proc.stdout
    assert "malicious_lambda.h5" in proc.stdout
    assert "system('echo MODELXRAY_MARKER" in proc.stdout


def test_clean_example_passes_the_gate():
    proc = _run(
        "scan", str(EXAMPLES / "clean_dense.keras"), str(EXAMPLES / "tensor_math_lambda.keras")
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MX-KERAS-104" in proc.stdout


def test_json_goes_alone_to_stdout_when_piped():
    proc = _run("-v", "scan", "--format", "json", str(EXAMPLES))
    doc = json.loads(proc.stdout)  # nothing but JSON, even with debug logging on
    assert proc.returncode == 1
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    assert by_name["malicious_lambda.h5"]["max_severity"] == "critical"
    assert by_name["clean_dense.keras"]["findings"] == []
    assert by_name["README.md"]["status"] == "unsupported"


def test_output_file_and_fail_on_thresholds(tmp_path: Path):
    out = tmp_path / "r.json"
    assert main(["scan", "-f", "json", "-o", str(out), str(EXAMPLES)]) == 1
    assert json.loads(out.read_text())["failed"] is True
    tensor = str(EXAMPLES / "tensor_math_lambda.keras")
    assert main(["scan", "--fail-on", "low", tensor]) == 1
    assert main(["scan", "--fail-on", "medium", tensor]) == 0
    assert main(["scan", "--fail-on", "none", str(EXAMPLES)]) == 0


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["scan", str(tmp_path / "missing.h5")]) == 2
    assert main(["scan", "--fail-on", "severe", str(EXAMPLES)]) == 2
    assert main(["explain", "MX-NOPE-999"]) == 2
    assert main(["frobnicate"]) == 2
    capsys.readouterr()


def test_rules_and_explain(capsys: pytest.CaptureFixture[str]):
    assert main(["rules", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"] for r in rows} == set(ALL_RULES)
    assert main(["explain", "mx-keras-101"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("# MX-KERAS-101")
    assert "## Remediation" in page


def test_hash_option_records_sha256():
    import hashlib

    path = EXAMPLES / "clean_dense.keras"
    report = __import__("modelxray").scan(str(path))
    assert report.files[0].sha256 == ""
    from modelxray.engine import ScanOptions, scan

    hashed = scan(str(path), ScanOptions(compute_hash=True))
    assert hashed.files[0].sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unsupported_files_are_listed_and_can_fail_the_gate(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("just some notes\n")
    tensor = str(EXAMPLES / "tensor_math_lambda.keras")
    assert main(["scan", str(tmp_path), tensor]) == 0
    assert main(["scan", "--fail-on-unsupported", str(tmp_path), tensor]) == 1


def test_scanning_needs_no_ml_framework():
    """The CLI scans every example with torch, tensorflow, keras and jax made unimportable."""
    blocker = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'torch','tensorflow','keras','tf_keras','jax','onnx'}:\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from modelxray.cli import main\n"
        f"sys.exit(main(['scan', '--format', 'json', {str(EXAMPLES)!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    rules = {f["rule_id"] for r in doc["files"] for f in r["findings"]}
    assert rules == {"MX-KERAS-101", "MX-KERAS-104"}


def test_parallel_scan_matches_serial(tmp_path: Path):
    import shutil

    from modelxray.engine import ScanOptions, scan

    for i in range(6):
        shutil.copy(EXAMPLES / "malicious_lambda.h5", tmp_path / f"m{i}.h5")
        shutil.copy(EXAMPLES / "clean_dense.keras", tmp_path / f"c{i}.keras")
    serial = scan(str(tmp_path), ScanOptions(jobs=1))
    parallel = scan(str(tmp_path), ScanOptions(jobs=2))
    assert [r.path for r in parallel.files] == [r.path for r in serial.files]
    assert [r.to_dict()["findings"] for r in parallel.files] == [
        r.to_dict()["findings"] for r in serial.files
    ]
    assert sum(r.verdict == "blocked" for r in parallel.files) == 6
