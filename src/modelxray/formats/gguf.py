"""GGUF (llama.cpp, Ollama, llama-cpp-python, LM Studio): header, metadata, tensor table.

Layout: ``GGUF`` magic, u32 version, tensor count, key/value count, the key/value pairs,
the tensor infos (name, dims, ggml type, offset), padding to ``general.alignment``, then
tensor data — which is never read.  Every count, length and offset is checked against the
bytes that remain before anything is allocated or trusted (the parser bugs of llama.cpp and
Ollama came from trusting them).  Version 1 used 32-bit counts and lengths; versions 2 and 3
64-bit; big-endian files are recognised by a byte-swapped version.

Chat templates (``tokenizer.chat_template`` and ``tokenizer.chat_template.<name>``) and every
other string value that holds Jinja markup go to the shared template analysis.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact, BinaryStream
from modelxray.budget import Budget, BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.rules import gguf as rules
from modelxray.rules import scan as scan_rules
from modelxray.rules import template as template_rules
from modelxray.scanning import report_judgements

if TYPE_CHECKING:
    from modelxray.scanning import Sink

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ARRAY_NESTING = 4
_INT64_MAX = (1 << 63) - 1
# Value types: fixed size in bytes (STRING=8 and ARRAY=9 are variable).
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY, _UINT32 = 8, 9, 4
_TYPE_NAMES = {
    0: "UINT8", 1: "INT8", 2: "UINT16", 3: "INT16", 4: "UINT32", 5: "INT32", 6: "FLOAT32",
    7: "BOOL", 8: "STRING", 9: "ARRAY", 10: "UINT64", 11: "INT64", 12: "FLOAT64",
}  # fmt: skip
# ggml tensor types: (name, elements per block, bytes per block).
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36), 41: ("Q1_0", 128, 18),
}  # fmt: skip
# Strings longer than this are skipped unless they are declared chat templates.
_MAX_SNIFFED_STRING = 64 * 1024
_MAX_TEMPLATE_CANDIDATES = 1000
_MAX_REPORTED = 50
# Bytes of a string array (a vocabulary) read at a time.
_ARRAY_CHUNK = 1 << 20


class GGUFMalformed(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass
class TensorInfo:
    name: str
    dims: list[int]
    ggml_type: int
    offset: int
    info_offset: int


@dataclass
class GGUFInfo:
    version: int = 0
    endian: str = "<"
    n_tensors: int = 0
    n_kv: int = 0
    alignment: int = DEFAULT_ALIGNMENT
    keys: list[str] = field(default_factory=list)
    # (key label, text, declared chat template?)
    templates: list[tuple[str, str, bool]] = field(default_factory=list)
    oversized_templates: list[tuple[str, int]] = field(default_factory=list)
    tensors: list[TensorInfo] = field(default_factory=list)
    data_start: int = 0


class _Stream:
    """Bounded reads over the file: nothing is read or skipped past its end."""

    def __init__(self, f: BinaryStream, size: int, endian: str, budget: Budget) -> None:
        self.f = f
        self.size = size
        self.pos = 0
        self.e = endian
        self.budget = budget

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def need(self, n: int, what: str) -> None:
        if n < 0 or n > self.remaining:
            raise GGUFMalformed(
                f"{what} needs {n} bytes at offset {self.pos} but only {self.remaining} remain",
                self.pos,
            )

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        data = self.f.read(n)
        if len(data) != n:
            raise GGUFMalformed(f"{what}: file ended early at offset {self.pos}", self.pos)
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.f.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> int:
        size = struct.calcsize(fmt)
        (value,) = struct.unpack(self.e + fmt, self.take(size, what))
        return int(value)


class _Parser:
    def __init__(self, stream: _Stream, version: int, ctx: Sink) -> None:
        self.s = stream
        self.ctx = ctx
        self.len_fmt = "I" if version == 1 else "Q"
        self.len_size = 4 if version == 1 else 8
        self.items = 0
        self.candidates = 0

    def count(self, n: int) -> None:
        self.items += n
        limit = self.ctx.limits.max_gguf_items
        if self.items > limit:
            raise BudgetExceeded("max_gguf_items", f"more than {limit} metadata items")
        self.ctx.budget.tick(n)

    def length(self, what: str) -> int:
        return self.s.unpack(self.len_fmt, what)

    def string(self, what: str, keep: int) -> tuple[int, bytes | None]:
        """Read a string's length; keep its bytes if it is at most ``keep`` bytes long."""
        n = self.length(f"length of {what}")
        self.s.need(n, what)
        if n <= keep:
            return n, self.s.take(n, what)
        self.s.skip(n, what)
        return n, None

    def value(self, vtype: int, key: str, info: GGUFInfo, depth: int = 0) -> Any:
        s = self.s
        if vtype in _FIXED_SIZES:
            size = _FIXED_SIZES[vtype]
            fixed = s.take(size, f"value of {key!r}")
            if vtype == _UINT32:
                return struct.unpack(s.e + "I", fixed)[0]
            return None
        if vtype == _STRING:
            declared = key.startswith("tokenizer.chat_template")
            keep = self.ctx.limits.max_template_bytes if declared else _MAX_SNIFFED_STRING
            n, data = self.string(f"value of {key!r}", keep)
            if data is None:
                if declared:
                    info.oversized_templates.append((key, n))
                return None
            text = data.decode("utf-8", errors="replace")
            if declared:
                info.templates.append((key, text, True))
            else:
                self._candidate(key, text, info)
            return text
        if vtype == _ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise GGUFMalformed(
                    f"array in {key!r} nests deeper than {MAX_ARRAY_NESTING} levels", s.pos
                )
            etype = s.unpack("I", f"element type of {key!r}")
            n = self.length(f"element count of {key!r}")
            # Check the smallest size the elements can take before counting them.
            min_size = _FIXED_SIZES.get(
                etype, self.len_size if etype == _STRING else 4 + self.len_size
            )
            s.need(n * min_size, f"{n} elements of {key!r}")
            self.count(n)
            if etype in _FIXED_SIZES:
                s.skip(n * _FIXED_SIZES[etype], f"{n} elements of {key!r}")
                return None
            if etype == _STRING:
                s.need(n * self.len_size, f"{n} string elements of {key!r}")
                self._string_array(key, n, info)
                return None
            if etype == _ARRAY:
                # Each nested array needs at least its type and count.
                s.need(n * (4 + self.len_size), f"{n} nested arrays of {key!r}")
                for _ in range(n):
                    self.value(_ARRAY, key, info, depth + 1)
                return None
            raise GGUFMalformed(f"unknown array element type {etype} in {key!r}", s.pos)
        raise GGUFMalformed(f"unknown value type {vtype} for {key!r}", s.pos)

    def _string_array(self, key: str, n: int, info: GGUFInfo) -> None:
        """Step over ``n`` length-prefixed strings (a vocabulary: data), a chunk at a time.

        Each length is checked against the bytes the chunk (and so the file) holds; only an
        element of at most 512 bytes in a chunk that holds ``{{`` or ``{%`` is looked at as a
        template candidate.  An element that does not fit in a chunk (a long string, the end of
        the file) is read by :meth:`string`, which bounds it and names what is malformed.
        """
        s = self.s
        width = self.len_size
        unpack = struct.Struct(s.e + self.len_fmt).unpack_from
        i = 0
        while i < n:
            self.ctx.budget.check_time()
            start = s.pos
            buf = s.f.read(min(_ARRAY_CHUNK, s.remaining))
            marked = b"{{" in buf or b"{%" in buf
            end = len(buf)
            last = end - width  # the last offset a length can start at
            off = 0
            k = i
            for k in range(i, n):  # noqa: B007 - k is the first element not stepped over
                if off > last:
                    break
                nxt = off + width + unpack(buf, off)[0]
                if nxt > end:
                    break
                if marked and nxt - off - width <= 512:
                    elem = buf[off + width : nxt]
                    if b"{{" in elem or b"{%" in elem:
                        self._candidate(f"{key}[{k}]", elem.decode("utf-8", "replace"), info)
                off = nxt
            else:
                k = n
            i = k
            s.pos = start + off
            s.f.seek(s.pos)
            if i < n and off == 0:
                _, one = self.string(f"element {i} of {key!r}", 512)
                if one is not None and (b"{{" in one or b"{%" in one):
                    self._candidate(f"{key}[{i}]", one.decode("utf-8", "replace"), info)
                i += 1

    def _candidate(self, label: str, text: str, info: GGUFInfo) -> None:
        from modelxray.analysis.jinja_template import looks_like_template

        if self.candidates < _MAX_TEMPLATE_CANDIDATES and looks_like_template(text):
            self.candidates += 1
            info.templates.append((label, text, False))


