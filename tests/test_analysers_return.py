"""Analysers return, readers report (issue 13, item 2), read with ``ast``.

The converted analysers take plain data plus a budget and limits and return (yield)
:class:`modelxray.model.Judgement` values; the reader maps them to its family's rules through
the ``BY_KIND`` table beside those rules and reports them.  So an analyser imports nothing that
reaches the scan: not ``scanning`` (the sink; its plain ``AnalysisSettings`` values excepted),
not the engine, policy or CLI -- at module level, under ``TYPE_CHECKING`` or inside a function.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import modelxray
from modelxray.model import Judgement
from modelxray.rules import ALL_RULES

PACKAGE = Path(modelxray.__file__).resolve().parent
RETURNING = ("hf_config", "hf_tokenizer", "jinja_template", "tf_graph", "keras_config")
FORBIDDEN = ("modelxray.scanning", "modelxray.engine", "modelxray.policy", "modelxray.cli")
# Plain values that happen to live beside the sink: the analysis part of the policy.
VALUES = frozenset({"modelxray.scanning.AnalysisSettings"})
FAMILIES = ("repo", "template", "tf", "keras")


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: inside modelxray.analysis
                base = ".".join(
                    [*["modelxray", "analysis"][: 3 - node.level], *([base] if base else [])]
                )
            names = {f"{base}.{alias.name}" for alias in node.names}
            if not names <= VALUES:
                out.add(base)
            out.update(names - VALUES)
    return out


@pytest.mark.parametrize("name", RETURNING)
def test_analyser_imports_nothing_of_the_scan(name: str) -> None:
    imported = _imports(PACKAGE / "analysis" / f"{name}.py")
    reached = {m for m in imported for f in FORBIDDEN if m == f or m.startswith(f + ".")}
    assert not reached, f"analysis/{name}.py imports {sorted(reached)}"


def test_analyser_source_does_not_report() -> None:
    for name in RETURNING:
        source = (PACKAGE / "analysis" / f"{name}.py").read_text(encoding="utf-8")
        assert ".report(" not in source and "scan_child(" not in source, name


@pytest.mark.parametrize("family", FAMILIES)
def test_by_kind_tables_name_their_family_rules(family: str) -> None:
    import importlib

    module = importlib.import_module(f"modelxray.rules.{family}")
    table = module.BY_KIND
    assert table, family
    for kind, rule in table.items():
        assert isinstance(kind, str) and kind
        assert ALL_RULES[rule.id] is rule
        assert rule.id.startswith(f"MX-{family.upper()}-"), (kind, rule.id)


def test_judgements_are_values() -> None:
    from modelxray.analysis.hf_tokenizer import judge_chat_templates
    from modelxray.budget import Budget, Limits

    limits = Limits()
    out = list(judge_chat_templates([{"name": "x", "template": 3}], Budget(limits), limits))
    assert out == [
        Judgement("unparseable", "template entry is a int, not a string", {"type": "int"},
                  ("chat_template[x]",))
    ]  # fmt: skip


def test_what_a_keras_walk_concluded_before_a_limit_is_kept() -> None:
    from modelxray.analysis.keras_config import KerasDoc, judge_config
    from modelxray.budget import Budget, BudgetExceeded, Limits
    from modelxray.model import Location
    from modelxray.scanning import AnalysisSettings

    limits = Limits(max_json_nodes=6)
    doc = {"class_name": "TFSMLayer", "config": {"filepath": "http://x/y"}, "rest": list(range(50))}
    walk = judge_config(
        KerasDoc(Location("m.json"), doc), Budget(limits), limits, AnalysisSettings()
    )
    first = next(walk)
    assert isinstance(first, Judgement) and first.kind == "tfsm-layer"
    assert first.where == ("$.config.filepath",) and first.severity is not None
    with pytest.raises(BudgetExceeded):
        list(walk)
