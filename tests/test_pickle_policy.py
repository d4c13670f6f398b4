"""Global classification (allow-list first) and verdict items for every bypass sample."""

from __future__ import annotations

import glob
from collections.abc import Iterator

import pytest

from modelxray.analysis.pickle import (
    Policy,
    classify,
    scan_bytes,
    verdict_items,
)
from modelxray.analysis.pickle.verdict import VerdictItem, max_severity
from modelxray.model import Severity
from tests import pickle_samples as ps


@pytest.fixture(autouse=True)
def _no_marker_files() -> Iterator[None]:
    before = set(glob.glob(ps.MARKER_GLOB))
    yield
    assert set(glob.glob(ps.MARKER_GLOB)) == before, "a sample payload ran"


def items_of(data: bytes, **kw: object) -> list[VerdictItem]:
    return verdict_items(scan_bytes(data), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ classify()


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_parameter"),
        ("torch._utils", "_rebuild_parameter_with_state"),
        ("torch._utils", "_rebuild_qtensor"),
        ("torch._utils", "_rebuild_sparse_tensor"),
        ("torch._utils", "_rebuild_device_tensor_from_numpy"),
        ("torch._utils", "_rebuild_meta_tensor_no_storage"),
        ("torch._utils", "_rebuild_wrapper_subclass"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._tensor", "_rebuild_from_type_v2"),
        ("torch", "FloatStorage"),
        ("torch", "BFloat16Storage"),
        ("torch", "float32"),
        ("torch", "Size"),
        ("torch", "device"),
        ("torch.serialization", "_get_layout"),
        ("torch.nn.modules.linear", "Linear"),
        ("torch.nn.parameter", "Parameter"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("numpy.random._mt19937", "MT19937"),
        ("_codecs", "encode"),
        ("copyreg", "_reconstructor"),
        ("builtins", "set"),
        ("__builtin__", "frozenset"),
        ("builtins", "bytearray"),
        ("builtins", "slice"),
        ("builtins", "complex"),
        ("builtins", "range"),
        ("sklearn.ensemble._forest", "RandomForestClassifier"),
        ("sklearn.tree._tree", "Tree"),
        ("xgboost.sklearn", "XGBClassifier"),
        ("lightgbm.basic", "Booster"),
        ("joblib.numpy_pickle", "NumpyArrayWrapper"),
        ("datetime", "datetime"),
        ("decimal", "Decimal"),
        ("uuid", "UUID"),
        ("pathlib", "PosixPath"),
    ],
)
def test_allowed(module: str, name: str) -> None:
    assert classify(module, name).category == "allowed"


@pytest.mark.parametrize(
    ("module", "name", "family"),
    [
        ("os", "system", "process"),
        ("posix", "system", "process"),
        ("nt", "system", "process"),
        ("os", "popen", "process"),
        ("os", "execv", "process"),
        ("os.path", "join", "process"),
        ("subprocess", "Popen", "process"),
        ("subprocess", "run", "process"),
        ("pty", "spawn", "process"),
        ("commands", "getoutput", "process"),
        ("platform", "popen", "process"),
        ("uuid", "_popen", "process"),
        ("uuid", "_get_command_stdout", "process"),
        ("ctypes", "CDLL", "native"),
        ("builtins", "open", "file"),
        ("io", "open", "file"),
        ("_io", "FileIO", "file"),
        ("shutil", "rmtree", "file"),
        ("tempfile", "mkstemp", "file"),
        ("socket", "socket", "network"),
        ("urllib.request", "urlopen", "network"),
        ("http.client", "HTTPConnection", "network"),
        ("requests", "get", "network"),
        ("ftplib", "FTP", "network"),
        ("smtplib", "SMTP", "network"),
        ("webbrowser", "open", "process"),
        ("builtins", "eval", "eval"),
        ("builtins", "exec", "eval"),
        ("builtins", "compile", "eval"),
        ("builtins", "__import__", "import"),
        ("builtins", "getattr", "resolver"),
        ("builtins", "setattr", "resolver"),
        ("builtins", "delattr", "resolver"),
        ("builtins", "globals", "resolver"),
        ("builtins", "vars", "resolver"),
        ("builtins", "breakpoint", "eval"),
        ("builtins", "input", "eval"),
        ("__builtin__", "eval", "eval"),
        ("importlib", "import_module", "import"),
        ("pkgutil", "resolve_name", "resolver"),
        ("pydoc", "locate", "resolver"),
        ("operator", "attrgetter", "resolver"),
        ("operator", "methodcaller", "resolver"),
        ("operator", "itemgetter", "resolver"),
        ("functools", "reduce", "resolver"),
        ("code", "InteractiveInterpreter", "eval"),
        ("runpy", "run_path", "eval"),
        ("timeit", "timeit", "eval"),
        ("cProfile", "run", "eval"),
        ("profile", "run", "eval"),
        ("pdb", "run", "eval"),
        ("trace", "Trace", "eval"),
        ("doctest", "debug_script", "eval"),
        ("types", "CodeType", "code"),
        ("types", "FunctionType", "code"),
        ("marshal", "loads", "code"),
        ("pickle", "loads", "deserialization"),
        ("_pickle", "loads", "deserialization"),
        ("dill._dill", "_create_function", "code"),
        ("dill._dill", "_create_code", "code"),
        ("dill._dill", "_load_type", "code"),
        ("cloudpickle.cloudpickle", "_make_function", "code"),
        ("torch", "load", "deserialization"),
        ("torch.jit", "load", "code"),
        ("numpy", "load", "file"),
        ("joblib", "load", "deserialization"),
        ("torch.storage", "_load_from_bytes", "deserialization"),
        ("_posixsubprocess", "fork_exec", "process"),
        ("_thread", "start_new_thread", "interpreter"),
        ("_xxsubinterpreters", "run_string", "eval"),
        ("sys", "modules", "interpreter"),
        ("gc", "get_objects", "introspection"),
        ("pip", "main", "package-install"),
        ("asyncio.unix_events", "_UnixSubprocessTransport", "process"),
    ],
)
def test_dangerous(module: str, name: str, family: str) -> None:
    c = classify(module, name)
    assert c.category == "dangerous", c
    assert c.family == family, c
    assert c.reason


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("pathlib", "os.system"),
        ("pathlib", "os"),
        ("torch", "serialization.os.system"),
        ("torch.serialization", "os.system"),
        ("collections", "os.system"),
        ("numpy", "__builtins__"),
        ("builtins", "print.__class__.__base__.__subclasses__"),
        ("torch", "jit.load"),
        ("numpy", "testing._private.utils.runstring"),
        ("sklearn.linear_model", "Foo.__init__.__globals__"),
        ("mod", "obj.write_text"),
        ("trace", "Trace.run"),
    ],
)
def test_dotted_chains_judged_by_every_segment(module: str, name: str) -> None:
    assert classify(module, name).category == "dangerous"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("mymodule", "MyModel"),
        ("__main__", "Net"),
        ("numpy", "prod"),
        ("numpy", "prod.a"),
        ("sklearn.utils", "check_array"),  # a function, not a class
        ("torch.nn.modules.linear", "Linear.extra"),  # dotted: never covered by a prefix
        ("builtins", "print"),
        ("pandas.core.frame", "read_csv"),  # DataFrame itself is on the generated table
    ],
)
def test_unknown(module: str, name: str) -> None:
    assert classify(module, name).category == "unknown"


