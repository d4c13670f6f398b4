"""Property tests: hostile and random streams never escape, stay bounded, keep payloads."""

from __future__ import annotations

import glob
import io
import os
import pickle
import struct
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelxray.analysis.pickle import (
    Global,
    PickleStream,
    render_program,
    scan_bytes,
    scan_stream,
    verdict_items,
)
from modelxray.budget import Budget, Limits
from tests import pickle_samples as ps

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def _no_marker_files() -> Iterator[None]:
    before = set(glob.glob(ps.MARKER_GLOB))
    yield
    assert set(glob.glob(ps.MARKER_GLOB)) == before, "a sample payload ran"


def check_invariants(data: bytes, streams: list[PickleStream]) -> None:
    assert isinstance(streams, list) and streams
    for s in streams:
        for x in s.walk():
            assert isinstance(x, PickleStream)
        assert 0 <= s.start <= len(data)
        assert s.start <= s.end <= len(data)
        assert s.ok or s.error is not None or s.limit_hit is not None
        if s.error is not None:
            assert 0 <= s.error.offset <= len(data)
    verdict_items(streams)
    for s in streams:
        render_program(s)


# Opcode snippets with plausible arguments, so random programs get deep into the VM.
# fmt: off
SNIPPETS = [
    b"(", b".", b"0", b"1", b"2", b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f", b"t",
    b"\x85", b"\x86", b"\x87", b"l", b"d", b"a", b"e", b"s", b"u", b"\x90", b"\x91", b"R",
    b"b", b"\x81", b"\x92", b"o", b"\x93", b"\x94", b"Q", b"\x97", b"\x98",
    b"K\x07", b"M\x01\x02", b"J\xff\xff\xff\xff", b"\x8a\x02\x01\x02",
    b"G" + struct.pack(">d", 1.5),
    b"I12\n", b"L5L\n", b"F2.5\n", b"S'os'\n", b"Vsystem\n", b"Pkey\n", b"g0\n", b"p1\n",
    b"h\x00", b"h\x01", b"q\x00", b"q\x01", b"j\x00\x00\x00\x00", b"r\x02\x00\x00\x00",
    ps.u("os"), ps.u("system"), ps.u("posix"), ps.u("builtins"), ps.u("getattr"), ps.u("x"),
    ps.by(b"\x80\x04N."), b"C\x03abc", b"\x96\x02\x00\x00\x00\x00\x00\x00\x00zz",
    b"cos\nsystem\n", b"cbuiltins\ngetattr\n", b"ipathlib\nos.system\n", b"\x82\x01",
    b"\x80\x02", b"\x80\x04", b"\x80\x05", ps.frame(b"N"), b"\x95\x05\x00\x00\x00\x00\x00\x00\x00",
    ps.sg("copyreg", "_reconstructor"), ps.sg("torch._utils", "_rebuild_tensor_v2"),
    ps.sg("pickle", "loads"), ps.sg("joblib.numpy_pickle", "NumpyArrayWrapper"),
]
# fmt: on

programs = st.lists(st.sampled_from(SNIPPETS), max_size=60).map(b"".join)


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes_never_escape(data: bytes) -> None:
    check_invariants(data, scan_bytes(data))


@FUZZ
@given(programs)
def test_random_opcode_programs_never_escape(data: bytes) -> None:
    check_invariants(data, scan_bytes(data))


