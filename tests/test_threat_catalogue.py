"""The threat catalogue (analysis/threats.py) is the one home of every dangerous-name table.

(a) Each consumer's table is computed from the catalogue: every entry it holds is a catalogue
record with the same category.  (b) The same callable gets the same category in every format
that can name it: a pickle global, a Keras config reference, a skops type, a Python source call,
a Keras Lambda's bytecode name, a TensorFlow op in a graph and in a TFLite Flex op.
"""

from __future__ import annotations

import ast
import collections
from pathlib import Path

import pytest

from modelxray.analysis import (
    callables,
    jinja_template,
    lambda_code,
    python_ast,
    tf_graph,
    threats,
    yaml_config,
)
from modelxray.analysis.pickle import globals_policy
from modelxray.analysis.pickle.globals_policy import DENY, Policy
from modelxray.formats import tflite, torch
from modelxray.model import Severity

CALLABLE_IDS = [t.target for t in threats.CALLABLES]


def _probe(t: threats.Threat) -> tuple[str, str]:
    """A (module, name) a loader would resolve under this record."""
    return (t.module, t.name if t.name is not None else "anything")


# ------------------------------------------------------------------ the catalogue itself


def test_records_are_unique_and_well_formed() -> None:
    keys = collections.Counter((t.module, t.name) for t in threats.CALLABLES)
    assert [k for k, n in keys.items() if n > 1] == []
    ops = collections.Counter(t.op for t in threats.TF_OPS)
    assert [k for k, n in ops.items() if n > 1] == []
    bare = collections.Counter(name for name, _, _ in threats.bare_names())
    assert [k for k, n in bare.items() if n > 1] == []
    chained = collections.Counter(
        [t.target.split(".")[-1] for t in threats.CALLABLES if t.chain]
        + [w.word for w in threats.WORDS if w.chain]
    )
    assert [k for k, n in chained.items() if n > 1] == []
    for rec in (*threats.CALLABLES, *threats.WORDS, *threats.TF_OPS):
        assert rec.category in threats.CATEGORIES, rec
        assert rec.cwe == threats.CATEGORIES[rec.category][0], rec
        assert rec.reason.strip(), rec


def test_module_denials_are_precise() -> None:
    # The http package holds data enums (HTTPStatus); its client and server are denied.
    assert "http" not in threats.MODULES
    assert {"http.client", "http.server"} <= set(threats.MODULES)


# ------------------------------------------------------------------ (a) consumers are views


def test_pickle_deny_list_is_the_catalogue() -> None:
    policy = Policy()
    assert set(policy.deny_modules) == set(threats.MODULES)
    assert set(policy.deny_names) == set(threats.NAMES)
    for key, (family, reason) in policy.deny_names.items():
        assert (family, reason) == (threats.NAMES[key].category, threats.NAMES[key].reason)
    for mod, (family, reason) in policy.deny_modules.items():
        assert (family, reason) == (threats.MODULES[mod].category, threats.MODULES[mod].reason)
    rows = {(m, n, f, r) for m, names, f, r in DENY for n in (names or (None,))}
    assert rows == {(t.module, t.name, t.category, t.reason) for t in threats.CALLABLES}


def test_pickle_chain_segments_and_reroot_modules_come_from_the_catalogue() -> None:
    expected = {t.target.split(".")[-1]: t for t in threats.CALLABLES if t.chain}
    words = {w.word: w for w in threats.WORDS if w.chain}
    assert set(globals_policy.CHAIN_DANGER_SEGMENTS) == set(expected) | set(words)
    for seg, (family, reason) in globals_policy.CHAIN_DANGER_SEGMENTS.items():
        rec = expected.get(seg) or words[seg]
        assert (family, reason) == (rec.category, rec.reason)
    # an attribute that is a module is judged as that module: only catalogue modules qualify
    assert globals_policy.REROOT_MODULES - {"builtins"} <= set(threats.MODULES)


def test_torchscript_and_jinja_name_only_catalogue_threats() -> None:
    """Their tables are format vocabularies; the threats in them are catalogue records."""
    builtins_names = {t.name for t in threats.CALLABLES if t.module == "builtins"}
    assert torch._RISKY_BUILTINS <= builtins_names
    for ref in torch._PYTHON_ONLY_TORCH:
        assert threats.lookup("torch", ref) is not None, ref
    last_segments = {t.target.split(".")[-1] for t in threats.CALLABLES}
    words = {w.word for w in threats.WORDS}
    assert jinja_template.PROCESS_ATTRS <= last_segments | words


def test_python_ast_table_is_the_catalogues_source_records() -> None:
    records = {t.target: t for t in threats.CALLABLES}
    for entry, category in python_ast._TABLE:
        rec = records.get(entry) or records.get(f"builtins.{entry}")
        assert rec is not None and rec.source, entry
        assert rec.category == category, entry
    assert set(python_ast.CATEGORY_SEVERITY) == set(threats.CATEGORIES)


def test_lambda_names_are_the_catalogues_bare_records_and_words() -> None:
    expected = {t.target.split(".")[-1]: t.category for t in threats.CALLABLES if t.bare}
    expected.update({w.word: w.category for w in threats.WORDS})
    assert set(lambda_code.DANGEROUS_NAMES) == set(expected)
    for name, why in lambda_code.DANGEROUS_NAMES.items():
        assert why.startswith(expected[name] + ": "), name