def test_extra_allow_and_deny_entries() -> None:
    p = Policy(extra_allow=["mymodule:MyModel", "other.pkg.*", ("a.b", "C")])
    assert p.classify("mymodule", "MyModel").category == "allowed"
    assert p.classify("other.pkg.sub", "anything").category == "allowed"
    assert p.classify("a.b", "C").category == "allowed"
    assert p.classify("os", "system").category == "dangerous"  # a wildcard never covers a deny
    d = Policy(extra_deny=["mymodule.evil", "badpkg:*"])
    assert d.classify("mymodule", "evil").category == "dangerous"
    assert d.classify("badpkg.sub", "x").family == "configured"


def test_classify_path() -> None:
    p = Policy()
    assert p.classify_path("os.system").category == "dangerous"
    assert p.classify_path("os").category == "dangerous"
    assert p.classify_path("torch._utils._rebuild_tensor_v2").category == "allowed"
    assert p.classify_path("foo.bar").category == "unknown"


# ------------------------------------------------------------------ every bypass sample


@pytest.mark.parametrize("sample_id", sorted(ps.SAMPLES))
def test_every_bypass_sample_is_critical(sample_id: str) -> None:
    smp = ps.SAMPLES[sample_id]
    streams = scan_bytes(smp.data)
    items = verdict_items(streams)
    crit = [it for it in items if it.severity == "critical"]
    assert crit, (sample_id, items)
    assert any(
        smp.expect == it.global_name or smp.expect in it.reason or smp.expect in it.source
        for it in crit
    ), (sample_id, smp.expect, crit)
    for it in crit:
        assert it.offset >= 0 and it.opcode and it.source is not None
        Severity.parse(it.severity)
    if smp.broken:
        assert any(s.error is not None for s in streams)


