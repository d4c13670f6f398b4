"""VM semantics behind issue 11: method references, torch's nested storages, implicit calls,
process singletons and allocation bombs.

Benign pickles are made by ``pickle.dumps`` of real objects (CPython, torch); malicious ones
are assembled opcode by opcode with harmless payloads.  Nothing is ever unpickled.
"""

from __future__ import annotations

import functools
import glob
import io
import operator
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelxray.analysis.pickle import PickleStream, scan_bytes, verdict_items
from modelxray.analysis.pickle.verdict import VerdictItem
from modelxray.engine import scan
from modelxray.model import Severity
from tests import pickle_samples as ps
from tests.pickle_samples import (
    APPEND,
    BUILD,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    MEMOIZE,
    NEWOBJ,
    REDUCE,
    SETITEM,
    TUPLE1,
    TUPLE2,
    TUPLE3,
    p4,
    sg,
    u,
)


@pytest.fixture(autouse=True)
def _no_marker_files() -> Iterator[None]:
    before = set(glob.glob(ps.MARKER_GLOB))
    yield
    assert set(glob.glob(ps.MARKER_GLOB)) == before, "a sample payload ran"


def items(data: bytes) -> list[VerdictItem]:
    streams = scan_bytes(data)
    for s in streams:
        assert s.error is None and s.limit_hit is None, (s.error, s.limit_hit)
    return verdict_items(streams)


def sev(data: bytes) -> set[str]:
    return {it.severity for it in items(data)}


def getattr_(owner: bytes, name: str) -> bytes:
    """``getattr(<owner pushed by the bytes>, name)``."""
    return sg("builtins", "getattr") + owner + u(name) + TUPLE2 + REDUCE


