"""The CycloneDX 1.6 ML-BOM (``--format cyclonedx``), validated by the official schema.

The schema and its validator come with cyclonedx-python-lib (``JsonStrictValidator``); the
tests forbid network access while validating, so the schema is the one shipped locally.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from modelxray.cli import main
from modelxray.engine import ScanOptions, scan
from modelxray.model import Report
from modelxray.policy import Policy, Suppression
from modelxray.reports import render
from modelxray.rules import ALL_RULES
from tests.test_reports import _hostile_report

pytest.importorskip("cyclonedx", reason="cyclonedx-python-lib (the sbom extra) is not installed")

EXAMPLES = Path(__file__).parent.parent / "examples"
MAL = EXAMPLES / "malicious_lambda.h5"
CLEAN = EXAMPLES / "clean_dense.keras"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation must use the schemas shipped with the library, never fetch one."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def validate(text: str) -> dict[str, Any]:
    """Validate against the official CycloneDX 1.6 JSON schema (strict), return the document."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors]  # type: ignore[union-attr]
    doc: dict[str, Any] = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    return doc


def _bom(report: Report) -> dict[str, Any]:
    out = io.StringIO()
    render(report, "cyclonedx", out)
    return validate(out.getvalue())


def _props(entry: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in entry.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {Path(c["name"]).name: c for c in doc["components"]}


def test_validator_rejects_a_broken_bom() -> None:
    """The validation the other tests rely on can fail."""
    doc = _bom(scan(str(MAL)))
    doc["vulnerabilities"][0]["ratings"][0]["severity"] = "catastrophic"
    with pytest.raises(AssertionError):
        validate(json.dumps(doc))
    doc["vulnerabilities"][0]["ratings"][0]["severity"] = "critical"
    doc["components"][0]["type"] = "model"
    with pytest.raises(AssertionError):
        validate(json.dumps(doc))


def test_cli_folder_scan_is_an_ml_bom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(EXAMPLES.parent)
    out = tmp_path / "bom.json"
    assert main(["scan", "--no-policy", "--format", "cyclonedx", "-o", str(out), "examples"]) == 1
    doc = validate(out.read_text(encoding="utf-8"))

    tools = doc["metadata"]["tools"]["components"]
    assert [(t["name"], t["type"]) for t in tools] == [("modelxray", "application")]
    meta = _props(doc["metadata"])
    assert meta["modelxray:verdict"] == ["blocked"] and meta["modelxray:failed"] == ["true"]
    assert meta["modelxray:policy"] == ["built-in defaults"]
    assert len(meta["modelxray:policy_fingerprint"][0]) == 64

    components = _by_name(doc)
    assert set(components) == {
        "README.md",
        "clean_dense.keras",
        "malicious_lambda.h5",
        "tensor_math_lambda.keras",
    }
    for name, c in components.items():
        # The CLI hashes what it scanned: every component carries the file's SHA-256.
        digest = hashlib.sha256((EXAMPLES / name).read_bytes()).hexdigest()
        assert c["hashes"] == [{"alg": "SHA-256", "content": digest}]
        assert c["name"] == f"examples/{name}"
    assert components["README.md"]["type"] == "file"
    assert _props(components["README.md"])["modelxray:status"] == ["unsupported"]
    mal = components["malicious_lambda.h5"]
    assert mal["type"] == "machine-learning-model"
    props = _props(mal)
    assert set(props["modelxray:format"]) == {"hdf5", "keras-h5"}
    assert props["modelxray:verdict"] == ["blocked"]
    assert props["modelxray:max_severity"] == ["critical"]
    assert _props(components["clean_dense.keras"])["modelxray:verdict"] == ["allowed"]

    refs = {c["bom-ref"] for c in doc["components"]}
    assert len(refs) == len(doc["components"])
    by_id = {v["id"]: v for v in doc["vulnerabilities"]}
    assert set(by_id) == {"MX-KERAS-101", "MX-KERAS-104"}
    vuln = by_id["MX-KERAS-101"]
    rule = ALL_RULES["MX-KERAS-101"]
    assert vuln["affects"] == [{"ref": mal["bom-ref"]}]
    assert vuln["source"] == {"name": "modelxray", "url": rule.page_url}
    assert rule.page_url.endswith("/docs/rules/MX-KERAS-101.md")
    assert vuln["ratings"] == [
        {"source": {"name": "modelxray"}, "severity": "critical", "method": "other"}
    ]
    assert sorted(vuln["cwes"]) == sorted(int(c.split("-")[1]) for c in rule.cwes)
    assert vuln["cwes"]
    assert {r["id"] for r in vuln.get("references", [])} == set(rule.cves)
    assert "os" in vuln["description"] and "system" in vuln["description"]
    vprops = _props(vuln)
    assert vprops["modelxray:disposition"] == ["block"]
    assert vprops["modelxray:location"][0].startswith("examples/malicious_lambda.h5 ")
    evidence = json.loads(vprops["modelxray:evidence"][0])
    assert any("system" in call for call in evidence["calls"])
    assert by_id["MX-KERAS-104"]["ratings"][0]["severity"] == "low"


def test_clean_file_has_no_vulnerabilities(tmp_path: Path) -> None:
    out = tmp_path / "bom.json"
    assert main(["scan", "--no-policy", "-f", "cyclonedx", "-o", str(out), str(CLEAN)]) == 0
    doc = validate(out.read_text(encoding="utf-8"))
    (component,) = doc["components"]
    assert component["type"] == "machine-learning-model"
    assert _props(component)["modelxray:verdict"] == ["allowed"]
    assert "keras-v3" in _props(component)["modelxray:format"]
    assert not doc.get("vulnerabilities")
    assert _props(doc["metadata"])["modelxray:verdict"] == ["allowed"]


def test_error_report_lists_the_unreadable_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.h5"
    broken.write_bytes(MAL.read_bytes()[:2000])
    doc = _bom(scan(str(broken)))
    (component,) = doc["components"]
    assert _props(component)["modelxray:verdict"] == ["error"]
    assert _props(component)["modelxray:status"] == ["unscannable"]
    assert doc["vulnerabilities"]
    assert {v["affects"][0]["ref"] for v in doc["vulnerabilities"]} == {component["bom-ref"]}
    assert _props(doc["metadata"])["modelxray:verdict"] == ["error"]


def test_empty_folder_error_is_a_valid_bom(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    doc = _bom(scan(str(tmp_path / "empty")))
    assert [v["id"] for v in doc["vulnerabilities"]] == ["MX-SCAN-009"]
    assert _props(doc["metadata"])["modelxray:verdict"] == ["error"]


def test_hashes_are_computed_when_the_report_has_none(tmp_path: Path) -> None:
    copy = tmp_path / "model.h5"
    shutil.copyfile(MAL, copy)
    link = tmp_path / "link.h5"
    os.symlink(copy, link)
    report = scan([str(copy), str(link)])  # the API does not hash by default
    assert all(not r.sha256 for r in report.files)
    components = _by_name(_bom(report))
    digest = hashlib.sha256(MAL.read_bytes()).hexdigest()
    assert components["model.h5"]["hashes"] == [{"alg": "SHA-256", "content": digest}]
    assert "hashes" not in components["link.h5"]  # a link is not followed at report time


def test_suppressed_finding_carries_the_policy_reason() -> None:
    sha = hashlib.sha256(MAL.read_bytes()).hexdigest()
    policy = Policy(suppressions=(Suppression(sha, "*", "reviewed by the ML team"),))
    doc = _bom(scan(str(MAL), ScanOptions(policy=policy)))
    (vuln,) = doc["vulnerabilities"]
    assert _props(vuln)["modelxray:disposition"] == ["suppressed"]
    assert vuln["analysis"] == {"detail": "suppressed by the policy: reviewed by the ML team"}
    assert _props(doc["components"][0])["modelxray:verdict"] == ["allowed"]


def test_hostile_values_still_give_a_valid_bom() -> None:
    doc = _bom(_hostile_report())
    (component,) = doc["components"]
    assert "\\xff" in component["name"]
    ids = {v["id"] for v in doc["vulnerabilities"]}
    assert ids == {"MX-KERAS-101", "MX-FUTURE-999"}
    unknown = next(v for v in doc["vulnerabilities"] if v["id"] == "MX-FUTURE-999")
    assert unknown["source"] == {"name": "modelxray"} and "cwes" not in unknown
    keras = next(v for v in doc["vulnerabilities"] if v["id"] == "MX-KERAS-101")
    evidence = json.loads(_props(keras)["modelxray:evidence"][0])
    assert evidence["nested"] == {"t": [1, 2], "s": ["a", "b"], "3": None}
    assert evidence["ratio"] == "nan" and evidence["raw"] == "00ff7061796c6f6164"


def test_missing_library_is_a_usage_error_before_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cyclonedx.output.json", None)  # import fails
    out = tmp_path / "bom.json"
    code = main(["scan", "-f", "cyclonedx", "-o", str(out), str(tmp_path / "not-there")])
    assert code == 2
    err = capsys.readouterr().err
    assert "pip install 'modelxray[sbom]'" in err and "internal error" not in err
    assert err.count("\n") == 1 and not out.exists()
