"""Version guessing, disassembly and call reconstruction over cross-version fixtures."""

from __future__ import annotations

import marshal
import struct
import sys
import time
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelxray.analysis import bytecode
from modelxray.analysis._generated.opcodes_data import TABLES
from modelxray.analysis.marshal_reader import CodeObject, read_code
from tests.test_marshal_reader import VERSIONS, blob, fixture, manifest

HOST = f"{sys.version_info[0]}.{sys.version_info[1]}"
MARKER = "MODELXRAY_MARKER"
DANGER = ("system", "exec", "eval", "open", "__import__", "getattr", "popen", "Popen")


def asm(version: str, ops: list[tuple[str, int]]) -> bytes:
    """Assemble (opname, arg) pairs for *version*, with zeroed inline caches."""
    t = TABLES[version]
    out = bytearray()
    for name, arg in ops:
        op = t.opmap[name]
        if version == "2.7":
            out += bytes([op]) + (struct.pack("<H", arg) if op >= t.have_argument else b"")
        else:
            out += bytes([op, arg]) + b"\x00\x00" * t.cache_entries.get(name, 0)
    return bytes(out)


def mk(
    code: bytes,
    layout: str = "3.11+",
    consts: tuple[object, ...] = (None,),
    names: tuple[str, ...] = (),
    varnames: tuple[str, ...] = (),
) -> CodeObject:
    return CodeObject(
        layout=layout,
        argcount=0,
        posonlyargcount=0,
        kwonlyargcount=0,
        stacksize=8,
        flags=0,
        code=code,
        consts=consts,
        names=names,
        varnames=varnames,
        freevars=(),
        cellvars=(),
        filename="fixture.py",
        name="f",
        qualname="f",
        firstlineno=1,
    )


def host_code(src: str, mode: str = "eval") -> CodeObject:
    """Compile here (never run), write with marshal.dumps, read back with our reader."""
    top = compile(src, "fixture.py", mode)
    inner = next(c for c in top.co_consts if isinstance(c, types.CodeType))
    return read_code(marshal.dumps(inner))


# ------------------------------------------------------------------------- version guessing


@pytest.mark.parametrize("entry", manifest(), ids=lambda e: e["file"])
def test_guess_includes_true_version(entry: dict[str, Any]) -> None:
    co = read_code(blob(entry))
    guess = bytecode.guess_versions(co)
    assert entry["python"] in guess
    assert set(guess) <= set(bytecode.FAMILY_VERSIONS[co.layout])
    assert not any(bytecode.check_version(c, entry["python"]) for c in co.walk())


@pytest.mark.parametrize(
    ("python", "expected"),
    [
        ("2.7", ["2.7"]),
        ("3.7", ["3.7"]),
        ("3.8", ["3.8", "3.9"]),
        ("3.11", ["3.11"]),
        ("3.12", ["3.12"]),
        ("3.13", ["3.13"]),
    ],
)
def test_guess_narrows_within_family(python: str, expected: list[str]) -> None:
    co = read_code(blob(fixture("import_system", python)))
    assert bytecode.guess_versions(co) == expected


def test_every_313_fixture_is_recognised_as_313() -> None:
    for e in manifest():
        if e["python"] == "3.13":
            assert bytecode.guess_versions(read_code(blob(e))) == ["3.13"], e["file"]


def test_wrong_version_reports_problems() -> None:
    co313 = read_code(blob(fixture("import_system", "3.13")))
    co311 = read_code(blob(fixture("import_system", "3.11")))
    assert bytecode.check_version(co313, "3.11")
    assert bytecode.check_version(co311, "3.12")
    assert bytecode.check_version(co311, "3.11") == []
    assert any(
        "PRECALL" in p
        for p in bytecode.check_version(read_code(blob(fixture("os_system", "3.12"))), "3.11")
    )


def test_unknown_version_string() -> None:
    co = read_code(blob(fixture("add", "3.11")))
    with pytest.raises(ValueError):
        bytecode.reconstruct(co, "3.99")
    with pytest.raises(ValueError):
        bytecode.disassemble(co, "bogus")


def test_undecodable_code_falls_back_to_family() -> None:
    co = mk(b"\xff\xff\xff")  # odd length, unknown opcodes
    assert bytecode.guess_versions(co) == ["3.11", "3.12", "3.13"]
    assert all(bytecode.check_version(co, v) for v in ("3.11", "3.12", "3.13"))