def read_gguf(f: BinaryStream, size: int, ctx: Sink, info: GGUFInfo) -> None:
    """Fill ``info`` from the stream; raises GGUFMalformed at the first structural error
    (``info`` keeps what was read before it)."""
    head = f.read(8)
    if len(head) < 8 or head[:4] != MAGIC:
        raise GGUFMalformed("no GGUF magic and version", 0)
    le, be = struct.unpack("<I", head[4:8])[0], struct.unpack(">I", head[4:8])[0]
    if 1 <= le <= 3:
        info.version, info.endian = le, "<"
    elif 1 <= be <= 3:
        info.version, info.endian = be, ">"
    else:
        raise GGUFMalformed(f"unsupported GGUF version {le}", 4)
    s = _Stream(f, size, info.endian, ctx.budget)
    s.pos = 8
    p = _Parser(s, info.version, ctx)
    count_fmt = "I" if info.version == 1 else "Q"
    info.n_tensors = s.unpack(count_fmt, "tensor count")
    info.n_kv = s.unpack(count_fmt, "key/value count")
    # Smallest possible key/value pair: key length + type + a 1-byte value;
    # smallest tensor info: name length + n_dims + type + offset.
    min_kv = p.len_size + 4 + 1
    min_tensor = p.len_size + 4 + 4 + 8
    needed = info.n_kv * min_kv + info.n_tensors * min_tensor
    if needed > s.remaining:
        raise GGUFMalformed(
            f"header declares {info.n_tensors} tensors and {info.n_kv} key/value pairs, which "
            f"need at least {needed} bytes; the file has {s.remaining} after the header",
            8,
        )
    limits = ctx.limits
    Budget.require(
        info.n_kv <= limits.max_gguf_keys,
        "max_gguf_keys",
        f"header declares {info.n_kv} key/value pairs (limit {limits.max_gguf_keys})",
    )
    Budget.require(
        info.n_tensors <= limits.max_gguf_tensors,
        "max_gguf_tensors",
        f"header declares {info.n_tensors} tensors (limit {limits.max_gguf_tensors})",
    )
    p.count(info.n_kv + info.n_tensors)
    seen: set[str] = set()
    for i in range(info.n_kv):
        _, raw = p.string(f"key {i}", 1 << 16)
        if raw is None:
            raise GGUFMalformed(f"key {i} is longer than 65536 bytes", s.pos)
        key = raw.decode("utf-8", errors="replace")
        if key in seen:
            raise GGUFMalformed(f"key {key!r} appears twice", s.pos)
        seen.add(key)
        info.keys.append(key)
        vtype = s.unpack("I", f"value type of {key!r}")
        value = p.value(vtype, key, info)
        if key == "general.alignment":
            if vtype != _UINT32 or not isinstance(value, int):
                raise GGUFMalformed("general.alignment is not a UINT32", s.pos)
            if value == 0 or value & (value - 1):
                raise GGUFMalformed(f"general.alignment {value} is not a power of two", s.pos)
            info.alignment = value
    for i in range(info.n_tensors):
        start = s.pos
        _, raw = p.string(f"name of tensor {i}", 1 << 16)
        if raw is None:
            raise GGUFMalformed(f"name of tensor {i} is longer than 65536 bytes", start)
        name = raw.decode("utf-8", errors="replace")
        n_dims = s.unpack("I", f"dimension count of tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise GGUFMalformed(
                f"tensor {name!r} declares {n_dims} dimensions (at most {MAX_DIMS})", start
            )
        dim_fmt = "I" if info.version == 1 else "Q"
        dims = [s.unpack(dim_fmt, f"dimension of tensor {name!r}") for _ in range(n_dims)]
        ggml_type = s.unpack("I", f"type of tensor {name!r}")
        offset = s.unpack("Q", f"offset of tensor {name!r}")
        info.tensors.append(TensorInfo(name, dims, ggml_type, offset, start))
        ctx.budget.tick()
    info.data_start = -(-s.pos // info.alignment) * info.alignment


def _tensor_problems(info: GGUFInfo, size: int) -> list[tuple[TensorInfo, str]]:
    problems: list[tuple[TensorInfo, str]] = []
    spans: list[tuple[int, int, TensorInfo]] = []
    names: set[str] = set()
    data_size = size - info.data_start
    if info.tensors and data_size < 0:
        return [(info.tensors[0], f"tensor data would start at {info.data_start}, past the end")]
    for t in info.tensors:
        if t.name in names:
            problems.append((t, "a second tensor has this name"))
            continue
        names.add(t.name)
        if t.ggml_type not in GGML_TYPES:
            problems.append((t, f"unknown ggml type {t.ggml_type}"))
            continue
        tname, block, block_bytes = GGML_TYPES[t.ggml_type]
        elements = 1
        overflow = False
        for d in t.dims:
            if d > _INT64_MAX:
                overflow = True
            elements *= d
            if elements > _INT64_MAX:
                overflow = True
        if overflow:
            problems.append((t, f"dimensions {t.dims} overflow a 64-bit element count"))
            continue
        if t.dims and t.dims[0] % block:
            problems.append(
                (t, f"first dimension {t.dims[0]} is not a multiple of the {tname} block ({block})")
            )
            continue
        nbytes = elements // block * block_bytes
        if t.offset % info.alignment:
            problems.append((t, f"offset {t.offset} is not aligned to {info.alignment}"))
        if t.offset > data_size or nbytes > data_size - t.offset:
            problems.append(
                (
                    t,
                    f"{tname} {t.dims} needs {nbytes} bytes at data offset {t.offset}, past the "
                    f"end of the data section ({data_size} bytes)",
                )
            )
            continue
        spans.append((t.offset, t.offset + nbytes, t))
    spans.sort(key=lambda x: (x[0], x[1]))
    end, prev = 0, ""
    for begin, stop, t in spans:
        if begin < end:
            problems.append((t, f"data {begin}..{stop} overlaps tensor {prev!r} (ends at {end})"))
        if stop > end:
            end, prev = stop, t.name
    return problems


class GGUFReader(FormatReader):
    name = "gguf"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 70 if head[:4] == MAGIC and artifact.size >= 8 else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        info = GGUFInfo()
        malformed: GGUFMalformed | None = None
        loc = artifact.location
        with artifact.open() as f:
            try:
                read_gguf(f, artifact.size, ctx, info)
            except GGUFMalformed as exc:
                malformed = exc
            except BudgetExceeded as exc:
                if exc.per_file:
                    raise
                # What was read before the limit (templates) is still judged below.
                ctx.report(
                    scan_rules.INCOMPLETE,
                    loc,
                    f"GGUF header not read past a safety limit ({exc.limit}): {exc.detail}",
                    {"limit": exc.limit, "format": "gguf", "keys_read": len(info.keys)},
                )
                info.tensors.clear()
        if malformed is not None:
            ctx.report(
                rules.HEADER_MALFORMED,
                loc.child(f"offset {malformed.offset}"),
                str(malformed)[:400],
                {
                    "offset": malformed.offset,
                    "version": info.version,
                    "n_tensors": info.n_tensors,
                    "n_kv": info.n_kv,
                    "keys_read": len(info.keys),
                },
            )
        else:
            for i, (t, message) in enumerate(_tensor_problems(info, artifact.size)):
                if i >= _MAX_REPORTED:
                    break
                ctx.report(
                    rules.TENSORS_INCONSISTENT,
                    loc.child(f"tensor:{t.name[:200]}"),
                    message,
                    {
                        "dims": t.dims,
                        "ggml_type": t.ggml_type,
                        "offset": t.offset,
                        "data_start": info.data_start,
                        "info_offset": t.info_offset,
                    },
                )
        for key, n in info.oversized_templates:
            ctx.report(
                template_rules.UNPARSEABLE,
                loc.child(f"kv:{key}"),
                f"chat template of {n} bytes exceeds the {ctx.limits.max_template_bytes}-byte "
                "limit and was not analysed",
                {"limit": "max_template_bytes", "bytes": n},
            )
        from modelxray.analysis.jinja_template import judge_template

        for label, text, declared in info.templates:
            judgements = judge_template(text, ctx.budget, ctx.limits, chat_template=declared)
            report_judgements(ctx, template_rules.BY_KIND, loc.child(f"kv:{label}"), judgements)


register(GGUFReader())
