"""The threat catalogue: every callable, module, bare name and TensorFlow op modelxray condemns.

Data only, like bandit's ``blacklists/calls.py``.  Each record names what it condemns (a module
and everything under it, a qualified name, a bare name or a TF op), its category (the family
of harm: ``process``, ``file``, ``network``, ...), a reason for the reviewer and a CWE.  Every
analyser's table is a *view* of this catalogue, so the same callable gets the same category in
every format:

* pickle globals (``analysis/pickle/globals_policy.py``): :data:`CALLABLES` (modules and names);
* Keras / skops references (``analysis/callables.py``): :func:`lookup` over :data:`CALLABLES`;
* Python source calls (``analysis/python_ast.py``): the records marked ``source``;
* Keras Lambda bytecode names (``analysis/lambda_code.py``): the records marked ``bare`` and
  :data:`WORDS`;
* TensorFlow graphs (``analysis/tf_graph.py``) and TFLite Flex ops (``formats/tflite.py``):
  :data:`TF_OPS`.

Module records are precise: ``http.client`` and ``http.server`` are denied, not the ``http``
package (which holds only data enums such as ``HTTPStatus``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# category -> (CWE, what the category means)
CATEGORIES: dict[str, tuple[int, str]] = {
    "process": (78, "runs programs or starts processes"),
    "native": (829, "loads or calls native code"),
    "file": (73, "reads, writes or deletes files"),
    "network": (918, "opens network connections"),
    "eval": (95, "evaluates code strings"),
    "code": (94, "builds or loads code objects, functions or modules"),
    "import": (829, "imports arbitrary modules"),
    "resolver": (470, "reaches any attribute or object by name (gadget building block)"),
    "interpreter": (913, "changes interpreter or process state"),
    "introspection": (913, "reaches frames, globals or every live object"),
    "deserialization": (502, "deserialises nested untrusted data"),
    "package-install": (829, "installs packages"),
    "scanner-tamper": (693, "tampers with security scanners"),
    "decode": (506, "decodes hidden payloads (base64, zlib, codecs)"),
    # TensorFlow op categories (what the op does when the graph runs)
    "python": (94, "calls a Python function registered by the loading program"),
    "file-read": (73, "reads files named by its inputs or attributes"),
    "file-write": (73, "writes files named by its inputs or attributes"),
    "asset-read": (73, "reads a file (normally the model's own assets)"),
    "checkpoint-read": (73, "restores a checkpoint from a path"),
    "checkpoint-write": (73, "writes a checkpoint to a path"),
    "debug-url": (918, "sends tensors to debug URLs (file:// or grpc://)"),
    "summary": (73, "writes summaries through a summary writer"),
    "path-build": (73, "builds file names for file ops"),
    "cross-device": (918, "sends or receives tensors across devices or hosts"),
}


@dataclass(frozen=True, slots=True)
class Threat:
    """A module (``name`` None: the module and its submodules) or one name in a module.

    ``source``: Python source analysis reports calls of it; ``bare``: Keras Lambda bytecode
    analysis condemns its last segment as a bare global/attribute name; ``chain``: its last
    segment condemns a pickle's dotted global (``find_class`` walks getattr) whatever object it
    hangs off (``x.y.system``).
    """

    module: str
    name: str | None
    category: str
    reason: str
    cwe: int
    source: bool = False
    bare: bool = False
    chain: bool = False

    @property
    def target(self) -> str:
        return self.module if self.name is None else f"{self.module}.{self.name}"


@dataclass(frozen=True, slots=True)
class Word:
    """A bare name that condemns a Keras Lambda's code wherever it comes from."""

    word: str
    category: str
    reason: str
    cwe: int
    chain: bool = False


@dataclass(frozen=True, slots=True)
class TFOp:
    """A TensorFlow op: ``inputs`` are the indices of the inputs naming a path or address,
    ``path_attr`` the attribute that does."""

    op: str
    category: str
    reason: str
    cwe: int
    inputs: tuple[int, ...] = ()
    path_attr: str | None = None


def _cwe(category: str) -> int:
    return CATEGORIES[category][0]


def _m(
    module: str, category: str, reason: str, *, source: bool = False, bare: bool = False
) -> Threat:
    return Threat(module, None, category, reason, _cwe(category), source, bare)


def _n(
    module: str,
    names: Iterable[str],
    category: str,
    reason: str,
    *,
    source: bool | tuple[str, ...] = False,
    bare: bool | tuple[str, ...] = False,
    chain: bool | tuple[str, ...] = False,
) -> tuple[Threat, ...]:
    def flag(value: bool | tuple[str, ...], name: str) -> bool:
        return value if isinstance(value, bool) else name in value

    return tuple(
        Threat(
            module,
            n,
            category,
            reason,
            _cwe(category),
            flag(source, n),
            flag(bare, n),
            flag(chain, n),
        )
        for n in names
    )