def test_callables_has_no_table_of_its_own() -> None:
    assert not hasattr(callables, "DANGEROUS_MODULES")
    assert not hasattr(callables, "DANGEROUS_BUILTINS")


_TF_TABLES = {
    "python": "PYTHON_OPS",
    "file-read": "_READ_INPUTS",
    "asset-read": "_ASSET_READERS",
    "checkpoint-read": "_CHECKPOINT_READ",
    "checkpoint-write": "_CHECKPOINT_WRITE",
    "file-write": "_WRITE_INPUTS",
    "network": "_NETWORK_INPUTS",
    "debug-url": "_DEBUG_URL_OPS",
}


def test_tf_graph_tables_are_catalogue_views() -> None:
    for category, attr in _TF_TABLES.items():
        table = getattr(tf_graph, attr)
        for op in table:
            rec = threats.TF_OPS_BY_NAME[op]
            assert rec.category == category, op
            if isinstance(table, dict):
                assert table[op] == rec.inputs, op
    for op, attr in tf_graph._WRITE_ATTRS.items():
        rec = threats.TF_OPS_BY_NAME[op]
        assert (rec.category, rec.path_attr) == ("file-write", attr)


def test_every_op_tf_graph_names_in_code_is_a_catalogue_op() -> None:
    """Ops compared by name in tf_graph's judge (``op == "PrintV2"``) are catalogue records."""
    tree = ast.parse(Path(tf_graph.__file__).read_text(encoding="utf-8"))
    named: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Name):
            if node.left.id != "op":
                continue
            for comp in node.comparators:
                consts = comp.elts if isinstance(comp, (ast.Tuple, ast.Set)) else [comp]
                named |= {
                    c.value
                    for c in consts
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                }
    assert named, "the scan found no op comparisons: the test is looking at the wrong code"
    assert named <= set(threats.TF_OPS_BY_NAME), named - set(threats.TF_OPS_BY_NAME)


def test_tflite_flex_list_is_the_catalogues_tf_ops() -> None:
    assert tflite.DANGEROUS_TF_OPS == {t.op for t in threats.TF_OPS if t.category != "asset-read"}


# ------------------------------------------------------------------ (b) one category per callable


@pytest.mark.parametrize("rec", threats.CALLABLES, ids=CALLABLE_IDS)
def test_same_category_in_every_format(rec: threats.Threat) -> None:
    module, name = _probe(rec)
    # a pickle global (find_class(module, name))
    pickled = Policy().denied(module, name)
    assert pickled is not None and pickled.family == rec.category
    # what an importer resolves (Keras configs, skops types)
    assert threats.lookup(module, name) == rec
    ref = callables.judge_config_reference(module, name, None, {}, "keras3")
    assert ref is not None and ref.kind == callables.DANGEROUS and ref.category == rec.category
    assert callables.judge_reference(module, name).severity == Severity.CRITICAL
    # a Hydra/OmegaConf config's _target_ (hydra's _locate walks the path like find_class)
    category, _reason, family = yaml_config.classify_target(f"{module}.{name}")
    assert category == "dangerous" and family == rec.category
    # a Python source call: flagged with this category when the record says so, never another
    called = python_ast.categorise(f"{module}.{name}")
    if rec.source:
        assert called == rec.category
    assert called in (None, rec.category)
    # a Lambda's bare global / attribute name
    last = rec.target.split(".")[-1]
    if rec.bare:
        assert lambda_code.DANGEROUS_NAMES[last].startswith(rec.category + ": ")
    # the same name at the end of any pickle attribute chain
    if rec.chain:
        chained = Policy().denied("collections", f"OrderedDict.{last}")
        assert chained is not None and chained.family == rec.category


@pytest.mark.parametrize("rec", threats.TF_OPS, ids=[t.op for t in threats.TF_OPS])
def test_tf_op_same_category_in_graphs_and_tflite(rec: threats.TFOp) -> None:
    assert (rec.op in tflite.DANGEROUS_TF_OPS) is (rec.category != "asset-read")
    attr = _TF_TABLES.get(rec.category)
    if attr is not None and rec.path_attr is None:
        assert rec.op in getattr(tf_graph, attr)
    for other_category, other in _TF_TABLES.items():
        if other_category != rec.category:
            assert rec.op not in getattr(tf_graph, other)


def test_known_drift_is_gone() -> None:
    # paramiko's SSH client: critical network access as a pickle global and in a Keras config.
    pickled = Policy().denied("paramiko.client", "SSHClient")
    assert pickled is not None and pickled.family == "network"
    ref = callables.judge_config_reference("paramiko.client", "SSHClient", None, {}, "keras3")
    assert ref is not None and ref.kind == callables.DANGEROUS and ref.severity is Severity.CRITICAL
    assert callables.judge_reference("paramiko.client", "SSHClient").severity is Severity.CRITICAL
    # http.HTTPStatus is a data enum: denied nowhere; http.client is denied everywhere.
    assert Policy().denied("http", "HTTPStatus") is None
    assert threats.lookup("http", "HTTPStatus") is None
    ref = callables.judge_config_reference("http", "HTTPStatus", None, {}, "keras3")
    assert ref is not None and ref.kind != callables.DANGEROUS
    assert python_ast.categorise("http.HTTPStatus") is None
    assert Policy().denied("http.client", "HTTPConnection") is not None
    assert python_ast.categorise("http.client.HTTPConnection") == "network"