# ---------------------------------------------------------------------------- disassembly


def test_disassemble_311() -> None:
    co = read_code(blob(fixture("import_system", "3.11")))
    ins = bytecode.disassemble(co, "3.11")
    names = [n for _, n, _ in ins]
    assert names[0] == "RESUME" and "CACHE" not in names
    assert names.count("PRECALL") == names.count("CALL") == 2
    assert ("LOAD_GLOBAL", 1) in [(n, a) for _, n, a in ins]  # NULL + __import__
    offsets = [o for o, _, _ in ins]
    assert offsets == sorted(set(offsets)) and offsets[-1] < len(co.code)
    assert names[-1] == "RETURN_VALUE"


def test_disassemble_27_variable_width() -> None:
    co = read_code(blob(fixture("import_system", "2.7")))
    ins = bytecode.disassemble(co)
    assert [n for _, n, _ in ins][:3] == ["LOAD_GLOBAL", "LOAD_CONST", "CALL_FUNCTION"]
    assert ins[1][0] - ins[0][0] == 3  # opcode + 2-byte argument
    assert ("RETURN_VALUE", None) == ins[-1][1:]


def test_extended_arg_is_folded() -> None:
    code = asm("3.10", [("EXTENDED_ARG", 1), ("LOAD_CONST", 2), ("RETURN_VALUE", 0)])
    ins = bytecode.disassemble(mk(code, "3.8-3.10", consts=(None,) * 300), "3.10")
    assert ins == [(0, "LOAD_CONST", 258), (4, "RETURN_VALUE", None)]


# ------------------------------------------------------------------------- reconstruction


@pytest.mark.parametrize("python", VERSIONS)
def test_reconstruct_import_system_exactly(python: str) -> None:
    co = read_code(blob(fixture("import_system", python)))
    assert bytecode.reconstruct(co) == [
        "__import__('os')",
        f"__import__('os').system('echo {MARKER}')",
    ]


@pytest.mark.parametrize(
    "entry", [e for e in manifest() if e["expect_calls"]], ids=lambda e: e["file"]
)
def test_reconstruct_contains_expected_calls(entry: dict[str, Any]) -> None:
    co = read_code(blob(entry))
    for version in (entry["python"], None, bytecode.guess_versions(co)[0]):
        calls = bytecode.reconstruct(co, version)
        for want in entry["expect_calls"]:
            assert any(want in c for c in calls), (want, calls)


@pytest.mark.parametrize(
    "entry", [e for e in manifest() if not e["malicious"]], ids=lambda e: e["file"]
)
def test_benign_fixtures_make_no_dangerous_calls(entry: dict[str, Any]) -> None:
    calls = bytecode.reconstruct(read_code(blob(entry)))
    assert not [c for c in calls if any(d in c for d in DANGER)]
    if entry["fixture"] in ("mul", "add", "kwonly", "closure"):
        assert calls == []


@pytest.mark.parametrize("python", VERSIONS)
def test_malicious_marker_always_visible(python: str) -> None:
    for e in manifest():
        if e["python"] == python and e["malicious"]:
            calls = bytecode.reconstruct(read_code(blob(e)))
            assert any(MARKER in c or "modelxray_marker" in c for c in calls), (e["file"], calls)


@pytest.mark.skipif(HOST not in TABLES, reason="no opcode table for this interpreter")
@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("lambda: f(*a, **{'shell': True})", "f(*a, shell=True)"),
        ("lambda x: os.system(' '.join(['echo', x]))", "os.system(' '.join(['echo', x]))"),
        ("lambda x: print('%s' % x)", "print('%s' % x)"),
        ("lambda x: (yield os.system('id'))", "os.system('id')"),
        ("lambda x: {k: os.popen(k) for k in x}", "os.popen(k)"),
        ("lambda x: not os.path.exists('/tmp/m') and -x", "os.path.exists('/tmp/m')"),
        ("lambda x: os.system('a' if x else 'b')", "os.system("),
        ("lambda x: x.y[1:2].z(k=x[0], *x.w)", "x.y[1:2].z(*x.w, k=x[0])"),
        ("lambda x: getattr(x, 'a' + x)()", "getattr(x, 'a' + x)()"),
        ("lambda x: super().m(f'{x!a}')", "super().m(f'{x!a}')"),
    ],
)
def test_reconstruct_host_compiled(src: str, want: str) -> None:
    calls = bytecode.reconstruct(host_code(src))
    assert any(want in c for c in calls), calls


