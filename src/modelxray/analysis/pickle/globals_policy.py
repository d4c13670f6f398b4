"""Which globals a pickle may name: allow-list first, deny-list for explanations.

The decision is *default deny*: a global is ``"allowed"`` only when it is on the
curated allow-list below, on the generated table of exact objects
(``_generated/allowlist.py``, written offline by ``scripts/gen_pickle_allowlist.py``
from the libraries' own source: what their ``__reduce__`` emit, torch's weights-only
allow-list, model-part classes defined in the estimator packages, recorded history),
or on the caller's extra allow entries.  No name pattern allows anything.  The deny
list beats the generated table; it separates the globals that certainly reach
process, file, network, import/eval or code-object machinery (``"dangerous"``)
from the merely ``"unknown"``, and gives the reviewer a reason and a family.

Dotted names (protocol >= 4 ``find_class`` walks ``getattr`` through every
segment of ``name``) are judged by every split of the full path and by
re-rooting the chain at each segment, because an attribute of an innocent
module is often another module (``pathlib.os.system``,
``torch.serialization.os.system``).

Everything here is data: tuples and dicts with comments.  Users extend it with
``Policy(extra_allow=..., extra_deny=...)`` entries written ``"module:name"``,
``"module:*"`` (the module and its submodules), or ``"module.name"`` (split at
the last dot).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from ._generated.allowlist import ALLOWED as GENERATED_ALLOWED

Category = Literal["allowed", "dangerous", "unknown"]


@dataclass(frozen=True, slots=True)
class Classification:
    category: Category
    reason: str
    family: str


# --------------------------------------------------------------------------------------------
# ALLOW list: (module, names, why).  Exact (module, name) pairs; a name here is never dotted.
# --------------------------------------------------------------------------------------------

# fmt: off
_TORCH_STORAGES = (
    "BoolStorage", "ByteStorage", "CharStorage", "ShortStorage", "IntStorage", "LongStorage",
    "HalfStorage", "FloatStorage", "DoubleStorage", "BFloat16Storage", "ComplexFloatStorage",
    "ComplexDoubleStorage", "QUInt8Storage", "QInt8Storage", "QInt32Storage", "QUInt4x2Storage",
    "QUInt2x4Storage", "UntypedStorage", "TypedStorage",
)
# fmt: on

# ``torch.<dtype>`` / layouts / memory formats / quantization schemes are plain attributes.
# fmt: off
_TORCH_CONSTANTS = (
    "float32", "float", "float64", "double", "float16", "half", "bfloat16", "complex32", "chalf",
    "complex64", "cfloat", "complex128", "cdouble", "uint8", "int8", "int16", "short", "int32",
    "int", "int64", "long", "bool", "qint8", "quint8", "qint32", "quint4x2", "quint2x4",
    "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "uint16", "uint32", "uint64", "bits8", "bits16",
    "strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "jagged",
    "contiguous_format", "channels_last", "channels_last_3d", "preserve_format",
    "per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric",
    "per_channel_affine_float_qparams",
)
# fmt: on

# fmt: off
ALLOW: tuple[tuple[str, tuple[str, ...], str], ...] = (
    # --- Python standard containers and value types (constructors with no side effects) ---
    ("collections", ("OrderedDict", "defaultdict", "deque", "Counter"), "standard container"),
    (
        "builtins",
        (
            "set", "frozenset", "bytearray", "bytes", "slice", "complex", "range", "int",
            "float", "str", "bool", "tuple", "list", "dict", "object", "Ellipsis",
            "NotImplemented",
        ),
        "builtin value constructor",
    ),
    # Pure builtin functions of one argument that cost what the argument is (gensim stores
    # hashfxn=hash); min/max/sum/pow are left out: constant arguments can make them run long.
    ("builtins", ("hash", "len", "abs"), "pure builtin function"),
    ("_codecs", ("encode",), "protocol-2 bytes written as latin-1 text"),
    ("codecs", ("encode",), "protocol-2 bytes written as latin-1 text"),
    # copyreg reconstructors only create an instance; the VM judges the class (and, for
    # _reconstructor, a non-object base whose __init__ would run) as separate invocations.
    ("copyreg", ("_reconstructor", "__newobj__", "__newobj_ex__"), "instance reconstruction"),
    ("datetime", ("datetime", "date", "time", "timedelta", "timezone"), "date/time value"),
    ("decimal", ("Decimal",), "number value"),
    ("fractions", ("Fraction",), "number value"),
    ("uuid", ("UUID", "SafeUUID"), "UUID value (the module's node helpers are denied)"),
    # Instantiating a path object touches no file; its methods are only reachable by getattr.
    (
        "pathlib",
        ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"),
        "path value",
    ),
    (
        "pathlib._local",
        ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath", "PureWindowsPath"),
        "path value",
    ),
    ("argparse", ("Namespace",), "attribute bag"),
    ("types", ("SimpleNamespace",), "attribute bag"),
    ("types", ("NoneType", "EllipsisType", "NotImplementedType"), "types of constants"),
    ("re", ("_compile",), "compiled regular expression"),
    ("logging", ("getLogger",), "Logger objects pickle as getLogger(name)"),
    # --- NumPy ---
    ("numpy", ("dtype", "ndarray", "matrix"), "array metadata / array class"),
    ("numpy.core.multiarray", ("_reconstruct", "scalar"), "array/scalar reconstruction"),
    ("numpy._core.multiarray", ("_reconstruct", "scalar"), "array/scalar reconstruction"),
    ("numpy.core.numeric", ("_frombuffer",), "protocol-5 array reconstruction"),
    ("numpy._core.numeric", ("_frombuffer",), "protocol-5 array reconstruction"),
    (
        "numpy.random._pickle",
        ("__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"),
        "random generator reconstruction (the bit generator is looked up by name in a table)",
    ),
    ("numpy.random._mt19937", ("MT19937",), "bit generator"),
    ("numpy.random._pcg64", ("PCG64", "PCG64DXSM"), "bit generator"),
    ("numpy.random._philox", ("Philox",), "bit generator"),
    ("numpy.random._sfc64", ("SFC64",), "bit generator"),
    ("numpy.random.bit_generator", ("SeedSequence", "__pyx_unpickle_SeedSequence"), "seeding"),
    ("numpy.random.mtrand", ("RandomState",), "legacy random state"),
    ("numpy.random._generator", ("Generator",), "random generator"),
    # --- PyTorch tensor reconstruction ---
    (
        "torch._utils",
        (
            "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
            "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
            "_rebuild_device_tensor_from_numpy", "_rebuild_device_tensor_from_cpu_tensor",
            "_rebuild_meta_tensor_no_storage", "_rebuild_wrapper_subclass",
            "_rebuild_nested_tensor",
        ),
        "tensor reconstruction helper",
    ),
    # _rebuild_from_type_v2(func, type, args, state) calls func(*args): the VM judges func.
    ("torch._tensor", ("_rebuild_from_type_v2", "_rebuild_from_type", "Tensor"), "tensor"),
    ("torch", _TORCH_STORAGES + _TORCH_CONSTANTS + ("Size", "device", "Tensor"), "tensor data"),
    ("torch.cuda", _TORCH_STORAGES, "legacy CUDA storage type"),
    ("torch.storage", ("UntypedStorage", "TypedStorage"), "storage type"),
    ("torch.serialization", ("_get_layout",), "layout lookup by name"),
    ("torch.nn.parameter", ("Parameter", "UninitializedParameter", "Buffer"), "parameter"),
    # torch.Generator is torch._C.Generator; its __reduce__ names it there (torch/csrc/
    # Generator.cpp).  Reviewed by hand: the rest of torch._C is denied.
    ("torch._C", ("Generator",), "random-number generator state (torch.Generator)"),
    # partial(func) stores func; it runs nothing until called, and every call of a partial is
    # judged as the call of func it makes (the VM resolves it, BUILD replacements included).
    ("functools", ("partial", "partialmethod"), "stored call (judged where it is called)"),
    ("_functools", ("partial",), "stored call (judged where it is called)"),
    # --- joblib / dill wrappers around arrays ---
    ("joblib.numpy_pickle", ("NumpyArrayWrapper",), "joblib inline array placeholder"),
    # joblib < 0.10 placeholders (joblib/numpy_pickle_compat.py): only joblib.load's own
    # unpickler calls their read(), which opens the sidecar file they name; the sidecar is
    # judged as what that read() does with it (MX-NUMPY-003), the subclass they name as a global.
    (
        "joblib.numpy_pickle",
        ("NDArrayWrapper", "ZNDArrayWrapper"),
        "legacy joblib array placeholder (its sidecar file is judged)",
    ),
    (
        "joblib.numpy_pickle_compat",
        ("NDArrayWrapper", "ZNDArrayWrapper"),
        "legacy joblib array placeholder (its sidecar file is judged)",
    ),
    (
        "sklearn.externals.joblib.numpy_pickle",
        ("NDArrayWrapper", "ZNDArrayWrapper"),
        "legacy joblib array placeholder (its sidecar file is judged)",
    ),
    (
        "sklearn.externals.joblib.numpy_pickle",
        ("NumpyArrayWrapper",),
        "joblib inline array placeholder",
    ),
    # dill's _create_array(f, args, state) calls f(*args): the VM judges f.
    ("dill._dill", ("_create_array",), "dill array reconstruction"),
)
# fmt: on

# scikit-learn's dataset I/O, public names (every release up to 1.9) and modules (private
# since 0.22, public before).
_SKLEARN_DATASETS_IO: tuple[str, ...] = (
    "clear_data_home", "dump_svmlight_file", "fetch_20newsgroups", "fetch_20newsgroups_vectorized",
    "fetch_california_housing", "fetch_covtype", "fetch_file", "fetch_kddcup99", "fetch_lfw_pairs",
    "fetch_lfw_people", "fetch_mldata", "fetch_olivetti_faces", "fetch_openml", "fetch_rcv1",
    "fetch_species_distributions", "get_data_home", "load_files", "load_mlcomp",
    "load_svmlight_file", "load_svmlight_files", "_fetch_remote", "RemoteFileMetadata",
    "_pkl_filepath", "load_sample_image", "load_sample_images",
)  # fmt: skip
_SKLEARN_DATASETS_IO_MODULES: tuple[str, ...] = tuple(
    p + m
    for m in ("openml", "twenty_newsgroups", "california_housing", "covtype", "kddcup99", "lfw",
              "olivetti_faces", "rcv1", "species_distributions", "svmlight_format",
              "svmlight_format_io", "_svmlight_format_fast", "arff_parser", "mldata", "mlcomp")
    for p in ("_", "")
)  # fmt: skip

# Allowed callables that return an object shared with the whole loading process: BUILD or
# item assignment on their result changes the loader's own state (CWE-915).
SINGLETON_FACTORIES: dict[str, str] = {
    "logging.getLogger": "the process-wide logger registered under that name",
}

# --------------------------------------------------------------------------------------------
# DENY list: (module, names or None for the whole module and its submodules, family, reason).
# --------------------------------------------------------------------------------------------

# fmt: off
DENY: tuple[tuple[str, tuple[str, ...] | None, str, str], ...] = (
    # --- process execution ---
    ("os", None, "process", "operating-system interface: commands, files, environment"),
    ("posix", None, "process", "os implementation module on POSIX"),
    ("nt", None, "process", "os implementation module on Windows"),
    ("subprocess", None, "process", "runs programs"),
    ("_posixsubprocess", None, "process", "fork_exec primitive"),
    ("pty", None, "process", "spawns programs on a pseudo-terminal"),
    ("commands", None, "process", "Python 2 shell helpers"),
    ("popen2", None, "process", "Python 2 process helpers"),
    ("multiprocessing", None, "process", "starts processes / runs callables"),
    ("concurrent", None, "process", "executors run callables in processes/threads"),
    ("asyncio", None, "process", "subprocess transports and event-loop callbacks"),
    ("platform", None, "process", "runs helper commands (popen, uname helpers)"),
    ("_osx_support", None, "process", "runs compiler helper commands"),
    ("_aix_support", None, "process", "runs helper commands"),
    ("_pyrepl", None, "process", "pager pipes text to a shell command"),
    ("pydoc", None, "resolver", "locate() resolves any dotted name; pagers run commands"),
    ("webbrowser", None, "process", "launches a browser process"),
    ("antigravity", None, "process", "importing it opens a browser"),
    ("idlelib", None, "process", "IDE internals that run code"),
    ("lib2to3", None, "code", "grammar loaders that unpickle / run code"),
    ("turtledemo", None, "process", "demo runner"),
    ("test", None, "process", "CPython test-suite helpers run interpreters and scripts"),
    ("pexpect", None, "process", "spawns programs"),
    ("ptyprocess", None, "process", "spawns programs"),
    ("sh", None, "process", "runs programs"),
    ("plumbum", None, "process", "runs programs"),
    ("invoke", None, "process", "runs shell tasks"),
    ("fabric", None, "process", "runs remote/local commands"),
    ("git", None, "process", "GitPython runs git commands"),
    ("_winapi", None, "process", "Windows process API"),
    ("msvcrt", None, "process", "Windows C runtime"),
    ("winreg", None, "file", "Windows registry"),
    ("_winreg", None, "file", "Windows registry"),
    ("mlflow.projects", None, "process", "runs project entry points"),
    (
        "uuid",
        (
            "_get_command_stdout", "_popen", "_find_mac", "_find_mac_near_keyword",
            "_find_mac_under_heading", "_ifconfig_getnode", "_ip_getnode", "_arp_getnode",
            "_lanscan_getnode", "_netstat_getnode", "_ipconfig_getnode", "_netbios_getnode",
            "_unix_getnode", "_windll_getnode", "getnode",
        ),
        "process",
        "node helpers run ifconfig/ip/arp commands",
    ),
    ("imaplib", None, "network", "IMAP client; IMAP4_stream runs a command"),
    # --- native code ---
    ("ctypes", None, "native", "loads shared libraries and calls native functions"),
    ("_ctypes", None, "native", "ctypes implementation"),
    ("cffi", None, "native", "foreign function interface"),
    # --- files ---
    ("builtins", ("open",), "file", "opens files"),
    ("io", ("open", "open_code", "FileIO"), "file", "opens files"),
    ("_io", None, "file", "io implementation: FileIO, open"),
    ("shutil", None, "file", "copies, moves and deletes files"),
    ("tempfile", None, "file", "creates files and directories"),
    ("fileinput", None, "file", "reads files"),
    ("glob", None, "file", "lists the file system"),
    ("filecmp", None, "file", "reads files"),
    ("linecache", None, "file", "reads source files"),
    ("tarfile", None, "file", "extracts archives"),
    ("zipfile", None, "file", "extracts archives"),
    ("shelve", None, "deserialization", "pickle-backed database"),
    ("dbm", None, "file", "database files"),
    ("sqlite3", None, "file", "database files, loadable extensions"),
    ("_sqlite3", None, "file", "sqlite3 implementation"),
    ("mmap", None, "file", "maps files"),
    ("logging.config", None, "file", "configuration (listen() runs a socket server)"),
    ("logging.handlers", None, "file", "file, socket and process handlers"),
    (
        "logging",
        ("FileHandler", "basicConfig", "StreamHandler", "setLoggerClass"),
        "file",
        "writes log files / redirects interpreter logging",
    ),
    (
        "numpy",
        (
            "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt",
            "genfromtxt", "fromfile", "memmap", "fromregex", "DataSource",
        ),
        "file",
        "reads/writes files (numpy.load may unpickle)",
    ),
    ("numpy.lib.npyio", None, "file", "numpy file I/O"),
    ("numpy.lib._npyio_impl", None, "file", "numpy file I/O"),
    ("numpy.lib.format", None, "deserialization", ".npy reader (object arrays unpickle)"),
    ("numpy.f2py", None, "code", "compiles and runs Fortran wrappers"),
    ("numpy.distutils", None, "code", "build helpers run compilers"),
    ("numpy.testing", None, "code", "test helpers run code strings"),
    ("numpy.ctypeslib", None, "native", "loads shared libraries"),
    ("pandas.io", None, "file", "pandas readers/writers (files, URLs, pickles)"),
    (
        "pandas",
        ("read_pickle", "read_csv", "read_json", "read_html", "read_sql", "eval", "read_table"),
        "file",
        "pandas readers (files, URLs, pickles) / expression evaluation",
    ),
    ("pandas.core.computation", None, "eval", "expression evaluation"),
    # --- network ---
    ("socket", None, "network", "network sockets"),
    ("_socket", None, "network", "socket implementation"),
    ("ssl", None, "network", "TLS connections (get_server_certificate connects out)"),
    ("select", None, "network", "socket multiplexing"),
    ("selectors", None, "network", "socket multiplexing"),
    ("socketserver", None, "network", "network servers"),
    # The http package itself holds only data enums (HTTPStatus, HTTPMethod).
    ("http.client", None, "network", "HTTP client"),
    ("http.server", None, "network", "HTTP server (CGI handler runs programs)"),
    ("http.cookiejar", None, "file", "cookie jars load and save files"),
    ("httplib", None, "network", "Python 2 HTTP client"),
    ("urllib.request", None, "network", "fetches URLs"),
    ("urllib2", None, "network", "Python 2 URL fetcher"),
    ("urllib", ("urlopen", "urlretrieve"), "network", "Python 2 URL fetchers"),
    ("ftplib", None, "network", "FTP client"),
    ("smtplib", None, "network", "SMTP client"),
    ("poplib", None, "network", "POP3 client"),
    ("nntplib", None, "network", "NNTP client"),
    ("telnetlib", None, "network", "telnet client"),
    ("xmlrpc", None, "network", "XML-RPC client/server"),
    ("asyncore", None, "network", "socket event loop"),
    ("asynchat", None, "network", "socket event loop"),
    ("requests", None, "network", "HTTP client"),
    ("httpx", None, "network", "HTTP client"),
    ("aiohttp", None, "network", "HTTP client/server"),
    ("urllib3", None, "network", "HTTP client"),
    ("websocket", None, "network", "websocket client"),
    ("websockets", None, "network", "websocket client"),
    ("paramiko", None, "network", "SSH client"),
    ("pycurl", None, "network", "URL client"),
    ("torch.distributed", None, "network", "distributed RPC and process groups"),
    # --- import machinery and evaluation ---
    (
        "builtins",
        ("eval", "exec", "compile", "execfile", "input", "breakpoint", "help", "apply"),
        "eval",
        "evaluates code or starts an interactive session",
    ),
    ("builtins", ("__import__", "reload"), "import", "imports any module"),
    (
        "builtins",
        ("getattr", "setattr", "delattr", "globals", "locals", "vars", "__build_class__", "type"),
        "resolver",
        "reaches any attribute / namespace (gadget chains)",
    ),
    ("builtins", ("exit", "quit", "memoryview"), "interpreter", "interpreter control"),
    ("importlib", None, "import", "imports any module"),
    ("imp", None, "import", "imports any module"),
    ("_imp", None, "import", "import machinery"),
    ("zipimport", None, "import", "imports code from archives"),
    ("pkgutil", None, "resolver", "resolve_name() returns any object by name"),
    ("_frozen_importlib", None, "import", "import machinery"),
    ("_frozen_importlib_external", None, "import", "import machinery"),
    ("runpy", None, "eval", "runs modules and code"),
    ("code", None, "eval", "interactive interpreter runs code strings"),
    ("codeop", None, "eval", "compiles code"),
    ("timeit", None, "eval", "timeit() executes statement strings"),
    ("cProfile", None, "eval", "run()/runctx() execute code strings"),
    ("profile", None, "eval", "run()/runctx() execute code strings"),
    ("_lsprof", None, "eval", "profiler implementation"),
    ("pdb", None, "eval", "debugger runs code strings"),
    ("bdb", None, "eval", "debugger runs code strings"),
    ("trace", None, "eval", "Trace.run()/runctx() execute code strings"),
    ("doctest", None, "eval", "runs code found in strings"),
    ("inspect", None, "introspection", "reaches frames, globals and source"),
    ("site", None, "interpreter", "interpreter start-up hooks"),
    ("sys", None, "interpreter", "interpreter state (modules, path, hooks)"),
    ("gc", None, "introspection", "reaches every live object"),
    ("signal", None, "interpreter", "installs signal handlers"),
    ("_signal", None, "interpreter", "signal implementation"),
    ("atexit", None, "interpreter", "registers exit callbacks"),
    ("faulthandler", None, "interpreter", "interpreter fault hooks"),
    ("resource", None, "interpreter", "process resource limits"),
    ("_thread", None, "interpreter", "starts threads running callables"),
    ("threading", None, "interpreter", "starts threads running callables"),
    ("_xxsubinterpreters", None, "eval", "runs code strings in sub-interpreters"),
    ("_interpreters", None, "eval", "runs code strings in sub-interpreters"),
    ("interpreters", None, "eval", "runs code strings in sub-interpreters"),
    ("_xxinterpchannels", None, "interpreter", "sub-interpreter channels"),
    ("IPython", None, "eval", "interactive shell runs code"),
    ("numexpr", ("evaluate", "re_evaluate"), "eval", "evaluates expression strings"),
    ("sympy", ("sympify", "parse_expr", "lambdify"), "eval", "evaluates expression strings"),
    ("sympy.parsing", None, "eval", "evaluates expression strings"),
    ("yaml", ("load", "unsafe_load", "full_load", "load_all", "unsafe_load_all"), "code", "YAML"),
    # --- callable resolvers (gadget building blocks) ---
    (
        "operator",
        ("attrgetter", "itemgetter", "methodcaller", "call"),
        "resolver",
        "calls methods / reaches attributes of any object",
    ),
    (
        "_operator",
        ("attrgetter", "itemgetter", "methodcaller", "call"),
        "resolver",
        "calls methods / reaches attributes of any object",
    ),
    (
        "functools",
        ("reduce", "update_wrapper", "wraps", "singledispatch"),
        "resolver",
        "binds and calls arbitrary callables",
    ),
    (
        "_functools",
        ("reduce",),
        "resolver",
        "binds and calls arbitrary callables",
    ),
    (
        "copyreg",
        (
            "add_extension", "remove_extension", "clear_extension_cache", "pickle",
            "constructor", "_extension_registry", "_inverted_registry", "_extension_cache",
            "dispatch_table",
        ),
        "interpreter",
        "rewrites the pickle extension/reducer registries",
    ),
    # --- code objects and nested deserialization ---
    (
        "types",
        (
            "CodeType", "FunctionType", "LambdaType", "MethodType", "ModuleType", "new_class",
            "prepare_class", "BuiltinFunctionType", "BuiltinMethodType", "CellType",
            "GeneratorType", "CoroutineType", "MethodWrapperType", "resolve_bases",
        ),
        "code",
        "builds code objects, functions or modules",
    ),
    ("marshal", None, "code", "loads code objects"),
    ("pickle", None, "deserialization", "nested unpickling"),
    ("_pickle", None, "deserialization", "nested unpickling"),
    ("cPickle", None, "deserialization", "nested unpickling (Python 2 name)"),
    ("pickletools", None, "deserialization", "pickle machinery"),
    ("dill", None, "code", "rebuilds functions, code objects and modules"),
    ("cloudpickle", None, "code", "rebuilds functions and code objects"),
    ("joblib", None, "deserialization", "joblib.load and parallel execution"),
    ("torch", ("load", "compile", "_load_global_deps"), "deserialization", "torch.load / compile"),
    ("torch.serialization", ("load", "_load", "_legacy_load"), "deserialization", "torch.load"),
    ("torch.storage", ("_load_from_bytes",), "deserialization", "calls torch.load on bytes"),
    ("torch.jit", None, "code", "TorchScript loading and compilation"),
    ("torch.hub", None, "code", "downloads and runs repositories"),
    ("torch.package", None, "code", "imports code from packages"),
    ("torch._dynamo", None, "code", "compiler internals (guard evaluation)"),
    ("torch._inductor", None, "code", "compiles and loads generated code"),
    ("torch._export", None, "code", "program loading"),
    ("torch.export", None, "code", "program loading"),
    ("torch.fx", None, "code", "GraphModule reconstruction executes generated source"),
    ("torch.utils.cpp_extension", None, "code", "compiles and loads C++"),
    ("torch.utils.collect_env", None, "process", "runs commands"),
    ("torch.utils.bottleneck", None, "eval", "profiles code strings"),
    ("torch.utils.data.datapipes", None, "deserialization", "decoders unpickle data"),
    ("torch.utils._config_module", None, "deserialization", "load_config unpickles"),
    ("torch.ops", None, "native", "load_library and custom operators"),
    ("torch._ops", None, "native", "operator registry, load_library"),
    ("torch.classes", None, "native", "load_library"),
    ("torch.library", None, "native", "defines operators"),
    ("torch._C", None, "native", "interpreter-level internals"),
    ("torch.multiprocessing", None, "process", "starts processes"),
    ("transformers.dynamic_module_utils", None, "code", "imports remote code"),
    # --- package installation ---
    ("pip", None, "package-install", "installs packages"),
    ("ensurepip", None, "package-install", "installs pip"),
    ("venv", None, "package-install", "creates environments, runs pip"),
    ("setuptools", None, "package-install", "build/install machinery runs code"),
    ("distutils", None, "package-install", "build machinery runs commands"),
    ("pkg_resources", None, "import", "entry points import code"),
    # --- tampering with scanners ---
    ("fickling", None, "scanner-tamper", "pickle scanner"),
    ("picklescan", None, "scanner-tamper", "pickle scanner"),
    ("modelscan", None, "scanner-tamper", "model scanner"),
    ("modelaudit", None, "scanner-tamper", "model scanner"),
    ("modelxray", None, "scanner-tamper", "this scanner"),
    # --- parts of the estimator packages that reach files, the network or joblib ---
    ("sklearn.utils._testing", None, "file", "test helpers create temporary files"),
    # sklearn.datasets: the downloaders, the data-home helpers and the file readers/writers
    # (the package also holds Bunch, a dict, in old releases: deny exact names, not it all).
    *(
        (mod, _SKLEARN_DATASETS_IO, "network", "dataset downloaders and file readers/writers")
        for mod in ("sklearn.datasets", "sklearn.datasets._base", "sklearn.datasets.base")
    ),
    *(
        (f"sklearn.datasets.{m}", None, "network", "dataset downloaders and file readers")
        for m in _SKLEARN_DATASETS_IO_MODULES
    ),
    ("sklearn.externals.joblib", None, "deserialization", "vendored joblib (< 0.23)"),
    ("sklearn.externals._joblib", None, "deserialization", "vendored joblib (< 0.23)"),
    ("sklearn.externals.loky", None, "process", "vendored process executor"),
)
# fmt: on

# Attribute names that, appearing as a segment of a *dotted* name, reach code execution or
# file/network effects whatever the object they hang off.
# fmt: off
CHAIN_DANGER_SEGMENTS: frozenset[str] = frozenset(
    {
        "eval", "exec", "compile", "system", "popen", "spawn", "spawnv", "spawnve", "spawnl",
        "spawnlp", "spawnvp", "execv", "execve", "execl", "execlp", "execvp", "execvpe",
        "fork", "forkpty", "Popen", "check_output", "check_call", "getoutput",
        "getstatusoutput", "startfile", "write_text", "write_bytes", "unlink", "rmtree",
        "symlink_to", "hardlink_to", "chmod", "from_pretrained", "import_module",
        "urlopen", "urlretrieve", "load_library", "run_path", "run_module",
    }
)
# fmt: on

# Module names that, as a plain (undotted) module attribute, are that module (``X.os``).
# fmt: off
REROOT_MODULES: frozenset[str] = frozenset(
    {
        "os", "posix", "nt", "sys", "subprocess", "builtins", "shutil", "socket", "importlib",
        "pickle", "_pickle", "marshal", "ctypes", "runpy", "pty", "_posixsubprocess",
        "multiprocessing", "pkgutil", "pydoc", "tempfile", "_io", "webbrowser", "asyncio",
    }
)
# fmt: on

# Module-level dunder names that are plain data (everything else dunder is introspection).
SAFE_DUNDERS: frozenset[str] = frozenset(
    {"__newobj__", "__newobj_ex__", "__name__", "__doc__", "__version__"}
)

# CPython resolves these as the builtins module for classification purposes.
_BUILTINS_ALIASES = {"__builtin__": "builtins", "__builtins__": "builtins"}

_Hit = tuple[str, str]  # (family, reason)


def _split_entry(entry: str | tuple[str, str]) -> tuple[str, str]:
    if isinstance(entry, tuple):
        return entry[0], entry[1]
    if ":" in entry:
        mod, _, name = entry.partition(":")
        return mod.strip(), name.strip()
    mod, dot, name = entry.rpartition(".")
    if not dot:
        return entry.strip(), "*"
    return mod.strip(), name.strip()


class Policy:
    """The allow/deny data plus the caller's extra entries, with a bounded result cache."""

    _CACHE_MAX = 65536

    def __init__(
        self,
        extra_allow: Iterable[str | tuple[str, str]] = (),
        extra_deny: Iterable[str | tuple[str, str]] = (),
    ) -> None:
        self.allow_exact: dict[tuple[str, str], str] = {}
        self.allow_modules: dict[str, str] = {}
        for mod, names, why in ALLOW:
            for n in names:
                self.allow_exact[(mod, n)] = why
        # The generated table is consulted after the deny list (deny beats it); the
        # hand-reviewed ALLOW entries and configuration entries before it.
        self.allow_generated: dict[tuple[str, str], str] = {
            (mod, n): why for mod, n, why in GENERATED_ALLOWED
        }
        self.deny_names: dict[tuple[str, str], _Hit] = {}
        self.deny_modules: dict[str, _Hit] = {}
        for mod, dnames, family, reason in DENY:
            if dnames is None:
                self.deny_modules[mod] = (family, reason)
            else:
                for n in dnames:
                    self.deny_names[(mod, n)] = (family, reason)
        for entry in extra_allow:
            mod, name = _split_entry(entry)
            if name == "*":
                self.allow_modules[mod] = "allowed by configuration"
            else:
                self.allow_exact[(mod, name)] = "allowed by configuration"
        for entry in extra_deny:
            mod, name = _split_entry(entry)
            if name == "*":
                self.deny_modules[mod] = ("configured", "denied by configuration")
            else:
                self.deny_names[(mod, name)] = ("configured", "denied by configuration")
        self._cache: dict[tuple[str, str], Classification] = {}

    # -- public --------------------------------------------------------------------------

    def classify(self, module: str, name: str) -> Classification:
        key = (module, name)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._classify(module, name)
            if len(self._cache) >= self._CACHE_MAX:
                self._cache.clear()
            self._cache[key] = hit
        return hit

    def classify_path(self, path: str) -> Classification:
        """Judge a dotted path whose module/attribute split is unknown (``os.path.join``)."""
        parts = path.split(".")
        if len(parts) == 1:
            hit = self._module_denied(_BUILTINS_ALIASES.get(path, path))
            if hit is not None:
                return Classification("dangerous", f"module {path}: {hit[1]}", hit[0])
            return Classification("unknown", f"module object {path}", "unknown")
        first: Classification | None = None
        allowed: Classification | None = None
        for k in range(1, len(parts)):
            c = self.classify(".".join(parts[:k]), ".".join(parts[k:]))
            if c.category == "dangerous":
                return c
            if c.category == "allowed" and k == len(parts) - 1:
                allowed = c
            if first is None:
                first = c
        if allowed is not None:
            return allowed
        assert first is not None
        return (
            first
            if first.category != "allowed"
            else Classification(
                "unknown", f"attribute chain {path} is not on the allow-list", "unknown"
            )
        )

    def denied(self, module: str, name: str) -> Classification | None:
        """The deny list's verdict on ``module.name`` alone (allow entries not consulted).

        The offline table generator uses it to keep denied objects out of the allow table.
        """
        module = _BUILTINS_ALIASES.get(module, module)
        parts = name.split(".")
        hit = self._deny(module, name, parts, len(parts) > 1)
        return None if hit is None else Classification("dangerous", hit[1], hit[0])

    # -- internals -----------------------------------------------------------------------

    def _module_denied(self, module: str) -> _Hit | None:
        parts = module.split(".")
        for k in range(len(parts), 0, -1):
            hit = self.deny_modules.get(".".join(parts[:k]))
            if hit is not None:
                return hit
        return None

    def _classify(self, module: str, name: str) -> Classification:
        module = _BUILTINS_ALIASES.get(module, module)
        if not module or not name:
            return Classification("unknown", "empty module or attribute name", "unknown")
        why = self.allow_exact.get((module, name))
        if why is not None:
            return Classification("allowed", why, "allowed")
        name_parts = name.split(".")
        dotted = len(name_parts) > 1
        denied = self._deny(module, name, name_parts, dotted)
        if denied is not None:
            fam, reason = denied
            return Classification("dangerous", reason, fam)
        why = self.allow_generated.get((module, name))
        if why is not None:
            return Classification("allowed", why, "allowed")
        if not dotted:
            mod_why = self._module_allowed(module)
            if mod_why is not None:
                return Classification("allowed", mod_why, "allowed")
            return Classification("unknown", f"{module}.{name} is not on the allow-list", "unknown")
        return Classification(
            "unknown",
            f"attribute chain {module}.{name} (find_class walks getattr) is not on the allow-list",
            "unknown",
        )

    def _module_allowed(self, module: str) -> str | None:
        if not self.allow_modules:
            return None
        parts = module.split(".")
        for k in range(len(parts), 0, -1):
            why = self.allow_modules.get(".".join(parts[:k]))
            if why is not None:
                return why
        return None

    def _deny(self, module: str, name: str, name_parts: list[str], dotted: bool) -> _Hit | None:
        full = f"{module}.{name}"
        # 1. the module itself or one of its parent packages is denied as a whole
        hit = self._module_denied(module)
        if hit is not None:
            return hit[0], f"{full}: {hit[1]}"
        mod_parts = module.split(".")
        parts = mod_parts + name_parts
        nm = len(mod_parts)
        # 2. every (prefix, next segment) split of the full path
        for k in range(1, len(parts)):
            m = ".".join(parts[:k])
            hit = self.deny_names.get((_BUILTINS_ALIASES.get(m, m), parts[k]))
            if hit is not None:
                where = ".".join(parts[: k + 1])
                if where == full:
                    return hit[0], f"{full}: {hit[1]}"
                return hit[0], f"{full} reaches {where}: {hit[1]}"
            if k > nm:
                hit = self.deny_modules.get(m)
                if hit is not None:
                    return hit[0], f"{full} reaches module {m}: {hit[1]}"
        # 3. re-rooting: an attribute of a module is often another module (X.os.system)
        last = len(parts) - 1
        for j in range(nm, len(parts)):
            seg = _BUILTINS_ALIASES.get(parts[j], parts[j])
            mhit = self.deny_modules.get(seg)
            if mhit is not None and (j < last or seg in REROOT_MODULES):
                return mhit[0], f"{full}: attribute chain reaches module {seg} ({mhit[1]})"
            for k in range(j + 1, len(parts)):
                m = ".".join([seg] + parts[j + 1 : k])
                hit = self.deny_names.get((m, parts[k]))
                if hit is not None:
                    return hit[0], f"{full}: attribute chain reaches {m}.{parts[k]} ({hit[1]})"
                if k > j + 1:
                    hit = self.deny_modules.get(m)
                    if hit is not None:
                        return hit[0], f"{full}: attribute chain reaches module {m} ({hit[1]})"
        # 4. dunder segments: interpreter introspection (__builtins__, __globals__, ...)
        for seg in name_parts:
            if len(seg) > 4 and seg.startswith("__") and seg.endswith("__"):
                if dotted or seg not in SAFE_DUNDERS:
                    return (
                        "introspection",
                        f"{full}: dunder attribute {seg} reaches interpreter internals",
                    )
        # 5. dangerous method names inside an attribute chain
        if dotted:
            for seg in name_parts:
                if seg in CHAIN_DANGER_SEGMENTS:
                    return "process", f"{full}: attribute chain ends in {seg}()"
        return None


DEFAULT_POLICY = Policy()


def classify(module: str, name: str, policy: Policy | None = None) -> Classification:
    """Classify ``module.name`` as ``allowed``, ``dangerous`` or ``unknown``."""
    return (policy or DEFAULT_POLICY).classify(module, name)
