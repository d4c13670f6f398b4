"""The pickle VM model: opcode semantics, streams, frames, joblib, limits, real files.

No test ever loads a pickle.  Benign files come from the real libraries (torch, sklearn,
joblib, numpy, dill, cloudpickle); malicious ones from ``pickle_samples``.
"""

from __future__ import annotations

import collections
import glob
import io
import os
import pickle
import struct
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modelxray.analysis.pickle import (
    Blob,
    Call,
    Global,
    PersistentRef,
    PickleStream,
    SDict,
    SList,
    SSet,
    Unknown,
    render_program,
    scan_bytes,
    scan_stream,
    verdict_items,
)
from modelxray.budget import Budget, Limits
from tests import pickle_samples as ps


@pytest.fixture(autouse=True)
def _no_marker_files() -> Iterator[None]:
    before = set(glob.glob(ps.MARKER_GLOB))
    yield
    assert set(glob.glob(ps.MARKER_GLOB)) == before, "a sample payload ran"


def one(data: bytes, **kw: object) -> PickleStream:
    streams = scan_bytes(data, **kw)  # type: ignore[arg-type]
    assert len(streams) == 1, streams
    return streams[0]


def severities(streams: list[PickleStream]) -> list[str]:
    return [it.severity for it in verdict_items(streams)]


def assert_benign(streams: list[PickleStream]) -> None:
    for s in streams:
        assert s.error is None, s.error
        assert s.limit_hit is None, s.limit_hit
    bad = [it for it in verdict_items(streams) if it.severity in ("critical", "high")]
    assert not bad, bad


# ------------------------------------------------------------------ real benign files


def torch_data_pkl(obj: object) -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(buf) as z:
        name = next(n for n in z.namelist() if n.endswith("data.pkl"))
        return z.read(name)


def _torch_model() -> object:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 4, 3),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4, 2),
        nn.LSTM(2, 3),
        nn.Embedding(5, 2),
    )


def test_torch_state_dict_is_clean() -> None:
    model = _torch_model()
    s = one(torch_data_pkl(model.state_dict()))  # type: ignore[attr-defined]
    assert_benign([s])
    assert s.persistent_ids, "torch storages are persistent ids"
    pid = s.persistent_ids[0].pid
    assert isinstance(pid, tuple) and pid[0] == "storage"
    assert isinstance(pid[1], Global) and pid[1].name.endswith("Storage")
    assert not [it for it in verdict_items([s])]


def test_torch_whole_module_is_clean() -> None:
    assert_benign([one(torch_data_pkl(_torch_model()))])


def test_torch_misc_objects_are_clean() -> None:
    torch = pytest.importorskip("torch")
    obj = {
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "size": torch.Size([2, 3]),
        "param": torch.nn.Parameter(torch.ones(2)),
        "sparse": torch.ones(2, 2).to_sparse(),
        "bf16": torch.ones(2, dtype=torch.bfloat16),
        "complex": torch.ones(2, dtype=torch.complex64),
        "optim": torch.optim.SGD(_torch_model().parameters(), lr=0.1).state_dict(),  # type: ignore[attr-defined]
    }
    assert_benign([one(torch_data_pkl(obj))])


def test_torch_legacy_format_is_stacked_pickles_plus_raw_storage() -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save(_torch_model().state_dict(), buf, _use_new_zipfile_serialization=False)  # type: ignore[attr-defined]
    streams = scan_bytes(buf.getvalue())
    assert len(streams) == 5  # magic, protocol, sys info, data, storage keys
    assert_benign(streams)
    assert streams[0].result == 0x1950A86A20F9469CFC6C
    assert streams[-1].trailing is not None  # raw storage bytes are not pickles


@pytest.fixture(scope="module")
def sklearn_models() -> list[object]:
    pytest.importorskip("sklearn")
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.random((40, 3))
    y = (x[:, 0] > 0.5).astype(int)
    models: list[object] = [
        make_pipeline(StandardScaler(), LogisticRegression()),
        RandomForestClassifier(n_estimators=3, random_state=0),
        HistGradientBoostingClassifier(max_iter=3),
    ]
    for m in models:
        m.fit(x, y)  # type: ignore[attr-defined]
    return models


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_sklearn_pickles_are_clean(sklearn_models: list[object], protocol: int) -> None:
    for m in sklearn_models:
        assert_benign(scan_bytes(pickle.dumps(m, protocol=protocol)))


