"""How much memory an allowed call would allocate when the pickle is loaded.

A legitimate pickle carries its data as payload bytes (``BINBYTES``, array buffers,
persistent storages), so what the loader allocates is bounded by what the file holds.
Allowed value constructors can break that bound with a tiny constant argument:
``bytearray(10**12)``, ``list(range(10**10))``, ``numpy.ndarray((10**6, 10**6))``,
``torch.UntypedStorage(10**12)``, ``Fraction('1e1000000000')`` (the numerator is
``10**1000000000``), ``int(Decimal('1e999999999'))``, ``str.ljust('', 10**11)``.
:func:`allocation` estimates the bytes such a call allocates from its constant
arguments (statically: nothing is evaluated but integer arithmetic on the
constants); :mod:`.verdict` reports estimates above the thresholds below.

Not modelled (bounded elsewhere): ``int('9' * n)`` (CPython refuses strings over 4300
digits since 3.10.7/3.11), ``Decimal('1e999999999')`` itself (stored as an exponent),
``range(n)`` itself (lazy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .resolve import global_path, method_ref, value_path
from .values import Blob, Call, Global, SDict, SList, SSet

# A constructor that turns a few constant bytes into a quarter of a GiB is never how a
# pickle stores data; at 1 GiB the allocation alone can exhaust the loader's memory (or its
# container limit) and is reported as high.
ALLOC_MEDIUM_BYTES = 256 * 1024 * 1024
ALLOC_HIGH_BYTES = 1024 * 1024 * 1024
# Building a big int from a decimal exponent costs time super-linear in its digits (CPython
# 3.12 on one core: 10**1_000_000 takes ~0.6 s, 10**10_000_000 ~27 s, ten times more digits
# ~40 times longer): a million digits is already a visible stall, ten million a hang.
BIGINT_MEDIUM_DIGITS = 1_000_000
BIGINT_HIGH_DIGITS = 10_000_000

_DEPTH = 8
_LOG2_10_OVER_8 = 0.4152  # bytes per decimal digit of a Python int
_PTR = 8  # one list/tuple slot
_BIG_INT = 32  # an int object outside the small-int cache
_SET_SLOT = 64  # set/dict entry incl. its share of the table at the usual load factor
# Bytes per element of the containers built from an iterable (plus _BIG_INT per large int).
_SLOT_BYTES = {
    "builtins.list": _PTR, "builtins.tuple": _PTR,
    "builtins.set": _SET_SLOT, "builtins.frozenset": _SET_SLOT,
}  # fmt: skip
_HUGE = 1 << 62  # "more than any machine has"

# torch storage classes -> bytes per element
# fmt: off
_TORCH_ELEMENT: dict[str, int] = {
    "UntypedStorage": 1, "ByteStorage": 1, "CharStorage": 1, "BoolStorage": 1,
    "ShortStorage": 2, "HalfStorage": 2, "BFloat16Storage": 2, "IntStorage": 4,
    "FloatStorage": 4, "LongStorage": 8, "DoubleStorage": 8, "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16, "QUInt8Storage": 1, "QInt8Storage": 1, "QInt32Storage": 4,
    "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "TypedStorage": 4,
}
# fmt: on
_TORCH_STORAGE_MODULES = frozenset({"torch", "torch.cuda", "torch.storage"})
_NUMPY_ARRAYS = frozenset({"numpy.ndarray", "numpy.matrix"})
_TORCH_TENSORS = frozenset({"torch.Tensor", "torch._tensor.Tensor"})
# Every global path _estimate knows (a fast filter: most calls are none of these).
_ALLOCATORS = frozenset(
    {
        f"builtins.{n}"
        for n in ("bytes", "bytearray", "range", "list", "tuple", "set", "frozenset", "int")
    }  # fmt: skip
    | {"fractions.Fraction"}
    | _NUMPY_ARRAYS
    | _TORCH_TENSORS
    | {f"{m}.{n}" for m in _TORCH_STORAGE_MODULES for n in _TORCH_ELEMENT}
)
_EXPONENT = re.compile(r"[eE]\s*([-+]?[0-9_]+)\s*$")


@dataclass(frozen=True, slots=True)
class _Est:
    """What evaluating a value allocates, as far as its constants tell."""

    nbytes: int
    count: int | None  # elements of the result when iterated (None: unknown)
    big_ints: bool = False  # its elements are int objects outside the small-int cache
    digits: int = 0  # decimal digits of a big int computed from an exponent


def _int(v: object) -> int | None:
    return v if type(v) is int else None


def _length(v: object, depth: int) -> tuple[int, bool] | None:
    """(elements ``v`` yields when iterated, whether they are big ints), when known."""
    if isinstance(v, (str, bytes, bytearray)):
        return len(v), False
    if isinstance(v, Blob) and v.kind in ("bytes", "bytearray", "str", "line"):
        return v.length, False
    if isinstance(v, tuple):
        return len(v), False
    if isinstance(v, (SList, SSet, SDict)):
        return len(v) + v.omitted, False
    if isinstance(v, Call) and depth < _DEPTH:
        e = _estimate(v, depth + 1)
        if e is not None and e.count is not None:
            return e.count, e.big_ints
    return None


def _text_len(v: object) -> int | None:
    if isinstance(v, (str, bytes, bytearray)):
        return len(v)
    if isinstance(v, Blob) and v.kind in ("bytes", "bytearray", "str", "line"):
        return v.length
    return None


def _exponent_digits(v: object, depth: int) -> int | None:
    """Decimal digits of the int a numeric string / Decimal('...eN') call stands for."""
    if isinstance(v, Call) and v.kind == "reduce" and depth < _DEPTH:
        if value_path(v.func) == "decimal.Decimal" and isinstance(v.args, tuple) and v.args:
            return _exponent_digits(v.args[0], depth + 1)
        return None
    if not isinstance(v, str):
        return None
    m = _EXPONENT.search(v[-64:])
    if m is None:
        return None
    digits = m.group(1).replace("_", "").lstrip("+-")
    if not digits:
        return None
    if len(digits) > 18:
        return _HUGE
    return int(digits) + len(v)


def _shape_count(shape: object) -> int | None:
    dims = shape if isinstance(shape, tuple) else (shape,)
    n = 1
    for d in dims:
        k = _int(d)
        if k is None or k < 0:
            return None
        n = min(n * k, _HUGE)
    return n


def _itemsize(dtype: object) -> int:
    if isinstance(dtype, str):
        digits = "".join(ch for ch in dtype if ch.isdigit())
        if digits and len(digits) < 4:
            return int(digits)
    return 8  # float64, numpy's default


def _range_len(args: tuple[object, ...]) -> int | None:
    ints = [_int(a) for a in args[:3]]
    if not ints or any(i is None for i in ints):
        return None
    try:
        return len(range(*ints))  # type: ignore[arg-type]  # lazy: only arithmetic
    except (ValueError, OverflowError, TypeError):
        return _HUGE if len(ints) >= 2 else None


def _estimate(call: Call, depth: int) -> _Est | None:
    args = call.args if isinstance(call.args, tuple) else ()
    m = method_ref(call.func)
    if m is not None:
        if m.owner not in ("builtins.str", "builtins.bytes", "builtins.bytearray", "builtins.int",
                           "builtins.dict"):  # fmt: skip
            return None
        if not m.bound:
            if not args:
                return None
            recv: object = args[0]
            rest = args[1:]
        else:
            recv, rest = m.receiver, args
        return _method(m.owner, m.name, recv, rest, depth)
    if call.kind in ("newobj", "newobj_ex"):
        path = global_path(call.func) if isinstance(call.func, Global) else None
    else:
        path = value_path(call.func)
    if path is None:
        return None
    first = args[0] if args else None
    if path in ("builtins.bytes", "builtins.bytearray"):
        if call.kind != "reduce" and path == "builtins.bytearray":
            return None  # bytearray.__new__ allocates nothing; __init__ fills it
        n = _int(first)
        if n is not None and n >= 0:
            return _Est(n, n)
        ln = _length(first, depth)
        return None if ln is None else _Est(ln[0], ln[0])
    if path == "builtins.range" and call.kind == "reduce":
        n = _range_len(args)
        return None if n is None else _Est(0, n, True)
    if call.kind != "reduce":
        return _new_only(path, args)
    slot = _SLOT_BYTES.get(path)
    if slot is not None:
        ln = _length(first, depth)
        if ln is None:
            return None
        n, big = ln
        return _Est(n * (slot + (_BIG_INT if big else 0)), n, big)
    if path in ("builtins.int", "fractions.Fraction"):
        digits = _exponent_digits(first, depth)
        if digits is None:
            return None
        return _Est(min(int(digits * _LOG2_10_OVER_8), _HUGE), None, digits=digits)
    return _new_only(path, args)


def _new_only(path: str, args: tuple[object, ...]) -> _Est | None:
    """Classes whose ``__new__`` (NEWOBJ) or call (REDUCE) allocates from a size argument."""
    first = args[0] if args else None
    if path in _NUMPY_ARRAYS:
        n = _shape_count(first)
        if n is None:
            return None
        return _Est(min(n * _itemsize(args[1] if len(args) > 1 else None), _HUGE), n)
    mod, _, name = path.rpartition(".")
    if mod in _TORCH_STORAGE_MODULES and name in _TORCH_ELEMENT:
        n = _int(first)
        if n is None or n < 0:
            return None
        return _Est(min(n * _TORCH_ELEMENT[name], _HUGE), n)
    if path in _TORCH_TENSORS and args and all(type(a) is int for a in args):
        n = _shape_count(args)
        return None if n is None else _Est(min(n * 4, _HUGE), n)
    return None


def _method(
    owner: str, name: str, recv: object, rest: tuple[object, ...], depth: int
) -> _Est | None:
    if name == "fromkeys" and owner == "builtins.dict":
        ln = _length(rest[0] if rest else None, depth)
        return None if ln is None else _Est(ln[0] * (_SET_SLOT + (_BIG_INT if ln[1] else 0)), None)
    if name == "to_bytes" and owner == "builtins.int":
        n = _int(rest[0]) if rest else None
        return None if n is None or n < 0 else _Est(n, n)
    size = _text_len(recv)
    if name in ("ljust", "rjust", "center", "zfill"):
        width = _int(rest[0]) if rest else None
        if width is None:
            return None
        fill = rest[1] if len(rest) > 1 else " "
        per = 4 if isinstance(fill, str) and not fill.isascii() else 1
        return _Est(min(width * per, _HUGE), width)
    if size is None:
        return None
    if name == "expandtabs":
        tab = _int(rest[0]) if rest else 8
        if tab is None or not isinstance(recv, (str, bytes, bytearray)):
            return None
        tabs = recv.count("\t" if isinstance(recv, str) else b"\t")  # type: ignore[arg-type]
        n = size + tabs * max(tab, 0)
        return _Est(n, n)
    if name == "replace" and len(rest) >= 2:
        old, new = _text_len(rest[0]), _text_len(rest[1])
        if old is None or new is None:
            return None
        hits = size + 1 if old == 0 else size // old
        count = _int(rest[2]) if len(rest) > 2 else None
        if count is not None and count >= 0:
            hits = min(hits, count)
        n = size + hits * new
        return _Est(n, n)
    if name == "join" and rest:
        items = rest[0]
        if not isinstance(items, (tuple, SList)):
            return None
        total = 0
        for it in items:
            k = _text_len(it)
            if k is None:
                return None
            total += k + size
        return _Est(total, total)
    return None


@dataclass(frozen=True, slots=True)
class Allocation:
    """The estimated allocation of one call of an allowed constructor."""

    nbytes: int  # estimated bytes the call allocates
    digits: int  # decimal digits of a big int it computes (0: none)
    what: str  # short description: callee and element count

    @property
    def level(self) -> str | None:
        """``"high"``, ``"medium"`` or None (below both thresholds)."""
        if self.nbytes >= ALLOC_HIGH_BYTES or self.digits >= BIGINT_HIGH_DIGITS:
            return "high"
        if self.nbytes >= ALLOC_MEDIUM_BYTES or self.digits >= BIGINT_MEDIUM_DIGITS:
            return "medium"
        return None


def may_allocate(func: object) -> bool:
    """False when no call of ``func`` is estimated (:func:`allocation` is None whatever the
    arguments): a global that is no known allocator, or a value that is neither a global
    nor a computed callable."""
    if type(func) is Global:
        return func.qualname in _ALLOCATORS
    return type(func) is Call


def allocation(call: Call) -> Allocation | None:
    """What the call allocates, when it can be estimated from its constant arguments."""
    if not may_allocate(call.func):
        return None
    try:
        e = _estimate(call, 0)
    except (RecursionError, ValueError, OverflowError, MemoryError):
        return None
    if e is None or e.nbytes <= 0:
        return None
    m = method_ref(call.func)
    if m is not None:
        name = m.path
    elif isinstance(call.func, Global):
        name = global_path(call.func) or "?"
    else:
        name = value_path(call.func) or "<computed>"
    detail = f"{name}(…)"
    if e.count is not None:
        detail += f" of {e.count:,} elements"
    if e.digits:
        detail += f" computing a {e.digits:,}-digit integer"
    return Allocation(e.nbytes, e.digits, detail)


# fmt: off
__all__ = [
    "ALLOC_HIGH_BYTES", "ALLOC_MEDIUM_BYTES", "BIGINT_HIGH_DIGITS", "BIGINT_MEDIUM_DIGITS",
    "Allocation", "allocation", "may_allocate",
]
# fmt: on
