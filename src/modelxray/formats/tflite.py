"""TensorFlow Lite / LiteRT models: a FlatBuffer with file identifier ``TFL3``.

The model's tables are walked by seeking, the way the interpreter's verifier and loader follow
them: the ``Model`` root table, its ``operator_codes``, ``subgraphs`` (tensors, operators with
their inputs, outputs, options), ``buffers``, ``metadata`` and ``signature_defs``.  Every table,
vtable, vector and string offset, every buffer's ``data`` vector and its ``offset``/``size``
(the layout of models over 2 GB, whose tensor data lies after the FlatBuffer, addressed from the
start of the file) and every operator's ``large_custom_options_offset``/``_size`` is checked
against the file size, and every tensor, buffer, opcode and subgraph index against the vector it
indexes: anything out of bounds is a parse error (fail closed: the file is not fully read).
Tensor data itself is never read.

Schema (tensorflow/lite/schema/schema.fbs), the fields used here (field index in brackets):
``Model { version:uint (0); operator_codes (1); subgraphs (2); description:string (3);
buffers (4); metadata_buffer:[int] (5); metadata (6); signature_defs (7) }``,
``OperatorCode { deprecated_builtin_code:byte (0); custom_code:string (1); version:int (2);
builtin_code:int (3) }``, ``SubGraph { tensors (0); inputs:[int] (1); outputs:[int] (2);
operators (3); name:string (4) }``, ``Tensor { shape:[int] (0); buffer:uint (2); name:string
(3); quantization (4); sparsity (6); shape_signature:[int] (7) }``, ``Operator {
opcode_index:uint (0); inputs:[int] (1); outputs:[int] (2); builtin_options (4);
custom_options:[ubyte] (5); intermediates:[int] (8); large_custom_options_offset:ulong (9);
large_custom_options_size:ulong (10); builtin_options_2 (12) }``, ``Buffer { data:[ubyte] (0);
offset:ulong (1); size:ulong (2) }`` (``offset`` is used only when > 1), ``Metadata {
name:string (0); buffer:uint (1) }``, ``SignatureDef { inputs (0); outputs (1);
signature_key:string (2); subgraph_index:uint (4) }``, ``TensorMap { name:string (0);
tensor_index:uint (1) }``.

Flex ops (``Flex<Op>`` custom ops, run by the Flex delegate as the TensorFlow op ``<Op>``) are
judged against TensorFlow's own allow-list of the ops its delegate accepts
(``analysis/_generated/tflite_flex_ops.py``) with the threat catalogue on top.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from modelxray.analysis import threats
from modelxray.artifact import Artifact, BinaryStream
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.model import Location, Severity
from modelxray.rules import tflite as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

IDENTIFIER = b"TFL3"
CUSTOM = 32
MAX_STRING = 4096

# TensorFlow ops that reach files, processes, Python or the network when run via Flex: the threat
# catalogue's TF ops, except the asset readers (a TFLite file has no assets folder; a vocabulary
# table read through Flex is judged as any other Flex op).
DANGEROUS_TF_OPS = frozenset(t.op for t in threats.TF_OPS if t.category != "asset-read")

Table = tuple[int, list[int]]


class FlatBufferError(ValueError):
    pass


class _FB:
    """Bounds-checked random access to a FlatBuffer in a seekable stream."""

    def __init__(self, f: BinaryStream, size: int, ctx: Sink) -> None:
        self.f = f
        self.size = size
        self.ctx = ctx
        self.items = 0

    def count(self, n: int, what: str) -> None:
        self.items += n
        if self.items > self.ctx.limits.max_structure_items:
            raise BudgetExceeded("max_structure_items", f"FlatBuffer has too many {what}")

    def read(self, pos: int, n: int) -> bytes:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise FlatBufferError(f"offset {pos}+{n} lies outside the {self.size}-byte file")
        self.count(1, "tables")
        self.ctx.budget.tick()
        self.f.seek(pos)
        data = self.f.read(n)
        if len(data) != n:
            raise FlatBufferError(f"short read at offset {pos}")
        return data

    def u32(self, pos: int) -> int:
        return int(struct.unpack("<I", self.read(pos, 4))[0])

    def table(self, pos: int) -> Table:
        """A table's position and its vtable's field offsets."""
        (soffset,) = struct.unpack("<i", self.read(pos, 4))
        vt = pos - soffset
        vt_size, _ = struct.unpack("<HH", self.read(vt, 4))
        if vt_size < 4 or vt_size % 2:
            raise FlatBufferError(f"bad vtable size {vt_size} at {vt}")
        fields = list(struct.unpack(f"<{(vt_size - 4) // 2}H", self.read(vt + 4, vt_size - 4)))
        return pos, fields

    @staticmethod
    def field(table: Table, index: int) -> int | None:
        pos, fields = table
        if index < len(fields) and fields[index]:
            return pos + fields[index]
        return None

    def scalar(self, table: Table, index: int, fmt: str, default: int) -> int:
        at = self.field(table, index)
        if at is None:
            return default
        return int(struct.unpack("<" + fmt, self.read(at, struct.calcsize(fmt)))[0])

    def indirect(self, at: int) -> int:
        return at + self.u32(at)

    def subtable(self, table: Table, index: int) -> Table | None:
        """A table-valued (or union) field."""
        at = self.field(table, index)
        return None if at is None else self.table(self.indirect(at))

    def vector(self, table: Table, index: int, elem: int = 4) -> tuple[int, int] | None:
        """(first element position, length) of a vector field of ``elem``-byte elements."""
        at = self.field(table, index)
        if at is None:
            return None
        vec = self.indirect(at)
        n = self.u32(vec)
        if vec + 4 + elem * n > self.size:
            raise FlatBufferError(f"vector of {n} elements at {vec} runs past the end")
        return vec + 4, n

    def ints(self, table: Table, index: int, what: str) -> list[int]:
        """A vector of int32/uint32 (indices), read whole."""
        vec = self.vector(table, index)
        if vec is None:
            return []
        start, n = vec
        self.count(n, what)
        return list(struct.unpack(f"<{n}i", self.read(start, 4 * n))) if n else []

    def tables(self, table: Table, index: int, what: str = "tables") -> list[Table]:
        vec = self.vector(table, index)
        if vec is None:
            return []
        start, n = vec
        self.count(n, what)
        raw = self.read(start, 4 * n)
        offsets = struct.unpack(f"<{n}I", raw)
        return [self.table(start + 4 * i + off) for i, off in enumerate(offsets)]

    def string(self, table: Table, index: int) -> str | None:
        at = self.field(table, index)
        if at is None:
            return None
        pos = self.indirect(at)
        n = self.u32(pos)
        if pos + 4 + n + 1 > self.size:  # FlatBuffers strings end with a NUL byte
            raise FlatBufferError(f"string of {n} bytes at {pos} runs past the end")
        return self.read(pos + 4, min(n, MAX_STRING)).decode("utf-8", errors="replace")

    def span(self, offset: int, size: int, what: str) -> None:
        """Data addressed from the start of the file (the > 2 GB layout)."""
        if offset + size > self.size:
            raise FlatBufferError(
                f"{what}: offset {offset} + size {size} lies past the end of the "
                f"{self.size}-byte file (data stored after the FlatBuffer is missing)"
            )


@dataclass
class OpCode:
    index: int
    builtin: int
    custom: str | None
    version: int
    uses: int = 0
    # Flex ops: the TensorFlow op names each operator's custom options name (what the Flex
    # kernel runs), or None for an operator whose options do not decode.
    flex_runs: list[tuple[str, tuple[str, ...] | None]] = field(default_factory=list)

    @property
    def is_flex(self) -> bool:
        return self.builtin == CUSTOM and (self.custom or "").startswith(FLEX_PREFIX)


# ----------------------------------------------------------------- Flex custom options
# The Flex kernel (tensorflow/lite/delegates/flex/kernel.cc, InitializeNodeDef) reads an
# operator's custom options as a FlexBuffer vector [op name, serialized NodeDef] and runs the op
# those name; the ``Flex<Op>`` custom code only routes the operator to the delegate.
FLEX_PREFIX = "Flex"
MAX_FLEX_OPTIONS = 1 << 20
_FBT_STRING, _FBT_VECTOR, _FBT_VECTOR_STRING, _FBT_BLOB = 5, 10, 15, 25


def _fx_uint(data: bytes, pos: int, width: int) -> int:
    if pos < 0 or width not in (1, 2, 4, 8) or pos + width > len(data):
        raise FlatBufferError("FlexBuffer offset out of range")
    return int.from_bytes(data[pos : pos + width], "little")


def _fx_string(data: bytes, elem: int, width: int, size_width: int) -> bytes:
    at = elem - _fx_uint(data, elem, width)
    n = _fx_uint(data, at - size_width, size_width)
    if at < 0 or at + n > len(data):
        raise FlatBufferError("FlexBuffer string out of range")
    return data[at : at + n]


def flex_custom_options(data: bytes) -> tuple[str, bytes]:
    """(op name, serialized NodeDef) of a Flex operator's FlexBuffer custom options."""
    if len(data) < 3:
        raise FlatBufferError("FlexBuffer too short")
    root_width = data[-1]
    packed = data[-2]
    root = len(data) - 2 - root_width
    kind, width = packed >> 2, 1 << (packed & 3)
    if kind not in (_FBT_VECTOR, _FBT_VECTOR_STRING):
        raise FlatBufferError(f"FlexBuffer root is of type {kind}, not a vector")
    vec = root - _fx_uint(data, root, root_width)
    n = _fx_uint(data, vec - width, width)
    if n < 2:
        raise FlatBufferError("FlexBuffer vector has fewer than two elements")
    parts: list[bytes] = []
    for i in range(2):
        elem = vec + i * width
        if kind == _FBT_VECTOR:
            etype = _fx_uint(data, vec + n * width + i, 1)
            if etype >> 2 not in (_FBT_STRING, _FBT_BLOB):
                raise FlatBufferError(f"FlexBuffer element {i} is of type {etype >> 2}")
            parts.append(_fx_string(data, elem, width, 1 << (etype & 3)))
        else:
            parts.append(_fx_string(data, elem, width, width))
    return parts[0].decode("utf-8", "replace"), parts[1]


