"""A symbolic model of CPython's unpickler (``Lib/pickle.py`` ``_Unpickler`` and
``Modules/_pickle.c``) that never imports, calls or unmarshals anything.

The VM keeps the real machine state -- object stack, mark stack (CPython's
*metastack*), memo -- but every object is a symbolic value from
:mod:`.values`.  It records, per pickle stream, every global ``find_class``
would import, every call REDUCE/NEWOBJ/NEWOBJ_EX/OBJ/INST would make, every
BUILD, every mutation of a module-level object and every persistent id.

Framing (protocol 4+) is modelled three ways because CPython versions
disagree (python/cpython#154848):

``strict``
    pure-Python ``_Unframer`` and the C unpickler of CPython >= 3.13.15 /
    3.14.7: a read that would straddle the end of the current frame, or a FRAME
    that opens before the current one is exhausted, is an error.  A read that
    starts exactly at the frame end leaves the frame.
``linear``
    older C unpickler loading from memory (``pickle.loads``) or from a file
    with ``peek``: FRAME only checks that the bytes exist; reads run straight
    through frame ends.
``legacy-c``
    older C unpickler reading a file object without ``peek`` (e.g. ``BytesIO``,
    which torch uses for zip members): the frame is its read buffer; a read
    that does not fit in what is left of it *discards the rest of the frame*
    and reads fresh bytes after the frame end (bytes payloads -- BINBYTES*,
    BYTEARRAY8 -- are copied across the boundary instead).

The strict reading is primary; when it hits a frame violation the stream is
re-read under the two older semantics and those readings are attached as
``PickleStream.alternates`` so that opcodes only an older CPython would run
are seen.

Large payloads (BINBYTES*, BINUNICODE*, BYTEARRAY8, BINSTRING, LONG4 > 64 KiB)
are skipped by seeking and kept as :class:`~.values.Blob` references;
containers keep their first ``container_cap`` elements (1024 unless the caller
asks for more).  Everything is bounded by the :class:`~modelxray.budget.Budget`;
hostile input produces a stream with ``error`` or ``limit_hit``, never an exception.
"""

from __future__ import annotations

import codecs
import gc
import io
import struct
import threading
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import BinaryIO, NoReturn

from modelxray.analysis._generated.pickle_opcodes import OPCODES
from modelxray.budget import Budget, BudgetExceeded

from .globals_policy import Policy
from .nested import find_nested
from .resolve import IMPLICIT_METHOD, PLAIN_CONTAINERS, global_path, instantiated_class
from .values import (
    NO_STATE,
    Blob,
    Build,
    Call,
    Global,
    Mutation,
    Omitted,
    PersistentRef,
    PickleStream,
    SDict,
    SList,
    SSet,
    StreamError,
    StreamIssue,
    TrailingData,
    Unknown,
)

STRICT = "strict"
LINEAR = "linear"
LEGACY = "legacy-c"

INLINE_MAX = 64 * 1024  # payloads larger than this are skipped by seeking (Blob)
RETAIN_MAX = 64 * 1024 * 1024  # total payload bytes one stream keeps in memory
LINE_MAX = 64 * 1024  # protocol-0 text arguments kept up to this length
CONTAINER_CAP = 1024  # default elements kept per list/dict/set/tuple (the rest are counted)
RECORD_CAP = 100_000  # records kept per kind before de-duplication starts
DISTINCT_CAP = 100_000  # distinct records allowed after de-duplication started
MAX_STREAMS = 4096  # concatenated pickles scanned per call
MIN_CHUNK = 4096
MAX_CHUNK = 1 << 20
CHECK_EVERY = 4096  # opcodes between budget checks
HIGHEST_PROTOCOL = 5

_U16 = struct.Struct("<H").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U32 = struct.Struct("<I").unpack_from
_U64 = struct.Struct("<Q").unpack_from
_F64 = struct.Struct(">d").unpack_from

OPNAMES: dict[int, str] = {code: row[0] for code, row in OPCODES.items()}

# Opcodes a pickle can plausibly start with (push something without popping).
_PLAUSIBLE_FIRST = frozenset(
    b"(]})cNILFSVKJMGXUTBCPPi\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x82\x83\x84\x96"
) | frozenset({0x80})

_JOBLIB_WRAPPERS = ("NumpyArrayWrapper", "NDArrayWrapper", "ZNDArrayWrapper")
_MISSING: object = object()


# --------------------------------------------------------------------------------------------
# Errors used for control flow inside the interpreter (never leave this module).
# --------------------------------------------------------------------------------------------


class _Stop(Exception):
    pass


class _PickleError(Exception):
    def __init__(self, kind: str, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.offset = offset


# --------------------------------------------------------------------------------------------
# Input and shared meters
# --------------------------------------------------------------------------------------------


class _Source:
    """A seekable binary file object read at absolute offsets (short reads retried)."""

    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        f.seek(0, io.SEEK_END)
        self.size = f.tell()

    def read_at(self, pos: int, n: int) -> bytes:
        if n <= 0 or pos >= self.size:
            return b""
        n = min(n, self.size - pos)
        self.f.seek(pos)
        data = self.f.read(n)
        if len(data) == n:
            return data
        parts = [data]
        got = len(data)
        while got < n:
            more = self.f.read(n - got)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)


@dataclass
class _Ctx:
    """Per-scan shared state: the input, the budget and counters across nested scans."""

    src: _Source
    budget: Budget
    policy: Policy | None
    opcodes: int = 0
    nested_bytes: int = 0
    nested_scans: int = 0
    container_cap: int = CONTAINER_CAP
    keep_call_items: bool = False


@dataclass
class _Outcome:
    """One interpreted pickle and where the loader leaves the file after it."""

    stream: PickleStream
    file_end: int  # where a pure-Python unpickler leaves the file (end of frame if inside one)
    frame_violation: bool


# --------------------------------------------------------------------------------------------
# The interpreter
# --------------------------------------------------------------------------------------------