def test_every_research_family_has_a_sample() -> None:
    families = {s.family for s in ps.SAMPLES.values()}
    vm_level = {f"T-{k:02d}" for k in range(1, 20)} | {"T-35", "T-38"}
    assert vm_level - {"T-20"} <= families


def test_baseline_item_fields() -> None:
    items = items_of(ps.SAMPLES["t01_system_p4"].data)
    assert len(items) == 1
    it = items[0]
    assert it.severity == "critical" and it.kind == "call" and it.opcode == "REDUCE"
    assert (it.module, it.name) == ("posix", "system")
    assert it.source == "posix.system('echo MODELXRAY_MARKER')"
    assert it.family == "process" and it.offset > 0


# ------------------------------------------------------------------ severity rules


def test_unknown_callable_invoked_is_high() -> None:
    items = items_of(ps.call1("mymodule", "helper", "x"))
    assert [(i.severity, i.kind, i.global_name) for i in items] == [
        ("high", "call", "mymodule.helper")
    ]


def test_unknown_class_instantiated_is_medium() -> None:
    items = items_of(ps.p4(ps.sg("mymodule", "Model") + ps.EMPTY_TUPLE + ps.NEWOBJ))
    assert [(i.severity, i.kind) for i in items] == [("medium", "instantiate")]


def test_unknown_class_via_reconstructor_is_medium() -> None:
    data = ps.p2(
        ps.glob("copyreg", "_reconstructor")
        + ps.glob("mymodule", "Model")
        + ps.glob("builtins", "object")
        + ps.NONE
        + ps.TUPLE3
        + ps.REDUCE
    )
    items = items_of(data)
    assert [(i.severity, i.kind, i.global_name) for i in items] == [
        ("medium", "instantiate", "mymodule.Model")
    ]


def test_reconstructor_with_unknown_base_is_high() -> None:
    data = ps.p2(
        ps.glob("copyreg", "_reconstructor")
        + ps.glob("mymodule", "Model")
        + ps.glob("mymodule", "Base")
        + ps.u("state")
        + ps.TUPLE3
        + ps.REDUCE
    )
    sev = {(i.global_name, i.severity) for i in items_of(data)}
    assert ("mymodule.Base", "high") in sev and ("mymodule.Model", "medium") in sev


def test_rebuild_from_type_judges_its_function() -> None:
    data = ps.p4(
        ps.sg("torch._tensor", "_rebuild_from_type_v2")
        + ps.MARK
        + ps.sg("mymodule", "func")
        + ps.sg("torch", "Tensor")
        + ps.EMPTY_TUPLE
        + ps.EMPTY_DICT
        + ps.TUPLE
        + ps.REDUCE
    )
    items = items_of(data)
    assert [(i.severity, i.global_name) for i in items] == [("high", "mymodule.func")]
    assert "via torch._tensor._rebuild_from_type_v2" in items[0].reason


def test_global_merely_referenced_is_medium_and_allowed_is_silent() -> None:
    assert [(i.severity, i.kind) for i in items_of(ps.p4(ps.sg("mymodule", "CONST")))] == [
        ("medium", "import")
    ]
    assert items_of(ps.p4(ps.sg("collections", "OrderedDict"))) == []


def test_dangerous_global_merely_referenced_is_critical() -> None:
    items = items_of(ps.p4(ps.sg("os", "system")))
    assert [(i.severity, i.kind) for i in items] == [("critical", "import")]


def test_build_on_a_global_is_critical() -> None:
    data = ps.p4(ps.sg("collections", "OrderedDict") + ps.EMPTY_DICT + ps.BUILD)
    items = items_of(data)
    assert [(i.severity, i.kind, i.global_name) for i in items] == [
        ("critical", "build", "collections.OrderedDict")
    ]