def long4(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8b" + struct.pack("<i", len(raw)) + raw


# --------------------------------------------------------------- 1. method references


METHODS = [
    str.split, str.join, str.lower, bytes.fromhex, dict.fromkeys, int.from_bytes, "".join,
    b",".split, list.append, dict.get, set.union, float.fromhex,
]  # fmt: skip


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("method", METHODS, ids=lambda m: getattr(m, "__qualname__", str(m)))
def test_builtin_method_references_are_clean(method: object, protocol: int) -> None:
    data = pickle.dumps(method, protocol=protocol)
    assert b"getattr" in data  # CPython pickles these as getattr(owner, name)
    assert items(data) == []


def test_method_references_inside_real_objects_are_clean() -> None:
    obj = {"split": str.split, "fns": [str.lower, str.upper, "-".join], "k": (dict.fromkeys,)}
    for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert items(pickle.dumps(obj, protocol=p)) == []


def test_wrappers_of_methods_keep_their_own_verdict() -> None:
    # operator.methodcaller built from constants is reported (medium); a partial is judged by
    # what it binds, and binding a pure method is clean
    got = items(pickle.dumps(operator.methodcaller("split", ","), protocol=4))
    assert any(it.module in ("operator", "_operator") for it in got), got
    assert items(pickle.dumps(functools.partial(str.split, sep=","), protocol=4)) == []


def test_partial_is_judged_by_what_it_binds_and_where_it_is_called() -> None:
    """functools.partial stores a callable (gensim pickles its weighting functions so):
    building one runs nothing; calling one at load time is the call of what it binds, also
    when partial.__setstate__ swaps the function."""
    import textwrap

    # real CPython pickles: a bound pure method is clean, a bound unknown function is medium
    for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
        got = items(pickle.dumps(functools.partial(textwrap.dedent), protocol=p))
        assert {(it.severity, it.global_name) for it in got} == {("medium", "textwrap.dedent")}
    partial = sg("functools", "partial")
    # bound, never called: a dangerous function is critical, an unknown one medium
    bound = p4(partial + sg("os", "system") + TUPLE1 + REDUCE + b".")
    assert sev(bound) == {"critical"}
    stored = p4(partial + sg("mylib", "weight") + TUPLE1 + REDUCE + b".")
    assert sev(stored) == {"medium"}
    # called at load time: the bound function runs
    called = p4(partial + sg("mylib", "weight") + TUPLE1 + REDUCE + u("x") + TUPLE1 + REDUCE)
    assert "high" in sev(called)
    # __setstate__ swaps an allowed function for another before the call: not the allowed one
    swapped = p4(
        partial + sg("builtins", "len") + TUPLE1 + REDUCE
        + MARK + sg("mylib", "weight") + EMPTY_TUPLE + EMPTY_DICT + b"N" + b"t" + BUILD
        + u("x") + TUPLE1 + REDUCE
    )  # fmt: skip
    assert "high" in sev(swapped)
    # a partial of an allowed callable, called: that call and nothing else
    ordered = p4(
        partial + sg("collections", "OrderedDict") + TUPLE1 + REDUCE + EMPTY_TUPLE + REDUCE
    )
    assert items(ordered) == []


def test_calling_a_pure_builtin_method_is_clean() -> None:
    # str.join(',', ['a', 'b']) at load time: computes a string, touches nothing
    data = p4(sg("builtins", "getattr") + sg("builtins", "str") + u("join") + TUPLE2 + REDUCE
              + MARK + u(",") + b"]" + MARK + u("a") + u("b") + b"e" + b"t" + REDUCE)  # fmt: skip
    assert items(data) == []


@pytest.mark.parametrize(
    "owner,name",
    [
        ("object", "__subclasses__"), ("object", "__init__"), ("object", "__reduce__"),
        ("object", "__class__"), ("object", "__dict__"), ("object", "__getattribute__"),
        ("object", "__setattr__"), ("str", "__globals__"), ("str", "__code__"),
        ("str", "__builtins__"), ("object", "mro"), ("str", "format"), ("str", "format_map"),
    ],
)  # fmt: skip
def test_introspection_through_getattr_stays_dangerous(owner: str, name: str) -> None:
    ref = p4(getattr_(sg("builtins", owner), name))
    got = items(ref)
    if name.startswith("__") or name == "mro":
        assert "critical" in {it.severity for it in got}, got
    else:  # str.format reads attributes through format fields: never a pure method
        assert got and got[0].severity == "medium", got
    called = p4(getattr_(sg("builtins", owner), name) + EMPTY_TUPLE + REDUCE)
    assert {it.severity for it in items(called)} & {"critical", "high"}


def test_getattr_on_a_constant_dunder_is_critical() -> None:
    data = p4(getattr_(u(""), "__class__"))
    assert "critical" in sev(data)


def test_getattr_on_a_non_allowed_receiver_stays_critical() -> None:
    data = p4(getattr_(sg("posix", "environ"), "copy"))
    assert "critical" in sev(data)
    dyn = p4(getattr_(sg("logging", "getLogger") + u("x") + TUPLE1 + REDUCE, "handle"))
    assert "critical" in sev(dyn)  # receiver computed at load time: an arbitrary lookup


def test_method_of_an_allowed_non_builtin_class_is_judged_when_called() -> None:
    ref = p4(getattr_(sg("pathlib", "Path"), "touch"))
    assert sev(ref) == {"medium"}  # only referenced
    called = p4(getattr_(sg("pathlib", "Path"), "touch") + u(ps.marker_path("touch")) + TUPLE1
                + REDUCE)  # fmt: skip
    assert "high" in sev(called) or "critical" in sev(called)
    write = p4(getattr_(sg("pathlib", "Path"), "write_text") + u("x") + u("y") + TUPLE2 + REDUCE)
    assert "critical" in sev(write)


def test_pure_mutator_on_a_module_level_object_is_state_tampering() -> None:
    data = p4(getattr_(sg("builtins", "list"), "append") + sg("torch", "float32") + u("x")
              + TUPLE2 + REDUCE)  # fmt: skip
    got = items(data)
    assert any(it.severity == "critical" and it.kind == "mutation" for it in got), got


def test_dotted_find_class_of_a_builtin_method() -> None:
    assert items(p4(sg("builtins", "str.split"))) == []
    assert "critical" in sev(p4(sg("builtins", "str.__class__")))


# --------------------------------------------------------------- 2. torch nested storages


@pytest.fixture(scope="module")
def torch_pickles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    out = tmp_path_factory.mktemp("torch_plain_pickle")
    torch.manual_seed(0)
    objs = {
        "arange": torch.arange(4),
        "dict": {"w": torch.randn(2, 2)},
        "module": torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU()),
        "many": [torch.full((2,), float(i)) for i in range(100)],
    }
    paths = {}
    for name, obj in objs.items():
        p = out / f"{name}.pkl"
        p.write_bytes(pickle.dumps(obj, protocol=4))
        paths[name] = p
    legacy = io.BytesIO()
    torch.save(torch.arange(3), legacy, _use_new_zipfile_serialization=False)
    paths["legacy"] = out / "legacy.pkl"
    paths["legacy"].write_bytes(ps.dumps_reduce(torch.storage._load_from_bytes,
                                                (legacy.getvalue(),)))  # fmt: skip
    return paths


