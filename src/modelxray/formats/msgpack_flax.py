"""Flax ``flax.serialization`` checkpoints: msgpack, walked by a tiny bounded reader.

Flax writes a msgpack map (the state dict) whose arrays are extension records:
code 1 = ndarray, 3 = numpy scalar (payload: msgpack ``(shape, dtype name,
bytes)``), 2 = native complex (payload: msgpack ``(real, imag)``).  Restoring
runs no code; the risks are records Flax never writes and sizes that make a
reader allocate without bound.  The walk reads headers and skips payloads by
seeking, so tensor bytes are never read; only the small headers inside array
records are parsed.  No third-party msgpack library is used.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact, BinaryStream
from modelxray.budget import BudgetExceeded, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.rules import flax as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

EXT_NDARRAY, EXT_COMPLEX, EXT_SCALAR = 1, 2, 3
FLAX_EXT_CODES = {EXT_NDARRAY: "ndarray", EXT_COMPLEX: "native complex", EXT_SCALAR: "npscalar"}
MAX_KEY = 256
MAX_ARRAY_HEADER = 64 * 1024
MAX_ELEMENTS = 1 << 40

# dtype names Flax writes (numpy ``dtype.name``, plus ml_dtypes names) and their item sizes.
DTYPE_SIZES = {
    "bool": 1, "int8": 1, "uint8": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
    "int64": 8, "uint64": 8, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8,
    "complex64": 8, "complex128": 16, "float8_e4m3fn": 1, "float8_e5m2": 1,
    "float8_e4m3b11fnuz": 1, "float8_e4m3fnuz": 1, "float8_e5m2fnuz": 1, "float8_e3m4": 1,
    "float8_e4m3": 1, "float8_e8m0fnu": 1, "float4_e2m1fn": 1, "int4": 1, "uint4": 1,
    "int2": 1, "uint2": 1,
}  # fmt: skip


class MsgpackError(ValueError):
    pass


@dataclass
class ExtRecord:
    path: str
    code: int
    offset: int  # where the payload starts
    length: int


@dataclass
class WalkResult:
    exts: list[ExtRecord] = field(default_factory=list)
    items: int = 0
    top_is_map: bool = False


class _Stream:
    def __init__(self, f: BinaryStream, size: int) -> None:
        self.f = f
        self.size = size
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > self.size:
            raise MsgpackError(f"record at offset {self.pos} needs {n} bytes past the end")
        data = self.f.read(n)
        if len(data) != n:
            raise MsgpackError(f"short read at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if self.pos + n > self.size:
            raise MsgpackError(
                f"payload of {n} bytes at offset {self.pos} runs past the end of the data"
            )
        self.pos += n
        self.f.seek(self.pos)


_FIXED = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8, 0xCA: 4, 0xCB: 8}
_LEN = {
    0xC4: ("B", "bin"),
    0xC5: (">H", "bin"),
    0xC6: (">I", "bin"),
    0xD9: ("B", "str"),
    0xDA: (">H", "str"),
    0xDB: (">I", "str"),
    0xDC: (">H", "array"),
    0xDD: (">I", "array"),
    0xDE: (">H", "map"),
    0xDF: (">I", "map"),
    0xC7: ("B", "ext"),
    0xC8: (">H", "ext"),
    0xC9: (">I", "ext"),
}
_FIXEXT = {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}


def _header(s: _Stream) -> tuple[str, int, Any]:
    """One item's header: (kind, length or 0, small scalar value or None)."""
    b = s.take(1)[0]
    if b <= 0x7F:
        return "int", 0, b
    if b >= 0xE0:
        return "int", 0, b - 0x100
    if 0x80 <= b <= 0x8F:
        return "map", b & 0x0F, None
    if 0x90 <= b <= 0x9F:
        return "array", b & 0x0F, None
    if 0xA0 <= b <= 0xBF:
        return "str", b & 0x1F, None
    if b == 0xC0:
        return "nil", 0, None
    if b in (0xC2, 0xC3):
        return "bool", 0, b == 0xC3
    if b in _FIXED:
        raw = s.take(_FIXED[b])
        fmt = {
            0xCC: ">B",
            0xCD: ">H",
            0xCE: ">I",
            0xCF: ">Q",
            0xD0: ">b",
            0xD1: ">h",
            0xD2: ">i",
            0xD3: ">q",
            0xCA: ">f",
            0xCB: ">d",
        }[b]
        return ("float" if b in (0xCA, 0xCB) else "int"), 0, struct.unpack(fmt, raw)[0]
    if b in _LEN:
        fmt, kind = _LEN[b]
        (n,) = struct.unpack(fmt, s.take(struct.calcsize(fmt)))
        return kind, n, None
    if b in _FIXEXT:
        return "ext", _FIXEXT[b], None
    raise MsgpackError(f"byte 0x{b:02x} at offset {s.pos - 1} is not a msgpack type")