def _node_def_op(node_def: bytes, ctx: Sink) -> str:
    from modelxray.formats.protobuf_wire import as_str, iter_fields

    for num, _, value in iter_fields(node_def, ctx.budget):
        if num == 2 and isinstance(value, memoryview):  # NodeDef.op
            return as_str(value, MAX_STRING)
    return ""


def flex_ops_run(options: bytes | None, ctx: Sink) -> tuple[str, ...] | None:
    """The TensorFlow op names a Flex operator's custom options make the kernel run (the
    FlexBuffer's name and the NodeDef's ``op``), or None when they do not decode."""
    from modelxray.formats.protobuf_wire import ProtobufError

    if not options:
        return None
    try:
        name, node_def = flex_custom_options(options)
        op = _node_def_op(node_def, ctx)
    except (FlatBufferError, ProtobufError):
        return None
    return tuple(dict.fromkeys(n for n in (name, op) if n))


def _check_index(value: int, count: int, what: str, *, optional: bool = False) -> None:
    if optional and value == -1:
        return
    if not 0 <= value < count:
        raise FlatBufferError(f"{what} is {value}, out of range (there are {count})")


def _read_buffers(fb: _FB, root: Table) -> int:
    buffers = fb.tables(root, 4, "buffers")
    for i, buf in enumerate(buffers):
        fb.vector(buf, 0, elem=1)  # data, bounds-checked
        offset = fb.scalar(buf, 1, "Q", 0)
        size = fb.scalar(buf, 2, "Q", 0)
        if offset > 1:
            fb.span(offset, size, f"buffers[{i}]")
    return len(buffers)


