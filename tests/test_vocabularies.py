"""Rules are declared once and vocabularies are defined once.

* A family registers each rule it declares: nothing else lists rules, and families are found
  by walking ``modelxray.rules``, so a rule cannot be emitted yet missing from the catalogue.
* Verdicts, dispositions and file statuses are enums whose values are the report strings.
* ``FormatName`` is the one registry of format names a scan records: every reader name and
  every name passed to ``add_format`` is in it, and ``Rule.formats`` and a policy's
  ``approved_formats`` are checked against it.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

import modelxray
from modelxray.model import (
    Confidence,
    Disposition,
    FileResult,
    FileStatus,
    FormatName,
    Severity,
    Verdict,
)
from modelxray.policy import PolicyError, RuleSetting, policy_from_dict
from modelxray.rules import ALL_RULES, get_rule
from modelxray.rules.base import Rule, RuleFamily

SRC = Path(modelxray.__file__).resolve().parent
RULES_DIR = SRC / "rules"


# ------------------------------------------------------------------ rules declared once


def _family_packages() -> list[str]:
    """Every package under rules/, found on disk (not through the code under test)."""
    return sorted(p.name for p in RULES_DIR.iterdir() if (p / "__init__.py").is_file())


def test_every_family_package_is_discovered_and_keeps_no_rule_tuple() -> None:
    families = _family_packages()
    assert len(families) >= 16
    assert {r.family for r in ALL_RULES.values()} == set(families)
    for name in families:
        module = importlib.import_module(f"modelxray.rules.{name}")
        assert not hasattr(module, "RULES"), f"{name}: rules are registered by FAMILY.rule"
        assert isinstance(module.FAMILY, RuleFamily) and module.FAMILY.name == name
        declared = {v.id: v for v in vars(module).values() if isinstance(v, Rule)}
        assert declared, name
        for rule_id, rule in declared.items():
            assert ALL_RULES.get(rule_id) is rule, rule_id
            assert rule.package == module.__name__ and rule.family == name
            assert f"({rule_id}.md)" in (SRC.parent.parent / "docs/rules/README.md").read_text()


def test_declaring_a_rule_puts_it_in_the_catalogue() -> None:
    family = RuleFamily("vocabtest", package=__name__, formats=("pickle",))
    rule = family.rule(
        "MX-VOCABTEST-001", "A rule declared by a test", Severity.LOW, Confidence.LOW
    )
    try:
        assert ALL_RULES["MX-VOCABTEST-001"] is rule
        assert get_rule("mx-vocabtest-001") is rule
        assert rule.formats == ("pickle",) and rule.family == "vocabtest"
        # The policy accepts the new rule's ID without any other edit.
        policy = policy_from_dict({"rules": {"MX-VOCABTEST-001": "warn"}})
        assert policy.rule_state("MX-VOCABTEST-001") is Disposition.WARN
        # The same ID declared differently is an error, not a silent replacement.
        with pytest.raises(ValueError, match="declared twice"):
            family.rule("MX-VOCABTEST-001", "Another title", Severity.LOW, Confidence.LOW)
    finally:
        del ALL_RULES["MX-VOCABTEST-001"]
    with pytest.raises(PolicyError, match="unknown rule"):
        policy_from_dict({"rules": {"MX-VOCABTEST-001": "warn"}})


def test_catalogue_is_ordered_by_id() -> None:
    assert list(ALL_RULES) == sorted(ALL_RULES)
    assert len(ALL_RULES) >= 95


# ------------------------------------------------------------------ vocabularies


def test_vocabulary_values_are_the_report_strings() -> None:
    assert [str(v) for v in Verdict] == ["allowed", "blocked", "error"]
    assert [str(d) for d in Disposition] == ["block", "warn", "off", "suppressed"]
    assert [str(s) for s in FileStatus] == ["scanned", "unsupported", "unscannable"]
    for member in (Verdict.BLOCKED, Disposition.SUPPRESSED, FileStatus.UNSCANNABLE):
        assert member == member.value and f"{member}" == member.value
        assert json.dumps({"k": member, member: 1}) == json.dumps(
            {"k": member.value, member.value: 1}
        )


def test_report_schema_uses_the_same_words() -> None:
    schema = json.loads((SRC / "data" / "report.schema.json").read_text(encoding="utf-8"))
    defs = schema["$defs"]
    assert set(defs["verdict"]["enum"]) == Verdict.values()
    assert set(defs["file"]["properties"]["status"]["enum"]) == FileStatus.values()
    # A finding in a report is never "off": the policy drops those findings.
    disposition = set(defs["finding"]["properties"]["disposition"]["enum"])
    assert disposition == Disposition.values() - {"off"}
    assert set(defs["severity"]["enum"]) == {str(s) for s in Severity}


def test_file_result_serialises_plain_strings() -> None:
    result = FileResult("a.pkl", 1, "", status=FileStatus.UNSCANNABLE, verdict=Verdict.ERROR)
    d = result.to_dict()
    assert type(d["status"]) is str and d["status"] == "unscannable"
    assert type(d["verdict"]) is str and d["verdict"] == "error"


def test_rule_setting_state_is_a_disposition() -> None:
    assert RuleSetting("off").state is Disposition.OFF
    with pytest.raises(ValueError):
        RuleSetting("ignore")
    with pytest.raises(PolicyError, match="expected 'block', 'warn' or 'off'"):
        policy_from_dict({"rules": {"MX-PICKLE-001": "suppressed"}})


# ------------------------------------------------------------------ format names


def test_rule_formats_are_registered_format_names() -> None:
    names = FormatName.values()
    for rule in ALL_RULES.values():
        assert set(rule.formats) <= names, (rule.id, set(rule.formats) - names)
    with pytest.raises(ValueError, match="unknown format"):
        Rule("MX-X-001", "x", "x", Severity.LOW, Confidence.LOW, formats=("pytorch",))


def test_approved_formats_are_checked() -> None:
    ok = policy_from_dict({"approved_formats": ["safetensors", "pytorch-zip", "keras-v3"]})
    assert ok.approved_formats == ("safetensors", "pytorch-zip", "keras-v3")
    with pytest.raises(PolicyError, match=r"approved_formats\[1\]: unknown format 'pytorch'") as e:
        policy_from_dict({"approved_formats": ["safetensors", "pytorch"]})
    assert "pytorch-zip" in str(e.value) and "gguf" in str(e.value)


def test_every_reader_name_is_a_format_name() -> None:
    from modelxray import formats
    from modelxray.formats.base import LazyReader

    for reader in formats.readers():
        real = reader.load() if isinstance(reader, LazyReader) else reader
        assert real.name in FormatName.values(), real.name
    assert len(formats.readers()) >= 20


def _strings_bound_to(name: str, scope: ast.AST, module: ast.Module) -> list[ast.expr]:
    """Every expression assigned to ``name`` in ``scope`` (tuple unpacking and chains too),
    with calls to functions of the same module replaced by what those functions return."""
    functions = {f.name: f for f in ast.walk(module) if isinstance(f, ast.FunctionDef)}
    out: list[ast.expr] = []
    for node in ast.walk(scope):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
            if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                pairs = list(zip(target.elts, node.value.elts, strict=True))
            for t, v in pairs:
                if isinstance(t, ast.Name) and t.id == name:
                    if isinstance(v, ast.Call) and isinstance(v.func, ast.Name):
                        called = functions.get(v.func.id)
                        if called is not None:
                            returns = [
                                r.value for r in ast.walk(called) if isinstance(r, ast.Return)
                            ]
                            out.extend(r for r in returns if r is not None)
                            continue
                    out.append(v)
    return out


def _constant_names(expr: ast.expr, scope: ast.AST, module: ast.Module, depth: int = 0) -> set[str]:
    if isinstance(expr, ast.Constant):
        return {expr.value} if isinstance(expr.value, str) else set()
    if isinstance(expr, ast.Name) and depth < 4:
        found: set[str] = set()
        for bound in _strings_bound_to(expr.id, scope, module) + _strings_bound_to(
            expr.id, module, module
        ):
            found |= _constant_names(bound, scope, module, depth + 1)
        return found
    return set()  # reader.name / self.name: test_every_reader_name_is_a_format_name


def test_every_name_passed_to_add_format_is_a_format_name() -> None:
    checked: set[str] = set()
    for path in sorted(SRC.rglob("*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"))
        scopes = [n for n in ast.walk(module) if isinstance(n, ast.FunctionDef)]
        for scope in scopes:
            for call in ast.walk(scope):
                if not (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "add_format"
                    and call.args
                ):
                    continue
                names = _constant_names(call.args[0], scope, module)
                unknown = names - FormatName.values()
                assert not unknown, (path.name, call.lineno, unknown)
                checked |= names
    # The refined names (zip layouts, codecs, Keras/HF documents) were all reached.
    for expected in ("keras-v3", "pytorch-zip", "numpy-npz", "gzip", "joblib-zf", "keras-h5"):
        assert expected in checked, expected
    assert "zlib-single" not in checked  # a codec, not a recorded name
