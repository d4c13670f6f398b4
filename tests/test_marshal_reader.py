"""The bounded marshal reader, against fixtures made by CPython 2.7 and 3.6-3.13.

Expected values come from tests/data/marshal/manifest.json (written from the freshly compiled
code objects) or from code objects this test compiles itself; nothing is ever unmarshalled
with the stdlib.
"""

from __future__ import annotations

import json
import marshal
import random
import struct
import sys
import time
import tracemalloc
import types
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelxray.analysis import bytecode
from modelxray.analysis.marshal_reader import (
    ELLIPSIS,
    CodeObject,
    MarshalError,
    looks_like_marshalled_code,
    read_code,
)
from modelxray.budget import Budget, BudgetExceeded, Limits

DATA = Path(__file__).parent / "data" / "marshal"
VERSIONS = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


# ----------------------------------------------------------------------------- helpers


@cache
def manifest() -> list[dict[str, Any]]:
    return list(json.loads((DATA / "manifest.json").read_text(encoding="utf-8"))["fixtures"])


def blob(entry: dict[str, Any]) -> bytes:
    return (DATA / entry["file"]).read_bytes()


def fixture(name: str, python: str) -> dict[str, Any]:
    return next(e for e in manifest() if e["fixture"] == name and e["python"] == python)


def host_layout() -> str:
    v = sys.version_info[:2]
    return "3.0-3.7" if v < (3, 8) else "3.8-3.10" if v < (3, 11) else "3.11+"


def i32(n: int) -> bytes:
    return struct.pack("<i", n)


def w(v: object) -> bytes:
    """Marshal-style encoding (no refs) of simple values, for hand-made blobs."""
    if v is None:
        return b"N"
    if isinstance(v, bool):
        return b"T" if v else b"F"
    if v is Ellipsis:
        return b"."
    if isinstance(v, int):
        if -(2**31) <= v < 2**31:
            return b"i" + i32(v)
        digits, m = [], abs(v)
        while m:
            digits.append(m & 0x7FFF)
            m >>= 15
        n = len(digits) if v > 0 else -len(digits)
        return b"l" + i32(n) + b"".join(struct.pack("<H", d) for d in digits)
    if isinstance(v, float):
        return b"g" + struct.pack("<d", v)
    if isinstance(v, complex):
        return b"y" + struct.pack("<dd", v.real, v.imag)
    if isinstance(v, str):
        raw = v.encode("utf-8", "surrogatepass")
        return b"u" + i32(len(raw)) + raw
    if isinstance(v, bytes):
        return b"s" + i32(len(v)) + v
    if isinstance(v, tuple | list | frozenset):
        code = {tuple: b"(", list: b"[", frozenset: b">"}[type(v)]
        return code + i32(len(v)) + b"".join(w(x) for x in v)
    if isinstance(v, dict):
        return b"{" + b"".join(w(k) + w(x) for k, x in v.items()) + b"0"
    raise TypeError(type(v))


def code311(
    consts: bytes | None = None,
    *,
    code: bytes = b"\x97\x00\x64\x00\x53\x00",  # RESUME 0; LOAD_CONST 0; RETURN_VALUE
    names: tuple[str, ...] = (),
    localsplus: tuple[str, ...] = ("x",),
    kinds: bytes = b"\x20",
    name: str = "<lambda>",
) -> bytes:
    """A 3.11+-layout code object blob; *consts* is the raw encoding of co_consts."""
    head = b"\xe3" + b"".join(i32(n) for n in (1, 0, 0, 2, 3))
    body = w(code) + (w((None,)) if consts is None else consts) + w(names) + w(localsplus)
    tail = w(kinds) + w("fixture.py") + w(name) + w(name) + i32(1) + w(b"") + w(b"")
    return head + body + tail


def py27_code(consts: bytes, names: bytes, varnames: bytes) -> bytes:
    """A Python 2.7 code object: 4 int32 header, byte strings, interned 't' / 'R' refs."""
    head = b"c" + b"".join(i32(n) for n in (1, 1, 2, 0x43))
    s = w(b"d\x00\x00S")  # LOAD_CONST 0; RETURN_VALUE
    tail = w(()) + w(()) + b"s" + i32(10) + b"fixture.py" + b"t" + i32(8) + b"<lambda>"
    return head + s + consts + names + varnames + tail + i32(1) + w(b"")