def _interpret(
    ctx: _Ctx,
    start: int,
    mode: str,
    joblib: bool | None,
    path: tuple[str, ...],
) -> _Outcome:
    """Run one pickle from ``start`` to its STOP (or to the first error)."""
    src = ctx.src
    size = src.size
    budget = ctx.budget
    limits = budget.limits
    max_ops = limits.max_pickle_opcodes
    max_stack = limits.max_pickle_stack
    max_memo = limits.max_pickle_memo
    cap = ctx.container_cap  # elements kept per container
    keep = ctx.keep_call_items  # keep what SETITEMS/APPENDS/ADDITEMS add to Call results

    stream = PickleStream(start=start, path=path, interpretation=mode, joblib=bool(joblib))
    imports = stream.imports
    calls = stream.calls
    builds = stream.builds
    mutations = stream.mutations
    pids = stream.persistent_ids
    issues = stream.issues

    # --- reader state ---
    buf = b""
    base = start
    i = 0
    lim = 0
    chunk = MIN_CHUNK
    frame_end = -1  # absolute end of the current frame, -1 when not in a frame
    resume_pos = -1  # joblib: where reading continues once the current frame is exhausted
    opos = start  # offset of the opcode being executed
    retained = 0

    # --- machine state ---
    stack: list[object] = []
    metastack: list[list[object]] = []
    meta_total = 0
    memo: dict[int, object] = {}
    proto = 0
    joblib_on = bool(joblib)
    joblib_auto = joblib is None
    ext_registry: dict[int, tuple[str, str]] = {}
    planted: dict[tuple[str, str], dict[str, object]] = {}
    seen_keys: set[tuple[object, ...]] | None = None
    implicit_seen: set[tuple[int, str]] = set()
    violation = False

    # ---------------------------------------------------------------- reading primitives

    def set_lim() -> None:
        nonlocal lim
        n = len(buf)
        if frame_end >= 0 and frame_end - base < n:
            lim = frame_end - base
        else:
            lim = n

    def jump(pos: int) -> None:
        nonlocal buf, base, i, chunk
        if base <= pos <= base + len(buf):
            i = pos - base
        else:
            buf = b""
            base = pos
            i = 0
            chunk = MIN_CHUNK
        set_lim()

    def refill(pos: int, n: int) -> None:
        nonlocal buf, base, i, chunk
        end = base + len(buf)
        if base <= pos and pos + n <= end:
            i = pos - base
            return
        if base <= pos <= end:
            keep = buf[pos - base :]
        else:
            keep = b""
            chunk = MIN_CHUNK
        data = src.read_at(pos + len(keep), max(n - len(keep), chunk))
        buf = keep + data if keep else data
        base = pos
        i = 0
        if chunk < MAX_CHUNK:
            chunk *= 2

    def leave_frame() -> None:
        nonlocal frame_end, resume_pos
        frame_end = -1
        if resume_pos >= 0:
            target = resume_pos
            resume_pos = -1
            jump(target)

    def violation_error(pos: int, msg: str) -> NoReturn:
        nonlocal violation
        violation = True
        raise _PickleError("frame", msg, pos)

    def ensure(n: int, into: bool = False) -> None:
        """Make ``buf[i:i+n]`` readable under the frame semantics of ``mode``."""
        nonlocal frame_end, i
        pos = base + i
        if frame_end >= 0:
            rem = frame_end - pos
            if rem <= 0:
                leave_frame()
                pos = base + i
            elif rem < n:
                if mode == STRICT:
                    violation_error(
                        pos,
                        f"a {n}-byte read at {pos} crosses the end of the FRAME ending at "
                        f"{frame_end} (CPython >= 3.13.15 rejects this; older C unpicklers "
                        "read across it)",
                    )
                if into:
                    frame_end = -1
                else:
                    issues.append(
                        StreamIssue(
                            pos,
                            f"old C unpickler discards {rem} frame byte(s) at {pos} and reads "
                            f"on from {frame_end}",
                            "frame",
                        )
                    )
                    target = frame_end
                    frame_end = -1
                    jump(target)
                    pos = target
        if pos + n > size:
            raise _PickleError("truncated", f"pickle data was truncated at {pos}", pos)
        refill(pos, n)
        set_lim()

    def rd(n: int, into: bool = False) -> bytes:
        nonlocal i
        if i + n > lim:
            ensure(n, into)
        b = buf[i : i + n]
        i += n
        return b

    def skip(n: int, into: bool) -> int:
        """Step over ``n`` payload bytes without reading them; returns their offset."""
        nonlocal frame_end
        pos = base + i
        if frame_end >= 0:
            rem = frame_end - pos
            if rem <= 0:
                leave_frame()
                pos = base + i
            elif rem < n:
                if mode == STRICT:
                    violation_error(
                        pos, f"a {n}-byte payload at {pos} crosses the FRAME end {frame_end}"
                    )
                if not into:  # old C: text payloads discard the rest of the frame
                    issues.append(
                        StreamIssue(
                            pos,
                            f"old C unpickler discards {rem} frame byte(s) at {pos} and reads "
                            f"on from {frame_end}",
                            "frame",
                        )
                    )
                    pos = frame_end
                frame_end = -1  # bytes payloads are copied across the boundary
        if pos + n > size:
            raise _PickleError(
                "truncated", f"pickle data was truncated: {n}-byte payload at {pos}", pos
            )
        jump(pos + n)
        return pos

    def readline() -> bytes | Blob:
        """A protocol-0 text argument without its newline (a Blob when over LINE_MAX)."""
        nonlocal i, frame_end
        j = buf.find(b"\n", i, lim)
        if j >= 0:
            line = buf[i:j]
            i = j + 1
            return line
        while True:
            pos = base + i
            if frame_end >= 0 and frame_end <= pos:
                leave_frame()
                continue
            end_limit = frame_end if frame_end >= 0 else size
            j = buf.find(b"\n", i, min(len(buf), end_limit - base))
            if j >= 0:
                line = buf[i:j]
                i = j + 1
                return line
            # not in the buffer: look further, bounded, without keeping more than LINE_MAX
            scan = max(base + len(buf), pos)
            found = -1
            while scan < end_limit:
                budget.check_time()
                piece = src.read_at(scan, min(MAX_CHUNK, end_limit - scan))
                if not piece:
                    break
                k = piece.find(b"\n")
                if k >= 0:
                    found = scan + k
                    break
                scan += len(piece)
            if found < 0:
                if frame_end >= 0 and end_limit < size:
                    if mode == STRICT:
                        violation_error(pos, f"a text argument at {pos} crosses the FRAME end")
                    issues.append(
                        StreamIssue(pos, "old C unpickler reads the line after the frame", "frame")
                    )
                    target = frame_end
                    frame_end = -1
                    jump(target)
                    continue
                raise _PickleError("truncated", f"unterminated text argument at {pos}", pos)
            length = found - pos
            if length > LINE_MAX:
                jump(found + 1)
                return Blob(pos, length, "line")
            refill(pos, length + 1)
            line = buf[i : i + length]
            i += length + 1
            set_lim()
            return line

    def payload(n: int, kind: str, into: bool) -> object:
        nonlocal retained, i
        if n > INLINE_MAX or retained + n > RETAIN_MAX:
            return Blob(skip(n, into), n, kind)
        if i + n > lim:
            ensure(n, into)
        b = buf[i : i + n]
        i += n
        if n > 256:
            retained += n
        if kind == "str":
            return b.decode("utf-8", "surrogatepass")
        if kind == "bytearray":
            return bytearray(b)
        return b

    # ---------------------------------------------------------------- records

    def dedupe(key: tuple[object, ...]) -> bool:
        """After RECORD_CAP records of a kind, keep only distinct ones. True = record it."""
        nonlocal seen_keys
        if seen_keys is None:
            seen_keys = set()
            stream.records_deduplicated = True
            for g in imports:
                seen_keys.add(("i", g.module, g.name, g.ext_code))
            for c in calls:
                seen_keys.add(("c", c.kind, _key(c.func)))
            for b in builds:
                seen_keys.add(("b", _key(b.obj)))
            for m in mutations:
                seen_keys.add(("m", m.kind, _key(m.target)))
        if key in seen_keys:
            return False
        if len(seen_keys) >= DISTINCT_CAP:
            raise BudgetExceeded("max_pickle_records", f"more than {DISTINCT_CAP} distinct records")
        seen_keys.add(key)
        return True

    def rec_import(g: Global) -> None:
        if len(imports) < RECORD_CAP or dedupe(("i", g.module, g.name, g.ext_code)):
            imports.append(g)

    def rec_call(c: Call) -> None:
        if len(calls) < RECORD_CAP or dedupe(("c", c.kind, _key(c.func))):
            calls.append(c)

    def rec_build(b: Build) -> None:
        if len(builds) < RECORD_CAP or dedupe(("b", _key(b.obj))):
            builds.append(b)

    def rec_mutation(m: Mutation) -> None:
        if len(mutations) < RECORD_CAP or dedupe(("m", m.kind, _key(m.target))):
            mutations.append(m)

    # ---------------------------------------------------------------- machine helpers

    def pop_mark() -> list[object]:
        nonlocal stack, meta_total
        items = stack
        if not metastack:
            raise _PickleError("stack-underflow", "could not find MARK")
        stack = metastack.pop()
        meta_total -= len(stack)
        return items

    def make_global(module: str, name: str, opname: str, ext: int | None = None) -> object:
        nonlocal joblib_on
        raw_m: str | None = None
        raw_n: str | None = None
        if proto < 3:  # fix_imports (the default) maps Python 2 names
            mapped = NAME_MAPPING.get((module, name))
            if mapped is not None:
                raw_m, raw_n = module, name
                module, name = mapped
            else:
                mm = IMPORT_MAPPING.get(module)
                if mm is not None:
                    raw_m, raw_n = module, name
                    module = mm
        g = Global(module, name, opos, opname, raw_m, raw_n, ext)
        rec_import(g)
        if joblib_auto and name in _JOBLIB_WRAPPERS and "joblib" in module:
            joblib_on = True
            stream.joblib = True
        if planted and "." in name:
            owner, _, attr = name.rpartition(".")
            attrs = planted.get((module, owner))
            if attrs is not None and attr in attrs:
                issues.append(
                    StreamIssue(
                        opos, f"{module}.{name} reads an attribute planted by BUILD", "names"
                    )
                )
                return attrs[attr]
        return g

    def cap_items(items: list[object]) -> list[object]:
        if len(items) > cap:
            extra = len(items) - cap
            del items[cap:]
            items.append(Omitted(extra))
        return items

    def mutate(target: object, kind: str, key: object, value: object, opname: str) -> None:
        if isinstance(target, Global):
            rec_mutation(Mutation(target, key, value, opos, opname, kind))
            if (
                kind == "setitem"
                and target.module == "copyreg"
                and target.name == "_inverted_registry"
                and type(key) is int
                and isinstance(value, tuple)
                and len(value) == 2
                and all(type(x) is str for x in value)
            ):
                ext_registry[key] = (str(value[0]), str(value[1]))

    def implicit(target: object, kind: str, items: list[object], opname: str) -> None:
        """APPEND(S)/SETITEM(S)/ADDITEMS on an object the pickle built by a call: the
        unpickler calls that object's own ``append``/``extend``/``__setitem__``/``add``.
        Recorded once per object and kind (the verdict judges which method that is)."""
        if type(target) is not Call or not items:
            return
        k = (id(target), kind)
        if k in implicit_seen:
            return
        implicit_seen.add(k)
        f = instantiated_class(target)
        if type(f) is Global and IMPLICIT_METHOD[kind] in PLAIN_CONTAINERS.get(f.qualname, ()):
            return  # OrderedDict() state dicts, list/dict/set subclasses of the builtins
        key = items[0] if kind == "setitem" else None
        value = items[1] if kind == "setitem" and len(items) > 1 else items[0]
        rec_mutation(Mutation(target, key, value, opos, opname, kind))

    def extend_capped(target: SList | SSet, items: list[object]) -> None:
        room = cap - len(target)
        if room >= len(items):
            target.extend(items)
        else:
            if room > 0:
                target.extend(items[:room])
            target.omitted += len(items) - max(room, 0)

    def pairs_capped(target: SDict, items: list[object]) -> None:
        room = cap - len(target)
        n = len(items) // 2
        for k in range(min(n, max(room, 0))):
            target.append((items[2 * k], items[2 * k + 1]))
        if n > room:
            target.omitted += n - max(room, 0)

    def call_list(c: Call) -> SList:
        lst = c.list_items
        if lst is None:
            lst = c.list_items = SList()
        return lst

    def add_to_list(target: object, items: list[object], opname: str) -> None:
        kind = "extend" if opname == "APPENDS" else "append"
        if type(target) is SList:
            extend_capped(target, items)
        elif type(target) is Call:
            implicit(target, kind, items, opname)
            if keep:
                extend_capped(call_list(target), items)
        else:
            for it in items[:cap]:
                mutate(target, kind, None, it, opname)

    def set_items(target: object, items: list[object], opname: str) -> None:
        if type(target) is SDict:
            pairs_capped(target, items)
        elif type(target) is Call:
            implicit(target, "setitem", items, opname)
            if keep:
                d = target.items
                if d is None:
                    d = target.items = SDict()
                pairs_capped(d, items)
        else:
            for k in range(0, min(len(items), 2 * cap), 2):
                mutate(target, "setitem", items[k], items[k + 1], opname)

    def after_call(c: Call) -> None:
        f = c.func
        if isinstance(f, Global) and f.module == "copyreg" and f.name == "add_extension":
            a = c.args
            if (
                isinstance(a, tuple)
                and len(a) == 3
                and type(a[0]) is str
                and type(a[1]) is str
                and type(a[2]) is int
            ):
                ext_registry[a[2]] = (a[0], a[1])

    # ---------------------------------------------------------------- joblib

    def joblib_build(target: Call) -> None:
        """joblib's NumpyUnpickler.load_build: array data follows the BUILD in the file."""
        nonlocal resume_pos
        cls = instantiated_class(target)
        if not isinstance(cls, Global) or cls.name not in _JOBLIB_WRAPPERS:
            return
        if "joblib" not in cls.module:
            return
        if cls.name != "NumpyArrayWrapper":
            fname = _state_get(target.state, "filename")
            issues.append(
                StreamIssue(
                    opos,
                    f"joblib < 0.10 array stored in a separate file {fname!r}, read with "
                    "numpy.load(allow_pickle=True)",
                    "joblib",
                )
            )
            return
        state = target.state
        shape = _state_get(state, "shape")
        dtype = _state_get(state, "dtype")
        align = _state_get(state, "numpy_array_alignment_bytes")
        count = _shape_count(shape)
        info = _dtype_info(dtype, 0)
        if count is None or info is None:
            raise _PickleError(
                "bad-argument",
                "joblib NumpyArrayWrapper with an undeterminable shape/dtype: cannot find the "
                "end of the inline array data",
            )
        itemsize, hasobject = info
        pos = base + i
        in_frame = frame_end > pos
        data_pos = frame_end if in_frame else pos
        if in_frame:
            issues.append(
                StreamIssue(
                    opos,
                    f"joblib reads array data from the file after the current frame "
                    f"({data_pos}), not from the {frame_end - pos} remaining frame bytes",
                    "joblib",
                )
            )
        if hasobject:
            label = f"joblib-object-array@{data_pos}"
            inner = _interpret(ctx, data_pos, STRICT, False, path + (label,))
            s2 = inner.stream
            _merge(stream, s2)
            if s2.error is not None or s2.limit_hit is not None:
                if s2.limit_hit is not None:
                    raise BudgetExceeded("nested", s2.limit_hit)
                assert s2.error is not None
                raise _PickleError(s2.error.kind, s2.error.message, s2.error.offset)
            value = s2.result
            data_end = inner.file_end
        else:
            if align is not _MISSING and align is not None:
                pad = src.read_at(data_pos, 1)
                if not pad:
                    raise _PickleError("truncated", "joblib padding byte missing", data_pos)
                data_pos += 1 + pad[0]
            nbytes = count * itemsize
            data_end = data_pos + nbytes
            if data_end > size:
                raise _PickleError(
                    "truncated",
                    f"joblib array data ({nbytes} bytes at {data_pos}) runs past the end",
                    data_pos,
                )
            value = Blob(data_pos, nbytes, "joblib-array")
        stack[-1] = value
        if in_frame:
            resume_pos = data_end  # the rest of the frame first, then after the array
        else:
            jump(data_end)

    # ---------------------------------------------------------------- opcode handlers

    def op_stop() -> None:
        stream.result = stack.pop()
        stream.has_result = True
        raise _Stop

    def op_pop() -> None:
        if stack:
            stack.pop()
        else:
            pop_mark()

    def op_pop_mark() -> None:
        pop_mark()

    def op_dup() -> None:
        stack.append(stack[-1])

    def op_float() -> None:
        line = readline()
        if isinstance(line, Blob):
            raise _PickleError("bad-argument", "FLOAT argument too long")
        stack.append(float(line))

    def op_int() -> None:
        line = readline()
        if isinstance(line, Blob) or len(line) > 4300:
            raise _PickleError("bad-argument", "INT argument too long")
        if line == b"00":
            stack.append(False)
        elif line == b"01":
            stack.append(True)
        else:
            stack.append(int(line, 0))

    def op_long() -> None:
        line = readline()
        if isinstance(line, Blob) or len(line) > 4300:
            raise _PickleError("bad-argument", "LONG argument too long")
        if line[-1:] == b"L":
            line = line[:-1]
        stack.append(int(line, 0))

    def op_long1() -> None:
        n = rd(1)[0]
        stack.append(int.from_bytes(rd(n), "little", signed=True))

    def op_long4() -> None:
        n = _I32(rd(4), 0)[0]
        if n < 0:
            raise _PickleError("bad-argument", "LONG pickle has negative byte count")
        if n > 4096:
            stack.append(Blob(skip(n, False), n, "int"))
        else:
            stack.append(int.from_bytes(rd(n), "little", signed=True))

    def op_string() -> None:
        line = readline()
        if isinstance(line, Blob):
            stack.append(line)
            return
        if len(line) < 2 or line[0] != line[-1] or line[0] not in b"\"'":
            raise _PickleError("bad-argument", "the STRING opcode argument must be quoted")
        stack.append(codecs.escape_decode(line[1:-1])[0].decode("latin-1"))

    def op_binstring() -> None:
        n = _I32(rd(4), 0)[0]
        if n < 0:
            raise _PickleError("bad-argument", "BINSTRING pickle has negative byte count")
        v = payload(n, "bytes", False)
        stack.append(v.decode("latin-1") if isinstance(v, bytes) else v)

    def op_short_binstring() -> None:
        n = rd(1)[0]
        v = payload(n, "bytes", False)
        stack.append(v.decode("latin-1") if isinstance(v, bytes) else v)

    def op_unicode() -> None:
        line = readline()
        if isinstance(line, Blob):
            stack.append(line)
            return
        stack.append(line.decode("raw-unicode-escape"))

    def op_binunicode8() -> None:
        n = _U64(rd(8), 0)[0]
        stack.append(payload(n, "str", False))

    def op_binbytes() -> None:
        n = _U32(rd(4), 0)[0]
        stack.append(payload(n, "bytes", True))

    def op_short_binbytes() -> None:
        n = rd(1)[0]
        stack.append(payload(n, "bytes", True))

    def op_binbytes8() -> None:
        n = _U64(rd(8), 0)[0]
        stack.append(payload(n, "bytes", True))

    def op_bytearray8() -> None:
        n = _U64(rd(8), 0)[0]
        stack.append(payload(n, "bytearray", True))

    def op_next_buffer() -> None:
        issues.append(
            StreamIssue(opos, "NEXT_BUFFER: out-of-band buffer supplied by the loader", "buffer")
        )
        stack.append(Unknown("out-of-band buffer (NEXT_BUFFER)", opos))

    def op_readonly_buffer() -> None:
        stack[-1]  # noqa: B018 - CPython reads the top of the stack (underflow if empty)

    def op_list() -> None:
        items = pop_mark()
        stack.append(SList(cap_items(items)))

    def op_dict() -> None:
        items = pop_mark()
        if len(items) % 2:
            raise _PickleError("bad-argument", "odd number of items for DICT")
        d = SDict()
        set_items(d, items, "DICT")
        stack.append(d)

    def op_empty_set() -> None:
        stack.append(SSet())

    def op_frozenset() -> None:
        items = pop_mark()
        fs = SSet(cap_items(items))
        fs.frozen = True
        stack.append(fs)

    def op_additems() -> None:
        items = pop_mark()
        target = stack[-1]
        if type(target) is SSet:
            extend_capped(target, items)
        elif type(target) is Call:
            implicit(target, "add", items, "ADDITEMS")
            if keep:
                extend_capped(call_list(target), items)
        else:
            for it in items[:cap]:
                mutate(target, "add", None, it, "ADDITEMS")

    def memo_get(idx: int) -> None:
        v = memo.get(idx, _MISSING)
        if v is _MISSING:
            raise _PickleError("memo-miss", f"memo value not found at index {idx}")
        stack.append(v)

    def op_get() -> None:
        line = readline()
        if isinstance(line, Blob):
            raise _PickleError("bad-argument", "GET argument too long")
        memo_get(int(line))

    def op_put() -> None:
        line = readline()
        if isinstance(line, Blob):
            raise _PickleError("bad-argument", "PUT argument too long")
        idx = int(line)
        if idx < 0:
            raise _PickleError("bad-argument", "negative PUT argument")
        memo[idx] = stack[-1]

    def text_name(encoding: str) -> str:
        line = readline()
        if isinstance(line, Blob):
            raise _PickleError("bad-argument", "module/attribute name too long")
        return line.decode(encoding)

    def op_global() -> None:
        module = text_name("utf-8")
        name = text_name("utf-8")
        stack.append(make_global(module, name, "GLOBAL"))

    def op_stack_global() -> None:
        name = stack.pop()
        module = stack.pop()
        if type(name) is str and type(module) is str:
            stack.append(make_global(module, name, "STACK_GLOBAL"))
            return
        for v in (module, name):
            if not isinstance(v, (Global, Call, Unknown, PersistentRef, Blob, str)):
                raise _PickleError("bad-argument", "STACK_GLOBAL requires str")
        g = Global("?", "?", opos, "STACK_GLOBAL", dynamic=(module, name))
        issues.append(
            StreamIssue(opos, "STACK_GLOBAL with module/name computed at load time", "names")
        )
        rec_import(g)
        stack.append(g)

    def ext(code: int, opname: str) -> None:
        key = ext_registry.get(code)
        if key is not None:
            stack.append(make_global(key[0], key[1], opname, code))
            return
        if code <= 0:
            raise _PickleError("bad-argument", "EXT specifies code <= 0")
        g = Global("<ext>", str(code), opos, opname, ext_code=code)
        issues.append(
            StreamIssue(
                opos,
                f"{opname} code {code} is not in the default copyreg extension registry "
                "(CPython raises unless the loading program registered it)",
                "ext",
            )
        )
        rec_import(g)
        stack.append(g)

    def op_ext1() -> None:
        ext(rd(1)[0], "EXT1")

    def op_ext2() -> None:
        ext(_U16(rd(2), 0)[0], "EXT2")

    def op_ext4() -> None:
        ext(_I32(rd(4), 0)[0], "EXT4")

    def op_newobj() -> None:
        args = stack.pop()
        c = Call(stack[-1], args, None, "newobj", opos, "NEWOBJ")
        stack[-1] = c
        rec_call(c)

    def op_newobj_ex() -> None:
        kwargs = stack.pop()
        args = stack.pop()
        c = Call(stack[-1], args, kwargs, "newobj_ex", opos, "NEWOBJ_EX")
        stack[-1] = c
        rec_call(c)

    def op_obj() -> None:
        items = pop_mark()
        if not items:
            raise _PickleError("stack-underflow", "OBJ without a class")
        c = Call(items[0], tuple(cap_items(items[1:])), None, "obj", opos, "OBJ")
        stack.append(c)
        rec_call(c)
        after_call(c)

    def op_inst() -> None:
        module = text_name("ascii")
        name = text_name("ascii")
        g = make_global(module, name, "INST")
        items = pop_mark()
        c = Call(g, tuple(cap_items(items)), None, "inst", opos, "INST")
        stack.append(c)
        rec_call(c)
        after_call(c)

    def op_build() -> None:
        state = stack.pop()
        target = stack[-1]
        rec_build(Build(target, state, opos))
        if isinstance(target, Call):
            target.state = state
            if joblib_on:
                joblib_build(target)
        elif isinstance(target, Global):
            _plant(planted, target, state)

    def op_persid() -> None:
        line = readline()
        pid: object = line if isinstance(line, Blob) else line.decode("ascii")
        p = PersistentRef(pid, opos, "PERSID")
        stack.append(p)
        if len(pids) < RECORD_CAP:
            pids.append(p)
        else:
            stream.persistent_ids_omitted += 1

    def op_binpersid() -> None:
        p = PersistentRef(stack.pop(), opos, "BINPERSID")
        stack.append(p)
        if len(pids) < RECORD_CAP:
            pids.append(p)
        else:
            stream.persistent_ids_omitted += 1

    def op_proto() -> None:
        nonlocal proto
        v = rd(1)[0]
        if v > HIGHEST_PROTOCOL:
            raise _PickleError("bad-argument", f"unsupported pickle protocol: {v}")
        if stream.protocol is None and opos == start:
            stream.protocol = v
        else:
            issues.append(StreamIssue(opos, f"PROTO {v} not at the start of the stream", "proto"))
            if stream.protocol is None:
                stream.protocol = v
        proto = v

    def op_frame() -> None:
        nonlocal frame_end
        n = _U64(rd(8), 0)[0]
        pos = base + i
        if mode == LINEAR:
            if pos + n > size:
                raise _PickleError("truncated", f"FRAME of {n} bytes runs past the end", pos)
            return
        if mode == STRICT:
            if frame_end > pos:
                violation_error(pos, f"FRAME at {opos} begins before the end of the current frame")
            if pos + n > size:
                issues.append(
                    StreamIssue(opos, f"FRAME of {n} bytes runs past the end of the data", "frame")
                )
            frame_end = min(pos + n, size)
            set_lim()
            return
        # legacy C: the frame is the read buffer
        if frame_end >= 0 and pos + n <= frame_end:
            return
        if pos + n > size:
            raise _PickleError("truncated", f"FRAME of {n} bytes runs past the end", pos)
        if frame_end > pos:
            issues.append(
                StreamIssue(
                    opos,
                    f"old C unpickler discards {frame_end - pos} frame byte(s) before the "
                    f"new FRAME and reads it from {frame_end}",
                    "frame",
                )
            )
            target = frame_end
            frame_end = -1
            jump(target)
            pos = target
        frame_end = pos + n
        set_lim()

    table: list[Callable[[], None] | None] = [None] * 256
    # fmt: off
    handlers: tuple[tuple[int, Callable[[], None]], ...] = (
        (0x2E, op_stop), (0x30, op_pop), (0x31, op_pop_mark), (0x32, op_dup), (0x46, op_float),
        (0x49, op_int), (0x4C, op_long), (0x50, op_persid), (0x51, op_binpersid),
        (0x53, op_string), (0x54, op_binstring), (0x55, op_short_binstring), (0x56, op_unicode),
        (0x62, op_build), (0x63, op_global), (0x64, op_dict), (0x67, op_get), (0x69, op_inst),
        (0x6C, op_list), (0x6F, op_obj), (0x70, op_put), (0x80, op_proto), (0x81, op_newobj),
        (0x82, op_ext1), (0x83, op_ext2), (0x84, op_ext4), (0x8A, op_long1), (0x8B, op_long4),
        (0x42, op_binbytes), (0x43, op_short_binbytes), (0x8D, op_binunicode8),
        (0x8E, op_binbytes8), (0x8F, op_empty_set), (0x90, op_additems), (0x91, op_frozenset),
        (0x92, op_newobj_ex), (0x93, op_stack_global), (0x95, op_frame), (0x96, op_bytearray8),
        (0x97, op_next_buffer), (0x98, op_readonly_buffer),
    )
    # fmt: on
    for code, fn in handlers:
        table[code] = fn

    # ---------------------------------------------------------------- main loop

    ticks = 0
    # check the budget at least 8 times before any count limit could be crossed
    every = max(1, min(CHECK_EVERY, max_ops // 8, max_stack // 8, max_memo // 8))
    block = range(every)
    read_ops = 0
    op = -1

    def periodic() -> None:
        nonlocal ticks
        ticks += every
        ctx.opcodes += every
        budget.check_time()
        if ctx.opcodes > max_ops:
            raise BudgetExceeded("max_pickle_opcodes", f"more than {max_ops} pickle opcodes")
        if len(stack) + meta_total + len(metastack) > max_stack:
            raise BudgetExceeded("max_pickle_stack", f"stack deeper than {max_stack} entries")
        if len(memo) > max_memo:
            raise BudgetExceeded("max_pickle_memo", f"memo larger than {max_memo}")

    def slow(code: int) -> None:
        h = table[code]
        if h is None:
            raise _PickleError(
                "unknown-opcode" if opos > start else "not-a-pickle",
                f"invalid load key {bytes([code])!r} at {opos}",
            )
        h()

    try:
        jump(start)
        # The hottest opcodes are inlined (no call); the rest dispatch through ``table``.
        # Opcodes are counted by the loop over ``rng``: ``ticks + read_ops`` is the number read
        # so far.  The budget is checked when opcode ``k * every`` has been made readable and
        # before it runs (it is counted in ``ticks`` then): ``rng`` is 1..every-1 in the first
        # block, 0..every-1 after.
        rng = range(1, every)
        while True:
            for read_ops in rng:
                if i >= lim:
                    read_ops -= 1  # this opcode is not read yet (ensure may fail)
                    ensure(1)
                    read_ops += 1
                opos = base + i
                op = buf[i]
                i += 1
                # dispatch on the opcode range first: ASCII (protocol 0/1) or protocol 2+ bytes
                if op >= 0x80:
                    if op == 0x94:  # MEMOIZE
                        memo[len(memo)] = stack[-1]
                    elif op == 0x85:  # TUPLE1
                        stack[-1] = (stack[-1],)
                    elif op == 0x8C:  # SHORT_BINUNICODE
                        if i >= lim:
                            ensure(1)
                        n = buf[i]
                        i += 1
                        if i + n > lim:
                            ensure(n)
                        stack.append(buf[i : i + n].decode("utf-8", "surrogatepass"))
                        i += n
                    elif op == 0x86:  # TUPLE2
                        v = stack.pop()
                        stack[-1] = (stack[-1], v)
                    elif op == 0x89:  # NEWFALSE
                        stack.append(False)
                    elif op == 0x88:  # NEWTRUE
                        stack.append(True)
                    elif op == 0x87:  # TUPLE3
                        v = stack.pop()
                        c3 = stack.pop()
                        stack[-1] = (stack[-1], c3, v)
                    else:
                        slow(op)
                elif op >= 0x60:
                    if op == 0x71:  # BINPUT
                        if i >= lim:
                            ensure(1)
                        memo[buf[i]] = stack[-1]
                        i += 1
                    elif op == 0x68:  # BINGET
                        if i >= lim:
                            ensure(1)
                        try:
                            stack.append(memo[buf[i]])
                        except KeyError:
                            raise _PickleError(
                                "memo-miss", f"memo value not found at index {buf[i]}"
                            ) from None
                        i += 1
                    elif op == 0x72:  # LONG_BINPUT
                        if i + 4 > lim:
                            ensure(4)
                        memo[_U32(buf, i)[0]] = stack[-1]
                        i += 4
                    elif op == 0x74:  # TUPLE
                        items = stack
                        if not metastack:
                            raise _PickleError("stack-underflow", "could not find MARK")
                        stack = metastack.pop()
                        meta_total -= len(stack)
                        stack.append(tuple(items) if len(items) <= cap else tuple(cap_items(items)))
                    elif op == 0x65 or op == 0x75:  # APPENDS, SETITEMS
                        items = stack
                        if not metastack:
                            raise _PickleError("stack-underflow", "could not find MARK")
                        stack = metastack.pop()
                        meta_total -= len(stack)
                        target = stack[-1]
                        if op == 0x65:
                            if type(target) is SList and len(target) + len(items) <= cap:
                                target.extend(items)
                            else:
                                add_to_list(target, items, "APPENDS")
                        else:
                            if len(items) % 2:
                                raise _PickleError(
                                    "bad-argument", "odd number of items for SETITEMS"
                                )
                            if type(target) is SDict and len(target) + len(items) // 2 <= cap:
                                it = iter(items)
                                target.extend(zip(it, it, strict=False))
                            else:
                                set_items(target, items, "SETITEMS")
                    elif op == 0x6A:  # LONG_BINGET
                        if i + 4 > lim:
                            ensure(4)
                        n = _U32(buf, i)[0]
                        i += 4
                        try:
                            stack.append(memo[n])
                        except KeyError:
                            raise _PickleError(
                                "memo-miss", f"memo value not found at index {n}"
                            ) from None
                    elif op == 0x7D:  # EMPTY_DICT
                        stack.append(SDict())
                    elif op == 0x61:  # APPEND
                        v = stack.pop()
                        target = stack[-1]
                        if type(target) is SList and len(target) < cap:
                            target.append(v)
                        else:
                            add_to_list(target, [v], "APPEND")
                    elif op == 0x73:  # SETITEM
                        v = stack.pop()
                        k = stack.pop()
                        target = stack[-1]
                        if type(target) is SDict and len(target) < cap:
                            target.append((k, v))
                        else:
                            set_items(target, [k, v], "SETITEM")
                    else:
                        slow(op)
                else:
                    if op == 0x4B:  # BININT1
                        if i >= lim:
                            ensure(1)
                        stack.append(buf[i])
                        i += 1
                    elif op == 0x28:  # MARK
                        metastack.append(stack)
                        meta_total += len(stack)
                        stack = []
                    elif op == 0x58:  # BINUNICODE
                        if i + 4 > lim:
                            ensure(4)
                        n = _U32(buf, i)[0]
                        i += 4
                        if n <= 256 and i + n <= lim:
                            stack.append(buf[i : i + n].decode("utf-8", "surrogatepass"))
                            i += n
                        else:
                            stack.append(payload(n, "str", False))
                    elif op == 0x52:  # REDUCE
                        v = stack.pop()
                        f = stack[-1]
                        c = Call(f, v, None, "reduce", opos, "REDUCE")
                        stack[-1] = c
                        if len(calls) < RECORD_CAP:
                            calls.append(c)
                        else:
                            rec_call(c)
                        if type(f) is Global and f.name == "add_extension":
                            after_call(c)
                    elif op == 0x29:  # EMPTY_TUPLE
                        stack.append(())
                    elif op == 0x51:  # BINPERSID
                        p = PersistentRef(stack[-1], opos, "BINPERSID")
                        stack[-1] = p
                        if len(pids) < RECORD_CAP:
                            pids.append(p)
                        else:
                            stream.persistent_ids_omitted += 1
                    elif op == 0x4A:  # BININT
                        if i + 4 > lim:
                            ensure(4)
                        stack.append(_I32(buf, i)[0])
                        i += 4
                    elif op == 0x4E:  # NONE
                        stack.append(None)
                    elif op == 0x5D:  # EMPTY_LIST
                        stack.append(SList())
                    elif op == 0x47:  # BINFLOAT
                        if i + 8 > lim:
                            ensure(8)
                        stack.append(_F64(buf, i)[0])
                        i += 8
                    elif op == 0x4D:  # BININT2
                        if i + 2 > lim:
                            ensure(2)
                        stack.append(_U16(buf, i)[0])
                        i += 2
                    else:
                        slow(op)
            if i >= lim:
                ensure(1)
            read_ops = 0
            periodic()
            rng = block
    except _Stop:
        pass
    except _PickleError as e:
        off = opos if e.offset is None else e.offset
        stream.error = StreamError(off, e.message, e.kind)
    except IndexError:
        stream.error = StreamError(
            opos, f"stack underflow in {OPNAMES.get(op, hex(op))} at {opos}", "stack-underflow"
        )
    except BudgetExceeded as e:
        stream.limit_hit = f"{e.limit}: {e.detail}"
    except (ValueError, UnicodeError, OverflowError, struct.error) as e:
        stream.error = StreamError(
            opos, f"bad argument for {OPNAMES.get(op, hex(op))} at {opos}: {e}", "bad-argument"
        )
    except OSError as e:
        stream.error = StreamError(opos, f"read error: {e}", "io")
    except MemoryError:
        stream.limit_hit = "memory: out of memory while scanning"
    except RecursionError:
        stream.limit_hit = "recursion: nesting too deep"
    except Exception as e:  # keep what was recorded so far, whatever went wrong
        stream.error = StreamError(opos, f"internal error at {opos}: {e!r}", "internal")
    ctx.opcodes += read_ops
    stream.opcode_count = ticks + read_ops
    end = base + i
    stream.end = end
    file_end = frame_end if frame_end > end else end
    if resume_pos > file_end:
        file_end = resume_pos
    if stream.has_result and frame_end > end:
        issues.append(
            StreamIssue(
                end, f"STOP with {frame_end - end} unread byte(s) left in the frame", "stop"
            )
        )
    return _Outcome(stream, file_end, violation)


# --------------------------------------------------------------------------------------------
# Helpers used by the interpreter
# --------------------------------------------------------------------------------------------


def _key(v: object) -> object:
    if isinstance(v, Global):
        return (v.module, v.name, v.ext_code)
    if isinstance(v, Call) and isinstance(v.func, Global):
        return ("Call", v.func.module, v.func.name)
    return type(v).__name__


def _merge(into: PickleStream, other: PickleStream) -> None:
    into.imports.extend(other.imports)
    into.calls.extend(other.calls)
    into.builds.extend(other.builds)
    into.mutations.extend(other.mutations)
    into.persistent_ids.extend(other.persistent_ids)
    into.issues.extend(other.issues)


def _sdict_get(d: SDict, key: str) -> object:
    for k, v in d.items:
        if k == key and type(k) is str:
            return v
    return _MISSING


def _state_get(state: object, key: str) -> object:
    """``state[key]`` for a BUILD state dict (or the dict half of ``(dict, slotstate)``)."""
    if isinstance(state, tuple) and len(state) == 2:
        for part in state:
            if isinstance(part, SDict):
                v = _sdict_get(part, key)
                if v is not _MISSING:
                    return v
        return _MISSING
    if isinstance(state, SDict):
        return _sdict_get(state, key)
    return _MISSING


def _plant(planted: dict[tuple[str, str], dict[str, object]], g: Global, state: object) -> None:
    parts: list[object] = list(state) if isinstance(state, tuple) and len(state) == 2 else [state]
    for part in parts:
        if isinstance(part, SDict):
            attrs = planted.setdefault((g.module, g.name), {})
            for k, v in part.items:
                if type(k) is str:
                    attrs[k] = v


def _shape_count(shape: object) -> int | None:
    if not isinstance(shape, tuple):
        return None
    n = 1
    for d in shape:
        if type(d) is not int or d < 0:
            return None
        n *= d
        if n > 1 << 62:
            return None
    return n


def _dtype_info(dtype: object, depth: int) -> tuple[int, bool] | None:
    """(itemsize, hasobject) of a symbolic ``numpy.dtype(...)`` + BUILD state, or None."""
    if depth > 8 or not isinstance(dtype, Call) or not isinstance(dtype.func, Global):
        return None
    if global_path(dtype.func) not in ("numpy.dtype", "numpy.core.multiarray.dtype"):
        return None
    args = dtype.args
    if not isinstance(args, tuple) or not args or not isinstance(args[0], str):
        return None
    typestr = args[0]
    if not typestr:
        return None
    kind = typestr[0]
    digits = typestr[1:]
    size_from_str = int(digits) if digits.isdigit() and len(digits) < 10 else -1
    state = dtype.state
    elsize = -1
    flags = 0
    hasobject = kind == "O"
    if isinstance(state, tuple) and len(state) >= 8:
        if type(state[5]) is int:
            elsize = state[5]
        if type(state[7]) is int:
            flags = state[7]
        if flags & 1:
            hasobject = True
        sub = state[2]
        if isinstance(sub, tuple) and sub:
            inner = _dtype_info(sub[0], depth + 1)
            if inner is None and sub[0] is not None:
                return None
            if inner is not None and inner[1]:
                hasobject = True
        fields = state[4]
        if isinstance(fields, SDict):
            for _k, fv in fields.items:
                if isinstance(fv, tuple) and fv:
                    inner = _dtype_info(fv[0], depth + 1)
                    if inner is None:
                        return None
                    if inner[1]:
                        hasobject = True
    elif dtype.state is not NO_STATE:
        return None
    itemsize = elsize if elsize > 0 else size_from_str
    if itemsize < 0 or (itemsize == 0 and kind not in "USV"):
        return None
    return itemsize, hasobject


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def _plausible_start(first: bytes) -> bool:
    if not first:
        return False
    if first[0] == 0x80:
        return len(first) > 1 and first[1] <= HIGHEST_PROTOCOL
    return first[0] in _PLAUSIBLE_FIRST


def _has_records(s: PickleStream) -> bool:
    return bool(s.imports or s.calls or s.builds or s.mutations or s.persistent_ids)


def _scan_one(
    ctx: _Ctx, pos: int, joblib: bool | None, path: tuple[str, ...], depth: int
) -> _Outcome:
    out = _interpret(ctx, pos, STRICT, joblib, path)
    s = out.stream
    if out.frame_violation and s.limit_hit is None:
        for mode in (LINEAR, LEGACY):
            try:
                alt = _interpret(ctx, pos, mode, joblib, path + (f"interpretation={mode}",))
            except Exception as e:  # pragma: no cover - defensive
                alt = _Outcome(PickleStream(start=pos, interpretation=mode), pos, False)
                alt.stream.error = StreamError(pos, f"internal error: {e!r}", "internal")
            s.alternates.append(alt.stream)
    for st in [s, *s.alternates]:
        find_nested(st, ctx, depth, _scan_nested_bytes)
    return out


def _scan_nested_bytes(
    ctx: _Ctx, data: bytes, path: tuple[str, ...], depth: int, max_streams: int = 0
) -> list[PickleStream]:
    """Scan a decoded nested payload (``max_streams``: how many pickles its loader reads; 0
    for every concatenated one)."""
    inner = _Ctx(_Source(io.BytesIO(data)), ctx.budget, ctx.policy, ctx.opcodes)
    inner.container_cap = ctx.container_cap
    inner.keep_call_items = ctx.keep_call_items
    inner.nested_bytes = ctx.nested_bytes
    inner.nested_scans = ctx.nested_scans
    try:
        return _scan_all(inner, 0, None, path, depth, max_streams or MAX_STREAMS)
    finally:
        ctx.opcodes = inner.opcodes
        ctx.nested_bytes = inner.nested_bytes
        ctx.nested_scans = inner.nested_scans


def _scan_all(
    ctx: _Ctx,
    start: int,
    joblib: bool | None,
    path: tuple[str, ...],
    depth: int,
    max_streams: int,
) -> list[PickleStream]:
    streams: list[PickleStream] = []
    pos = start
    size = ctx.src.size
    while True:
        if pos >= size and streams:
            break
        if len(streams) >= max_streams:
            streams[-1].limit_hit = (
                streams[-1].limit_hit or f"max_pickle_streams: more than {max_streams} pickles"
            )
            break
        out = _scan_one(ctx, pos, joblib, path, depth)
        s = out.stream
        if streams and s.error is not None and not _has_records(s) and not s.has_result:
            # garbage that merely looked like an opcode: trailing data, not a pickle
            streams[-1].trailing = TrailingData(pos, size - pos)
            break
        streams.append(s)
        if not s.ok:
            break
        pos = s.end
        if pos >= size:
            break
        try:
            first = ctx.src.read_at(pos, 2)
        except OSError:
            break
        if not _plausible_start(first):
            s.trailing = TrailingData(pos, size - pos)
            break
    return streams


_gc_lock = threading.Lock()
_gc_users = 0
_gc_paused_by_us = False


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the VM allocates millions of small objects.

    The symbolic values are (almost always) acyclic and freed by reference counting;
    collector passes over the growing memo/stack were a third of the run time.  Nested
    and concurrent scans share one pause; the collector is re-enabled by the last one
    out, and only if it was enabled before.
    """
    global _gc_users, _gc_paused_by_us
    with _gc_lock:
        if _gc_users == 0 and gc.isenabled():
            gc.disable()
            _gc_paused_by_us = True
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_paused_by_us:
                _gc_paused_by_us = False
                gc.enable()


def scan_stream(
    f: BinaryIO,
    budget: Budget | None = None,
    start: int = 0,
    *,
    joblib: bool | None = None,
    max_streams: int = MAX_STREAMS,
    path: tuple[str, ...] = (),
    depth: int = 0,
    policy: Policy | None = None,
    container_cap: int = CONTAINER_CAP,
    keep_call_items: bool = False,
) -> list[PickleStream]:
    """Scan every pickle concatenated in ``f`` from ``start``; never raises.

    ``f`` must be a seekable binary file object.  ``joblib``: ``True`` reads
    joblib's inline array data after a ``NumpyArrayWrapper`` BUILD (what
    ``joblib.load`` does), ``False`` never does, ``None`` (default) turns it on
    when the stream imports a joblib array wrapper.  ``path`` labels the
    streams (e.g. the archive member they came from); ``depth`` is the nesting
    depth of payload decoding already consumed by the caller.

    ``container_cap`` is how many elements each list/dict/set/tuple keeps (the
    rest are only counted: ``omitted`` / :class:`~.values.Omitted`); scanning
    keeps the default, readers that need every entry (conversion) pass a larger
    one -- the opcode, stack and memo limits of ``budget`` still bound the run.
    ``keep_call_items`` keeps what SETITEM(S)/APPEND(S)/ADDITEMS add to call
    results (``Call.items`` / ``Call.list_items``, e.g. an ``OrderedDict`` state
    dict); off by default (the scanner judges the calls, not their contents).
    """
    budget = budget or Budget()
    try:
        src = _Source(f)
    except Exception as e:
        s = PickleStream(start=start, path=path)
        s.error = StreamError(start, f"cannot read input: {e!r}", "io")
        return [s]
    ctx = _Ctx(src, budget, policy)
    ctx.container_cap = max(1, container_cap)
    ctx.keep_call_items = keep_call_items
    try:
        if start >= src.size:
            s = PickleStream(start=start, end=start, path=path)
            s.error = StreamError(start, "no data", "not-a-pickle")
            return [s]
        with _gc_paused():
            return _scan_all(ctx, start, joblib, path, depth, max(1, max_streams))
    except BudgetExceeded as e:
        s = PickleStream(start=start, path=path)
        s.limit_hit = f"{e.limit}: {e.detail}"
        return [s]
    except Exception as e:  # the public API never raises
        s = PickleStream(start=start, path=path)
        s.error = StreamError(start, f"internal error: {e!r}", "internal")
        return [s]


def scan_bytes(
    data: bytes,
    budget: Budget | None = None,
    *,
    joblib: bool | None = None,
    max_streams: int = MAX_STREAMS,
    path: tuple[str, ...] = (),
    depth: int = 0,
    policy: Policy | None = None,
    container_cap: int = CONTAINER_CAP,
    keep_call_items: bool = False,
) -> list[PickleStream]:
    """:func:`scan_stream` over an in-memory buffer."""
    return scan_stream(
        io.BytesIO(data),
        budget,
        joblib=joblib,
        max_streams=max_streams,
        path=path,
        depth=depth,
        policy=policy,
        container_cap=container_cap,
        keep_call_items=keep_call_items,
    )