@pytest.mark.skipif(HOST not in TABLES, reason="no opcode table for this interpreter")
def test_reconstruct_import_statement() -> None:
    src = "def f():\n    import subprocess\n    return subprocess.run(['id'], shell=True)\n"
    calls = bytecode.reconstruct(host_code(src, "exec"))
    assert calls == ["__import__('subprocess')", "subprocess.run(['id'], shell=True)"]


def test_expressions_are_capped() -> None:
    ops = [("RESUME", 0), ("PUSH_NULL", 0), ("LOAD_NAME", 0), ("LOAD_CONST", 0)]
    ops += [("PRECALL", 1), ("CALL", 1), ("RETURN_VALUE", 0)]
    co = mk(asm("3.11", ops), consts=("A" * 10_000,), names=("f",))
    calls = bytecode.reconstruct(co, "3.11")
    assert len(calls) == 1 and calls[0].startswith("f('AAAA")
    assert len(calls[0]) <= bytecode.MAX_EXPR


def test_instruction_count_is_capped() -> None:
    co = mk(asm("3.11", [("RESUME", 0)] + [("NOP", 0)] * 250_000))
    assert any("more than" in p for p in bytecode.check_version(co, "3.11"))
    t0 = time.perf_counter()
    assert bytecode.reconstruct(co, "3.11") == []
    assert time.perf_counter() - t0 < 10.0


@pytest.mark.parametrize(
    ("version", "opname"),
    [
        ("2.7", "CALL_FUNCTION"),
        ("3.9", "BUILD_STRING"),
        ("3.12", "UNPACK_SEQUENCE"),
        ("3.13", "CALL"),
    ],
)
def test_adversarial_bytecode_is_bounded(version: str, opname: str) -> None:
    """EXTENDED_ARG-inflated arguments and stack growth over ~1 MB of code stay cheap."""
    t = TABLES[version]
    op, ext, lc = t.opmap[opname], t.extended_arg, t.opmap["LOAD_CONST"]
    if version == "2.7":
        unit = bytes([ext, 0xFF, 0xFF, op, 0xFF, 0xFF]) + bytes([lc, 0, 0]) * 3
    else:
        unit = bytes([ext, 0xFF, op, 0xFF]) + b"\0\0" * t.cache_entries.get(opname, 0)
        unit += bytes([lc, 0]) * 3
    layout = next(k for k, vs in bytecode.FAMILY_VERSIONS.items() if version in vs)
    co = mk(unit * (1_000_000 // len(unit)), layout, consts=("A" * 400,), names=("n",))
    t0 = time.perf_counter()
    calls = bytecode.reconstruct(co, version)
    bytecode.guess_versions(co)
    assert time.perf_counter() - t0 < 15.0
    assert all(len(c) <= bytecode.MAX_EXPR for c in calls)


def test_unknown_opcodes_degrade_to_question_marks() -> None:
    free = next(op for op in range(1, 256) if op not in TABLES["3.11"].opmap.values())
    code = (
        asm("3.11", [("RESUME", 0)]) + bytes([free, 0]) + asm("3.11", [("PRECALL", 0), ("CALL", 0)])
    )
    co = mk(code)
    assert bytecode.check_version(co, "3.11")
    calls = bytecode.reconstruct(co, "3.11")
    assert calls and all("?" in c for c in calls)
    assert (2, f"<{free}>", None) in bytecode.disassemble(co, "3.11")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(TABLES)),
    st.binary(max_size=300),
    st.lists(st.sampled_from([None, 1, "s", b"b", ("t", 2), 1.5]), max_size=4),
    st.lists(st.sampled_from(["os", "system", "x"]), max_size=3),
)
def test_fuzz_bytecode_never_crashes(
    version: str, code: bytes, consts: list[object], names: list[str]
) -> None:
    layout = next(k for k, vs in bytecode.FAMILY_VERSIONS.items() if version in vs)
    co = mk(code, layout, tuple(consts), tuple(names), ("x", "y"))
    bytecode.check_version(co, version)
    bytecode.disassemble(co, version)
    assert set(bytecode.guess_versions(co)) <= set(bytecode.FAMILY_VERSIONS[layout])
    calls = bytecode.reconstruct(co, version)
    assert all(isinstance(c, str) and len(c) <= bytecode.MAX_EXPR for c in calls)


