"""Wire-format decoder: round trips with the test encoder, malformed input, limits, fuzzing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.formats.protobuf_wire import (
    ProtobufError,
    Wire,
    as_int64,
    as_str,
    fields_by_number,
    is_plausible_message,
    iter_fields,
    iter_packed_varints,
)
from tests.protobuf_builders import (
    EGROUP,
    LEN,
    SGROUP,
    Fixed32,
    Fixed64,
    Msg,
    Raw,
    encode,
    tag,
    varint,
)

SAFE = (ProtobufError, BudgetExceeded)


def fields(buf: bytes, **kw: object) -> list[tuple[int, int, object]]:
    return [
        (n, w, bytes(v) if isinstance(v, memoryview) else v)
        for n, w, v in iter_fields(buf, Budget(), **kw)  # type: ignore[arg-type]
    ]


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**32, 2**63, 2**64 - 1])
def test_varint_round_trip(value: int) -> None:
    assert fields(encode([(1, value)])) == [(1, Wire.VARINT, value)]


def test_negative_int_is_ten_byte_varint() -> None:
    buf = encode([(3, -2)])
    assert len(buf) == 11
    (_, _, raw), *_ = fields(buf)
    assert isinstance(raw, int) and as_int64(raw) == -2


def test_all_wire_types() -> None:
    buf = encode([(1, 5), (2, b"hi"), (3, Fixed32(7)), (4, Fixed64(2**40)), (2**29 - 1, "x")])
    assert fields(buf) == [
        (1, Wire.VARINT, 5),
        (2, Wire.LEN, b"hi"),
        (3, Wire.I32, 7),
        (4, Wire.I64, 2**40),
        (2**29 - 1, Wire.LEN, b"x"),
    ]


def test_length_delimited_is_zero_copy() -> None:
    buf = encode([(1, b"payload"), (2, [(1, 1)])])
    views = [v for _, _, v in iter_fields(buf, Budget())]
    assert all(isinstance(v, memoryview) and v.obj is buf for v in views)
    nested = views[1]
    assert isinstance(nested, memoryview)
    assert fields(bytes(nested)) == [(1, 0, 1)]
    assert [v for _, _, v in iter_fields(nested, Budget(), 1)] == [1]


def test_non_canonical_varint_accepted() -> None:
    assert fields(b"\x08\x81\x80\x80\x00") == [(1, 0, 1)]


def test_groups_are_skipped() -> None:
    group = [(5, Raw(SGROUP, encode([(1, 1), (6, Raw(SGROUP, b"")), (6, Raw(EGROUP, b""))])))]
    buf = encode([(1, 7), *group, (5, Raw(EGROUP, b"")), (2, "after")])
    assert fields(buf) == [(1, 0, 7), (2, 2, b"after")]


@pytest.mark.parametrize(
    "buf",
    [
        pytest.param(tag(1, EGROUP), id="lone-end-group"),
        pytest.param(tag(1, SGROUP) + tag(2, EGROUP), id="mismatched-end-group"),
        pytest.param(tag(1, SGROUP) + b"\x08\x01", id="unterminated-group"),
        pytest.param(b"\x00\x01", id="field-0"),
        pytest.param(b"\x0e\x01", id="wire-type-6"),
        pytest.param(b"\x0f\x01", id="wire-type-7"),
        pytest.param(varint((1 << 29) << 3), id="field-number-too-big"),
        pytest.param(b"\x08" + b"\xff" * 10 + b"\x01", id="varint-11-bytes"),
        pytest.param(b"\x08\xff", id="truncated-varint"),
        pytest.param(b"\x0d\x01\x02", id="truncated-fixed32"),
        pytest.param(b"\x09" + b"\x00" * 7, id="truncated-fixed64"),
        pytest.param(b"\x0a\x05abc", id="truncated-len"),
        pytest.param(b"\x0a" + varint(2**63) + b"x", id="huge-len"),
        pytest.param(b"\x0a" + varint(2**64 - 1), id="max-len"),
    ],
)
def test_malformed_raises_protobuf_error(buf: bytes) -> None:
    with pytest.raises(ProtobufError):
        fields(buf)
    assert not is_plausible_message(buf, Budget())


def test_partial_mode_tolerates_truncation_only() -> None:
    buf = encode([(1, 1), (2, b"abcdef")])[:-2]
    assert fields(buf, partial=True) == [(1, 0, 1), (2, 2, b"abcd")]
    assert fields(b"\x08\x01\x10", partial=True) == [(1, 0, 1)]
    with pytest.raises(ProtobufError):
        fields(b"\x08\x01\x00", partial=True)


def test_helpers() -> None:
    buf = encode([(1, 1), (2, "a"), (1, 2), (3, b"\xff\xfeok")])
    grouped = fields_by_number(buf, Budget())
    assert grouped.keys() == {1, 2, 3} and grouped[1] == [1, 2]
    text = grouped[3][0]
    assert isinstance(text, memoryview)
    assert as_str(text) == "\ufffd\ufffdok" and as_str(text, 3) == "\ufffd\ufffdo"
    assert is_plausible_message(buf, Budget()) and is_plausible_message(b"", Budget())
    packed = b"".join(varint(n) for n in (1, 300, 2**64 - 1))
    assert [as_int64(n) for n in iter_packed_varints(memoryview(packed), Budget())] == [1, 300, -1]


def walk(buf: bytes | memoryview, budget: Budget, depth: int = 0) -> int:
    """Decode everything that parses as a message, recursively (like a schema-less dump)."""
    count = 0
    for _, _, value in iter_fields(buf, budget, depth):
        count += 1
        if isinstance(value, memoryview) and is_plausible_message(value, Budget()):
            count += walk(value, budget, depth + 1)
    return count


def nested(depth: int) -> bytes:
    buf = b""
    for _ in range(depth):
        buf = encode([(1, buf)])
    return buf


def test_nesting_bomb_hits_depth_limit() -> None:
    budget = Budget(Limits(max_protobuf_depth=50))
    assert walk(nested(40), budget) == 40
    with pytest.raises(BudgetExceeded) as exc:
        walk(nested(5000), budget)
    assert exc.value.limit == "max_protobuf_depth"


def test_group_nesting_bomb_hits_depth_limit() -> None:
    buf = tag(1, SGROUP) * 100_000 + tag(1, EGROUP) * 100_000
    with pytest.raises(BudgetExceeded) as exc:
        fields(buf)
    assert exc.value.limit == "max_protobuf_depth"


def test_field_count_limit_is_cumulative_per_budget() -> None:
    budget = Budget(Limits(max_protobuf_fields=1000))
    buf = encode([(1, 1)] * 600)
    assert sum(1 for _ in iter_fields(buf, budget)) == 600
    with pytest.raises(BudgetExceeded) as exc:
        for _ in iter_fields(buf, budget):
            pass
    assert exc.value.limit == "max_protobuf_fields"
    assert sum(1 for _ in iter_fields(buf, Budget())) == 600  # other budgets unaffected


def test_many_fields_decode_fast() -> None:
    buf = encode([(1, 1)] * 200_000)
    start = time.monotonic()
    assert sum(1 for _ in iter_fields(buf, Budget())) == 200_000
    assert time.monotonic() - start < 5


# --------------------------------------------------------------------------- property tests

scalar = st.one_of(
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(max_size=20),
    st.builds(Fixed32, st.integers(min_value=0, max_value=2**32 - 1)),
    st.builds(Fixed64, st.integers(min_value=0, max_value=2**64 - 1)),
)
field_no = st.integers(min_value=1, max_value=2**29 - 1)
messages = st.recursive(
    st.lists(st.tuples(field_no, scalar), max_size=5),
    lambda inner: st.lists(st.tuples(field_no, st.one_of(scalar, inner)), max_size=5),
    max_leaves=30,
)


def decode_as(msg: Msg, buf: memoryview | bytes, budget: Budget) -> Msg:
    """Decode ``buf`` following the shape of ``msg`` (which says where sub-messages are)."""
    out: Msg = []
    for (_, want), (got_num, _, got) in zip(msg, iter_fields(buf, budget), strict=True):
        if isinstance(want, list):
            assert isinstance(got, memoryview)
            out.append((got_num, decode_as(want, got, budget)))
        elif isinstance(want, Fixed32 | Fixed64):
            out.append((got_num, type(want)(got)))  # type: ignore[arg-type]
        else:
            out.append((got_num, bytes(got) if isinstance(got, memoryview) else got))
    return out


@given(messages)
def test_round_trip_property(msg: Msg) -> None:
    assert decode_as(msg, encode(msg), Budget()) == msg


def only_safe_errors(func: Callable[..., object], *args: object) -> None:
    try:
        func(*args)
    except SAFE:
        pass


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    only_safe_errors(walk, data, Budget(Limits(max_protobuf_depth=20)))
    only_safe_errors(list, iter_fields(data, Budget(), partial=True))
    is_plausible_message(data, Budget())


@settings(max_examples=300)
@given(messages, st.data())
def test_fuzz_mutated_messages(msg: Msg, data: st.DataObject) -> None:
    buf = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        if not buf:
            break
        pos = data.draw(st.integers(0, len(buf) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            buf[pos] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del buf[pos:]
        else:
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    only_safe_errors(walk, bytes(buf), Budget())


def test_length_prefix_of_len_field_checked_before_slicing() -> None:
    # A 1 GiB declared length must be rejected immediately, without allocating.
    buf = tag(1, LEN) + varint(1 << 30) + b"tiny"
    start = time.monotonic()
    with pytest.raises(ProtobufError):
        fields(buf)
    assert time.monotonic() - start < 0.1
