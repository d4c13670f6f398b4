"""Reports: the JSON schema, SARIF 2.1.0, the self-contained HTML page and the console summary."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from modelxray.cli import main
from modelxray.engine import ScanOptions, scan
from modelxray.model import (
    Confidence,
    FileResult,
    FileStatus,
    Finding,
    Location,
    Report,
    Severity,
)
from modelxray.policy import Policy, Suppression
from modelxray.reports import FORMATS, json_report, render, sarif
from modelxray.reports import html as html_report
from modelxray.rules import ALL_RULES
from tests.report_schema import validate_json_report, validate_sarif

EXAMPLES = Path(__file__).parent.parent / "examples"
MAL = EXAMPLES / "malicious_lambda.h5"
XSS_NAME = "<script>alert(1)</script>.h5"


def _render(report: Report, fmt: str, **kw: Any) -> str:
    out = io.StringIO()
    render(report, fmt, out, **kw)
    return out.getvalue()


@pytest.fixture(scope="module")
def examples_report() -> Report:
    return scan(str(EXAMPLES))


@pytest.fixture(scope="module")
def corpus_report(keras_corpus: dict[str, Any]) -> Report:
    return scan([str(s.path) for s in keras_corpus.values()])


def _hostile_report() -> Report:
    """Hand-made findings with everything a hostile file could put into a report."""
    evil_path = "models/\udcff\x1b[2J<b>evil</b>\u202etxt.h5"
    finding = Finding(
        rule_id="MX-KERAS-101",
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        location=Location(evil_path, ("config.json", 'layer:"><img src=x onerror=alert(1)>')),
        message="reaches </script><script>alert(2)</script> \x1b]0;pwned\x07",
        evidence={
            "calls": ["__import__('os').system('<script>alert(3)</script>')"],
            "raw": b"\x00\xffpayload",
            "ratio": float("nan"),
            "nested": {"t": (1, 2), "s": {"b", "a"}, 3: None},
            "line_sep": "a\u2028b\u2029c",
        },
        help_uri="docs/rules/MX-KERAS-101.md",
    )
    unknown = Finding(
        rule_id="MX-FUTURE-999",
        severity=Severity.INFO,
        confidence=Confidence.LOW,
        location=Location(evil_path),
        message="a rule this version does not know",
    )
    result = FileResult(
        path=evil_path,
        size=10,
        sha256="",
        formats=["keras-v3"],
        findings=[finding, unknown],
        verdict="blocked",
    )
    return Report(files=[result], gate=Policy().gate(), seconds=0.01)


# --------------------------------------------------------------------------- dispatch, CLI


def test_render_dispatches_every_format(examples_report: Report):
    assert FORMATS == ("console", "json", "jsonl", "sarif", "html", "cyclonedx")
    for fmt in FORMATS:
        assert _render(examples_report, fmt).strip()
    with pytest.raises(ValueError, match="unknown report format"):
        _render(examples_report, "xml")


def test_cli_writes_every_format(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(EXAMPLES.parent)
    for fmt in ("json", "sarif", "html"):
        out = tmp_path / f"report.{fmt}"
        assert main(["scan", "--format", fmt, "-o", str(out), "examples"]) == 1
        text = out.read_text(encoding="utf-8")
        if fmt == "json":
            validate_json_report(json.loads(text))
        elif fmt == "sarif":
            doc = json.loads(text)
            validate_sarif(doc)
            uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    for r in doc["runs"][0]["results"]}  # fmt: skip
            assert "examples/malicious_lambda.h5" in uris
        else:
            assert text.startswith("<!DOCTYPE html>") and "MX-KERAS-101" in text


# --------------------------------------------------------------------------- JSON


def test_json_report_of_examples_matches_the_schema(examples_report: Report):
    doc = json.loads(_render(examples_report, "json"))
    validate_json_report(doc)
    assert doc["schema_version"] == json_report.SCHEMA_VERSION == "1.1"
    by_name = {Path(f["path"]).name: f for f in doc["files"]}
    mal = by_name["malicious_lambda.h5"]
    assert mal["verdict"] == "blocked"
    assert mal["findings"][0]["rule_title"] == ALL_RULES["MX-KERAS-101"].title
    assert by_name["README.md"]["status"] == "unsupported"
    assert doc["summary"]["verdicts"] == {"blocked": 1, "error": 0, "allowed": 3}
    assert doc["verdict"] == "blocked" and doc["failed"] is True


def test_json_report_of_the_keras_corpus_matches_the_schema(corpus_report: Report):
    doc = json_report.to_dict(corpus_report)
    validate_json_report(json.loads(json.dumps(doc, allow_nan=False)))
    assert doc["summary"]["findings"]["critical"] >= 15


def test_schema_rejects_drift():
    """The schema is strict: a missing or unknown field is an error, not silently accepted."""
    import jsonschema

    doc = json_report.to_dict(scan(str(MAL)))
    validate_json_report(doc)
    broken = json.loads(json.dumps(doc))
    del broken["files"][0]["findings"][0]["rule_id"]
    with pytest.raises(jsonschema.ValidationError, match="rule_id"):
        validate_json_report(broken)
    extra = json.loads(json.dumps(doc))
    extra["files"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        validate_json_report(extra)


def test_schema_documents_every_field():
    schema = json_report.schema()
    undocumented: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                if "description" not in sub:
                    undocumented.append(f"{where}.{name}")
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(schema, "$")
    # Only the fixed count tables may go without a per-key description.
    assert all(".findings" in u or ".verdicts" in u for u in undocumented), undocumented


def test_hostile_values_still_give_valid_json():
    text = _render(_hostile_report(), "json")
    text.encode("utf-8")  # writable: no lone surrogates
    doc = json.loads(text)
    validate_json_report(doc)
    finding = doc["files"][0]["findings"][0]
    assert finding["evidence"]["raw"] == b"\x00\xffpayload".hex()
    assert finding["evidence"]["ratio"] == "nan"
    assert finding["evidence"]["nested"] == {"t": [1, 2], "s": ["a", "b"], "3": None}
    assert "\\xff" in doc["files"][0]["path"]


def test_suppressed_findings_are_reported_apart(tmp_path: Path):
    sha = hashlib.sha256(MAL.read_bytes()).hexdigest()
    policy = Policy(suppressions=(Suppression(sha, "*", "reviewed by the ML team"),))
    report = scan(str(MAL), ScanOptions(policy=policy))
    assert report.files[0].suppressed and not report.files[0].findings
    doc = json_report.to_dict(report)
    validate_json_report(doc)
    assert doc["summary"]["suppressed"] == 1
    assert doc["files"][0]["suppressed"][0]["disposition"] == "suppressed"
    log = sarif.to_dict(report)
    validate_sarif(log)
    (result,) = log["runs"][0]["results"]
    assert result["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "reviewed by the ML team"}
    ]
    page = html_report.to_html(report)
    assert "1 finding(s) suppressed by the policy" in page


# --------------------------------------------------------------------------- SARIF


def test_sarif_of_examples_and_keras_corpus_is_valid(
    examples_report: Report, corpus_report: Report, keras_corpus: dict[str, Any]
):
    validate_sarif(json.loads(_render(examples_report, "sarif")))
    root = os.path.commonpath([str(s.path) for s in keras_corpus.values()])
    log = sarif.to_dict(corpus_report, root=root)
    validate_sarif(json.loads(json.dumps(log, allow_nan=False)))
    run = log["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == Path(root).as_uri() + "/"
    errors = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in run["results"]
        if r["level"] == "error"
    }
    for sample in keras_corpus.values():
        if sample.expect == "malicious":
            rel = Path(sample.path).relative_to(root).as_posix()
            assert any(u == rel or u.startswith(rel + "/") for u in errors), rel
    # Every result is anchored below SRCROOT, never as an absolute path.
    for r in run["results"]:
        loc = r["locations"][0]["physicalLocation"]["artifactLocation"]
        assert loc["uriBaseId"] == "SRCROOT" and not loc["uri"].startswith("/")


def test_sarif_rules_carry_pages_and_security_severity(examples_report: Report):
    log = sarif.to_dict(examples_report)
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "modelxray"
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == set(ALL_RULES)
    expected = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 3.0, "info": 0.0}
    for rule_id, rule in ALL_RULES.items():
        d = rules[rule_id]
        assert d["shortDescription"]["text"] == rule.summary()
        assert d["fullDescription"]["text"].startswith(rule.summary())
        assert d["help"]["markdown"] == rule.page()
        assert d["helpUri"] == ALL_RULES[rule_id].page_url
        assert d["helpUri"].startswith("https://") and d["helpUri"].endswith(f"/{rule_id}.md")
        props = d["properties"]
        assert float(props["security-severity"]) == expected[str(rule.severity)]
        assert props["tags"][0] == "security"
        for cwe in rule.cwes:
            assert f"external/cwe/cwe-{cwe.split('-')[1]}" in props["tags"]
    # ruleIndex points at the rule named by ruleId.
    for result in log["runs"][0]["results"]:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]


def test_sarif_results_locate_and_fingerprint_findings(examples_report: Report):
    log = sarif.to_dict(examples_report, root=str(EXAMPLES.parent))
    run = log["runs"][0]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    mal = by_rule["MX-KERAS-101"]
    assert mal["level"] == "error"
    assert by_rule["MX-KERAS-104"]["level"] == "note"
    loc = mal["locations"][0]
    art = loc["physicalLocation"]["artifactLocation"]
    assert (art["uri"], art["uriBaseId"]) == ("examples/malicious_lambda.h5", "SRCROOT")
    assert run["artifacts"][art["index"]]["location"]["uri"] == art["uri"]
    (logical,) = loc["logicalLocations"]
    assert logical["fullyQualifiedName"].split(" › ") == [
        "attr:model_config",
        "layer:lambda_toplevel/double",
        "$.config.layers[1].config.function.config.code",
    ]
    assert logical["kind"] == "property"
    assert "__import__('os').system(" in " ".join(mal["properties"]["evidence"]["calls"])
    # Stable across runs, distinct between findings.
    again = sarif.to_dict(scan(str(EXAMPLES)), root=str(EXAMPLES.parent))
    prints = [r["partialFingerprints"] for r in run["results"]]
    assert prints == [r["partialFingerprints"] for r in again["runs"][0]["results"]]
    assert len({json.dumps(p) for p in prints}) == len(prints)
    # Every scanned file is an artifact, clean and unsupported ones too.
    verdicts = {a["location"]["uri"]: a["properties"]["verdict"] for a in run["artifacts"]}
    assert verdicts["examples/README.md"] == "allowed"
    assert verdicts["examples/malicious_lambda.h5"] == "blocked"


def test_sarif_paths_outside_the_root_are_absolute_file_uris(tmp_path: Path):
    odd = tmp_path / "my model #1%.h5"
    shutil.copy(MAL, odd)
    inside = sarif.to_dict(scan(str(odd)), root=str(tmp_path))
    validate_sarif(inside)
    art = inside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art == {"uri": "my%20model%20%231%25.h5", "uriBaseId": "SRCROOT", "index": 0}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    outside = sarif.to_dict(scan(str(odd)), root=str(elsewhere))
    validate_sarif(outside)
    art = outside["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert art["uri"] == odd.as_uri() and "uriBaseId" not in art


def test_hostile_values_still_give_valid_sarif():
    log = json.loads(_render(_hostile_report(), "sarif"))
    validate_sarif(log)
    driver = log["runs"][0]["tool"]["driver"]
    ids = [r["id"] for r in driver["rules"]]
    assert "MX-FUTURE-999" in ids  # unknown rules get a stub descriptor
    levels = [r["level"] for r in log["runs"][0]["results"]]
    assert levels == ["error", "note"]


# --------------------------------------------------------------------------- HTML (no browser)


def _script_blocks(page: str) -> list[str]:
    return re.findall(r"<script[^>]*>(.*?)</script>", page, flags=re.S)


def test_html_is_self_contained_and_has_one_script(examples_report: Report):
    page = html_report.to_html(examples_report)
    assert page.count("<script") == 1
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    # The CSP allows exactly the page's own script, by hash, and no network.
    (script,) = _script_blocks(page)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    assert f"script-src 'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)
    for word in ("modelxray report", "Gate: FAILED", "MX-KERAS-101", "malicious_lambda.h5"):
        assert word in page
    # The decoded call is shown, escaped, inside a <pre>.
    assert "__import__(&#x27;os&#x27;).system(" in page


def test_html_escapes_everything_from_the_scan():
    page = html_report.to_html(_hostile_report())
    assert page.count("<script") == 1  # only ours
    assert "<b>evil" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "\x1b" not in page and "\\x1b[2J" in page
    assert "\u202e" not in page and "\\u202e" in page
    assert "\u2028" not in page and "\\u2028" in page
    page.encode("utf-8")  # the surrogate became text
    assert "\\xff" in page


def test_html_filters_are_css_checkboxes_on_by_default(examples_report: Report):
    page = html_report.to_html(examples_report)
    for sev in Severity:
        box = rf'<input type="checkbox" class="sev-filter" id="show-{sev}"[^>]* checked>'
        assert re.search(box, page)
        assert f"#show-{sev}:not(:checked)~#files .finding.sev-{sev}{{display:none}}" in page


# --------------------------------------------------------------------------- console


def test_console_summary_table_and_quiet(examples_report: Report):
    text = _render(examples_report, "console")
    assert "\x1b" not in text  # no colour unless asked
    assert "Summary" in text and "gate: FAILED" in text
    assert re.search(r"blocked\s+1\s+critical\s+1", text)
    assert "clean_dense.keras" in text and "system('echo MODELXRAY_MARKER" in text
    quiet = _render(examples_report, "console", quiet=True)
    assert "malicious_lambda.h5" in quiet and "clean_dense.keras" not in quiet
    assert "Summary" in quiet
    coloured = _render(examples_report, "console", color=True)
    assert "\x1b[1;31m" in coloured


def test_console_neutralises_terminal_escapes():
    text = _render(_hostile_report(), "console", color=False)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b]0;pwned\\x07" in text


def test_cli_quiet_flag(capsys: pytest.CaptureFixture[str]):
    assert main(["scan", "--quiet", str(EXAMPLES)]) == 1
    out = capsys.readouterr().out
    assert "malicious_lambda.h5" in out and "README.md" not in out


def test_xss_file_name_from_disk(tmp_path: Path):
    """A real file whose name is markup shows up as text in every report."""
    target = tmp_path / XSS_NAME  # the "/" in the name makes a folder "<script>alert(1)<"
    target.parent.mkdir(parents=True)
    shutil.copy(MAL, target)
    report = scan(str(tmp_path))
    page = html_report.to_html(report)
    assert page.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.h5" in page
    validate_json_report(json_report.to_dict(report))
    log = sarif.to_dict(report, root=str(tmp_path))
    validate_sarif(log)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri["uri"] == "%3Cscript%3Ealert%281%29%3C/script%3E.h5"


def test_unreadable_and_unsupported_files_are_worded(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("hello")
    broken = tmp_path / "broken.h5"
    broken.write_bytes(MAL.read_bytes()[:2000])
    report = scan(str(tmp_path))
    statuses = {Path(r.path).name: (r.status, r.verdict) for r in report.files}
    assert statuses["notes.txt"] == (FileStatus.UNSUPPORTED, "allowed")
    assert statuses["broken.h5"][1] == "error"
    text = _render(report, "console")
    assert re.search(r"error .*broken\.h5", text) and re.search(r"unsupported .*notes\.txt", text)
    page = html_report.to_html(report)
    assert "error: could not be fully checked (fail closed)" in page
    assert "allowed, but in no model format modelxray knows" in page
    validate_json_report(json_report.to_dict(report))
    validate_sarif(sarif.to_dict(report, root=str(tmp_path)))


def test_visible_skips_only_text_with_no_character_it_spells() -> None:
    """``visible`` returns printable text unchanged without searching it: every character its
    patterns spell out is one ``str.isprintable`` refuses."""
    import re

    from modelxray.reports import common

    for pattern in (common._UNSAFE, common._UNSAFE_WITH_WS):
        spelled = [chr(c) for c in range(0x10000) if re.fullmatch(pattern, chr(c))]
        assert len(spelled) > 60 and not any(c.isprintable() for c in spelled)
    assert common.visible("x\u202ey\x1b") == "x\\u202ey\\x1b"
    assert common.visible("a\tb", multiline=True) == "a\tb"
    assert common.visible("a\tb") == "a\\x09b"
    assert common.visible("plain text, ünïcode") == "plain text, ünïcode"