def _custom_options(fb: _FB, op: Table) -> bytes | None:
    """An operator's custom options: its ``custom_options`` vector, or the bytes that
    ``large_custom_options_offset``/``_size`` address (bounds-checked by the walk)."""
    large = fb.scalar(op, 9, "Q", 0)
    if large > 1:
        size = fb.scalar(op, 10, "Q", 0)
        fb.span(large, size, "large_custom_options")
        return fb.read(large, size) if size <= MAX_FLEX_OPTIONS else None
    vec = fb.vector(op, 5, elem=1)
    if vec is None:
        return None
    start, n = vec
    return fb.read(start, n) if n <= MAX_FLEX_OPTIONS else None


def _read_subgraph(
    fb: _FB, k: int, sg: Table, codes: list[OpCode], n_buffers: int
) -> tuple[int, int]:
    """(operators, tensors) of subgraph ``k``."""
    tensors = fb.tables(sg, 0, "tensors")
    for t, tensor in enumerate(tensors):
        fb.ints(tensor, 0, "shape entries")
        _check_index(fb.scalar(tensor, 2, "I", 0), max(n_buffers, 1), f"tensor {t} buffer")
        fb.string(tensor, 3)
        fb.subtable(tensor, 4)  # quantization
        fb.subtable(tensor, 6)  # sparsity
        fb.ints(tensor, 7, "shape entries")
    n = len(tensors)
    for io in (1, 2):
        for v in fb.ints(sg, io, "indices"):
            _check_index(v, n, f"subgraphs[{k}] input/output tensor")
    fb.string(sg, 4)
    ops = fb.tables(sg, 3, "operators")
    for j, op in enumerate(ops):
        where = f"subgraphs[{k}].operators[{j}]"
        idx = fb.scalar(op, 0, "I", 0)
        if idx >= len(codes):
            raise FlatBufferError(
                f"operator {j} uses opcode_index {idx}; only {len(codes)} operator codes exist"
            )
        codes[idx].uses += 1
        if codes[idx].is_flex:
            codes[idx].flex_runs.append((where, flex_ops_run(_custom_options(fb, op), fb.ctx)))
        for index_field in (1, 2, 8):
            for v in fb.ints(op, index_field, "indices"):
                _check_index(v, n, f"{where} tensor index", optional=True)
        fb.subtable(op, 4)  # builtin_options
        fb.vector(op, 5, elem=1)  # custom_options
        large = fb.scalar(op, 9, "Q", 0)
        if large > 1:
            fb.span(large, fb.scalar(op, 10, "Q", 0), f"{where} large_custom_options")
        fb.subtable(op, 12)  # builtin_options_2
    return len(ops), n