def walk(f: BinaryStream, size: int, limits: Limits, tick: Any = None) -> WalkResult:
    """Walk one msgpack object that must fill ``size`` bytes; collect extension records."""
    s = _Stream(f, size)
    out = WalkResult()
    # Frames: [kind, items left, path, pending key (maps), index (arrays)]
    stack: list[list[Any]] = []
    path = "$"
    first = True
    while True:
        out.items += 1
        if out.items > limits.max_structure_items:
            raise BudgetExceeded("max_structure_items", f"over {limits.max_structure_items} items")
        if tick is not None:
            tick()
        # Where this item sits.
        is_key = False
        if stack:
            frame = stack[-1]
            if frame[0] == "map":
                is_key = frame[3] is None
                path = frame[2] + "." + str(frame[3]) if not is_key else frame[2]
            else:
                path = f"{frame[2]}[{frame[4]}]"
        kind, n, value = _header(s)
        if first:
            out.top_is_map = kind == "map"
            first = False
        key_text: str | None = None
        if kind in ("str", "bin"):
            if is_key and n <= MAX_KEY:
                key_text = s.take(n).decode("utf-8", errors="replace")
            else:
                s.skip(n)
        elif kind == "ext":
            (code,) = struct.unpack("b", s.take(1))
            out.exts.append(ExtRecord(path, code, s.pos, n))
            s.skip(n)
        elif kind in ("map", "array"):
            if len(stack) >= limits.max_structure_depth:
                raise BudgetExceeded(
                    "max_structure_depth", f"msgpack nests deeper than {len(stack)}"
                )
            if n:
                items = 2 * n if kind == "map" else n
                if items > size - s.pos:  # every item takes at least one byte
                    raise MsgpackError(
                        f"{kind} at {path} declares {n} entries; the data is too short"
                    )
                stack.append([kind, items, path, None, 0])
                continue
        elif is_key:
            key_text = repr(value) if value is not None else kind
        # One item finished: pop completed containers.
        while stack:
            frame = stack[-1]
            if frame[0] == "map":
                frame[3] = (key_text if key_text is not None else "?") if frame[3] is None else None
                key_text = None
            else:
                frame[4] += 1
            frame[1] -= 1
            if frame[1] > 0:
                break
            stack.pop()
            key_text = None
        if not stack:
            break
    if s.pos != size:
        raise MsgpackError(f"{size - s.pos} bytes of extra data after the msgpack object")
    return out