# ----------------------------------------------------------------- constant-driven costs

_COSTLY = [
    ("lambda x: [0] * 10**10", "allocation", 10**10),
    ("lambda x: (0, 1) * 10**9", "allocation", 2 * 10**9),
    ("lambda x: bytearray(10**10)", "allocation", 10**10),
    ("lambda x: 'a' * 10**10", "allocation", 10**10),
    ("lambda x: 'ab'.ljust(10**10)", "allocation", 10**10),
    ("lambda x: list(range(10**9))", "allocation", 10**9),
    ("lambda x: sum(range(10**12))", "loop", 10**12),
    ("lambda x: sum(range(0, 10**12, 2))", "loop", 5 * 10**11),
    ("lambda x: [0 for i in range(10**6) for j in range(10**6)]", "loop", 10**12),
    ("lambda x: any(i for i in range(10**12))", "loop", 10**12),
    ("lambda x: [[0] * 10**4 for i in range(10**5)]", "allocation", 10**9),
    ("lambda x: 2 ** 10**10", "integer", 10**10),
    ("lambda x: 1 << 10**10", "integer", 10**10 + 1),
    ("lambda x: keras.ops.zeros((10**5, 10**5))", "allocation", 10**10),
    ("lambda x: tf.eye(10**5)", "allocation", 10**10),
    ("lambda x: np.linspace(0, 1, 10**9)", "allocation", 10**9),
    # a nested function's parameter may be the module itself: its method is still judged
    ("lambda x: (lambda m: m.zeros((10**5, 10**5)))(np)", "allocation", 10**10),
    ("lambda x: (lambda: np)().zeros((10**5, 10**5))", "allocation", 10**10),
    ("lambda x: getattr(np, 'random').normal(size=(10**5, 10**5))", "allocation", 10**10),
]
_CHEAP = [
    "lambda x: x * 10**10",
    "lambda x: [x[:, i] for i in range(4)]",
    "lambda x: keras.ops.reshape(x, (-1, 10**9))",
    "lambda x: x.fill(10**9)",
    "lambda x, y: y.fill(10**9) + x.full((3,), 10**9)",
    "lambda x: keras.ops.convert_to_numpy(x).copy().fill(10**9)",
    "lambda x: x.T.fill(10**9)",
    "lambda x: torch.randint(10**9, (3,))",
    "lambda x, n=10**12: sum(range(n))",  # a default value is not a code constant
    "lambda x: 10**100 + x",
]


def _costs(source: str) -> list[bytecode.Cost]:
    module = compile(source, "f.py", "eval")
    code = next(c for c in module.co_consts if isinstance(c, types.CodeType))
    return bytecode.reconstruct_with_costs(read_code(marshal.dumps(code))).costs


@pytest.mark.parametrize(("source", "kind", "amount"), _COSTLY)
def test_constant_costs_are_measured(source: str, kind: str, amount: int) -> None:
    top = _costs(source)[0]
    assert (top.kind, top.amount) == (kind, amount), (source, top)
    assert top.expr and top.qualname


@pytest.mark.parametrize("source", _CHEAP)
def test_unknown_or_small_values_add_no_large_cost(source: str) -> None:
    assert all(c.amount < 10**6 for c in _costs(source)), (source, _costs(source))


@pytest.mark.parametrize("version", ["2.7", "3.6", "3.8", "3.10", "3.12", "3.13"])
def test_costs_agree_across_python_versions(version: str) -> None:
    from tests.factories.keras_models import foreign_blob

    for source, kind, amount in _COSTLY[:10] + _COSTLY[11:]:
        if version == "2.7" and (
            "'a' *" in source or "**" in source.split(":")[1].split("10**")[0]
        ):
            continue  # 2.7's peephole optimiser computes constant operands while compiling
        blob = foreign_blob(version, source)
        if blob is None:
            pytest.skip(f"no pyenv Python {version}")
        top = bytecode.reconstruct_with_costs(read_code(blob.raw)).costs[0]
        assert (top.kind, top.amount) == (kind, amount), (version, source, top)