def read_operator_codes(fb: _FB) -> tuple[int, list[OpCode], int]:
    """(schema version, operator codes with use counts, operator count), the whole model
    walked and bounds-checked on the way."""
    root = fb.table(fb.u32(0))
    version = fb.scalar(root, 0, "I", 0)
    codes = []
    for i, t in enumerate(fb.tables(root, 1, "operator codes")):
        deprecated = fb.scalar(t, 0, "b", 0)
        builtin = fb.scalar(t, 3, "i", 0)
        codes.append(OpCode(i, max(deprecated, builtin), fb.string(t, 1), fb.scalar(t, 2, "i", 1)))
    fb.string(root, 3)
    n_buffers = _read_buffers(fb, root)
    subgraphs = fb.tables(root, 2, "subgraphs")
    counts = [_read_subgraph(fb, k, sg, codes, n_buffers) for k, sg in enumerate(subgraphs)]
    for v in fb.ints(root, 5, "indices"):
        _check_index(v, n_buffers, "metadata_buffer entry")
    for m, meta in enumerate(fb.tables(root, 6, "metadata")):
        fb.string(meta, 0)
        _check_index(fb.scalar(meta, 1, "I", 0), n_buffers, f"metadata[{m}] buffer")
    for s, sig in enumerate(fb.tables(root, 7, "signature defs")):
        sub = fb.scalar(sig, 4, "I", 0)
        _check_index(sub, len(subgraphs), f"signature_defs[{s}] subgraph_index")
        n_tensors = counts[sub][1]
        for io in (0, 1):
            for tmap in fb.tables(sig, io, "tensor maps"):
                fb.string(tmap, 0)
                _check_index(
                    fb.scalar(tmap, 1, "I", 0), n_tensors, f"signature_defs[{s}] tensor_index"
                )
        fb.string(sig, 2)
    return version, codes, sum(n for n, _ in counts)


