"""Policy files: parsing, validation messages, rule states, suppressions, verdicts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from modelxray.cli import main
from modelxray.engine import ScanOptions, scan
from modelxray.model import Severity, Verdict
from modelxray.policy import (
    AllowEntry,
    Policy,
    PolicyError,
    apply_policy,
    find_policy,
    load_policy,
    policy_from_dict,
)

EXAMPLES = Path(__file__).parent.parent / "examples"
MAL = EXAMPLES / "malicious_lambda.h5"
TENSOR = EXAMPLES / "tensor_math_lambda.keras"
CLEAN = EXAMPLES / "clean_dense.keras"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def _verdicts(policy_text: str, tmp_path: Path, *paths: Path) -> dict[str, str]:
    pf = tmp_path / "modelxray.toml"
    pf.write_text(policy_text)
    report = scan([str(p) for p in paths], ScanOptions(policy=load_policy(str(pf))))
    return {Path(r.path).name: r.verdict for r in report.files}


def test_the_team_policy_from_the_issue(tmp_path: Path):
    """Block critical and high, warn on Lambda-present, allow two hashes, fail on unreadable."""
    own = tmp_path / "own_lambda.h5"
    shutil.copy(MAL, own)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(MAL.read_bytes()[:3000])
    policy = f"""
fail_on = "high"
fail_on_unscannable = true

[rules.MX-KERAS-104]
state = "warn"

[[suppress]]
sha256 = "{_sha(own)}"
rule = "*"
reason = "our own Lambda model, reviewed"

[[suppress]]
sha256 = "{_sha(CLEAN)}"
rule = "*"
reason = "baseline"
"""
    v = _verdicts(policy, tmp_path, MAL, own, TENSOR, CLEAN, broken)
    # `own` and `MAL` have identical bytes: the hash allows both copies.
    assert v == {
        "malicious_lambda.h5": Verdict.ALLOWED,
        "own_lambda.h5": Verdict.ALLOWED,
        "tensor_math_lambda.keras": Verdict.ALLOWED,
        "clean_dense.keras": Verdict.ALLOWED,
        "broken.h5": Verdict.ERROR,
    }
    other = tmp_path / "other.h5"
    shutil.copy(MAL, other)
    with other.open("ab") as f:
        f.write(b"\0")  # one byte more: a different hash, no longer allowed
    assert _verdicts(policy, tmp_path, other) == {"other.h5": Verdict.BLOCKED}


def test_warn_findings_are_reported_but_do_not_block(tmp_path: Path):
    pf = tmp_path / "modelxray.toml"
    pf.write_text('fail_on = "low"\n[rules]\nMX-KERAS-104 = "warn"\n')
    report = scan(str(TENSOR), ScanOptions(policy=load_policy(str(pf))))
    assert [f.disposition for f in report.findings] == ["warn"]
    assert report.verdict == Verdict.ALLOWED and not report.failed


def test_rule_off_and_severity_override(tmp_path: Path):
    assert _verdicts('[rules.MX-KERAS-101]\nstate = "off"\n', tmp_path, MAL) == {
        "malicious_lambda.h5": Verdict.ALLOWED
    }
    pf = tmp_path / "modelxray.toml"
    pf.write_text('[rules.MX-KERAS-104]\nseverity = "critical"\n')
    report = scan(str(TENSOR), ScanOptions(policy=load_policy(str(pf))))
    assert report.findings[0].severity == Severity.CRITICAL
    assert report.verdict == Verdict.BLOCKED


def test_suppression_expiry(tmp_path: Path):
    text = f"""