def test_plain_pickled_torch_tensors_are_clean(torch_pickles: dict[str, Path]) -> None:
    for name, p in torch_pickles.items():
        data = p.read_bytes()
        assert b"_load_from_bytes" in data
        assert items(data) == [], name
        r = scan(str(p)).files[0]
        assert not r.findings, (name, r.findings)


def test_nested_torch_payload_is_scanned_as_torch_load_reads_it(
    torch_pickles: dict[str, Path],
) -> None:
    streams = scan_bytes(torch_pickles["arange"].read_bytes())
    nested = [n for s in streams for n in s.nested]
    assert nested and nested[0].kind == "pickle" and len(nested[0].streams) == 5
    assert "weights_only=False" in nested[0].path[-1]
    legacy = [n for s in scan_bytes(torch_pickles["legacy"].read_bytes()) for n in s.nested]
    assert legacy[0].kind == "pickle"  # what torch's legacy loader unpickles: five pickles
    assert len(legacy[0].streams) == 5 and all(s.ok for s in legacy[0].streams)
    assert legacy[0].streams[-1].trailing is None  # raw storage bytes torch reads with f.read


def _zip(members: dict[str, bytes]) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_malicious_legacy_nested_torch_blob_is_critical_inside() -> None:
    torch = pytest.importorskip("torch")
    good = io.BytesIO()
    torch.save(torch.arange(3), good, _use_new_zipfile_serialization=False)
    evil = ps.build_samples()["t01_system_p2"].data
    # the object pickle (4th of five) replaced by a posix.system call
    streams = scan_bytes(good.getvalue())
    parts = [good.getvalue()[s.start : s.end] for s in streams[:5]]
    blob = b"".join([*parts[:3], evil, parts[4]]) + good.getvalue()[streams[4].end :]
    got = items(ps.dumps_reduce(torch.storage._load_from_bytes, (blob,)))
    crit = [it for it in got if it.severity == "critical"]
    assert crit and crit[0].path and "torch.load" in crit[0].path[0], got
    assert crit[0].global_name == "posix.system"


def test_malicious_nested_torch_blob_is_reported_inside(tmp_path: Path) -> None:
    evil = ps.build_samples()["t01_system_p2"].data
    blob = _zip({"archive/data.pkl": evil, "archive/version": b"3\n"})
    outer = p4(sg("torch.storage", "_load_from_bytes") + ps.by(blob) + TUPLE1 + REDUCE)
    f = tmp_path / "outer.pkl"
    f.write_bytes(outer)
    r = scan(str(f)).files[0]
    crit = [x for x in r.findings if x.severity == Severity.CRITICAL]
    assert crit, r.findings
    where = " ".join(str(x.location) for x in crit)
    assert "torch.storage._load_from_bytes" in where and "torch.load" in where
    assert "data.pkl" in where


def test_undecodable_load_from_bytes_stays_critical() -> None:
    # the argument is computed at load time: nothing to judge, the call itself is condemned
    data = p4(sg("torch.storage", "_load_from_bytes")
              + sg("builtins", "bytes") + EMPTY_TUPLE + REDUCE + TUPLE1 + REDUCE)  # fmt: skip
    assert "critical" in sev(data)


# --------------------------------------------------------------- 3. implicit calls


def test_append_calls_an_attribute_planted_by_build() -> None:
    # ns = SimpleNamespace(); ns.__dict__.update({'append': posix.system}); ns.append(cmd)
    data = p4(sg("types", "SimpleNamespace") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT
              + u("append") + sg("posix", "system") + SETITEM + BUILD
              + u(ps.cmd("append")) + APPEND)  # fmt: skip
    got = items(data)
    assert any("planted" in it.reason and it.severity == "critical" for it in got), got


