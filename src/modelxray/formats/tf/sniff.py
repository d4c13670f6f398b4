"""Cheap content checks that recognise TensorFlow SavedModel files from their first bytes.

Split from :mod:`modelxray.formats.tf.savedmodel` so that sniffing, which runs on every file,
needs only :mod:`protobuf_wire`; the extraction code loads when a SavedModel is scanned.
"""

from __future__ import annotations

import re

from modelxray.budget import Budget, BudgetExceeded
from modelxray.formats.protobuf_wire import ProtobufError, Wire, iter_fields

__all__ = ["looks_like_keras_metadata", "looks_like_saved_model", "looks_like_saved_model_text"]

_V, _L = Wire.VARINT, Wire.LEN
_Buf = bytes | bytearray | memoryview

_SNIFF_BYTES = 64 * 1024


def _head_fields(head: _Buf, budget: Budget) -> list[tuple[int, int, int | memoryview]]:
    return list(iter_fields(memoryview(head)[:_SNIFF_BYTES], budget, partial=True))


def looks_like_saved_model(head: bytes) -> bool:
    """Cheap check on a file's first bytes: ``SavedModel{1: varint, 2: MetaGraphDef}``.

    The top level may only hold schema_version (varint) and meta_graphs; the first
    MetaGraphDef must start with length-delimited fields numbered 1-7.
    """
    if head[:1] not in (b"\x08", b"\x12"):  # the tags of (1, varint) and (2, len)
        return False
    budget = Budget()
    try:
        top = _head_fields(head, budget)
        if not top or any((n, w) not in ((1, _V), (2, _L)) for n, w, _ in top):
            return False
        graph = next((v for n, _, v in top if n == 2 and isinstance(v, memoryview)), None)
        if graph is None:
            return False
        inner = _head_fields(graph, budget)
        return bool(inner) and all(1 <= n <= 7 and w == _L for n, w, _ in inner)
    except (ProtobufError, BudgetExceeded):
        return False


def looks_like_keras_metadata(head: bytes) -> bool:
    """Cheap check: ``SavedMetadata{1: SavedObject{2 varint, 3-6 length-delimited}}``.

    Every top-level field must be a node, and the first node (possibly cut by the end of
    ``head``) must have that shape and carry a node path or identifier.
    """
    if head[:1] != b"\x0a":  # the tag of (1, len)
        return False
    budget = Budget()
    try:
        top = _head_fields(head, budget)
        if not top or any((n, w) != (1, _L) for n, w, _ in top):
            return False
        first = top[0][2]
        assert isinstance(first, memoryview)
        inner = _head_fields(first, budget)
        shape_ok = all((n, w) == (2, _V) or (3 <= n <= 6 and w == _L) for n, w, _ in inner)
        return shape_ok and any(n in (3, 4) for n, _, _ in inner)
    except (ProtobufError, BudgetExceeded):
        return False


_TEXT_START = re.compile(rb"(?:saved_model_schema_version|meta_graphs)\s*[:{<]")


def looks_like_saved_model_text(head: bytes) -> bool:
    """Cheap check: the first non-comment line of a text-format SavedModel."""
    for line in bytes(head[:_SNIFF_BYTES]).splitlines():
        line = line.strip()
        if line and not line.startswith(b"#"):
            return _TEXT_START.match(line) is not None
    return False