class TFLiteReader(FormatReader):
    name = "tflite"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if len(head) >= 8 and head[4:8] == IDENTIFIER:
            (root,) = struct.unpack("<I", head[:4])
            if 8 <= root < artifact.size:
                return 70
        return 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(self.name)
        with artifact.open() as f:
            fb = _FB(f, artifact.size, ctx)
            version, codes, n_ops = read_operator_codes(fb)
        for code in codes:
            if code.builtin != CUSTOM:
                continue
            loc = artifact.location.child(f"operator_codes[{code.index}]")
            name = code.custom or ""
            evidence = {
                "operator_code_index": code.index,
                "builtin_code": code.builtin,
                "custom_code": name,
                "op_version": code.version,
                "uses": code.uses,
                "schema_version": version,
            }
            if name.startswith("Flex"):
                _report_flex(ctx, loc, code, evidence)
            else:
                ctx.report(
                    rules.CUSTOM_OP,
                    loc,
                    f"custom op {name!r} needs a native kernel registered by the "
                    f"application ({code.uses} uses)",
                    evidence,
                )


def _report_flex(ctx: Sink, loc: Location, code: OpCode, evidence: dict[str, object]) -> None:
    """A ``Flex<Op>`` custom op, judged by the TensorFlow ops its operators' custom options make
    the Flex kernel run (and the op its custom code names): any op in the threat catalogue is
    critical; an op outside TensorFlow's own Flex allow-list, or an operator whose options do
    not decode, medium; stock ops only, information."""
    from modelxray.analysis._generated.tflite_flex_ops import (
        SOURCE_COMMIT,
        SOURCE_PATH,
        STOCK_FLEX_OPS,
    )

    claimed = (code.custom or "")[len(FLEX_PREFIX) :]
    ops = dict.fromkeys([claimed])
    undecoded: list[str] = []
    for where, names in code.flex_runs:
        if names is None:
            undecoded.append(where)
        else:
            ops.update(dict.fromkeys(names))
    dangerous = [op for op in ops if op in DANGEROUS_TF_OPS]
    unlisted = [op for op in ops if op not in STOCK_FLEX_OPS]
    evidence = {
        **evidence,
        "tf_op": claimed,
        "tf_ops_run": list(ops),
        "stock": not unlisted,
        "allow_list": f"tensorflow@{SOURCE_COMMIT[:12]}:{SOURCE_PATH}",
    }
    if undecoded:
        evidence["undecoded_operators"] = undecoded[:20]
    name = code.custom
    if dangerous:
        threat = threats.TF_OPS_BY_NAME[dangerous[0]]
        evidence["category"] = threat.category
        ctx.report(
            rules.FLEX_OP,
            loc,
            f"custom op {name!r} runs TensorFlow op {dangerous[0]!r} through the Flex "
            f"delegate: {threat.reason} ("
            f"{'on' if dangerous[0] in STOCK_FLEX_OPS else 'not on'} TensorFlow's Flex "
            "allow-list)",
            evidence,
            severity=Severity.CRITICAL,
        )
    elif unlisted or undecoded:
        why = (
            f"{', '.join(repr(op) for op in unlisted)} not on TensorFlow's own Flex allow-list "
            "(a custom-built delegate or op library must provide it)"
            if unlisted
            else f"the custom options of {len(undecoded)} operator(s) do not decode as the "
            "Flex kernel reads them, so the op they run is unknown"
        )
        ctx.report(
            rules.FLEX_OP,
            loc,
            f"custom op {name!r} runs TensorFlow ops through the Flex delegate; {why}",
            evidence,
            severity=Severity.MEDIUM,
        )
    else:
        ctx.report(
            rules.STOCK_FLEX_OP,
            loc,
            f"custom op {name!r} runs the stock TensorFlow op(s) {', '.join(ops)} through the "
            "Flex delegate (on TensorFlow's own Flex allow-list)",
            evidence,
        )


register(TFLiteReader())