@FUZZ
@given(programs, st.integers(1, 400), st.integers(1, 100), st.integers(1, 100))
def test_limits_are_respected(data: bytes, ops: int, stack: int, memo: int) -> None:
    budget = Budget(Limits(max_pickle_opcodes=ops, max_pickle_stack=stack, max_pickle_memo=memo))
    streams = scan_bytes(data * 20, budget)
    check_invariants(data * 20, streams)
    every = max(1, min(4096, ops // 8, stack // 8, memo // 8))
    total = sum(x.opcode_count for s in streams for x in s.walk())
    assert total <= ops + every + len(streams) * every


def _corpus() -> list[bytes]:
    out = [
        pickle.dumps({"a": [1, 2.5, "s"], "b": (None, True), "c": b"x" * 10}, protocol=p)
        for p in range(6)
    ]
    out.append(pickle.dumps(np.arange(12.0).reshape(3, 4), protocol=5))
    out.append(pickle.dumps(np.array([1, None, "x"], dtype=object), protocol=2))
    out.append(pickle.dumps([list(range(300)) for _ in range(20)], protocol=5))
    out.extend(smp.data for smp in list(ps.SAMPLES.values())[::4])
    return out


CORPUS = _corpus()


@FUZZ
@given(
    st.sampled_from(CORPUS),
    st.lists(
        st.tuples(st.integers(0, 1 << 20), st.integers(0, 255), st.integers(0, 2)), max_size=8
    ),
)
def test_mutated_real_pickles_never_escape(base: bytes, edits: list[tuple[int, int, int]]) -> None:
    data = bytearray(base)
    for pos, val, how in edits:
        if not data:
            break
        k = pos % len(data)
        if how == 0:
            data[k] = val
        elif how == 1:
            data.insert(k, val)
        else:
            del data[k]
    check_invariants(bytes(data), scan_bytes(bytes(data)))


PREFIXES = [
    # everything up to and including the REDUCE that runs the payload (no STOP)
    ps.PROTO + b"\x04" + ps.sg("posix", "system") + ps.u(ps.cmd("fuzz")) + ps.TUPLE1 + ps.REDUCE,
    ps.glob("posix", "system") + ps.MARK + ps.string0(ps.cmd("fuzz0")) + ps.TUPLE + ps.REDUCE,
    ps.PROTO
    + b"\x05"
    + ps.frame(ps.sg("posix", "system") + ps.u(ps.cmd("fuzz5")) + ps.TUPLE1 + ps.REDUCE),
    ps.MARK + ps.unicode0(ps.cmd("fuzzinst")) + b"iposix\nsystem\n",
]


def _has_system_call(streams: list[PickleStream]) -> bool:
    for s in streams:
        for c in s.calls:
            if isinstance(c.func, Global) and c.func.qualname == "posix.system":
                return True
    return False


@FUZZ
@given(st.sampled_from(PREFIXES), st.binary(max_size=400))
def test_dangerous_call_survives_corruption_after_it(prefix: bytes, tail: bytes) -> None:
    data = prefix + tail
    streams = scan_bytes(data)
    check_invariants(data, streams)
    assert _has_system_call(streams[:1])
    crit = [it for it in verdict_items(streams) if it.severity == "critical"]
    assert any(it.global_name == "posix.system" for it in crit)


@FUZZ
@given(st.sampled_from(CORPUS), st.integers(0, 10_000))
def test_every_prefix_is_handled(base: bytes, cut: int) -> None:
    data = base[: cut % (len(base) + 1)]
    check_invariants(data, scan_bytes(data))


class Flaky(io.BytesIO):
    """A file object whose reads fail after a while."""

    def __init__(self, data: bytes, fail_after: int) -> None:
        super().__init__(data)
        self.left = fail_after

    def read(self, n: int | None = -1) -> bytes:
        self.left -= 1
        if self.left < 0:
            raise OSError("device went away")
        return super().read(n)


@FUZZ
@given(st.sampled_from(CORPUS), st.integers(0, 5))
def test_io_errors_are_reported_not_raised(base: bytes, fail_after: int) -> None:
    streams = scan_stream(Flaky(base * 50, fail_after))  # type: ignore[arg-type]
    assert streams and all(isinstance(s, PickleStream) for s in streams)


def test_unseekable_input_is_an_error_not_an_exception() -> None:
    class NoSeek(io.RawIOBase):
        def readable(self) -> bool:
            return True

    streams = scan_stream(NoSeek())  # type: ignore[arg-type]
    assert streams[0].error is not None


def test_marker_never_written() -> None:
    for smp in ps.SAMPLES.values():
        scan_bytes(smp.data)
    assert not any(os.path.exists(p) for p in glob.glob(ps.MARKER_GLOB))