# ------------------------------------------------------------------- fixtures from CPython


def test_manifest_covers_every_version_and_layout() -> None:
    entries = manifest()
    assert sorted({e["python"] for e in entries}, key=VERSIONS.index) == VERSIONS
    assert {e["layout"] for e in entries} == {"2.7", "3.0-3.7", "3.8-3.10", "3.11+"}
    assert sum(p.stat().st_size for p in DATA.iterdir()) < 200_000
    assert all((DATA / e["file"]).is_file() for e in entries)


@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_fixture_matches_manifest(entry: dict[str, Any]) -> None:
    data = blob(entry)
    co = read_code(data)
    assert co.layout == entry["layout"]
    assert sorted(co.all_names()) == entry["names"]
    assert sorted(set(co.all_strings())) == entry["strings"]
    assert co.name == entry["co_name"] == "<lambda>"
    assert co.argcount == entry["argcount"]
    assert len(list(co.walk())) == entry["nested"] + 1
    assert co.filename == "fixture.py"
    assert looks_like_marshalled_code(data)


@pytest.mark.parametrize("python", VERSIONS)
def test_closure_cells_and_qualname(python: str) -> None:
    outer = read_code(blob(fixture("closure", python)))
    inner = [c for c in outer.walk() if c is not outer]
    assert len(inner) == 1
    assert outer.cellvars == ("scale",) and outer.freevars == ()
    assert inner[0].freevars == ("scale",) and inner[0].cellvars == ()
    if python in ("3.11", "3.12", "3.13"):
        assert inner[0].qualname == "<lambda>.<locals>.<lambda>"
        assert "scale" in outer.varnames  # localsplusnames include cells
    else:
        assert inner[0].qualname == inner[0].name == "<lambda>"


@pytest.mark.parametrize("python", VERSIONS)
def test_constant_values(python: str) -> None:
    co = read_code(blob(fixture("mul", python)))
    assert 2.0 in co.consts and isinstance(co.consts[co.consts.index(2.0)], float)
    co = read_code(blob(fixture("defaults", python)))
    assert co.argcount == 2 and co.flags & 0x0C == 0x0C  # CO_VARARGS | CO_VARKEYWORDS
    if python != "2.7":
        co = read_code(blob(fixture("kwonly", python)))
        assert co.kwonlyargcount == 1


@pytest.mark.parametrize(
    "entry", [e for e in manifest() if e["fixture"].startswith("variant_")], ids=lambda e: e["file"]
)
def test_old_marshal_format_versions(entry: dict[str, Any]) -> None:
    """marshal format 0-3 (str floats, no refs, 'u' strings, ...) read to the same values."""
    co = read_code(blob(entry))
    assert 2.5 in co.consts and 1j in co.consts
    assert 12345678901234567890 in co.consts
    assert "café" in co.all_strings()


def _host_view(co: types.CodeType) -> tuple[object, ...]:
    def conv(c: object) -> object:
        if isinstance(c, types.CodeType):
            return _host_view(c)
        if isinstance(c, tuple):
            return tuple(conv(x) for x in c)
        return c

    local = set(co.co_varnames + co.co_cellvars + co.co_freevars)
    cells = co.co_cellvars
    return (co.co_name, co.co_names, local, co.co_freevars, cells, co.co_code, conv(co.co_consts))


def _our_view(co: CodeObject) -> tuple[object, ...]:
    def conv(c: object) -> object:
        if isinstance(c, CodeObject):
            return _our_view(c)
        if isinstance(c, tuple):
            return tuple(conv(x) for x in c)
        return c

    local = set(co.varnames + co.cellvars + co.freevars)
    return (co.name, co.names, local, co.freevars, co.cellvars, co.code, conv(co.consts))


HOST_SOURCES = [
    "lambda x: x * 2.0 + 1j - 10**30 - 5 + len(b'bytes\\x00\\xff') + ord('\\u20ac')",
    "lambda x, *a, k=(1, 'two', None, ...), **kw: x in {1, 2, 3} or x in {'a', 'b'}",
    "lambda x: [y for y in x if y > -2**70] + [{k: v} for k, v in x]",
    "lambda a, /, b, *, c=True: (lambda: a + b + c)",
    "lambda: ('\\ud800', 'caf\\xe9', 1e300, -0.5, 2**62, -2**31, 2**31, (), ((),))",
]