def check_array_payload(head: bytes, length: int, code: int) -> str | None:
    """Why an ndarray / npscalar payload is not what Flax writes, or None when it is.

    ``head`` is the start of the ``length``-byte payload: enough for the shape and dtype; the
    tensor bytes after them are never read.
    """
    s = _Stream(io.BytesIO(head), length)
    try:
        kind, n, _ = _header(s)
        if kind != "array" or n != 3:
            return "payload is not a (shape, dtype, bytes) triple"
        kind, n, _ = _header(s)
        if kind != "array" or n > 64:
            return "shape is not a short list"
        shape = []
        for _ in range(n):
            k, _, v = _header(s)
            if k != "int" or v < 0:
                return "shape holds a value that is not a non-negative integer"
            shape.append(int(v))
        kind, n, _ = _header(s)
        if kind not in ("str", "bin") or n > 64:
            return "dtype name is not a short string"
        dtype = s.take(n).decode("utf-8", errors="replace")
        kind, n, _ = _header(s)
        if kind not in ("bin", "str"):
            return "data is not a byte string"
    except MsgpackError as exc:
        return f"payload is malformed: {exc}"
    if dtype not in DTYPE_SIZES:
        return f"dtype {dtype!r} is not a plain numeric dtype"
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        return f"shape {shape} declares {count} elements"
    if code == EXT_SCALAR and shape:
        return f"numpy scalar record has shape {shape}"
    expected = count * DTYPE_SIZES[dtype]
    if dtype in ("int4", "uint4", "int2", "uint2"):
        return None  # packed sub-byte types: size depends on packing
    if expected != n:
        return f"shape {shape} of {dtype} needs {expected} bytes but the record holds {n}"
    if s.pos + n != length:
        return "payload length disagrees with its data"
    return None


def _head_looks_like_msgpack_map(head: bytes) -> bool:
    if not head or not (0x81 <= head[0] <= 0x8F or head[0] in (0xDE, 0xDF)):
        return False
    key_at = 1 if head[0] <= 0x8F else (3 if head[0] == 0xDE else 5)
    if len(head) <= key_at:
        return False
    k = head[key_at]
    return 0xA0 <= k <= 0xBF or k in (0xD9, 0xDA, 0xDB)


class FlaxMsgpackReader(FormatReader):
    name = "flax-msgpack"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if not _head_looks_like_msgpack_map(head):
            return 0
        # Walk what the head holds: a byte that is no msgpack type refutes the guess.
        try:
            walk(io.BytesIO(head), len(head), Limits())
        except MsgpackError as exc:
            # A byte that is no msgpack type refutes the guess; running out of data (the head is
            # a prefix, or the file is truncated) does not: a truncated file fails closed in scan.
            if "is not a msgpack type" in str(exc):
                return 0
        except BudgetExceeded:
            pass  # a limit is the scan's business: claim it and let scan report the limit
        return 25

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(self.name)
        with artifact.open() as f:
            result = walk(f, artifact.size, ctx.limits, ctx.budget.tick)
            foreign: dict[int, list[ExtRecord]] = {}
            for ext in result.exts:
                if ext.code in FLAX_EXT_CODES:
                    self._judge(ext, f, artifact, ctx)
                else:
                    foreign.setdefault(ext.code, []).append(ext)
        for code, records in sorted(foreign.items()):
            # One finding per extension type: a file of another tool (pandas' msgpack uses
            # type 0 for every array) says the same thing at every record.
            first = records[0]
            ctx.report(
                rules.UNKNOWN_EXT,
                artifact.location.child(first.path),
                f"extension type {code} is not one Flax writes (1 ndarray, 2 complex, 3 numpy "
                f"scalar): {len(records)} record(s), {sum(r.length for r in records)} bytes",
                {
                    "ext_code": code,
                    "records": len(records),
                    "first": [
                        {"path": r.path, "offset": r.offset, "length": r.length}
                        for r in records[:10]
                    ],
                },
            )

    @staticmethod
    def _judge(ext: ExtRecord, f: BinaryStream, artifact: Artifact, ctx: Sink) -> None:
        loc = artifact.location.child(ext.path)
        evidence: dict[str, Any] = {
            "path": ext.path,
            "ext_code": ext.code,
            "offset": ext.offset,
            "length": ext.length,
        }
        if ext.code == EXT_COMPLEX:
            why = None if ext.length in (11, 19) else f"complex record of {ext.length} bytes"
        else:
            f.seek(ext.offset)
            head = f.read(min(ext.length, MAX_ARRAY_HEADER))
            why = check_array_payload(head, ext.length, ext.code)
        if why is not None:
            evidence["problem"] = why
            ctx.report(rules.BAD_ARRAY, loc, f"{FLAX_EXT_CODES[ext.code]} record: {why}", evidence)


register(FlaxMsgpackReader())