def test_sklearn_joblib_files_are_clean(sklearn_models: list[object], tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    for k, m in enumerate(sklearn_models):
        p = tmp_path / f"m{k}.joblib"
        joblib.dump(m, p)
        with open(p, "rb") as f:
            streams = scan_stream(f)
        assert_benign(streams)
        assert streams[0].joblib and streams[-1].end == p.stat().st_size


NUMPY_VALUES = [
    np.arange(5),
    np.array(["a", "bc"]),
    np.array([1, "x", None], dtype=object),
    np.float32(3),
    np.datetime64("2020-01-01"),
    np.dtype([("a", "<i4"), ("b", "<f8")]),
    np.zeros((2, 2), dtype=[("a", "<i4"), ("b", "O")]),
    np.random.default_rng(0),
    np.random.RandomState(0),
]


@pytest.mark.parametrize("protocol", range(6))
def test_numpy_pickles_are_clean(protocol: int) -> None:
    for v in NUMPY_VALUES:
        assert_benign(scan_bytes(pickle.dumps(v, protocol=protocol)))


def test_dill_and_cloudpickle_of_data_are_clean() -> None:
    dill = pytest.importorskip("dill")
    cloudpickle = pytest.importorskip("cloudpickle")
    data = {
        "a": [1, 2],
        "b": np.arange(3),
        "c": {1, 2},
        "d": b"x",
        "e": collections.OrderedDict(a=1),
        "f": np.array([1, None], dtype=object),
    }
    assert_benign(scan_bytes(dill.dumps(data)))
    assert_benign(scan_bytes(cloudpickle.dumps(data)))


def test_standard_library_values_are_clean() -> None:
    import datetime
    import decimal
    import fractions
    import pathlib
    import uuid

    values = [
        datetime.datetime(2020, 1, 2, 3, 4, 5),
        datetime.date(2020, 1, 1),
        datetime.timedelta(1),
        datetime.timezone.utc,
        decimal.Decimal("1.1"),
        uuid.UUID(int=5),
        pathlib.PurePosixPath("/y"),
        fractions.Fraction(1, 3),
        complex(1, 2),
        range(3),
        slice(1, 2),
        frozenset([1]),
        bytearray(b"x"),
        collections.Counter("ab"),
        collections.deque([1]),
        collections.defaultdict(list),
        2**100,
        -(2**70),
        1.5,
        "é" * 300,
        b"y" * 300,
    ]
    for protocol in range(6):
        assert_benign(scan_bytes(pickle.dumps(values, protocol=protocol)))


# ------------------------------------------------------------------ joblib inline arrays

JOBLIB_ARRAYS = {
    "f8": np.arange(10.0),
    "i4": np.arange(7, dtype="<i4"),
    "u1": np.arange(3, dtype="u1"),
    "bool": np.array([True, False]),
    "c16": np.ones(3, dtype=complex),
    "U5": np.array(["ab", "cde"]),
    "S3": np.array([b"a", b"bcd"]),
    "datetime": np.array(["2020-01-01"], dtype="M8[ns]"),
    "object": np.array([1, "x", None, {"a": 2}], dtype=object),
    "struct": np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]),
    "struct_object": np.zeros(2, dtype=[("a", "<i4"), ("b", "O")]),
    "subarray": np.zeros(2, dtype="(2,3)f4"),
    "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    "empty": np.zeros((0, 3)),
    "0d": np.array(5.0),
    "big": np.zeros(200_000),
    "f2": np.ones(5, dtype="f2"),
    "big_endian": np.arange(4, dtype=">i2"),
}


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_joblib_consumes_inline_array_bytes_exactly(tmp_path: Path, protocol: int) -> None:
    joblib = pytest.importorskip("joblib")
    values: dict[str, object] = dict(JOBLIB_ARRAYS)
    values["all"] = dict(JOBLIB_ARRAYS)
    values["nested_list"] = [np.arange(3), "x", [np.zeros(2), np.array([None])]]
    for name, value in values.items():
        p = tmp_path / f"{name}.joblib"
        joblib.dump(value, p, protocol=protocol)
        with open(p, "rb") as f:
            streams = scan_stream(f)
        assert len(streams) == 1, (name, streams)
        s = streams[0]
        assert s.error is None and s.limit_hit is None and s.trailing is None, (name, s.error)
        assert s.end == p.stat().st_size, name
        assert s.joblib
        assert not verdict_items(streams), (name, verdict_items(streams))