def _w(category: str, reason: str, *words: str, chain: bool = False) -> tuple[Word, ...]:
    return tuple(Word(w, category, reason, _cwe(category), chain) for w in words)


def _ops(category: str, reason: str, ops: dict[str, tuple[int, ...]]) -> tuple[TFOp, ...]:
    return tuple(TFOp(op, category, reason, _cwe(category), inputs) for op, inputs in ops.items())


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

# --------------------------------------------------------------------------------------------
# Modules and qualified names.  A name record under a module record refines it (its own
# category and reason win for that name).
# --------------------------------------------------------------------------------------------

# fmt: off
CALLABLES: tuple[Threat, ...] = (
    # --- process execution ---
    _m("os", "process", "operating-system interface: commands, files, environment", bare=True),
    _m("posix", "process", "os implementation module on POSIX", bare=True),
    _m("nt", "process", "os implementation module on Windows", bare=True),
    _m("subprocess", "process", "runs programs", source=True, bare=True),
    _m("_posixsubprocess", "process", "fork_exec primitive", bare=True),
    _m("pty", "process", "spawns programs on a pseudo-terminal", bare=True),
    _m("commands", "process", "Python 2 shell helpers", source=True, bare=True),
    _m("popen2", "process", "Python 2 process helpers"),
    _m("multiprocessing", "process", "starts processes / runs callables", bare=True),
    _m("concurrent", "process", "executors run callables in processes/threads"),
    _m("asyncio", "process", "subprocess transports and event-loop callbacks", bare=True),
    _m("platform", "process", "runs helper commands (popen, uname helpers)"),
    _m("_osx_support", "process", "runs compiler helper commands"),
    _m("_aix_support", "process", "runs helper commands"),
    _m("_pyrepl", "process", "pager pipes text to a shell command"),
    _m("pydoc", "resolver", "locate() resolves any dotted name; pagers run commands", bare=True),
    _m("webbrowser", "process", "launches a browser process", bare=True),
    _m("antigravity", "process", "importing it opens a browser"),
    _m("idlelib", "process", "IDE internals that run code"),
    _m("lib2to3", "code", "grammar loaders that unpickle / run code"),
    _m("turtledemo", "process", "demo runner"),
    _m("test", "process", "CPython test-suite helpers run interpreters and scripts"),
    _m("pexpect", "process", "spawns programs"),
    _m("ptyprocess", "process", "spawns programs"),
    _m("sh", "process", "runs programs"),
    _m("plumbum", "process", "runs programs"),
    _m("invoke", "process", "runs shell tasks"),
    _m("fabric", "process", "runs remote/local commands"),
    _m("git", "process", "GitPython runs git commands"),
    _m("_winapi", "process", "Windows process API"),
    _m("msvcrt", "process", "Windows C runtime"),
    _m("winreg", "file", "Windows registry"),
    _m("_winreg", "file", "Windows registry"),
    _m("mlflow.projects", "process", "runs project entry points"),
    *_n(
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
    _m("imaplib", "network", "IMAP client; IMAP4_stream runs a command"),
    # --- native code ---
    _m(
        "ctypes",
        "native",
        "loads shared libraries and calls native functions",
        source=True,
        bare=True,
    ),
    _m("_ctypes", "native", "ctypes implementation"),
    _m("cffi", "native", "foreign function interface", source=True, bare=True),
    # --- files ---
    *_n("builtins", ("open",), "file", "opens files", bare=True),
    *_n("io", ("open", "open_code", "FileIO"), "file", "opens files", bare=("FileIO",)),
    _m("_io", "file", "io implementation: FileIO, open", bare=True),
    _m("shutil", "file", "copies, moves and deletes files", bare=True),
    _m("tempfile", "file", "creates files and directories", bare=True),
    _m("fileinput", "file", "reads files"),
    _m("glob", "file", "lists the file system"),
    _m("filecmp", "file", "reads files"),
    _m("linecache", "file", "reads source files"),
    _m("tarfile", "file", "extracts archives"),
    _m("zipfile", "file", "extracts archives"),
    _m("shelve", "deserialization", "pickle-backed database", bare=True),
    _m("dbm", "file", "database files"),
    _m("sqlite3", "file", "database files, loadable extensions"),
    _m("_sqlite3", "file", "sqlite3 implementation"),
    _m("mmap", "file", "maps files"),
    _m("logging.config", "file", "configuration (listen() runs a socket server)"),
    _m("logging.handlers", "file", "file, socket and process handlers"),
    *_n(
        "logging",
        ("FileHandler", "basicConfig", "StreamHandler", "setLoggerClass"),
        "file",
        "writes log files / redirects interpreter logging",
    ),
    *_n(
        "numpy",
        (
            "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt",
            "genfromtxt", "fromfile", "memmap", "fromregex", "DataSource",
        ),
        "file",
        "reads/writes files (numpy.load may unpickle)",
    ),
    _m("numpy.lib.npyio", "file", "numpy file I/O"),
    _m("numpy.lib._npyio_impl", "file", "numpy file I/O"),
    _m("numpy.lib.format", "deserialization", ".npy reader (object arrays unpickle)"),
    _m("numpy.f2py", "code", "compiles and runs Fortran wrappers"),
    _m("numpy.distutils", "code", "build helpers run compilers"),
    _m("numpy.testing", "code", "test helpers run code strings"),
    _m("numpy.ctypeslib", "native", "loads shared libraries"),
    _m("pandas.io", "file", "pandas readers/writers (files, URLs, pickles)"),
    *_n(
        "pandas",
        ("read_pickle", "read_csv", "read_json", "read_html", "read_sql", "eval", "read_table"),
        "file",
        "pandas readers (files, URLs, pickles) / expression evaluation",
    ),
    _m("pandas.core.computation", "eval", "expression evaluation"),
    # --- network ---
    _m("socket", "network", "network sockets", bare=True),
    _m("_socket", "network", "socket implementation"),
    _m("ssl", "network", "TLS connections (get_server_certificate connects out)", bare=True),
    _m("select", "network", "socket multiplexing"),
    _m("selectors", "network", "socket multiplexing"),
    _m("socketserver", "network", "network servers"),
    # The http package itself holds only data enums (HTTPStatus, HTTPMethod).
    _m("http.client", "network", "HTTP client"),
    _m("http.server", "network", "HTTP server (CGI handler runs programs)"),
    _m("http.cookiejar", "file", "cookie jars load and save files"),
    _m("httplib", "network", "Python 2 HTTP client", bare=True),
    _m("urllib.request", "network", "fetches URLs", bare=True),
    _m("urllib2", "network", "Python 2 URL fetcher"),
    *_n(
        "urllib",
        ("urlopen", "urlretrieve"),
        "network",
        "Python 2 URL fetchers",
        source=True,
        bare=True,
        chain=True,
    ),
    _m("ftplib", "network", "FTP client", source=True, bare=True),
    _m("smtplib", "network", "SMTP client", source=True, bare=True),
    _m("poplib", "network", "POP3 client"),
    _m("nntplib", "network", "NNTP client"),
    _m("telnetlib", "network", "telnet client", source=True, bare=True),
    _m("xmlrpc", "network", "XML-RPC client/server"),
    _m("asyncore", "network", "socket event loop"),
    _m("asynchat", "network", "socket event loop"),
    _m("requests", "network", "HTTP client", bare=True),
    _m("httpx", "network", "HTTP client", source=True),
    _m("aiohttp", "network", "HTTP client/server"),
    _m("urllib3", "network", "HTTP client"),
    _m("websocket", "network", "websocket client"),
    _m("websockets", "network", "websocket client"),
    _m("paramiko", "network", "SSH client", source=True),
    _m("pycurl", "network", "URL client"),
    _m("torch.distributed", "network", "distributed RPC and process groups"),
    # --- import machinery and evaluation ---
    *_n(
        "builtins",
        ("eval", "exec", "compile", "execfile", "input", "breakpoint", "help", "apply"),
        "eval",
        "evaluates code or starts an interactive session",
        source=("eval", "exec", "compile", "execfile"),
        bare=("eval", "exec", "compile", "execfile", "breakpoint"),
        chain=("eval", "exec", "compile"),
    ),
    *_n(
        "builtins",
        ("__import__", "reload"),
        "import",
        "imports any module",
        source=("__import__",),
        bare=True,
    ),
    *_n(
        "builtins",
        ("getattr", "setattr", "delattr", "globals", "locals", "vars", "__build_class__", "type"),
        "resolver",
        "reaches any attribute / namespace (gadget chains)",
        bare=("getattr", "setattr", "delattr", "globals", "locals", "vars"),
    ),
    *_n("builtins", ("exit", "quit", "memoryview"), "interpreter", "interpreter control"),
    _m("importlib", "import", "imports any module", bare=True),
    _m("imp", "import", "imports any module"),
    _m("_imp", "import", "import machinery"),
    _m("zipimport", "import", "imports code from archives"),
    _m("pkgutil", "resolver", "resolve_name() returns any object by name", bare=True),
    _m("_frozen_importlib", "import", "import machinery"),
    _m("_frozen_importlib_external", "import", "import machinery"),
    _m("runpy", "eval", "runs modules and code", source=True, bare=True),
    _m("code", "eval", "interactive interpreter runs code strings", bare=True),
    _m("codeop", "eval", "compiles code", bare=True),
    _m("timeit", "eval", "timeit() executes statement strings", bare=True),
    _m("cProfile", "eval", "run()/runctx() execute code strings"),
    _m("profile", "eval", "run()/runctx() execute code strings"),
    _m("_lsprof", "eval", "profiler implementation"),
    _m("pdb", "eval", "debugger runs code strings"),
    _m("bdb", "eval", "debugger runs code strings"),
    _m("trace", "eval", "Trace.run()/runctx() execute code strings"),
    _m("doctest", "eval", "runs code found in strings"),
    _m("inspect", "introspection", "reaches frames, globals and source", bare=True),
    _m("site", "interpreter", "interpreter start-up hooks"),
    _m("sys", "interpreter", "interpreter state (modules, path, hooks)", bare=True),
    _m("gc", "introspection", "reaches every live object", bare=True),
    _m("signal", "interpreter", "installs signal handlers", bare=True),
    _m("_signal", "interpreter", "signal implementation"),
    _m("atexit", "interpreter", "registers exit callbacks", bare=True),
    _m("faulthandler", "interpreter", "interpreter fault hooks"),
    _m("resource", "interpreter", "process resource limits"),
    _m("_thread", "interpreter", "starts threads running callables"),
    _m("threading", "interpreter", "starts threads running callables", bare=True),
    _m("_xxsubinterpreters", "eval", "runs code strings in sub-interpreters"),
    _m("_interpreters", "eval", "runs code strings in sub-interpreters"),
    _m("interpreters", "eval", "runs code strings in sub-interpreters"),
    _m("_xxinterpchannels", "interpreter", "sub-interpreter channels"),
    _m("IPython", "eval", "interactive shell runs code"),
    *_n("numexpr", ("evaluate", "re_evaluate"), "eval", "evaluates expression strings"),
    *_n("sympy", ("sympify", "parse_expr", "lambdify"), "eval", "evaluates expression strings"),
    _m("sympy.parsing", "eval", "evaluates expression strings"),
    *_n(
        "yaml",
        ("load", "unsafe_load", "full_load", "load_all", "unsafe_load_all"),
        "code",
        "YAML",
    ),
    # --- callable resolvers (gadget building blocks) ---
    *_n(
        "operator",
        ("attrgetter", "itemgetter", "methodcaller", "call"),
        "resolver",
        "calls methods / reaches attributes of any object",
    ),
    *_n(
        "_operator",
        ("attrgetter", "itemgetter", "methodcaller", "call"),
        "resolver",
        "calls methods / reaches attributes of any object",
    ),
    *_n(
        "functools",
        ("reduce", "update_wrapper", "wraps", "singledispatch"),
        "resolver",
        "binds and calls arbitrary callables",
    ),
    *_n("_functools", ("reduce",), "resolver", "binds and calls arbitrary callables"),
    *_n(
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
    *_n(
        "types",
        (
            "CodeType", "FunctionType", "LambdaType", "MethodType", "ModuleType", "new_class",
            "prepare_class", "BuiltinFunctionType", "BuiltinMethodType", "CellType",
            "GeneratorType", "CoroutineType", "MethodWrapperType", "resolve_bases",
        ),
        "code",
        "builds code objects, functions or modules",
        source=("CodeType", "FunctionType"),
        bare=("CodeType", "FunctionType"),
    ),
    _m("marshal", "code", "loads code objects", bare=True),
    _m("pickle", "deserialization", "nested unpickling", bare=True),
    _m("_pickle", "deserialization", "nested unpickling", bare=True),
    _m("cPickle", "deserialization", "nested unpickling (Python 2 name)", bare=True),
    _m("pickletools", "deserialization", "pickle machinery"),
    _m("dill", "code", "rebuilds functions, code objects and modules", bare=True),
    _m("cloudpickle", "code", "rebuilds functions and code objects", bare=True),
    _m("joblib", "deserialization", "joblib.load and parallel execution", bare=True),
    *_n(
        "torch",
        ("load", "compile", "_load_global_deps"),
        "deserialization",
        "torch.load / compile",
    ),
    *_n("torch.serialization", ("load", "_load", "_legacy_load"), "deserialization", "torch.load"),
    *_n("torch.storage", ("_load_from_bytes",), "deserialization", "calls torch.load on bytes"),
    _m("torch.jit", "code", "TorchScript loading and compilation"),
    _m("torch.hub", "code", "downloads and runs repositories"),
    _m("torch.package", "code", "imports code from packages"),
    _m("torch._dynamo", "code", "compiler internals (guard evaluation)"),
    _m("torch._inductor", "code", "compiles and loads generated code"),
    _m("torch._export", "code", "program loading"),
    _m("torch.export", "code", "program loading"),
    _m("torch.fx", "code", "GraphModule reconstruction executes generated source"),
    _m("torch.utils.cpp_extension", "code", "compiles and loads C++"),
    _m("torch.utils.collect_env", "process", "runs commands"),
    _m("torch.utils.bottleneck", "eval", "profiles code strings"),
    _m("torch.utils.data.datapipes", "deserialization", "decoders unpickle data"),
    _m("torch.utils._config_module", "deserialization", "load_config unpickles"),
    _m("torch.ops", "native", "load_library and custom operators"),
    _m("torch._ops", "native", "operator registry, load_library"),
    _m("torch.classes", "native", "load_library"),
    _m("torch.library", "native", "defines operators"),
    _m("torch._C", "native", "interpreter-level internals"),
    _m("torch.multiprocessing", "process", "starts processes"),
    _m("transformers.dynamic_module_utils", "code", "imports remote code"),
    # --- package installation ---
    _m("pip", "package-install", "installs packages"),
    _m("ensurepip", "package-install", "installs pip"),
    _m("venv", "package-install", "creates environments, runs pip"),
    _m("setuptools", "package-install", "build/install machinery runs code"),
    _m("distutils", "package-install", "build machinery runs commands"),
    _m("pkg_resources", "import", "entry points import code"),
    # --- tampering with scanners ---
    _m("fickling", "scanner-tamper", "pickle scanner"),
    _m("picklescan", "scanner-tamper", "pickle scanner"),
    _m("modelscan", "scanner-tamper", "model scanner"),
    _m("modelaudit", "scanner-tamper", "model scanner"),
    _m("modelxray", "scanner-tamper", "this scanner"),
    # --- parts of the estimator packages that reach files, the network or joblib ---
    _m("sklearn.utils._testing", "file", "test helpers create temporary files"),
    # sklearn.datasets: the downloaders, the data-home helpers and the file readers/writers
    # (the package also holds Bunch, a dict, in old releases: deny exact names, not it all).
    *(
        t
        for mod in ("sklearn.datasets", "sklearn.datasets._base", "sklearn.datasets.base")
        for t in _n(
            mod, _SKLEARN_DATASETS_IO, "network", "dataset downloaders and file readers/writers"
        )
    ),
    *(
        _m(f"sklearn.datasets.{m}", "network", "dataset downloaders and file readers")
        for m in _SKLEARN_DATASETS_IO_MODULES
    ),
    _m("sklearn.externals.joblib", "deserialization", "vendored joblib (< 0.23)"),
    _m("sklearn.externals._joblib", "deserialization", "vendored joblib (< 0.23)"),
    _m("sklearn.externals.loky", "process", "vendored process executor"),
    # --- calls that Python source analysis and Lambda bytecode analysis name one by one ---
    *_n(
        "os",
        ("system", "popen"),
        "process",
        "runs a shell command",
        source=True,
        bare=True,
        chain=True,
    ),
    *_n("os", ("startfile",), "process", "opens a file with its program", chain=True),
    *_n(
        "os",
        (
            "execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe",
            "spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp",
            "spawnvpe", "posix_spawn", "posix_spawnp", "fork", "forkpty",
        ),
        "process",
        "starts or replaces processes",
        source=True,
        bare=(
            "spawnl", "spawnv", "spawnve", "spawnlp", "execv", "execve", "execl", "execvp",
            "execlp", "fork", "forkpty",
        ),
        chain=(
            "spawnv", "spawnve", "spawnl", "spawnlp", "spawnvp", "execv", "execve", "execl",
            "execlp", "execvp", "execvpe", "fork", "forkpty",
        ),
    ),
    *_n("os", ("kill",), "process", "signals processes", bare=True),
    *_n(
        "os",
        ("remove", "unlink", "rename", "chmod", "chown", "mkdir", "makedirs", "listdir",
         "scandir", "walk"),
        "file",
        "changes or lists the file system",
        bare=True,
        chain=("unlink", "chmod"),
    ),
    *_n("os", ("environ", "getenv", "putenv"), "interpreter", "process environment", bare=True),
    *_n("posix", ("system",), "process", "runs a shell command", source=True),
    *_n("nt", ("system",), "process", "runs a shell command", source=True),
    *_n(
        "subprocess",
        ("Popen", "check_output", "check_call", "getoutput", "getstatusoutput", "run", "call"),
        "process",
        "runs programs",
        bare=True,
        chain=("Popen", "check_output", "check_call", "getoutput", "getstatusoutput"),
    ),
    *_n("_posixsubprocess", ("fork_exec",), "process", "fork_exec primitive", bare=True),
    *_n("pty", ("spawn",), "process", "spawns programs", source=True, bare=True, chain=True),
    *_n("platform", ("popen",), "process", "runs a shell command", source=True),
    *_n(
        "asyncio",
        ("create_subprocess_exec", "create_subprocess_shell"),
        "process",
        "runs programs",
        source=True,
    ),
    *_n("get_ipython()", ("system", "getoutput"), "process", "IPython shell escape", source=True),
    *_n(
        "get_ipython()",
        ("run_cell", "run_line_magic", "run_cell_magic"),
        "eval",
        "IPython runs code strings",
        source=True,
    ),
    *_n("shutil", ("rmtree",), "file", "deletes directory trees", bare=True, chain=True),
    *_n(
        "pathlib.Path",
        ("write_text", "write_bytes", "read_text", "read_bytes"),
        "file",
        "reads or writes files",
        bare=True,
        chain=("write_text", "write_bytes"),
    ),
    *_n("pathlib.Path", ("symlink_to", "hardlink_to"), "file", "creates links", chain=True),
    *_n(
        "importlib",
        ("import_module", "__import__"),
        "import",
        "imports any module",
        source=True,
        bare=("import_module",),
        chain=("import_module",),
    ),
    *_n("imp", ("load_module",), "import", "imports a module from a file"),
    *_n("runpy", ("run_path", "run_module"), "eval", "runs a file or module", chain=True),
    *_n("importlib.util", ("spec_from_file_location",), "import", "imports a file", source=True),
    *_n(
        "code",
        ("interact", "InteractiveInterpreter", "InteractiveConsole"),
        "eval",
        "interactive interpreter runs code strings",
        source=True,
        bare=("InteractiveInterpreter",),
    ),
    *_n("sys", ("modules",), "interpreter", "the table of loaded modules", bare=True),
    *_n("pkgutil", ("resolve_name",), "resolver", "returns any object by name", bare=True),
    *_n("pydoc", ("locate",), "resolver", "returns any object by name", bare=True),
    # Hydra: a dotted path in a string becomes the object (``_locate``); instantiate/call call it.
    *_n(
        "hydra.utils",
        ("get_method", "get_class", "get_object", "instantiate", "call", "_locate"),
        "resolver",
        "Hydra imports any dotted path a string names (instantiate/call also call it)",
    ),
    *_n("hydra._internal.utils", ("_locate",), "resolver", "Hydra's import of any dotted path"),
    *_n("ctypes", ("CDLL", "cdll"), "native", "loads shared libraries", bare=True),
    *_n(
        "pickle",
        ("load", "loads", "Unpickler"),
        "deserialization",
        "nested unpickling",
        source=True,
        bare=("loads",),
    ),
    *_n("_pickle", ("load", "loads"), "deserialization", "nested unpickling", source=True),
    *_n("cPickle", ("load", "loads"), "deserialization", "nested unpickling", source=True),
    *_n("dill", ("load", "loads"), "code", "rebuilds functions and code objects", source=True),
    *_n(
        "cloudpickle",
        ("load", "loads"),
        "code",
        "rebuilds functions and code objects",
        source=True,
    ),
    *_n("marshal", ("load", "loads"), "code", "loads code objects", source=True),
    *_n("shelve", ("open",), "deserialization", "pickle-backed database", source=True),
    *_n("joblib", ("load",), "deserialization", "joblib.load unpickles", source=True),
    *_n(
        "socket",
        ("socket", "create_connection", "create_server"),
        "network",
        "network sockets",
        source=True,
    ),
    *_n("urllib.request", ("urlopen", "urlretrieve"), "network", "fetches URLs", source=True),
    *_n("urllib2", ("urlopen",), "network", "Python 2 URL fetcher", source=True),
    *_n(
        "http.client",
        ("HTTPConnection", "HTTPSConnection"),
        "network",
        "HTTP client",
        source=True,
    ),
    *_n(
        "requests",
        ("get", "post", "put", "request", "Session"),
        "network",
        "HTTP client",
        source=True,
    ),
    *_n("webbrowser", ("open",), "process", "launches a browser process", source=True),
)
# fmt: on

# --------------------------------------------------------------------------------------------
# Bare names a Keras Lambda's code may use that no one qualified name above stands for.  Keras 3
# runs lambdas with python_utils' globals (``os``, ``marshal``, ``codecs``, ``binascii``,
# ``types`` are bound) and tf.keras merges the module named in the config into the globals,
# so bare module names count as hits.
# --------------------------------------------------------------------------------------------

# fmt: off
WORDS: tuple[Word, ...] = (
    *_w("introspection", "reaches the builtins namespace", "__builtins__"),
    *_w("resolver", "reaches every builtin by name", "builtins"),
    *_w(
        "introspection",
        "object-model escape (reaching globals through dunder attributes)",
        "__globals__", "__subclasses__", "__class__", "__bases__", "__base__", "__mro__",
        "__code__", "__closure__", "__func__", "__self__", "__dict__", "__getattribute__",
        "__reduce__", "__reduce_ex__", "__loader__", "__spec__", "func_globals",
    ),
    *_w("file", "file system access", "io", "pathlib", "Path"),
    *_w("file", "TensorFlow file access", "gfile", "GFile", "read_file", "write_file"),
    *_w("network", "network access", "urllib", "http"),
    *_w("network", "Keras download helper", "get_file"),
    *_w(
        "decode",
        "decodes hidden payloads",
        "codecs", "base64", "b64decode", "decodebytes", "binascii", "a2b_base64", "zlib",
    ),
    *_w("code", "builds code objects and functions", "types"),
    *_w(
        "deserialization",
        "Keras loading or safe-mode switches",
        "load_model", "enable_unsafe_deserialization", "set_global_attribute",
    ),
    *_w("python", "TensorFlow Python callback", "py_func", "numpy_function"),
    *_w("native", "loads native op libraries", "load_op_library"),
    *_w("native", "loads native op libraries", "load_library", chain=True),
    *_w("code", "downloads a model (and may import its code)", "from_pretrained", chain=True),
)
# fmt: on

# --------------------------------------------------------------------------------------------
# TensorFlow ops (SavedModel / GraphDef graphs, TFLite Flex ops).
# --------------------------------------------------------------------------------------------

# fmt: off
TF_OPS: tuple[TFOp, ...] = (
    *_ops("python", "calls a Python function registered by the loading program", {
        "PyFunc": (), "PyFuncStateless": (), "EagerPyFunc": (),
    }),
    *_ops("file-read", "reads files named by its inputs", {
        "ReadFile": (0,), "MatchingFiles": (0,), "MatchingFilesDataset": (0,),
        "ExperimentalMatchingFilesDataset": (0,), "FixedLengthRecordDataset": (0,),
        "FixedLengthRecordDatasetV2": (0,), "CSVDataset": (0,), "CSVDatasetV2": (0,),
        "ExperimentalCSVDataset": (0,), "TextLineDataset": (0,), "TextLineDatasetV2": (0,),
        "TFRecordDataset": (0,), "TFRecordDatasetV2": (0,), "LMDBDataset": (0,),
        "ExperimentalLMDBDataset": (0,), "SqlDataset": (1,), "ExperimentalSqlDataset": (1,),
        "LoadDataset": (0,), "SnapshotChunkDataset": (0,), "SnapshotDatasetReader": (0,),
        "ListSnapshotChunksDataset": (0,), "LoadAndRemapMatrix": (0,),
        "GenerateVocabRemapping": (0, 1),
        "WholeFileReader": (), "WholeFileReaderV2": (), "TextLineReader": (),
        "TextLineReaderV2": (), "TFRecordReader": (), "TFRecordReaderV2": (),
        "FixedLengthRecordReader": (), "FixedLengthRecordReaderV2": (), "LMDBReader": (),
    }),
    # Read by attribute: judged one by one in tf_graph.
    TFOp("ImmutableConst", "file-read", "maps the file its memory_region_name names", 73,
         path_attr="memory_region_name"),
    TFOp("DecodeProtoV2", "file-read", "reads the descriptor file its descriptor_source names",
         73, path_attr="descriptor_source"),
    TFOp("EncodeProto", "file-read", "reads the descriptor file its descriptor_source names",
         73, path_attr="descriptor_source"),
    *_ops("asset-read", "reads a text file (standard models read their own assets)", {
        "InitializeTableFromTextFile": (1,), "InitializeTableFromTextFileV2": (1,),
    }),
    *_ops("checkpoint-read", "restores a checkpoint from a path", {
        "Restore": (0,), "RestoreV2": (0,), "RestoreSlice": (0,), "DTensorRestoreV2": (0,),
    }),
    *_ops("checkpoint-write", "writes a checkpoint to a path", {
        "Save": (0,), "SaveV2": (0,), "SaveSlices": (0,), "MergeV2Checkpoints": (0, 1),
    }),
    *_ops("file-write", "writes files named by its inputs", {
        "WriteFile": (0,), "SaveDataset": (1,), "SaveDatasetV2": (1,),
        "DatasetToTFRecord": (1,), "ExperimentalDatasetToTFRecord": (1,),
        "SnapshotDataset": (1,), "SnapshotDatasetV2": (1,), "CreateSummaryFileWriter": (1,),
        "CreateSummaryDbWriter": (1,),
    }),
    TFOp("CalibrationStatisticsSaver", "file-write", "writes the file its attribute names", 73,
         path_attr="output_file_path"),
    TFOp("PrintV2", "file-write", "prints to the file:// stream its output_stream names", 73,
         path_attr="output_stream"),
    *_ops("network", "opens network connections", {
        "RpcClient": (0,), "RpcServer": (0,), "RpcCall": (1,), "RpcServerRegister": (1,),
        "RpcServerStart": (), "RpcCheckStatus": (), "RpcGetValue": (),
        "RegisterDataset": (1,), "RegisterDatasetV2": (1,), "DataServiceDataset": (2,),
        "DataServiceDatasetV2": (2,), "DataServiceDatasetV3": (2,),
        "DataServiceDatasetV4": (2,), "DistributedSave": (1, 2),
        "FileSystemSetConfiguration": (0, 1, 2),
        "GcsConfigure": (), "BigQueryReader": (),
    }),
    *_ops("debug-url", "sends tensors to the debug URLs its attributes name", {
        "DebugIdentity": (), "DebugIdentityV2": (), "DebugIdentityV3": (),
        "DebugNanCount": (), "DebugNumericSummary": (),
    }),
    *_ops("summary", "writes summaries through a summary writer", {
        "WriteSummary": (), "WriteScalarSummary": (), "WriteAudioSummary": (),
        "WriteImageSummary": (), "WriteHistogramSummary": (), "WriteRawProtoSummary": (),
        "WriteGraphSummary": (),
    }),
    *_ops("path-build", "builds checkpoint file names", {"ShardedFilename": ()}),
    *_ops("cross-device", "sends or receives tensors across devices or hosts", {
        "CollectiveReduce": (), "CollectiveBcastSend": (), "CollectiveBcastRecv": (),
        "RecvTPUEmbeddingActivations": (), "_Send": (), "_Recv": (), "_HostSend": (),
        "_HostRecv": (),
    }),
)
# fmt: on


# --------------------------------------------------------------------------------------------
# Lookups shared by the views
# --------------------------------------------------------------------------------------------

# CPython resolves these as the builtins module.
BUILTINS_ALIASES: dict[str, str] = {"__builtin__": "builtins", "__builtins__": "builtins"}

MODULES: dict[str, Threat] = {t.module: t for t in CALLABLES if t.name is None}
NAMES: dict[tuple[str, str], Threat] = {(t.module, t.name): t for t in CALLABLES if t.name}
TF_OPS_BY_NAME: dict[str, TFOp] = {t.op: t for t in TF_OPS}


def module_threat(module: str) -> Threat | None:
    """The record denying ``module`` or one of its parent packages (nearest first)."""
    parts = module.split(".")
    for k in range(len(parts), 0, -1):
        hit = MODULES.get(".".join(parts[:k]))
        if hit is not None:
            return hit
    return None


def lookup(module: str, name: str) -> Threat | None:
    """The record condemning ``module.name``: an exact name, then a denied module on the path.

    Every split of the dotted path is tried (``module="http", name="client.HTTPConnection"``
    reaches the ``http.client`` record).  Attribute-chain re-rooting (``X.os.system``) is the
    pickle policy's business (find_class walks getattr); importers resolve module then name.
    """
    module = BUILTINS_ALIASES.get(module, module)
    parts = [*module.split("."), *name.split(".")] if name else module.split(".")
    for k in range(len(parts) - 1, 0, -1):
        m = ".".join(parts[:k])
        hit = NAMES.get((BUILTINS_ALIASES.get(m, m), ".".join(parts[k:])))
        if hit is None:
            hit = NAMES.get((BUILTINS_ALIASES.get(m, m), parts[k]))
        if hit is not None:
            return hit
    for k in range(len(parts), 0, -1):
        hit = MODULES.get(".".join(parts[:k]))
        if hit is not None:
            return hit
    return None


def bare_names() -> Iterator[tuple[str, str, str]]:
    """(bare name, category, reason) for Lambda bytecode analysis: ``bare`` records, words."""
    for t in CALLABLES:
        if t.bare:
            yield (t.target.split(".")[-1], t.category, t.reason)
    for w in WORDS:
        yield (w.word, w.category, w.reason)


def chain_segments() -> dict[str, tuple[str, str]]:
    """Attribute name -> (category, reason) for the pickle policy's dotted-global check."""
    out: dict[str, tuple[str, str]] = {}
    for t in CALLABLES:
        if t.chain:
            out[t.target.split(".")[-1]] = (t.category, t.reason)
    for w in WORDS:
        if w.chain:
            out[w.word] = (w.category, w.reason)
    return out


def source_calls() -> Iterator[tuple[str, str]]:
    """(dotted call prefix, category) for Python source analysis: the ``source`` records.

    A builtins name is also matched bare (``eval``), as source code calls it.
    """
    for t in CALLABLES:
        if t.source:
            yield (t.target, t.category)
            if t.module == "builtins" and t.name is not None:
                yield (t.name, t.category)
