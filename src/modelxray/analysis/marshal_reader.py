"""Bounded, pure-Python reader for marshalled CPython code objects (2.7 and 3.x).

Nothing is ever loaded with :mod:`marshal` or executed: the bytes are walked and turned into
plain :class:`CodeObject` records.  Every layout family is tried and accepted only if it
consumes the input exactly and yields a code object.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from modelxray.budget import Budget, BudgetExceeded

__all__ = [
    "ELLIPSIS",
    "LAYOUTS",
    "CodeObject",
    "MarshalError",
    "looks_like_marshalled_code",
    "read_code",
]

ELLIPSIS: object = Ellipsis
"""The value a marshalled ``...`` constant reads as (compare with ``is``)."""

LAYOUTS = ("3.11+", "3.8-3.10", "3.0-3.7", "2.7")
"""Code-object layouts, in order of preference."""

FLAG_REF = 0x80
_CO_FAST_CELL = 0x40
_CO_FAST_FREE = 0x80
_SIZE_CAP = 1 << 62  # expanded-size counters saturate here
# Header int32 count per layout (the last one is always co_flags).
_HEADER_INTS = {"3.11+": 5, "3.8-3.10": 6, "3.0-3.7": 5, "2.7": 4}
_PY2_ONLY = frozenset(b"R")
_PY3_ONLY = frozenset(b"razZA):")


class MarshalError(ValueError):
    """The bytes are not a well-formed marshalled code object in any known layout."""


@dataclass(frozen=True, eq=False, repr=False)
class CodeObject:
    """Inert record of one code object.  Equality and hashing are by identity."""

    layout: str
    argcount: int
    posonlyargcount: int
    kwonlyargcount: int
    stacksize: int
    flags: int
    code: bytes
    consts: tuple[object, ...]
    names: tuple[str, ...]
    varnames: tuple[str, ...]
    freevars: tuple[str, ...]
    cellvars: tuple[str, ...]
    filename: str
    name: str
    qualname: str
    firstlineno: int

    def __repr__(self) -> str:
        return f"<CodeObject {self.qualname!r} layout={self.layout} file={self.filename!r}>"

    def walk(self) -> Iterator[CodeObject]:
        """Yield self and every nested code object (also inside const containers), pre-order."""
        seen: set[int] = set()
        stack: list[CodeObject] = [self]
        while stack:
            co = stack.pop()
            if id(co) in seen:
                continue
            seen.add(id(co))
            yield co
            nested = [c for c in _leaves(co.consts) if isinstance(c, CodeObject)]
            stack.extend(reversed(nested))

    def all_names(self) -> set[str]:
        """names, varnames, freevars and cellvars of every code object in :meth:`walk`."""
        out: set[str] = set()
        for co in self.walk():
            out.update(co.names, co.varnames, co.freevars, co.cellvars)
        return out

    def all_strings(self) -> list[str]:
        """Every str / bytes (decoded latin-1) constant of every code object in :meth:`walk`."""
        out: list[str] = []
        for co in self.walk():
            for leaf in _leaves(co.consts):
                if isinstance(leaf, str):
                    out.append(leaf)
                elif isinstance(leaf, bytes):
                    out.append(leaf.decode("latin-1"))
        return out


def _leaves(values: tuple[object, ...]) -> Iterator[object]:
    """Non-container values reachable from *values*; each container is visited once."""
    seen: set[int] = set()
    stack: list[object] = list(reversed(values))
    while stack:
        v = stack.pop()
        if isinstance(v, tuple | list | frozenset | set | dict | slice):
            if id(v) in seen:
                continue
            seen.add(id(v))
            if isinstance(v, dict):
                items = [x for kv in v.items() for x in kv]
            else:
                items = [v.start, v.stop, v.step] if isinstance(v, slice) else list(v)
            stack.extend(reversed(items))
        else:
            yield v


class _Reader:
    """One attempt at reading *data* in one layout."""

    def __init__(self, data: bytes, layout: str, budget: Budget) -> None:
        self.data = data
        self.pos = 0
        self.layout = layout
        self.py2 = layout == "2.7"
        self.budget = budget
        limits = budget.limits
        self.max_depth = limits.max_marshal_depth
        self.max_objects = limits.max_marshal_objects
        self.depth = 0
        self.objects = 0
        self.hash_work = 0
        self.refs: list[tuple[object, int] | None] = []  # (value, expanded size); None = pending
        self.strrefs: list[bytes] = []  # Python 2 interned strings ('t' / 'R')

    # -- primitive reads (all bounds-checked before slicing) --
    def fail(self, what: str) -> MarshalError:
        return MarshalError(f"{what} at offset {self.pos}")

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise self.fail(f"length {n} exceeds the {len(self.data) - self.pos} bytes left")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("unexpected end of data")
        self.pos += 1
        return self.data[self.pos - 1]

    def i32(self) -> int:
        return int(struct.unpack("<i", self.take(4))[0])

    def count(self) -> int:
        """A declared length/count, checked against the bytes left before anything is built."""
        n = self.i32()
        if n < 0 or n > len(self.data) - self.pos:
            raise self.fail(f"declared size {n} impossible with {len(self.data) - self.pos} left")
        return n

    # -- objects --
    def obj(self) -> tuple[object, int]:
        """Read one object; return it with its expanded (tree) size."""
        self.objects += 1
        if self.objects > self.max_objects:
            raise BudgetExceeded("max_marshal_objects", f"more than {self.max_objects} objects")
        self.budget.tick()
        self.depth += 1
        if self.depth > self.max_depth:
            raise BudgetExceeded("max_marshal_depth", f"nesting deeper than {self.max_depth}")
        try:
            return self._obj()
        finally:
            self.depth -= 1

    def _obj(self) -> tuple[object, int]:
        start = self.pos
        code = self.byte()
        flag, t = code & FLAG_REF, code & ~FLAG_REF
        if self.py2 and (flag or t in _PY3_ONLY):
            raise self.fail(f"type code {code:#x} does not exist in Python 2 marshal")
        if not self.py2 and t in _PY2_ONLY:
            raise self.fail(f"type code {chr(t)!r} does not exist in Python 3 marshal")
        if t == ord("r"):
            return self.ref(self.i32())
        if t == ord("R"):
            idx = self.i32()
            if not 0 <= idx < len(self.strrefs):
                raise self.fail(f"bad string reference {idx}")
            return self.strrefs[idx], 1
        idx = -1
        if flag:
            idx = len(self.refs)
            self.refs.append(None)
        value, size = self.value(t, start)
        if flag:
            self.refs[idx] = (value, size)
        return value, size

    def ref(self, idx: int) -> tuple[object, int]:
        if not 0 <= idx < len(self.refs):
            raise self.fail(f"bad reference {idx} ({len(self.refs)} objects so far)")
        entry = self.refs[idx]
        if entry is None:
            raise self.fail(f"reference {idx} to an object still being read")
        return entry

    def value(self, t: int, start: int) -> tuple[object, int]:
        c = chr(t)
        if c in _SCALARS:
            return _SCALARS[c], 1
        if c == "i":
            return self.i32(), 1
        if c == "I":
            return int(struct.unpack("<q", self.take(8))[0]), 1
        if c == "l":
            return self.long(), 1
        if c == "g":
            return float(struct.unpack("<d", self.take(8))[0]), 1
        if c == "f":
            return self.str_float(), 1
        if c == "y":
            re, im = struct.unpack("<dd", self.take(16))
            return complex(re, im), 1
        if c == "x":
            re = self.str_float()
            return complex(re, self.str_float()), 1
        if c in "st":
            raw = self.take(self.count())
            if self.py2:
                if c == "t":
                    self.strrefs.append(raw)
                return raw, 1
            return (raw if c == "s" else self.utf8(raw)), 1
        if c == "u":
            return self.utf8(self.take(self.count())), 1
        if c in "aA":
            return self.take(self.count()).decode("latin-1"), 1
        if c in "zZ":
            return self.take(self.byte()).decode("latin-1"), 1
        if c in "()[<>":
            n = self.byte() if c == ")" else self.count()
            items, size = self.seq(n)
            if c in "()":
                return tuple(items), size
            if c == "[":
                return items, size
            self.hashable(items, size)
            return (set(items) if c == "<" else frozenset(items)), size
        if c == "{":
            return self.dict()
        if c == ":":
            items, size = self.seq(3)
            return slice(*items), size
        if c == "c":
            return self.code_object()
        if c == "0":
            raise self.fail("NULL object outside a dict")
        raise MarshalError(f"unknown type code {t:#x} at offset {start}")

    def seq(self, n: int) -> tuple[list[object], int]:
        if n > len(self.data) - self.pos:
            raise self.fail(f"{n} items cannot fit in {len(self.data) - self.pos} bytes")
        items: list[object] = []
        size = 1
        for _ in range(n):
            v, s = self.obj()
            items.append(v)
            size = min(size + s, _SIZE_CAP)
        return items, size

    def dict(self) -> tuple[object, int]:
        out: dict[object, object] = {}
        size = 1
        while True:
            if self.pos < len(self.data) and self.data[self.pos] == ord("0"):
                self.pos += 1
                return out, size
            k, ks = self.obj()
            v, vs = self.obj()
            self.hashable([k], ks)
            out[k] = v
            size = min(size + ks + vs, _SIZE_CAP)

    def hashable(self, items: list[object], size: int) -> None:
        """Guard hashing: tuples are re-hashed through shared refs, so cap the work."""
        self.hash_work += size
        if self.hash_work > self.max_objects:
            raise BudgetExceeded("max_marshal_objects", "set / dict keys too large to hash")
        try:
            for item in items:
                hash(item)
        except TypeError as e:
            raise self.fail(f"unhashable set member or dict key ({e})") from None

    def long(self) -> int:
        n = self.i32()
        ndigits = abs(n)
        raw = self.take(2 * ndigits)  # checked against the remaining bytes first
        digits = struct.unpack(f"<{ndigits}H", raw)
        if any(d >= 1 << 15 for d in digits):
            raise self.fail("long digit out of range")
        if ndigits and digits[-1] == 0:
            raise self.fail("unnormalized long")
        if not ndigits:
            return 0
        value = int("".join(format(d, "015b") for d in reversed(digits)), 2)
        return -value if n < 0 else value

    def str_float(self) -> float:
        raw = self.take(self.byte())
        try:
            return float(raw.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            raise self.fail(f"bad float literal {raw[:20]!r}") from None

    def utf8(self, raw: bytes) -> str:
        try:
            return raw.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise self.fail("invalid UTF-8 in string") from None

    # -- code objects --
    def code_object(self) -> tuple[CodeObject, int]:
        layout = self.layout
        hdr = [self.i32() for _ in range(_HEADER_INTS[layout])]
        if any(v < 0 for v in hdr[:-1]):
            raise self.fail("negative count in code header")
        if layout == "2.7":
            argcount, posonly, kwonly, stacksize = hdr[0], 0, 0, hdr[2]
        elif layout == "3.0-3.7":
            argcount, posonly, kwonly, stacksize = hdr[0], 0, hdr[1], hdr[3]
        elif layout == "3.8-3.10":
            argcount, posonly, kwonly, stacksize = hdr[0], hdr[1], hdr[2], hdr[4]
        else:
            argcount, posonly, kwonly, stacksize = hdr[:4]
        size = 1
        sizes: list[int] = []

        def field(kind: type) -> object:
            v, s = self.obj()
            sizes.append(s)
            if kind is str and self.py2 and isinstance(v, bytes):
                v = v.decode("latin-1")
            if not isinstance(v, kind):
                raise self.fail(f"code field is {type(v).__name__}, expected {kind.__name__}")
            return v

        def names() -> tuple[str, ...]:
            v, s = self.obj()
            sizes.append(s)
            if not isinstance(v, tuple):
                raise self.fail("code name list is not a tuple")
            out = []
            for n in v:
                if self.py2 and isinstance(n, bytes):
                    n = n.decode("latin-1")
                if not isinstance(n, str):
                    raise self.fail("code name is not a string")
                out.append(n)
            return tuple(out)

        code = field(bytes)
        consts = field(tuple)
        co_names = names()
        varnames = names()
        if layout == "3.11+":
            kinds = field(bytes)
            assert isinstance(kinds, bytes)
            if len(kinds) != len(varnames):
                raise self.fail("localspluskinds length differs from localsplusnames")
            freevars = tuple(n for n, k in zip(varnames, kinds, strict=True) if k & _CO_FAST_FREE)
            cellvars = tuple(n for n, k in zip(varnames, kinds, strict=True) if k & _CO_FAST_CELL)
        else:
            freevars, cellvars = names(), names()
        filename = field(str)
        name = field(str)
        qualname = field(str) if layout == "3.11+" else name
        firstlineno = self.i32()
        field(bytes)  # lnotab / linetable
        if layout == "3.11+":
            field(bytes)  # exceptiontable
        assert isinstance(code, bytes) and isinstance(consts, tuple)
        assert isinstance(filename, str) and isinstance(name, str) and isinstance(qualname, str)
        co = CodeObject(
            layout=layout,
            argcount=argcount,
            posonlyargcount=posonly,
            kwonlyargcount=kwonly,
            stacksize=stacksize,
            flags=hdr[-1] & 0xFFFFFFFF,
            code=code,
            consts=consts,
            names=co_names,
            varnames=varnames,
            freevars=freevars,
            cellvars=cellvars,
            filename=filename,
            name=name,
            qualname=qualname,
            firstlineno=firstlineno,
        )
        for s in sizes:
            size = min(size + s, _SIZE_CAP)
        return co, size


_SCALARS: dict[str, object] = {
    "N": None,
    "F": False,
    "T": True,
    ".": ELLIPSIS,
    "S": StopIteration,
}


def read_code(data: bytes, budget: Budget | None = None) -> CodeObject:
    """Parse marshalled code-object bytes without loading them.

    Raises :class:`MarshalError` when no layout reads *data* exactly as one code object, and
    :class:`~modelxray.budget.BudgetExceeded` when a limit is hit (and no layout succeeded).
    """
    budget = budget or Budget()
    data = bytes(data)
    limit = budget.limits.max_code_blob_bytes
    if len(data) > limit:
        raise BudgetExceeded("max_code_blob_bytes", f"{len(data)} bytes > {limit}")
    errors: list[str] = []
    exceeded: BudgetExceeded | None = None
    for layout in LAYOUTS:
        reader = _Reader(data, layout, budget)
        try:
            top, _ = reader.obj()
            if not isinstance(top, CodeObject):
                raise reader.fail(f"top-level object is {type(top).__name__}, not code")
            if reader.pos != len(data):
                raise reader.fail(f"{len(data) - reader.pos} trailing bytes")
            return top
        except BudgetExceeded as e:
            exceeded = exceeded or e
            errors.append(f"{layout}: {e}")
        except MarshalError as e:
            errors.append(f"{layout}: {e}")
        except Exception as e:  # defensive: no other exception type may escape
            errors.append(f"{layout}: {type(e).__name__}: {e}")
    if exceeded is not None:
        raise exceeded
    raise MarshalError("not a marshalled code object (" + "; ".join(errors) + ")")


def looks_like_marshalled_code(data: bytes) -> bool:
    """Cheap prefix test: a code type byte, a plausible header, then the bytecode string."""
    if len(data) < 18 or data[0] not in (0x63, 0x63 | FLAG_REF):
        return False
    for layout, nints in _HEADER_INTS.items():
        if layout == "2.7" and data[0] & FLAG_REF:
            continue
        end = 1 + 4 * nints
        if len(data) <= end:
            continue
        counts = struct.unpack_from(f"<{nints - 1}i", data, 1)
        if all(0 <= v <= 0xFFFF for v in counts) and data[end] & ~FLAG_REF == ord("s"):
            return True
    return False