def test_joblib_numeric_array_data_is_skipped_not_read(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "big.joblib"
    joblib.dump({"w": np.zeros(2_000_000)}, p)  # 16 MB of array data
    with open(p, "rb", buffering=0) as raw:
        counting = CountingReader(raw)
        streams = scan_stream(counting)  # type: ignore[arg-type]
    assert streams[0].ok and streams[0].end == p.stat().st_size
    assert counting.bytes_read < 64 * 1024


def test_joblib_without_alignment_padding(tmp_path: Path) -> None:
    """Files written to a non-seekable handle carry no padding byte (joblib <= 1.1 style)."""
    joblib = pytest.importorskip("joblib")

    class NoTell(io.BytesIO):
        def tell(self) -> int:
            raise io.UnsupportedOperation("no tell")

    out = NoTell()
    joblib.dump({"a": np.arange(10.0), "b": np.arange(3, dtype="u1")}, out)
    s = one(out.getvalue())
    assert s.ok and s.end == len(out.getvalue())


def test_joblib_mode_off_sees_array_bytes_as_garbage(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "a.joblib"
    joblib.dump(np.arange(1000.0), p)
    with open(p, "rb") as f:
        s = scan_stream(f, joblib=False)[0]
    assert s.end < p.stat().st_size  # plain pickle.load stops after the wrapper
    with open(p, "rb") as f:
        assert scan_stream(f, joblib=True)[0].end == p.stat().st_size


def test_joblib_object_array_payload_is_scanned(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    payload = np.array([ps.Reduce(os.system, (ps.cmd("joblib_obj"),)), 1], dtype=object)
    p = tmp_path / "evil.joblib"
    joblib.dump({"x": np.arange(5.0), "evil": payload, "after": np.ones(3)}, p)
    with open(p, "rb") as f:
        streams = scan_stream(f)
    assert streams[0].end == p.stat().st_size
    crit = [it for it in verdict_items(streams) if it.severity == "critical"]
    assert any(it.global_name == "posix.system" for it in crit)


def test_joblib_payload_after_arrays_is_found(tmp_path: Path) -> None:
    joblib = pytest.importorskip("joblib")
    p = tmp_path / "evil2.joblib"
    joblib.dump([np.arange(100.0), ps.Reduce(os.system, (ps.cmd("joblib_after"),))], p)
    with open(p, "rb") as f:
        streams = scan_stream(f)
    assert any(
        it.severity == "critical" and it.global_name == "posix.system"
        for it in verdict_items(streams)
    )


def test_joblib_undeterminable_wrapper_is_an_error() -> None:
    data = ps.p4(
        ps.sg("joblib.numpy_pickle", "NumpyArrayWrapper")
        + ps.EMPTY_TUPLE
        + ps.NEWOBJ
        + ps.EMPTY_DICT
        + ps.u("shape")
        + ps.u("not a shape")
        + ps.SETITEM
        + ps.BUILD
    )
    s = one(data)
    assert s.joblib and s.error is not None and "joblib" in s.error.message


# ------------------------------------------------------------------ opcode semantics


def test_protocol_zero_text_opcodes() -> None:
    data = (
        b"(I42\nI00\nI01\nL123L\nF1.5\nS'a\\nb'\nVcaf\\u00e9\ng0\np5\n0g5\nN\x88\x89l."
        if False
        else b"(lp0\nI42\naI00\naI01\naL123L\naF1.5\naS'a\\nb'\naVcaf\\u00e9\na."
    )
    s = one(data)
    assert s.ok and s.protocol is None
    assert isinstance(s.result, SList)
    assert list(s.result) == [42, False, True, 123, 1.5, "a\nb", "café"]


def test_binary_constants() -> None:
    data = pickle.dumps(
        (1, 300, 70000, -5, 2**64, 1.25, None, True, False, "s", b"b", bytearray(b"x")), protocol=5
    )
    s = one(data)
    assert s.ok
    assert s.result == (1, 300, 70000, -5, 2**64, 1.25, None, True, False, "s", b"b", b"x")
    assert isinstance(s.result[-1], bytearray)


def test_containers() -> None:
    s = one(pickle.dumps({"l": [1, 2], "s": {3}, "f": frozenset({4}), "t": (5,)}, protocol=4))
    d = s.result
    assert isinstance(d, SDict)
    got = dict(d.items)
    assert isinstance(got["l"], SList) and list(got["l"]) == [1, 2]
    assert isinstance(got["s"], SSet) and list(got["s"]) == [3] and not got["s"].frozen
    assert isinstance(got["f"], SSet) and got["f"].frozen
    assert got["t"] == (5,)


def test_container_element_cap() -> None:
    s = one(pickle.dumps(list(range(5000)), protocol=4))
    assert isinstance(s.result, SList)
    assert len(s.result) == 1024 and s.result.omitted == 5000 - 1024


def test_memo_identity_is_preserved() -> None:
    shared = [1]
    s = one(pickle.dumps([shared, shared], protocol=2))
    assert isinstance(s.result, SList)
    assert s.result[0] is s.result[1]


def test_pop_on_empty_stack_pops_the_mark() -> None:
    # MARK, POP (no object above the mark: pops the mark), NONE, STOP
    s = one(b"(0N.")
    assert s.ok and s.result is None


def test_pop_mark_dup_and_memoize() -> None:
    s = one(b"\x80\x04K\x01(K\x02K\x031\x94\x32\x86.")
    assert s.ok and s.result == (1, 1)


def test_newobj_ex_inst_obj_build_records() -> None:
    data = ps.p4(
        ps.sg("mod", "Cls")
        + ps.EMPTY_TUPLE
        + ps.EMPTY_DICT
        + ps.u("k")
        + ps.binint1(1)
        + ps.SETITEM
        + ps.NEWOBJ_EX
        + ps.EMPTY_DICT
        + ps.BUILD
        + ps.POP
        + ps.MARK
        + ps.sg("mod", "Obj")
        + ps.binint1(2)
        + ps.OBJ
        + ps.POP
        + ps.MARK
        + ps.binint1(3)
        + b"imod\nInst\n"
    )
    s = one(data)
    assert s.ok
    kinds = [(c.kind, c.opcode) for c in s.calls]
    assert kinds == [("newobj_ex", "NEWOBJ_EX"), ("obj", "OBJ"), ("inst", "INST")]
    assert s.calls[1].args == (2,) and s.calls[2].args == (3,)
    assert [g.qualname for g in s.imports] == ["mod.Cls", "mod.Obj", "mod.Inst"]
    assert len(s.builds) == 1 and s.builds[0].obj is s.calls[0]
    assert s.calls[0].state is s.builds[0].state


def test_fix_imports_maps_python2_names_below_protocol_3() -> None:
    s = one(b"c__builtin__\nset\n(]tR.")
    g = s.imports[0]
    assert (g.module, g.name) == ("builtins", "set")
    assert (g.raw_module, g.raw_name) == ("__builtin__", "set")
    s3 = one(b"\x80\x03c__builtin__\nset\n(]tR.")
    assert s3.imports[0].module == "__builtin__" and s3.imports[0].raw_module is None


def test_dotted_names_are_recorded_whole() -> None:
    s = one(ps.call1("pathlib", "os.system", "x"))
    assert s.imports[0].module == "pathlib" and s.imports[0].name == "os.system"


def test_ext_codes() -> None:
    s = one(ps.p4(b"\x82\x05" + b"\x83\x06\x01" + b"\x84\x07\x00\x00\x00" + ps.TUPLE3))
    assert [g.ext_code for g in s.imports] == [5, 0x106, 7]
    assert all(g.module == "<ext>" for g in s.imports)
    assert {i.kind for i in s.issues} == {"ext"}
    bad = one(ps.p4(b"\x82\x00"))
    assert bad.error is not None and "code <= 0" in bad.error.message


def test_persistent_ids() -> None:
    s = one(b"Pkey-1\n.")
    assert isinstance(s.result, PersistentRef) and s.result.pid == "key-1"
    s2 = one(ps.p4(ps.u("storage") + ps.sg("torch", "FloatStorage") + ps.TUPLE2 + ps.BINPERSID))
    assert s2.persistent_ids[0].opcode == "BINPERSID"
    assert isinstance(s2.persistent_ids[0].pid, tuple)


def test_out_of_band_buffers() -> None:
    s = one(b"\x80\x05\x97\x98.")
    assert s.ok and isinstance(s.result, Unknown)
    assert any(i.kind == "buffer" for i in s.issues)


def test_misplaced_proto_is_an_issue() -> None:
    s = one(b"\x80\x02N0\x80\x04N.")
    assert s.ok and s.protocol == 2 and any(i.kind == "proto" for i in s.issues)


def test_stack_global_requires_str_constants() -> None:
    s = one(ps.p4(ps.binint1(1) + ps.u("x") + ps.STACK_GLOBAL))
    assert s.error is not None and "requires str" in s.error.message


def test_stack_global_with_computed_operands_is_dynamic() -> None:
    data = ps.p4(
        ps.sg("codecs", "decode")
        + ps.u("bf")
        + ps.u("rot13")
        + ps.TUPLE2
        + ps.REDUCE
        + ps.u("system")
        + ps.STACK_GLOBAL
    )
    s = one(data)
    dyn = [g for g in s.imports if g.dynamic is not None]
    assert len(dyn) == 1 and isinstance(dyn[0].dynamic[0], Call)
    assert any(
        it.kind == "dynamic-import" and it.severity == "critical" for it in verdict_items([s])
    )


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x80\x04\xff.", "unknown-opcode"),
        (b"\xff", "not-a-pickle"),
        (b"\x80\x04t.", "stack-underflow"),
        (b"\x80\x04\x85.", "stack-underflow"),
        (b"\x80\x04h\x07.", "memo-miss"),
        (b"\x80\x04X\x10\x00\x00\x00ab", "truncated"),
        (b"\x80\x04N", "truncated"),
        (b"\x80\x06N.", "bad-argument"),
        (b"Sno quotes\n.", "bad-argument"),
        (b"Inot-an-int\n.", "bad-argument"),
        (b"\x80\x04(K\x01d.", "bad-argument"),
        (b"\x80\x04\x8c\x02\xff\xfe.", "bad-argument"),
    ],
)
def test_malformed_streams_yield_errors(data: bytes, kind: str) -> None:
    s = scan_bytes(data)[0]
    assert s.error is not None and s.error.kind == kind, s.error
    assert 0 <= s.error.offset <= len(data)


def test_error_offsets_point_at_the_opcode() -> None:
    s = one(b"\x80\x04N\x8c\x01aK\x01h\x09.")
    assert s.error is not None and s.error.offset == 8 and s.error.kind == "memo-miss"


def test_large_payloads_become_blobs() -> None:
    big = b"z" * 200_000
    s = one(pickle.dumps((big, "t" * 200_000, bytearray(big)), protocol=5))
    assert s.ok
    a, b, c = s.result  # type: ignore[misc]
    assert isinstance(a, Blob) and a.kind == "bytes" and a.length == 200_000
    assert isinstance(b, Blob) and b.kind == "str"
    assert isinstance(c, Blob) and c.kind == "bytearray"


# ------------------------------------------------------------------ frames


def test_well_formed_frames() -> None:
    data = pickle.dumps([list(range(50)) for _ in range(5000)], protocol=5)
    assert data.count(b"\x95") >= 2
    s = one(data)
    assert s.ok and not s.alternates and not s.issues


def test_large_payload_right_after_a_frame_leaves_it() -> None:
    # the pickler ends the frame after the BINBYTES8 header; the payload follows unframed
    data = pickle.dumps([b"q" * 300_000, b"r" * 300_000, 1], protocol=5)
    s = one(data)
    assert s.ok and not s.alternates


def test_read_straddling_a_frame_end_is_a_violation() -> None:
    # a read that starts exactly at the frame end leaves the frame (both CPython readers)
    assert one(b"\x80\x05" + ps.frame(b"K") + b"\x01.").ok
    # BININT's 4-byte argument: 2 bytes in the frame, 2 after it
    data = b"\x80\x05" + ps.frame(b"J\x01\x00") + b"\x00\x00."
    s = one(data)
    assert s.error is not None and s.error.kind == "frame"
    assert {a.interpretation for a in s.alternates} == {"linear", "legacy-c"}
    assert "high" in severities([s])


def test_new_frame_inside_a_frame_is_a_violation() -> None:
    data = b"\x80\x05" + ps.frame(b"N" + ps.frame(b"0N.") + b"")
    s = one(data)
    assert s.error is not None and s.error.kind == "frame"


def test_frame_divergence_hidden_call_is_found_in_legacy_reading() -> None:
    s = one(ps.SAMPLES["t17_frame_divergence"].data)
    assert s.error is not None and s.error.kind == "frame"
    legacy = next(a for a in s.alternates if a.interpretation == "legacy-c")
    assert [c.func.qualname for c in legacy.calls if isinstance(c.func, Global)] == ["posix.system"]
    linear = next(a for a in s.alternates if a.interpretation == "linear")
    assert linear.ok and not linear.calls  # what pickletools shows
    items = verdict_items([s])
    crit = [it for it in items if it.severity == "critical"]
    assert crit and crit[0].path == ("interpretation=legacy-c",)


def test_stop_with_unread_frame_bytes_is_an_issue() -> None:
    data = b"\x80\x05" + ps.frame(b"N.NN")
    streams = scan_bytes(data)
    assert streams[0].ok and any(i.kind == "stop" for i in streams[0].issues)


# ------------------------------------------------------------------ streams


def test_stacked_pickles_and_trailing_data() -> None:
    data = pickle.dumps(1, 2) + pickle.dumps("x", 4) + b"\x00\x01garbage"
    streams = scan_bytes(data)
    assert [s.result for s in streams] == [1, "x"]
    assert streams[0].end == streams[1].start
    assert streams[-1].trailing is not None and streams[-1].trailing.length == 9


def test_plausible_looking_garbage_after_stop_is_trailing() -> None:
    streams = scan_bytes(pickle.dumps(1, 2) + b"(\xff\xff")
    assert len(streams) == 1 and streams[0].trailing is not None


def test_stacked_malicious_second_pickle() -> None:
    streams = scan_bytes(ps.SAMPLES["t16_stacked"].data)
    assert len(streams) == 2 and streams[0].ok
    assert any(c for c in streams[1].calls if isinstance(c.func, Global))


def test_broken_after_payload_keeps_the_call() -> None:
    s = scan_bytes(ps.SAMPLES["t15_broken_junk"].data)[0]
    assert s.error is not None
    assert [c.func.qualname for c in s.calls if isinstance(c.func, Global)] == ["builtins.exec"]


def test_unparseable_from_the_start() -> None:
    streams = scan_bytes(b"this is not a pickle")
    assert len(streams) == 1 and streams[0].error is not None and not streams[0].calls


def test_max_streams() -> None:
    streams = scan_bytes(b"N." * 50, max_streams=10)
    assert len(streams) == 10 and streams[-1].limit_hit is not None


def test_scan_from_an_offset() -> None:
    data = b"HEADER" + pickle.dumps([1, 2], 2)
    s = scan_stream(io.BytesIO(data), start=6)[0]
    assert s.ok and s.start == 6 and s.end == len(data)


def test_empty_input() -> None:
    s = scan_bytes(b"")[0]
    assert s.error is not None and s.error.kind == "not-a-pickle"


# ------------------------------------------------------------------ size and limits


class CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes actually read."""

    def __init__(self, f: io.RawIOBase | io.BufferedReader) -> None:
        self.f = f
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.f.seek(offset, whence)

    def tell(self) -> int:
        return self.f.tell()

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.f.read(len(b)) or b""
        b[: len(data)] = data
        self.bytes_read += len(data)
        return len(data)


def test_one_gib_payload_is_skipped_by_seeking(tmp_path: Path) -> None:
    p = tmp_path / "huge.pkl"
    gib = 1 << 30
    with open(p, "wb") as f:
        f.write(ps.PROTO + b"\x04" + ps.sg("posix", "system") + b"\x8e" + struct.pack("<Q", gib))
        f.seek(gib, io.SEEK_CUR)  # sparse: nothing written
        f.write(ps.TUPLE1 + ps.REDUCE + ps.STOP)
    with open(p, "rb", buffering=0) as raw:
        counting = CountingReader(raw)
        t0 = time.perf_counter()
        streams = scan_stream(counting)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - t0
    s = streams[0]
    assert s.ok and s.end == p.stat().st_size
    assert counting.bytes_read < 16 * 1024, counting.bytes_read
    assert elapsed < 1.0
    arg = s.calls[0].args
    assert isinstance(arg, tuple) and isinstance(arg[0], Blob) and arg[0].length == gib
    assert any(it.severity == "critical" for it in verdict_items(streams))


def test_truncated_huge_payload_is_an_error_not_a_read() -> None:
    data = b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc"
    s = one(data)
    assert s.error is not None and s.error.kind == "truncated"


def test_opcode_limit() -> None:
    s = one(pickle.dumps(list(range(100_000)), 4), budget=Budget(Limits(max_pickle_opcodes=1000)))
    assert s.limit_hit is not None and s.limit_hit.startswith("max_pickle_opcodes")
    assert s.opcode_count <= 1000 + 125


def test_opcode_count_is_the_opcodes_read() -> None:
    """``opcode_count`` (the evidence of an error finding) counts every opcode byte read,
    across the VM's budget-check blocks, also when the stream breaks off at an opcode or
    inside one's argument."""
    import pickletools

    data = pickle.dumps([{"k": i, "v": (i, str(i))} for i in range(3000)], protocol=2)
    ops = list(pickletools.genops(data))
    assert len(ops) > 4 * 4096  # several budget-check blocks
    assert one(data).opcode_count == len(ops)
    cut_at_op = one(data[:-1])  # no STOP: every other opcode read, then the read fails
    assert cut_at_op.error is not None and cut_at_op.error.kind == "truncated"
    assert cut_at_op.opcode_count == len(ops) - 1
    binint = next(pos for op, _arg, pos in ops if op.name == "BININT2")
    cut_in_arg = one(data[: binint + 2])  # the BININT2 opcode is read, its argument is not
    assert cut_in_arg.error is not None and cut_in_arg.error.kind == "truncated"
    assert cut_in_arg.opcode_count == sum(1 for *_o, pos in ops if pos <= binint)


def test_opcode_past_the_limit_never_runs() -> None:
    """The budget is checked once the next opcode is readable and before it runs: with a
    limit of one opcode, the GLOBAL after PROTO is read (counted) but never imported; a
    stream that simply ends there is truncated, not over a limit."""
    tight = Limits(max_pickle_opcodes=1)  # the budget is checked at every opcode
    s = one(b"\x80\x02cos\nsystem\n.", budget=Budget(tight))
    assert s.limit_hit is not None and s.limit_hit.startswith("max_pickle_opcodes")
    assert s.imports == [] and s.opcode_count == 2
    cut = one(b"\x80\x02", budget=Budget(tight))
    assert cut.limit_hit is None and cut.error is not None and cut.error.kind == "truncated"
    assert cut.opcode_count == 1


def test_stack_and_mark_limits() -> None:
    s = one(ps.many_marks(50_000), budget=Budget(Limits(max_pickle_stack=1000)))
    assert s.limit_hit is not None and "stack" in s.limit_hit
    s2 = one(ps.p4(b"N" * 5000), budget=Budget(Limits(max_pickle_stack=100)))
    assert s2.limit_hit is not None


def test_memo_limit() -> None:
    s = one(
        pickle.dumps([str(i) for i in range(10_000)], 4), budget=Budget(Limits(max_pickle_memo=500))
    )
    assert s.limit_hit is not None and "memo" in s.limit_hit


def test_time_limit() -> None:
    data = pickle.dumps(list(range(200_000)), 4)
    s = one(data, budget=Budget(Limits(max_seconds_per_file=0.0)))
    assert s.limit_hit is not None and "seconds" in s.limit_hit


@pytest.mark.parametrize(
    "data",
    [ps.billion_laughs(60), ps.self_referencing_list(), ps.deep_nesting(), ps.many_marks()],
    ids=["laughs", "selfref", "deep", "marks"],
)
def test_expansion_shapes_terminate_quickly(data: bytes) -> None:
    t0 = time.perf_counter()
    streams = scan_bytes(data)
    assert time.perf_counter() - t0 < 5
    assert not [it for it in verdict_items(streams) if it.severity == "critical"]
    assert len(render_program(streams[0])) < 70_000


def test_scan_never_calls_the_loaders(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import marshal

    def boom(*a: object, **k: object) -> object:
        raise AssertionError("the scanner called a loader")

    for mod, name in [
        (pickle, "loads"),
        (pickle, "load"),
        (pickle, "Unpickler"),
        (pickle, "_Unpickler"),
        (marshal, "loads"),
        (importlib, "import_module"),
    ]:
        monkeypatch.setattr(mod, name, boom)
    for smp in ps.SAMPLES.values():
        verdict_items(scan_bytes(smp.data))


# ------------------------------------------------------------------ nested payloads


def test_nested_pickle_is_scanned_with_its_path() -> None:
    s = one(ps.SAMPLES["t35_base64"].data)
    assert len(s.nested) == 1
    n = s.nested[0]
    assert n.kind == "pickle" and n.encoding == ("base64",) and n.loader == "pickle.loads"
    assert n.streams and n.streams[0].path == (f"pickle.loads@{n.offset}",)
    inner = n.streams[0]
    assert [c.func.qualname for c in inner.calls if isinstance(c.func, Global)] == ["posix.system"]


def test_marshal_payload_is_recorded_not_unmarshalled() -> None:
    s = one(ps.SAMPLES["t05_marshal"].data)
    n = next(n for n in s.nested if n.kind == "marshal_code")
    assert n.data is not None and n.data[:1] in (b"\xe3", b"c")


def test_nested_depth_limit() -> None:
    data = ps.p4(b"N")
    for _ in range(6):
        data = ps.call1("pickle", "loads", data)
    s = one(data, budget=Budget(Limits(max_nested_payload_depth=2)))
    depth = 0
    layer = s
    while layer.nested and layer.nested[0].streams:
        layer = layer.nested[0].streams[0]
        depth += 1
    assert depth == 2
    assert layer.nested and layer.nested[0].error is not None


def test_external_file_loader_is_recorded() -> None:
    s = one(ps.SAMPLES["t07_torch_load_file"].data)
    assert s.nested[0].kind == "external" and "other_model.bin" in (s.nested[0].error or "")


def test_exec_source_is_decoded() -> None:
    s = one(ps.SAMPLES["t35_exec_source"].data)
    n = s.nested[0]
    assert n.kind == "python_source" and n.data == ps.PY.encode()


# ------------------------------------------------------------------ rendering


def test_render_program_shows_imports_calls_and_result() -> None:
    data = pickle.dumps(ps.Reduce(os.system, (f"echo {ps.MARKER}",)), protocol=4)
    text = render_program(one(data))
    assert "import posix" in text
    assert "_var0 = posix.system('echo MODELXRAY_MARKER')" in text
    assert "result = _var0" in text


def test_render_program_shows_builds_and_mutations() -> None:
    text = render_program(one(ps.SAMPLES["t10_planting"].data))
    assert "vars(numpy.prod).update({'a': 'os', 'b': 'system'})" in text
    text2 = render_program(one(ps.SAMPLES["t38_sys_path_append"].data))
    assert "sys.path.append('/tmp/modelxray_marker_dir')" in text2
    text3 = render_program(one(pickle.dumps(collections.OrderedDict(a=1), 2)))
    assert "collections.OrderedDict()" in text3


def test_render_program_is_bounded() -> None:
    body = b"".join(ps.sg("m", f"f{i}") + ps.EMPTY_TUPLE + ps.REDUCE + ps.POP for i in range(3000))
    text = render_program(one(ps.p4(body + ps.NONE)), max_lines=100)
    assert text.count("\n") <= 100 and "more line(s)" in text


# ------------------------------------------------------------------ speed


def test_opcode_heavy_pickle_is_fast() -> None:
    data = pickle.dumps(list(range(2_000_000)), protocol=4)  # ~10 MB, 2M opcodes
    t0 = time.process_time()
    s = one(data)
    elapsed = time.process_time() - t0
    assert s.ok and s.opcode_count > 2_000_000
    assert elapsed < 5.0, elapsed  # ~0.6 s of CPU on this 2-core machine


def test_every_cpython_opcode_is_modelled() -> None:
    import pickletools

    assert len(pickletools.opcodes) == 68
    for op in pickletools.opcodes:
        code = op.code.encode("latin-1")
        s = scan_bytes(b"\x80\x05N" + code)[0]
        assert s.error is None or s.error.kind not in ("unknown-opcode", "not-a-pickle"), op.name


# ------------------------------------------------------------------ conversion options
# ``keep_call_items`` / ``container_cap`` let the SafeTensors converter read every entry of
# a state dict from the same VM run that judges it; scanning keeps the defaults.


def _entries(d: object) -> dict[object, object]:
    assert isinstance(d, SDict)
    return {k: v for k, v in d}


def test_call_items_are_kept_only_when_asked() -> None:
    data = pickle.dumps(collections.OrderedDict((f"k{i}", i) for i in range(3)), 2)
    plain = one(data)
    assert isinstance(plain.result, Call) and plain.result.items is None
    kept = one(data, keep_call_items=True)
    r = kept.result
    assert isinstance(r, Call) and isinstance(r.func, Global)
    assert r.func.qualname == "collections.OrderedDict" and r.args == ()
    assert r.items == [("k0", 0), ("k1", 1), ("k2", 2)] and r.items.omitted == 0
    assert r.list_items is None
    # a plain dict is an SDict either way
    d = one(pickle.dumps({"a": collections.OrderedDict(b=2)}, 4), keep_call_items=True).result
    inner = _entries(d)["a"]
    assert isinstance(inner, Call) and inner.items == [("b", 2)]


def test_call_list_items_from_appends_append_and_additems() -> None:
    body = (
        ps.sg("collections", "deque") + ps.EMPTY_TUPLE + ps.REDUCE
        + ps.MARK + ps.binint1(1) + ps.binint1(2) + b"e"  # APPENDS
        + ps.binint1(3) + ps.APPEND
        + ps.sg("builtins", "set") + ps.EMPTY_TUPLE + ps.REDUCE
        + ps.MARK + ps.binint1(4) + b"\x90"  # ADDITEMS
        + b"\x86"  # TUPLE2
    )  # fmt: skip
    data = ps.p4(body)
    plain = one(data)
    assert plain.ok and isinstance(plain.result, tuple)
    assert isinstance(plain.result[0], Call) and plain.result[0].list_items is None
    s = one(data, keep_call_items=True)
    assert s.ok and isinstance(s.result, tuple) and len(s.result) == 2
    dq, st = s.result
    assert isinstance(dq, Call) and dq.list_items == [1, 2, 3] and dq.items is None
    assert isinstance(st, Call) and st.list_items == [4]


def test_container_cap_is_a_parameter() -> None:
    sd = collections.OrderedDict((f"w{i}", i) for i in range(3000))
    data = pickle.dumps({"sd": sd, "l": list(range(3000)), "t": tuple(range(3000))}, 2)
    capped = _entries(one(data, keep_call_items=True).result)
    sd_call = capped["sd"]
    assert isinstance(sd_call, Call) and sd_call.items is not None
    assert len(sd_call.items) == 1024 and sd_call.items.omitted == 3000 - 1024
    lst = capped["l"]
    assert isinstance(lst, SList) and len(lst) == 1024 and lst.omitted == 3000 - 1024
    full = _entries(one(data, keep_call_items=True, container_cap=10_000).result)
    sd_call = full["sd"]
    assert isinstance(sd_call, Call) and sd_call.items is not None
    assert sd_call.items == list(sd.items()) and sd_call.items.omitted == 0
    assert full["l"] == list(range(3000)) and full["t"] == tuple(range(3000))
    # a smaller cap applies to call items too
    small = _entries(one(data, keep_call_items=True, container_cap=10).result)["sd"]
    assert isinstance(small, Call) and small.items is not None
    assert len(small.items) == 10 and small.items.omitted == 2990


def test_large_container_cap_is_still_bounded_by_the_budget() -> None:
    data = pickle.dumps(collections.OrderedDict((str(i), i) for i in range(100_000)), 4)
    s = one(
        data,
        budget=Budget(Limits(max_pickle_opcodes=1000)),
        container_cap=10**9,
        keep_call_items=True,
    )
    assert not s.ok and s.limit_hit is not None and s.limit_hit.startswith("max_pickle_opcodes")


def test_globals_are_still_mutations_with_keep_call_items() -> None:
    body = (
        ps.sg("os", "environ") + ps.MARK + ps.u("LD_PRELOAD") + ps.u("x") + ps.SETITEMS
        + ps.POP + ps.NONE
    )  # fmt: skip
    for kw in ({}, {"keep_call_items": True, "container_cap": 10_000}):
        s = one(ps.p4(body), **kw)
        assert [(m.kind, m.key, m.value) for m in s.mutations] == [("setitem", "LD_PRELOAD", "x")]


def test_conversion_options_do_not_change_verdicts() -> None:
    def key(streams: list[PickleStream]) -> list[tuple[object, ...]]:
        return [
            (it.severity, it.kind, it.offset, it.module, it.name, it.path)
            for it in verdict_items(streams)
        ]

    for name, smp in ps.SAMPLES.items():
        plain = scan_bytes(smp.data)
        kept = scan_bytes(smp.data, keep_call_items=True, container_cap=1_000_000)
        assert key(plain) == key(kept), name
        assert [(s.ok, s.end) for s in plain] == [(s.ok, s.end) for s in kept], name
