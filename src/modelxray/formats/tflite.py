"""TensorFlow Lite / LiteRT models: a FlatBuffer with file identifier ``TFL3``.

Only the tables that say which kernels run are read, by seeking: the ``Model``
root table, its ``operator_codes`` vector and, to count uses and check
indices, each subgraph's ``operators[].opcode_index``.  Tensor buffers are
never read.  Every offset is checked against the file size; anything out of
bounds is a parse error (fail closed).

Schema (tensorflow/lite/schema/schema.fbs), the fields used here:
``Model { version:uint (0); operator_codes:[OperatorCode] (1); subgraphs:[SubGraph] (2) }``,
``OperatorCode { deprecated_builtin_code:byte (0); custom_code:string (1); version:int (2);
builtin_code:BuiltinOperator/int (3) }``, ``SubGraph { ... operators:[Operator] (3) }``,
``Operator { opcode_index:uint (0) }``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelxray.analysis import threats
from modelxray.artifact import Artifact, BinaryStream
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.model import Severity
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


class FlatBufferError(ValueError):
    pass


class _FB:
    """Bounds-checked random access to a FlatBuffer in a seekable stream."""

    def __init__(self, f: BinaryStream, size: int, ctx: Sink) -> None:
        self.f = f
        self.size = size
        self.ctx = ctx
        self.items = 0

    def read(self, pos: int, n: int) -> bytes:
        if pos < 0 or n < 0 or pos + n > self.size:
            raise FlatBufferError(f"offset {pos}+{n} lies outside the {self.size}-byte file")
        self.items += 1
        if self.items > self.ctx.limits.max_structure_items:
            raise BudgetExceeded("max_structure_items", "FlatBuffer has too many tables")
        self.ctx.budget.tick()
        self.f.seek(pos)
        data = self.f.read(n)
        if len(data) != n:
            raise FlatBufferError(f"short read at offset {pos}")
        return data

    def u32(self, pos: int) -> int:
        return int(struct.unpack("<I", self.read(pos, 4))[0])

    def table(self, pos: int) -> tuple[int, list[int]]:
        """A table's position and its vtable's field offsets."""
        (soffset,) = struct.unpack("<i", self.read(pos, 4))
        vt = pos - soffset
        vt_size, _ = struct.unpack("<HH", self.read(vt, 4))
        if vt_size < 4 or vt_size % 2:
            raise FlatBufferError(f"bad vtable size {vt_size} at {vt}")
        fields = list(struct.unpack(f"<{(vt_size - 4) // 2}H", self.read(vt + 4, vt_size - 4)))
        return pos, fields

    @staticmethod
    def field(table: tuple[int, list[int]], index: int) -> int | None:
        pos, fields = table
        if index < len(fields) and fields[index]:
            return pos + fields[index]
        return None

    def scalar(self, table: tuple[int, list[int]], index: int, fmt: str, default: int) -> int:
        at = self.field(table, index)
        if at is None:
            return default
        return int(struct.unpack("<" + fmt, self.read(at, struct.calcsize(fmt)))[0])

    def indirect(self, at: int) -> int:
        return at + self.u32(at)

    def vector(self, table: tuple[int, list[int]], index: int) -> tuple[int, int] | None:
        """(first element position, length) of a vector field."""
        at = self.field(table, index)
        if at is None:
            return None
        vec = self.indirect(at)
        n = self.u32(vec)
        if vec + 4 + 4 * n > self.size:
            raise FlatBufferError(f"vector of {n} elements at {vec} runs past the end")
        return vec + 4, n

    def tables(self, table: tuple[int, list[int]], index: int) -> list[tuple[int, list[int]]]:
        vec = self.vector(table, index)
        if vec is None:
            return []
        start, n = vec
        if n > self.ctx.limits.max_structure_items:
            raise BudgetExceeded("max_structure_items", f"vector of {n} tables")
        raw = self.read(start, 4 * n)
        offsets = struct.unpack(f"<{n}I", raw)
        return [self.table(start + 4 * i + off) for i, off in enumerate(offsets)]

    def string(self, table: tuple[int, list[int]], index: int) -> str | None:
        at = self.field(table, index)
        if at is None:
            return None
        pos = self.indirect(at)
        n = self.u32(pos)
        if pos + 4 + n > self.size:
            raise FlatBufferError(f"string of {n} bytes at {pos} runs past the end")
        return self.read(pos + 4, min(n, MAX_STRING)).decode("utf-8", errors="replace")


@dataclass
class OpCode:
    index: int
    builtin: int
    custom: str | None
    version: int
    uses: int = 0


def read_operator_codes(fb: _FB) -> tuple[int, list[OpCode], int]:
    """(schema version, operator codes with use counts, operator count)."""
    root = fb.table(fb.u32(0))
    version = fb.scalar(root, 0, "I", 0)
    codes = []
    for i, t in enumerate(fb.tables(root, 1)):
        deprecated = fb.scalar(t, 0, "b", 0)
        builtin = fb.scalar(t, 3, "i", 0)
        codes.append(OpCode(i, max(deprecated, builtin), fb.string(t, 1), fb.scalar(t, 2, "i", 1)))
    n_ops = 0
    for sg in fb.tables(root, 2):
        vec = fb.vector(sg, 3)
        if vec is None:
            continue
        start, n = vec
        if n > fb.ctx.limits.max_structure_items:
            raise BudgetExceeded("max_structure_items", f"subgraph has {n} operators")
        offsets = struct.unpack(f"<{n}I", fb.read(start, 4 * n))
        for j, off in enumerate(offsets):
            op = fb.table(start + 4 * j + off)
            idx = fb.scalar(op, 0, "I", 0)
            if idx >= len(codes):
                raise FlatBufferError(
                    f"operator {j} uses opcode_index {idx}; only {len(codes)} operator codes exist"
                )
            codes[idx].uses += 1
            n_ops += 1
    return version, codes, n_ops


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
                tf_op = name[4:]
                dangerous = tf_op in DANGEROUS_TF_OPS
                evidence["tf_op"] = tf_op
                ctx.report(
                    rules.FLEX_OP,
                    loc,
                    f"custom op {name!r} runs TensorFlow op {tf_op!r} through the Flex "
                    f"delegate"
                    + (" (reaches files, processes, Python or the network)" if dangerous else ""),
                    evidence,
                    severity=Severity.CRITICAL if dangerous else Severity.MEDIUM,
                )
            else:
                ctx.report(
                    rules.CUSTOM_OP,
                    loc,
                    f"custom op {name!r} needs a native kernel registered by the "
                    f"application ({code.uses} uses)",
                    evidence,
                )


register(TFLiteReader())