def test_appends_on_planted_allowed_callable_is_judged_as_a_call() -> None:
    # the planted value is a computed callable: getattr(posix-free allowed chain) -> high
    data = p4(sg("types", "SimpleNamespace") + EMPTY_TUPLE + NEWOBJ + EMPTY_DICT + u("extend")
              + sg("builtins", "getattr") + sg("logging", "getLogger") + u("x") + TUPLE1 + REDUCE
              + u("info") + TUPLE2 + REDUCE + SETITEM + BUILD
              + MARK + u("a") + b"e")  # fmt: skip
    got = items(data)
    assert any("planted" in it.reason and it.severity in ("high", "critical") for it in got), got


def test_real_containers_and_subclasses_are_clean() -> None:
    import collections

    objs = [
        collections.OrderedDict(a=1, b=[1, 2]), collections.defaultdict(list, a=[1]),
        collections.Counter("abc"), collections.deque([1, 2]), {1: {2: 3}}, [[1], {2}],
    ]  # fmt: skip
    for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
        for obj in objs:
            assert items(pickle.dumps(obj, protocol=p)) == [], obj


def test_setitem_on_an_unknown_class_is_an_implicit_call() -> None:
    data = p4(sg("evilpkg", "Store") + EMPTY_TUPLE + NEWOBJ + u("k") + u("v") + SETITEM)
    got = items(data)
    assert any("__setitem__" in it.reason for it in got), got
    assert max(it.severity for it in got) == "medium"


def test_build_on_the_process_logger_is_critical() -> None:
    # logging.getLogger('') is the loader's root logger; BUILD rewrites its handlers/level
    data = p4(sg("logging", "getLogger") + u("") + TUPLE1 + REDUCE + EMPTY_DICT
              + u("disabled") + b"\x88" + SETITEM + BUILD)  # fmt: skip
    got = items(data)
    hits = [it for it in got if it.kind == "build" and it.severity == "critical"]
    assert hits and "process" in hits[0].reason, got


def test_real_logger_pickle_is_clean() -> None:
    import logging

    for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert items(pickle.dumps(logging.getLogger("modelxray.test"), protocol=p)) == []


def test_setitem_on_the_process_logger_is_critical() -> None:
    data = p4(sg("logging", "getLogger") + u("x") + TUPLE1 + REDUCE + u("k") + u("v") + SETITEM)
    assert "critical" in sev(data)


def test_engine_reports_singleton_build_under_global_state(tmp_path: Path) -> None:
    data = p4(sg("logging", "getLogger") + u("") + TUPLE1 + REDUCE + EMPTY_DICT
              + u("disabled") + b"\x88" + SETITEM + BUILD)  # fmt: skip
    f = tmp_path / "logger.pkl"
    f.write_bytes(data)
    ids = {x.rule_id for x in scan(str(f)).files[0].findings}
    assert "MX-PICKLE-004" in ids


# --------------------------------------------------------------- 4. allocation bombs


@pytest.mark.parametrize(
    "body,level",
    [
        (sg("builtins", "bytearray") + long4(10**12) + TUPLE1 + REDUCE, "high"),
        (sg("builtins", "bytes") + long4(300 * 2**20) + TUPLE1 + REDUCE, "medium"),
        (sg("builtins", "list") + sg("builtins", "range") + long4(10**10) + TUPLE1 + REDUCE
         + TUPLE1 + REDUCE, "high"),
        (sg("fractions", "Fraction") + u("1e1000000000") + TUPLE1 + REDUCE, "high"),
        (sg("builtins", "int") + sg("decimal", "Decimal") + u("1e999999999") + TUPLE1 + REDUCE
         + TUPLE1 + REDUCE, "high"),
        (sg("numpy", "ndarray") + MARK + long4(10**6) + long4(10**6) + b"t" + TUPLE1 + REDUCE,
         "high"),
        (sg("torch", "UntypedStorage") + long4(2**40) + TUPLE1 + REDUCE, "high"),
        (getattr_(sg("builtins", "str"), "ljust") + u("") + long4(2**31) + TUPLE2 + REDUCE,
         "high"),
        (sg("builtins", "frozenset") + sg("builtins", "range") + long4(10**8) + TUPLE1 + REDUCE
         + TUPLE1 + REDUCE, "high"),
    ],
)  # fmt: skip
def test_huge_allocations_are_reported(body: bytes, level: str) -> None:
    got = [it for it in items(p4(body)) if it.kind == "allocation"]
    assert got and got[0].severity == level, items(p4(body))
    assert "allocates about" in got[0].reason


