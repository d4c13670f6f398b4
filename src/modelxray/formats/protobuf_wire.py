"""Bounded, dependency-free protobuf wire-format decoding.

Only the wire layer lives here: tags, varints, fixed-width numbers and length-delimited
slices.  What a field *means* is the caller's business (see :mod:`tf_savedmodel`).

Every length is checked against the bytes that remain before anything is sliced, so a
hostile file can make the decoder raise :class:`ProtobufError` (malformed input) or
:class:`~modelxray.budget.BudgetExceeded` (a limit was reached), and nothing else.
Length-delimited values are zero-copy ``memoryview`` slices of the input.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Iterator
from enum import IntEnum

from modelxray.budget import Budget

__all__ = [
    "ProtobufError",
    "Value",
    "Wire",
    "as_int64",
    "as_str",
    "check_depth",
    "fields_by_number",
    "is_plausible_message",
    "iter_fields",
    "iter_packed_varints",
]

Value = int | memoryview
_MAX_FIELD_NUMBER = (1 << 29) - 1
_U64 = (1 << 64) - 1
_CHARGE_EVERY = 256


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


class Wire(IntEnum):
    VARINT = 0
    I64 = 1
    LEN = 2
    SGROUP = 3
    EGROUP = 4
    I32 = 5


# Plain ints for the hot loops (IntEnum comparisons are slower).
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = range(6)


# Fields decoded so far, per budget (the Budget class has no protobuf counter of its own).
_fields_seen: weakref.WeakKeyDictionary[Budget, int] = weakref.WeakKeyDictionary()


def _record(budget: Budget, n: int) -> None:
    """Count ``n`` decoded fields against ``budget`` (never raises: safe in ``finally``)."""
    _fields_seen[budget] = _fields_seen.get(budget, 0) + n


def _enforce(budget: Budget, ticks: int) -> None:
    """Enforce the field limit and (every few thousand ticks) the deadline."""
    budget.tick(ticks)
    limit = budget.limits.max_protobuf_fields
    total = _fields_seen.get(budget, 0)
    Budget.require(total <= limit, "max_protobuf_fields", f"more than {limit} protobuf fields")


def _charge(budget: Budget, n: int) -> None:
    _record(budget, n)
    _enforce(budget, n)


def check_depth(budget: Budget, depth: int) -> None:
    """Raise BudgetExceeded past ``max_protobuf_depth`` (capped so that recursive decoders
    using about one Python frame per level never exhaust the interpreter stack)."""
    limit = min(budget.limits.max_protobuf_depth, sys.getrecursionlimit() // 4)
    Budget.require(depth <= limit, "max_protobuf_depth", f"protobuf nesting deeper than {limit}")


class _Truncated(ProtobufError):
    pass


def _varint(view: memoryview, pos: int) -> tuple[int, int]:
    if pos < len(view) and view[pos] < 0x80:  # fast path: one byte
        return view[pos], pos + 1
    end = len(view)
    result = shift = 0
    while True:
        if pos >= end:
            raise _Truncated(f"truncated varint at offset {pos}")
        byte = view[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError(f"varint longer than 10 bytes ending at offset {pos}")


def _fixed(view: memoryview, pos: int, size: int) -> tuple[int, int]:
    if size > len(view) - pos:
        raise _Truncated(f"truncated fixed{size * 8} at offset {pos}")
    return int.from_bytes(view[pos : pos + size], "little"), pos + size


def _tag(view: memoryview, pos: int) -> tuple[int, int, int]:
    start = pos
    tag, pos = _varint(view, pos)
    field = tag >> 3
    if field == 0 or field > _MAX_FIELD_NUMBER:
        raise ProtobufError(f"invalid field number {field} at offset {start}")
    return field, tag & 7, pos


def _skip_group(view: memoryview, pos: int, field: int, budget: Budget, depth: int) -> int:
    """Skip past the END_GROUP matching a START_GROUP of ``field``; return the new offset."""
    open_groups = [field]
    n = 0
    while open_groups:
        check_depth(budget, depth + len(open_groups) - 1)
        num, wire, pos = _tag(view, pos)
        n += 1
        if n % _CHARGE_EVERY == 0:
            _charge(budget, _CHARGE_EVERY)
        if wire == _VARINT:
            _, pos = _varint(view, pos)
        elif wire == _I64:
            _, pos = _fixed(view, pos, 8)
        elif wire == _I32:
            _, pos = _fixed(view, pos, 4)
        elif wire == _LEN:
            size, pos = _varint(view, pos)
            if size > len(view) - pos:
                raise _Truncated(f"length {size} at offset {pos} runs past the end")
            pos += size
        elif wire == _SGROUP:
            open_groups.append(num)
        elif wire == _EGROUP:
            if open_groups.pop() != num:
                raise ProtobufError(f"mismatched END_GROUP for field {num}")
        else:
            raise ProtobufError(f"invalid wire type {wire} at offset {pos}")
    _charge(budget, n % _CHARGE_EVERY)
    return pos


def iter_fields(
    buf: bytes | bytearray | memoryview, budget: Budget, depth: int = 0, *, partial: bool = False
) -> Iterator[tuple[int, int, Value]]:
    """Yield ``(field number, wire type, value)`` for each field of one message.

    Varints and fixed32/fixed64 values come back as unsigned ``int``; length-delimited values
    as ``memoryview`` slices.  Groups (deprecated wire types 3/4) are skipped like any unknown
    field.  ``depth`` is the caller's nesting level, checked against ``max_protobuf_depth``.

    With ``partial=True`` the buffer is taken as the *prefix* of a message (content sniffing):
    a length-delimited value cut by the end is yielded truncated and iteration stops there,
    as it does at any other truncation.  Invalid tags still raise.
    """
    view = memoryview(buf).cast("B")
    check_depth(budget, depth)
    end = len(view)
    pos = 0
    pending = 0
    try:
        while pos < end:
            try:
                field, wire, pos = _tag(view, pos)
                pending += 1
                if pending == _CHARGE_EVERY:
                    pending = 0
                    _charge(budget, _CHARGE_EVERY)
                value: Value
                if wire == _VARINT:
                    value, pos = _varint(view, pos)
                elif wire == _LEN:
                    size, pos = _varint(view, pos)
                    if size > end - pos:
                        if partial:
                            yield field, wire, view[pos:]
                            return
                        raise _Truncated(f"length {size} at offset {pos} runs past the end")
                    value = view[pos : pos + size]
                    pos += size
                elif wire == _I32:
                    value, pos = _fixed(view, pos, 4)
                elif wire == _I64:
                    value, pos = _fixed(view, pos, 8)
                elif wire == _SGROUP:
                    pos = _skip_group(view, pos, field, budget, depth + 1)
                    continue
                else:
                    raise ProtobufError(f"unexpected wire type {wire} for field {field}")
            except _Truncated:
                if partial:
                    return
                raise
            yield field, wire, value
    finally:
        _record(budget, pending)
    _enforce(budget, pending)


def iter_packed_varints(view: memoryview, budget: Budget) -> Iterator[int]:
    """Decode a packed repeated varint field (``[packed=true]`` ints, enums, bools)."""
    pos = 0
    n = 0
    while pos < len(view):
        value, pos = _varint(view, pos)
        n += 1
        if n % _CHARGE_EVERY == 0:
            _charge(budget, _CHARGE_EVERY)
        yield value
    _charge(budget, n % _CHARGE_EVERY)


def fields_by_number(buf: bytes | memoryview, budget: Budget) -> dict[int, list[Value]]:
    """All fields of one message grouped by field number, in wire order."""
    out: dict[int, list[Value]] = {}
    for field, _, value in iter_fields(buf, budget):
        out.setdefault(field, []).append(value)
    return out


def as_str(view: bytes | memoryview, max_bytes: int | None = None) -> str:
    """Decode a string field as UTF-8 (invalid bytes replaced), optionally truncated."""
    if max_bytes is not None and len(view) > max_bytes:
        view = view[:max_bytes]
    return bytes(view).decode("utf-8", errors="replace")


def as_int64(value: int) -> int:
    """Reinterpret an unsigned varint as the signed int64/int32 protobuf stores."""
    return value - (1 << 64) if value >= 1 << 63 else value


def is_plausible_message(buf: bytes | memoryview, budget: Budget) -> bool:
    """True if ``buf`` parses completely as one message (says nothing about its schema)."""
    try:
        for _ in iter_fields(buf, budget):
            pass
    except ProtobufError:
        return False
    return True