[[suppress]]
sha256 = "{_sha(MAL)}"
rule = "MX-KERAS-101"
reason = "temporary exception"
expires = 2020-01-31
"""
    pf = tmp_path / "modelxray.toml"
    pf.write_text(text)
    policy = load_policy(str(pf))
    report = scan(str(MAL), ScanOptions(policy=policy))
    rules = sorted(f.rule_id for f in report.findings)
    assert rules == ["MX-KERAS-101", "MX-SCAN-006"]
    assert report.verdict == Verdict.BLOCKED
    # Before the expiry date, the same suppression holds.
    unsuppressed = dataclasses.replace(policy, suppressions=())
    fresh = scan(str(MAL), ScanOptions(policy=unsuppressed, compute_hash=True))
    apply_policy(policy, fresh, today=dt.date(2020, 1, 1))
    assert fresh.verdict == Verdict.ALLOWED
    assert [f.rule_id for f in fresh.files[0].suppressed] == ["MX-KERAS-101"]


def test_report_only_never_fails(tmp_path: Path):
    pf = tmp_path / "modelxray.toml"
    pf.write_text("report_only = true\n")
    report = scan(str(MAL), ScanOptions(policy=load_policy(str(pf))))
    assert report.verdict == Verdict.BLOCKED and not report.failed
    assert main(["scan", "--report-only", str(MAL)]) == 0


def test_fail_closed_and_unsupported(tmp_path: Path):
    broken = tmp_path / "broken.h5"
    broken.write_bytes(MAL.read_bytes()[:2000])
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert _verdicts("", tmp_path, broken, notes) == {
        "broken.h5": Verdict.ERROR,
        "notes.txt": Verdict.ALLOWED,
    }
    v = _verdicts("fail_on_unscannable = false\nfail_on_unsupported = true\n", tmp_path,
                  broken, notes)  # fmt: skip
    # The parse failure is still a high finding, so the file is blocked rather than in error.
    assert v == {"broken.h5": Verdict.BLOCKED, "notes.txt": Verdict.BLOCKED}


def test_approved_formats_and_include_exclude(tmp_path: Path):
    v = _verdicts('approved_formats = ["keras-v3"]\n', tmp_path, CLEAN, MAL)
    assert v["clean_dense.keras"] == Verdict.ALLOWED and v["malicious_lambda.h5"] == Verdict.BLOCKED
    pf = tmp_path / "modelxray.toml"
    pf.write_text('approved_formats = ["safetensors"]\n')
    report = scan(str(CLEAN), ScanOptions(policy=load_policy(str(pf))))
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-007"]
    v = _verdicts('exclude = ["*.h5"]\n', tmp_path, EXAMPLES)
    assert "malicious_lambda.h5" not in v and "clean_dense.keras" in v


def test_pyproject_table_is_found(tmp_path: Path):
    (tmp_path / "pyproject.toml").write_text("[tool.modelxray]\nreport_only = true\n")
    policy = find_policy(str(tmp_path))
    assert policy is not None and policy.report_only
    # Found from a subfolder too (walking up), but never above the project root.
    sub = tmp_path / "models" / "deep"
    sub.mkdir(parents=True)
    found = find_policy(str(sub))
    assert found is not None and found.source == str(tmp_path / "pyproject.toml")
    (tmp_path / "models" / ".git").mkdir()
    assert find_policy(str(sub)) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("fail_onn = 'high'", "unknown key(s) fail_onn"),
        ("fail_on = 3", "fail_on: expected str"),
        ("fail_on = 'severe'", "fail_on: unknown severity 'severe'"),
        ("report_only = 'yes'", "report_only: expected bool"),
        ("[rules.MX-NOPE-001]\nstate = 'off'", "rules.MX-NOPE-001: unknown rule"),
        ("[rules.MX-KERAS-101]\nstate = 'ignore'", "state: expected 'block', 'warn' or 'off'"),
        ("[rules.MX-KERAS-101]\nlevel = 'low'", "rules.MX-KERAS-101: unknown key(s) level"),
        (
            "[[allow.pickle_globals]]\nglobal = 'a.b'",
            "allow.pickle_globals[0]: a reason is required",
        ),
        ("[[allow.keras_modules]]\nreason = 'x'", "allow.keras_modules[0]: missing 'module'"),
        ("[allow]\nfunctions = []", "allow: unknown key(s) functions"),
        ("[[suppress]]\nsha256 = 'abc'\nrule = '*'\nreason = 'x'", "not a SHA-256 hex digest"),
        (f"[[suppress]]\nsha256 = '{'a' * 64}'\nrule = '*'", "suppress[0]: missing 'reason'"),
        (f"[[suppress]]\nsha256 = '{'a' * 64}'\nrule = 'MX-X-1'\nreason = 'r'", "unknown rule"),
        (
            f"[[suppress]]\nsha256 = '{'a' * 64}'\nrule = '*'\nreason = 'r'\nexpires = 'soon'",
            "expires: not a date",
        ),
        ("approved_formats = 'keras'", "approved_formats: expected list"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_invalid_policies_have_clear_messages(tmp_path: Path, text: str, message: str):
    pf = tmp_path / "modelxray.toml"
    pf.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(str(pf))
    assert message in str(err.value)
    assert str(pf) in str(err.value)


def test_cli_reports_policy_errors_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pf = tmp_path / "bad.toml"
    pf.write_text("fail_on = 'sometimes'\n")
    assert main(["scan", "--policy", str(pf), str(CLEAN)]) == 2
    assert "unknown severity" in capsys.readouterr().err


def test_allow_lists_are_parsed():
    p = policy_from_dict(
        {
            "allow": {
                "pickle_globals": [{"global": "my.mod.Cls", "reason": "ours"}],
                "keras_modules": [{"module": "my_layers", "reason": "ours"}],
            },
            "deny": {"pickle_globals": [{"global": "numpy.load", "reason": "no"}]},
        }
    )
    assert p.allow_pickle_globals[0].target == "my.mod.Cls"
    assert p.allow_keras_modules[0].target == "my_layers"
    assert p.deny_pickle_globals[0].reason == "no"


def test_keras_module_allow_list_approves_a_teams_own_package(tmp_path: Path):
    import json

    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "acme_layers.blocks", "class_name": "Residual", "config": {"name": "r"},
         "registered_name": None}]}}  # fmt: skip
    model = tmp_path / "model.json"
    model.write_text(json.dumps(cfg))
    assert scan(str(model)).verdict == Verdict.BLOCKED
    pf = tmp_path / "modelxray.toml"
    pf.write_text('[[allow.keras_modules]]\nmodule = "acme_layers"\nreason = "our layers"\n')
    assert scan(str(model), ScanOptions(policy=load_policy(str(pf)))).verdict == Verdict.ALLOWED
    # An allow entry cannot approve a dangerous module: the policy file is refused, and an
    # entry made in code (no loader) is not applied to it.
    pf.write_text('[[allow.keras_modules]]\nmodule = "os"\nreason = "nope"\n')
    with pytest.raises(PolicyError, match=r"allow.keras_modules\[0\].module: os is in the threat"):
        load_policy(str(pf))
    cfg["config"]["layers"][0]["module"] = "os"  # type: ignore[index]
    model.write_text(json.dumps(cfg))
    unchecked = Policy(allow_keras_modules=(AllowEntry("os", "nope"),))
    assert scan(str(model), ScanOptions(policy=unchecked)).verdict == Verdict.BLOCKED


def test_denied_keras_modules_are_dangerous(tmp_path: Path) -> None:
    """``[[deny.keras_modules]]`` makes a reference to that module critical (MX-KERAS-201), even
    one the Keras family would otherwise allow; without the entry the same model passes."""
    cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 2},
         "registered_name": None}]}}  # fmt: skip
    model = tmp_path / "model.json"
    model.write_text(json.dumps(cfg))
    assert scan(str(model)).verdict == Verdict.ALLOWED
    pf = tmp_path / "modelxray.toml"
    pf.write_text('[[deny.keras_modules]]\nmodule = "keras.layers"\nreason = "retired"\n')
    report = scan(str(model), ScanOptions(policy=load_policy(str(pf))))
    assert report.verdict == Verdict.BLOCKED
    (finding,) = [f for f in report.findings if f.rule_id == "MX-KERAS-201"]
    assert "denied by policy: retired" in finding.message