def test_many_medium_allocations_add_up() -> None:
    one = sg("builtins", "bytes") + long4(200 * 2**20) + TUPLE1 + REDUCE
    data = p4(MARK + one * 8 + b"l")
    got = [it for it in items(data) if it.kind == "allocation"]
    assert any(it.severity == "high" and "together" in it.reason for it in got), got


def test_replace_amplification_over_a_memo_shared_string() -> None:
    s = u("a" * 60000) + MEMOIZE
    data = p4(getattr_(sg("builtins", "str"), "replace") + s + u("a") + b"h\x00" + TUPLE3 + REDUCE)
    got = [it for it in items(data) if it.kind == "allocation"]
    assert got and got[0].severity == "high", got


def test_small_constructors_are_not_allocation_findings() -> None:
    for obj in (bytearray(1000), bytes(10), list(range(100)), frozenset(range(10))):
        for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
            assert items(pickle.dumps(obj, protocol=p)) == []


def test_engine_maps_allocation_to_its_rule(tmp_path: Path) -> None:
    f = tmp_path / "bomb.pkl"
    f.write_bytes(p4(sg("builtins", "bytearray") + long4(10**12) + TUPLE1 + REDUCE))
    r = scan(str(f)).files[0]
    hit = [x for x in r.findings if x.rule_id == "MX-PICKLE-011"]
    assert hit and hit[0].severity == Severity.HIGH, r.findings


def _unused(_: PickleStream) -> None:  # keep the import used for type readers
    pass


def test_bound_methods_of_objects_the_pickle_made() -> None:
    import collections

    for obj in ({}.get, [1].count, collections.OrderedDict(a=1).keys, frozenset({1}).union):
        for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
            got = items(pickle.dumps(obj, protocol=p))
            assert all(it.severity == "medium" for it in got), (obj, got)


def test_mutating_a_class_attribute_is_state_tampering() -> None:
    # getattr(<allowed class>, 'x') is shared with the whole process: SETITEM / BUILD on it
    ref = getattr_(sg("collections", "OrderedDict"), "registry")
    for tail in (u("k") + u("v") + SETITEM, EMPTY_DICT + u("a") + u("b") + SETITEM + BUILD):
        got = items(p4(ref + tail))
        assert any(it.severity == "critical" and "class attribute" in it.reason for it in got), got


# --------------------------------------------------------------- issue 11: one test per class


RESOLVERS = [
    operator.methodcaller("split", ","), operator.methodcaller("lower"),
    operator.attrgetter("real"), operator.attrgetter("a.b", "c"), operator.itemgetter(1),
    operator.itemgetter("a", "b"),
]  # fmt: skip


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_real_method_callers_are_not_blocked(protocol: int) -> None:
    # CPython pickles operator.methodcaller('split', ',') as a call of the class with its
    # constant names: building it runs nothing, so it is at most a medium note
    for obj in RESOLVERS:
        got = items(pickle.dumps(obj, protocol=protocol))
        assert got and {it.severity for it in got} == {"medium"}, (obj, got)
        assert "each call of it is judged" in got[0].reason


def _methodcaller(*names: str) -> bytes:
    return sg("operator", "methodcaller") + b"".join(u(n) for n in names) + (
        TUPLE1 if len(names) == 1 else TUPLE2
    ) + REDUCE  # fmt: skip


@pytest.mark.parametrize(
    "receiver,level",
    [
        (sg("builtins", "object"), "critical"),  # object.__subclasses__(): introspection
        (sg("importlib", "import_module") + u("os") + TUPLE1 + REDUCE, "critical"),
        (sg("logging", "getLogger") + u("x") + TUPLE1 + REDUCE, "high"),  # unknown receiver
    ],
)
def test_calling_a_method_caller_at_load_is_judged_through_it(receiver: bytes, level: str) -> None:
    name = "__subclasses__" if b"object" in receiver else "system"
    args = (name,) if name == "__subclasses__" else (name, ps.cmd("methodcaller"))
    got = items(p4(_methodcaller(*args) + receiver + TUPLE1 + REDUCE))
    assert level in {it.severity for it in got}, got
    # a method caller built from non-constant arguments is not inert
    dyn = p4(sg("operator", "methodcaller") + sg("posix", "system") + TUPLE1 + REDUCE)
    assert "critical" in sev(dyn)