def test_setitem_on_a_global_is_critical() -> None:
    data = ps.p4(ps.sg("mymodule", "REGISTRY") + ps.u("k") + ps.u("v") + ps.SETITEM)
    kinds = {(i.severity, i.kind) for i in items_of(data)}
    assert ("critical", "mutation") in kinds


def test_unregistered_ext_code_called_is_high() -> None:
    items = items_of(ps.p4(b"\x82\x42" + ps.u("x") + ps.TUPLE1 + ps.REDUCE))
    assert [(i.severity, i.kind) for i in items] == [("high", "call")]
    assert "extension code 66" in items[0].reason


def test_computed_callable_is_high_or_resolved() -> None:
    data = ps.p4(
        ps.sg("collections", "OrderedDict")
        + ps.EMPTY_TUPLE
        + ps.REDUCE
        + ps.EMPTY_TUPLE
        + ps.REDUCE
    )
    items = items_of(data)
    assert [(i.severity, i.kind) for i in items] == [("high", "call")]


def test_getattr_chain_resolves_to_the_final_callable() -> None:
    items = items_of(ps.SAMPLES["t04_getattr_import_module"].data)
    final = [i for i in items if "os.system" in i.reason]
    assert final and final[0].severity == "critical" and final[0].global_name == "os.system"


def test_partial_resolves_to_the_wrapped_callable() -> None:
    items = items_of(ps.SAMPLES["t04_partial"].data)
    assert any(i.global_name == "posix.system" and i.severity == "critical" for i in items)


def test_frame_violation_is_high() -> None:
    data = b"\x80\x05" + ps.frame(b"J\x01\x00") + b"\x00\x00."
    assert max_severity(items_of(data)) == "high"


def test_items_are_aggregated() -> None:
    body = b"".join(
        ps.sg("mymodule", "Model") + ps.EMPTY_TUPLE + ps.NEWOBJ + ps.POP for _ in range(50)
    )
    items = items_of(ps.p4(body + ps.NONE))
    assert len(items) == 1 and items[0].count == 50


def test_extra_allow_silences_and_extra_deny_escalates() -> None:
    data = ps.call1("mymodule", "helper", "x")
    assert items_of(data, extra_allow=["mymodule:helper"]) == []
    items = items_of(data, extra_deny=["mymodule:*"])
    assert items[0].severity == "critical" and items[0].family == "configured"


def test_nested_items_carry_the_nesting_path() -> None:
    items = items_of(ps.SAMPLES["t35_double_nested"].data)
    inner = [i for i in items if i.global_name == "posix.system"]
    assert inner and len(inner[0].path) == 2
    assert inner[0].path[0].startswith("pickle.loads@") and inner[0].path[1].startswith(
        "dill.loads@"
    )


# ------------------------------------------------------------------ repeated calls


def _repeated(head: bytes, times: int, then: bytes) -> bytes:
    """``head`` pushes a callable memoised at 0; it is called ``times`` times (the results
    collected in a list), then ``then`` runs on the same stack."""
    calls = (ps.binget(0) + ps.push((1,)) + ps.REDUCE) * times
    return ps.p4(ps.EMPTY_LIST + head + ps.binput(0) + b"0" + ps.MARK + calls + b"e" + then)


def test_calls_of_one_allowed_global_are_judged_once_and_others_still_each() -> None:
    """Thousands of calls of one allowed global (a checkpoint's ``_rebuild_tensor_v2``) are
    judged as one; a dangerous call after them, and a call of an allowed global that invokes
    its argument, still are."""
    clean = _repeated(ps.sg("collections", "OrderedDict"), 5000, b"0")
    assert items_of(clean) == []
    partial_sys = ps.sg("functools", "partial") + ps.MARK + ps.sg("os", "system") + b"t" + ps.REDUCE
    for then in (ps.sg("os", "system") + ps.push(("echo",)) + ps.REDUCE + b"0",
                 partial_sys + b"0",
                 ps.sg("collections", "defaultdict") + ps.MARK + ps.sg("os", "system") + b"t"
                 + ps.REDUCE + b"0"):  # fmt: skip
        items = items_of(_repeated(ps.sg("collections", "OrderedDict"), 5000, then))
        assert any(i.module in ("os", "posix") and i.name == "system" for i in items), items
