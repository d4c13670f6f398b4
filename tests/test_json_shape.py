"""JSON node and depth limits hold while a document is read, before it is built (issue 15 §4).

``formats.json_doc.JsonShape`` counts commas and brackets outside strings, a chunk at a time;
it may refuse only what the analysers' walk would refuse too (a lower bound on the values, the
deepest container's children one level below it), and a document over a limit is refused
without being held whole.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelxray.budget import BudgetExceeded, Limits
from modelxray.engine import ScanOptions, scan
from modelxray.formats.json_doc import JsonShape, check_json_shape, parse_json_text


def _values(doc: Any) -> int:
    if isinstance(doc, dict):
        return 1 + sum(_values(v) for v in doc.values())
    if isinstance(doc, list):
        return 1 + sum(_values(v) for v in doc)
    return 1


def _walk_depth(doc: Any, depth: int = 0) -> int:
    """The longest path the analysers' walk enters (a container's children are one deeper)."""
    children = list(doc.values()) if isinstance(doc, dict) else doc if isinstance(doc, list) else []
    return max((_walk_depth(c, depth + 1) for c in children), default=depth)


_TRICKY = st.text(alphabet=st.sampled_from('ab,[]{}"\\\n:é\u2028'), max_size=12)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _TRICKY,
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(_TRICKY, kids, max_size=5),
    max_leaves=40,
)


@given(doc=_JSON, ascii_only=st.booleans(), indent=st.sampled_from([None, 1]),
       cuts=st.lists(st.integers(1, 9), max_size=30))  # fmt: skip
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_shape_counts_agree_with_the_document(
    doc: Any, ascii_only: bool, indent: int | None, cuts: list[int]
) -> None:
    data = json.dumps(doc, ensure_ascii=ascii_only, indent=indent).encode()
    exact = Limits(max_json_nodes=_values(doc), max_json_depth=_walk_depth(doc))
    shape = JsonShape(exact, "doc")  # at exactly the document's own counts: never refused
    pos = 0
    for n in cuts:  # fed in pieces cut anywhere: inside strings, after a backslash
        shape.feed(data[pos : pos + n])
        pos += n
    shape.feed(data[pos:])
    assert not shape.in_string and shape.depth == 0
    assert shape.commas + 1 <= _values(doc)
    if isinstance(doc, list) and not any(isinstance(v, (list, dict)) for v in doc) and doc:
        assert shape.commas == len(doc) - 1  # a flat array: exactly one comma between values
    assert parse_json_text(data, "doc", exact) == doc


def test_a_wide_array_is_refused_at_the_count_its_commas_prove() -> None:
    data = b"[" + b"0," * 99 + b"0]"  # 101 values, of which the 99 commas prove 100
    check_json_shape(data, "doc", Limits(max_json_nodes=100))
    with pytest.raises(BudgetExceeded) as exc:
        check_json_shape(data, "doc", Limits(max_json_nodes=99))
    assert exc.value.limit == "max_json_nodes"


@pytest.mark.parametrize(("levels", "leaf", "refused"), [
    (11, b"", False),  # the 11th container is empty: its walk ends at depth 10
    (11, b"0", False),  # walked to depth 11: the walk refuses it, the count need not
    (12, b"", True),  # the walk reaches depth 11 whatever the innermost holds
    (10, b"0", False),
])  # fmt: skip
def test_depth_is_refused_only_where_the_walk_would_be(
    levels: int, leaf: bytes, refused: bool
) -> None:
    data = b"[" * levels + leaf + b"]" * levels
    limits = Limits(max_json_depth=10)
    if refused:
        with pytest.raises(BudgetExceeded) as exc:
            check_json_shape(data, "doc", limits)
        assert exc.value.limit == "max_json_depth"
    else:
        check_json_shape(data, "doc", limits)


def test_brackets_and_commas_inside_strings_do_not_count() -> None:
    doc = {"a": "[[[[,,,,]]]]" * 50, "b": ['\\"[', "{\\", '",,"']}
    data = json.dumps(doc).encode()
    parse_json_text(data, "doc", Limits(max_json_nodes=_values(doc), max_json_depth=1))


def test_over_the_node_limit_ends_before_the_document_is_held(tmp_path: Path) -> None:
    """An array of zeros just under the byte limit ends in the node-limit finding while it
    is read: it is never held whole, decoded or built."""
    path = tmp_path / "config.json"
    path.write_bytes(b"[" + b"0," * 4_000_000 + b"0]")  # 8 MB, four million values
    tracemalloc.start()
    try:
        report = scan(str(path), ScanOptions(limits=Limits(max_json_nodes=1_000_000)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    (finding,) = report.files[0].findings
    assert finding.rule_id == "MX-SCAN-002" and finding.evidence["limit"] == "max_json_nodes"
    assert peak < 4 * 1024 * 1024, peak  # a couple of 1 MiB chunks, not the 8 MB document