def test_getattr_on_a_dangerous_object_is_not_a_method_reference() -> None:
    # getattr(posix.system, '__call__') / getattr(os, 'system'): the receiver decides
    for owner, name in ((sg("posix", "system"), "__call__"), (sg("os", "path"), "join")):
        got = items(p4(getattr_(owner, name) + u(ps.cmd("getattr")) + TUPLE1 + REDUCE))
        assert "critical" in {it.severity for it in got}, got
        assert any("posix" in it.global_name or "os" in it.global_name for it in got), got


def test_plain_pickled_real_torch_tensor_names_its_loader(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    f = tmp_path / "t.pkl"
    f.write_bytes(pickle.dumps({"w": torch.ones(3, 2), "b": torch.zeros(2)}))
    assert b"torch.storage" in f.read_bytes() and b"_load_from_bytes" in f.read_bytes()
    r = scan(str(f)).files[0]
    assert all(x.severity < Severity.HIGH for x in r.findings), r.findings
    streams = scan_bytes(f.read_bytes())
    nested = [n for s in streams for n in s.nested]
    assert nested and all(n.loader == "torch.storage._load_from_bytes" for n in nested), nested
    assert all("torch.load" in n.path[-1] for n in nested), [n.path for n in nested]


@pytest.mark.parametrize(
    "body,size",
    [
        (sg("builtins", "bytearray") + long4(10**12) + TUPLE1 + REDUCE, "1,000,000,000,000"),
        (sg("builtins", "list") + sg("builtins", "range") + long4(10**12) + TUPLE1 + REDUCE
         + TUPLE1 + REDUCE, "1,000,000,000,000"),
        (sg("fractions", "Fraction") + u("1e100000000") + TUPLE1 + REDUCE, "100,000,0"),
    ],
)  # fmt: skip
def test_resource_exhaustion_reports_sizes(tmp_path: Path, body: bytes, size: str) -> None:
    got = [it for it in items(p4(body)) if it.kind == "allocation"]
    assert got and got[0].severity in ("high", "critical"), got
    assert size in got[0].reason, got[0].reason  # the size is the evidence
    f = tmp_path / "bomb.pkl"
    f.write_bytes(p4(body))
    hit = [x for x in scan(str(f)).files[0].findings if x.rule_id == "MX-PICKLE-011"]
    assert hit and hit[0].severity >= Severity.MEDIUM, hit


def test_dill_type_lookups_are_the_types_they_return() -> None:
    """dill (and joblib output written where dill extended the pickler) names plain types as
    ``dill._dill._load_type('object')``: that is a reference to ``object``, while a lookup of a
    code-building type stays critical (dill's own table: scripts/gen_dill_types.py)."""
    dill = pytest.importorskip("dill")

    for p in (2, 4):
        data = dill.dumps({"o": object, "n": type(None), "e": type(...), "x": [1, 2]}, protocol=p)
        assert data.count(b"_load_type") == 1  # the real writer produced the form judged here
        assert items(data) == [], p
    lookup = sg("dill._dill", "_load_type")
    for name in ("CodeType", "FunctionType", "ModuleType"):
        got = items(p4(lookup + u(name) + TUPLE1 + REDUCE + b"."))
        assert [it.severity for it in got] == ["critical"], (name, got)
    unknown = items(p4(lookup + u("NoSuchType") + TUPLE1 + REDUCE + b"."))
    assert {it.severity for it in unknown} == {"critical"}  # not in the table: dill itself


def test_stored_pure_builtins_are_clean() -> None:
    """gensim stores ``hashfxn=hash``: a reference to a pure builtin is data."""
    for p in range(2, pickle.HIGHEST_PROTOCOL + 1):
        assert items(pickle.dumps({"hashfxn": hash, "size": len, "a": abs}, protocol=p)) == []