@pytest.mark.parametrize("version", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("src", HOST_SOURCES)
def test_host_compiled_code_round_trip(src: str, version: int) -> None:
    """Code compiled here and written with marshal.dumps (writing only) reads back exactly."""
    top = compile(src, "fixture.py", "eval")
    host = next(c for c in top.co_consts if isinstance(c, types.CodeType))
    co = read_code(marshal.dumps(host, version))
    assert co.layout == host_layout()
    assert _our_view(co) == _host_view(host)
    assert (co.argcount, co.kwonlyargcount, co.flags) == (
        host.co_argcount,
        host.co_kwonlyargcount,
        host.co_flags,
    )
    assert (co.stacksize, co.firstlineno) == (host.co_stacksize, host.co_firstlineno)
    assert co.posonlyargcount == getattr(host, "co_posonlyargcount", 0)


def test_hand_made_type_codes() -> None:
    items = [
        w(None),
        w(True),
        w(False),
        w(Ellipsis),
        b"S",  # StopIteration
        w([1, "a"]),
        w({"k": b"v"}),
        b":" + w("lo") + w(None) + w(-1),  # slice (marshal v5, Python 3.14)
        b"<" + i32(2) + b"z\x01a" + b"Z\x01b",  # set of short-ascii strings
        b"f\x041.25" + b"x\x011\x03-2.",  # str float, str complex
        b"I" + struct.pack("<q", -(2**40)),  # int64
        b"a" + i32(3) + b"asc" + b"A" + i32(1) + b"A" + b"t" + i32(2) + b"\xc3\xa9",
    ]
    co = read_code(code311(b")" + bytes([15]) + b"".join(items)))
    assert co.consts[:5] == (None, True, False, ELLIPSIS, StopIteration)
    assert co.consts[5] == [1, "a"] and co.consts[6] == {"k": b"v"}
    assert co.consts[7] == slice("lo", None, -1)
    assert co.consts[8] == {"a", "b"}
    assert co.consts[9:11] == (1.25, 1 - 2j)
    assert co.consts[11:] == (-(2**40), "asc", "A", "é")
    assert {"a", "b", "k", "v", "lo", "asc", "é"} <= set(co.all_strings())


def test_refs_and_flag_ref() -> None:
    # (FLAG_REF 'u' "payload", r 1, r 1); ref 0 is the code object itself
    consts = b"(" + i32(3) + bytes([ord("u") | 0x80]) + i32(7) + b"payload" + (b"r" + i32(1)) * 2
    co = read_code(code311(consts))
    assert co.consts == ("payload",) * 3
    assert co.consts[0] is co.consts[2]


def test_python2_interned_string_refs() -> None:
    names = b"(" + i32(1) + b"t" + i32(6) + b"system"
    varnames = b"(" + i32(1) + b"R" + i32(0)  # refers back to the interned 'system'
    co = read_code(py27_code(w(("echo hi",)), names, varnames))
    assert co.layout == "2.7"
    assert co.names == ("system",) and co.varnames == ("system",)
    assert co.consts == ("echo hi",)  # 'u' -> str in either layout
    co = read_code(py27_code(w((b"echo hi",)), names, varnames))
    assert co.consts == (b"echo hi",) and co.all_strings() == ["echo hi"]


def test_walk_is_preorder_and_repr_is_short() -> None:
    inner = code311(name="inner")
    outer = read_code(code311(b"(" + i32(2) + inner + inner, name="outer"))
    assert [c.name for c in outer.walk()] == ["outer", "inner", "inner"]
    assert len(repr(outer)) < 100 and "outer" in repr(outer)
    assert outer == outer and outer != read_code(code311(name="outer"))


def test_code_hidden_in_const_tuple_is_walked() -> None:
    hidden = code311(w(("secret",)), name="hidden", names=("system",))
    co = read_code(code311(b"(" + i32(1) + b"(" + i32(1) + hidden))
    assert [c.name for c in co.walk()] == ["<lambda>", "hidden"]
    assert "system" in co.all_names() and "secret" in co.all_strings()


# ----------------------------------------------------------------------------- bad input


def _sample_blobs() -> list[bytes]:
    picks = [fixture("import_system", v) for v in VERSIONS]
    picks += [e for e in manifest() if e["fixture"] in ("variant_v0", "closure")]
    return [blob(e) for e in picks]


def test_every_truncation_is_a_marshal_error() -> None:
    for data in _sample_blobs():
        for n in range(len(data)):
            with pytest.raises(MarshalError):
                read_code(data[:n])


def test_trailing_bytes_are_rejected() -> None:
    data = blob(fixture("import_system", "3.11"))
    with pytest.raises(MarshalError, match="trailing"):
        read_code(data + b"N")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"N",
        b"c",
        b"\xe3",
        b"i\x01\x00\x00\x00",  # an int, not code
        w(("not", "code")),
        b"\xe3" + b"\xff" * 64,
        b"\x63" + b"\x00" * 64,
        bytes(range(256)),
        b"PK\x03\x04" + b"\x00" * 30,
        b"\x80\x04\x95" + b"\x00" * 30,  # pickle protocol 4 header
    ],
)
def test_garbage_is_a_marshal_error(data: bytes) -> None:
    with pytest.raises(MarshalError):
        read_code(data)
    assert not looks_like_marshalled_code(data)


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b"s" + i32(2**31 - 1), "2147483647"),  # bytes claiming 2 GiB
        (b"u" + i32(2**31 - 1), "2147483647"),
        (b"a" + i32(2**30), "1073741824"),
        (b"(" + i32(2**31 - 1), "2147483647"),  # tuple claiming 2**31 items
        (b"[" + i32(2**30), "1073741824"),
        (b">" + i32(2**30), "1073741824"),
        (b"l" + i32(2**30), "2147483648"),  # long with 2**30 two-byte digits
        (b"s" + i32(-5), "-5"),
        (b"(" + i32(-1), "-1"),
        (b"r" + i32(0), "still being read"),  # ref 0 is the enclosing code object
        (b"r" + i32(7), "bad reference 7"),
    ],
)
def test_impossible_lengths_fail_fast_without_allocating(payload: bytes, why: str) -> None:
    data = code311(b"(" + i32(1) + payload + b"x" * 100)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        with pytest.raises(MarshalError, match=f"3.11\\+: [^;]*{why}"):
            read_code(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0
    assert peak < 1_000_000


@pytest.mark.parametrize("nesting", [65, 1_000, 100_000])
def test_deep_nesting_hits_depth_limit_fast(nesting: int) -> None:
    data = code311(b")\x01" * nesting + b"N")
    t0 = time.perf_counter()
    with pytest.raises(BudgetExceeded) as info:
        read_code(data)
    assert info.value.limit == "max_marshal_depth"
    assert time.perf_counter() - t0 < 1.0


def test_depth_limit_is_configurable() -> None:
    data = blob(fixture("closure", "3.11"))
    assert read_code(data, Budget(Limits(max_marshal_depth=8))).cellvars == ("scale",)
    with pytest.raises(BudgetExceeded):
        read_code(data, Budget(Limits(max_marshal_depth=3)))


def test_object_count_bomb() -> None:
    data = code311(b"(" + i32(5_000) + b"N" * 5_000)
    assert len(read_code(data).consts) == 5_000
    with pytest.raises(BudgetExceeded) as info:
        read_code(data, Budget(Limits(max_marshal_objects=1_000)))
    assert info.value.limit == "max_marshal_objects"
    big = code311(b"(" + i32(300_000) + b"N" * 300_000)  # over the default 200k
    t0 = time.perf_counter()
    with pytest.raises(BudgetExceeded):
        read_code(big)
    assert time.perf_counter() - t0 < 10.0


def test_blob_size_limit() -> None:
    data = blob(fixture("import_system", "3.11"))
    with pytest.raises(BudgetExceeded) as info:
        read_code(data, Budget(Limits(max_code_blob_bytes=len(data) - 1)))
    assert info.value.limit == "max_code_blob_bytes"


def _dag(levels: int) -> bytes:
    """Tuple DAG T_i = (T_i+1, ref T_i+1), innermost (s, ref s): 2**levels leaves if expanded.

    Ref indices are pre-order and index 0 is the enclosing (FLAG_REF) code object.
    """
    tup, uni = bytes([ord("(") | 0x80]), bytes([ord("u") | 0x80])
    out = tup + i32(2) + uni + i32(1) + b"s" + b"r" + i32(levels + 1)
    for idx in range(levels - 1, 0, -1):
        out = tup + i32(2) + out + b"r" + i32(idx + 1)
    return out


def test_shared_reference_dag_stays_linear() -> None:
    co = read_code(code311(b"(" + i32(1) + _dag(40)))  # 2**40 leaves if expanded
    t0 = time.perf_counter()
    assert co.all_strings() == ["s", "s"]
    assert len(list(co.walk())) == 1
    assert time.perf_counter() - t0 < 1.0


def test_hashing_a_reference_dag_is_bounded() -> None:
    t0 = time.perf_counter()
    with pytest.raises(BudgetExceeded):
        read_code(code311(b"(" + i32(1) + b">" + i32(1) + _dag(40)))
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize(
    "consts",
    [
        b"(" + i32(1) + bytes([ord("(") | 0x80]) + i32(1) + b"r" + i32(1),  # ref to itself
        b"(" + i32(1) + b">" + i32(1) + w([1]),  # unhashable set member
        b"(" + i32(1) + b"{" + w([1]) + w(2) + b"0",  # unhashable dict key
        b"(" + i32(1) + b"0",  # NULL outside a dict
        b"(" + i32(1) + b"?",  # unknown type
        b"(" + i32(1) + b"u" + i32(2) + b"\xff\xfe",  # invalid UTF-8
        b"(" + i32(1) + b"f\x03abc",  # bad float literal
        b"(" + i32(1) + b"l" + i32(1) + b"\xff\xff",  # long digit out of range
        b"(" + i32(1) + b"l" + i32(2) + b"\x01\x00\x00\x00",  # unnormalised long
        b"(" + i32(1) + b"R" + i32(0),  # Python 2 string ref in Python 3 data
        b"N",  # consts not a tuple
    ],
)
def test_malformed_objects(consts: bytes) -> None:
    with pytest.raises(MarshalError):
        read_code(code311(consts))


def test_malformed_code_fields() -> None:
    with pytest.raises(MarshalError):  # localspluskinds shorter than localsplusnames
        read_code(code311(localsplus=("x", "y"), kinds=b"\x20"))
    with pytest.raises(MarshalError):  # a name that is not a string
        read_code(code311().replace(w(()), w((1,)), 1))
    flagged = bytearray(py27_code(w(()), w(()), w(())))
    flagged[0] |= 0x80  # FLAG_REF does not exist in Python 2 marshal
    with pytest.raises(MarshalError):
        read_code(bytes(flagged))


def test_looks_like_marshalled_code() -> None:
    assert all(looks_like_marshalled_code(blob(e)) for e in manifest())
    assert looks_like_marshalled_code(code311())
    for text in (b"class Foo:\n    pass\n" * 3, b'{"class_name": "Lambda"}' * 2, b"c" * 40):
        assert not looks_like_marshalled_code(text)


# ----------------------------------------------------------------------------- fuzzing

ALLOWED = (MarshalError, BudgetExceeded)


def _exercise(data: bytes) -> None:
    try:
        co = read_code(data, Budget(Limits(max_marshal_objects=20_000)))
    except ALLOWED:
        return
    # Anything that parses must also survive the bytecode layer.
    for v in bytecode.guess_versions(co):
        bytecode.check_version(co, v)
        bytecode.disassemble(co, v)
    assert all(len(c) <= bytecode.MAX_EXPR for c in bytecode.reconstruct(co))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    _exercise(data)
    _exercise(b"\xe3" + data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(e["file"] for e in manifest())),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255), st.integers(0, 2)), max_size=6),
)
def test_fuzz_mutated_fixtures(name: str, edits: list[tuple[int, int, int]]) -> None:
    data = bytearray((DATA / name).read_bytes())
    for pos, value, kind in edits:
        pos %= len(data) + 1
        if kind == 0 and pos < len(data):
            data[pos] = value
        elif kind == 1:
            data.insert(pos, value)
        elif pos < len(data):
            del data[pos]
    _exercise(bytes(data))


def test_seeded_mutation_sweep() -> None:
    """Deterministic sweep: every byte of a fixture set to a few values."""
    rng = random.Random(1234)
    for data in _sample_blobs()[:4]:
        for pos in range(len(data)):
            mutated = bytearray(data)
            mutated[pos] = rng.choice([0x00, 0x7F, 0x80, 0xFF, ord("("), ord("r") | 0x80])
            _exercise(bytes(mutated))
