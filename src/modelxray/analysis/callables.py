"""Judge a reference to ``module.name`` that a loader would import and call.

Keras configs (``{"module": ..., "class_name": "function", "config": name}``,
tf.keras ``"function"``/``"module"`` pairs) name callables that the loader
resolves with ``importlib``.  The verdict here is shared by every config
analyser.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelxray.model import Severity

KERAS_FAMILY = frozenset(
    {"keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras", "tensorflow", "tf"}
)

# Keras APIs that are not modelling code: downloads, loading/saving, global switches.
KERAS_NON_MODELLING = frozenset(
    {
        "get_file", "load_model", "save_model", "load_weights", "save_weights",
        "enable_unsafe_deserialization", "set_global_attribute", "get_global_attribute",
        "disable_interactive_logging", "register_keras_serializable", "deserialize_keras_object",
        "model_from_json", "model_from_config", "model_from_yaml", "from_config", "TFSMLayer",
        "set_floatx", "set_epsilon", "set_image_data_format", "set_backend", "clear_session",
        "set_dtype_policy", "DiskIOStore", "gfile",
    }
)  # fmt: skip

# Modules whose every callable reaches process, file, network, import or code machinery.
DANGEROUS_MODULES = frozenset(
    {
        "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "pickle",
        "_pickle", "marshal", "runpy", "pty", "ctypes", "code", "codeop", "pdb", "bdb",
        "timeit", "cProfile", "profile", "trace", "webbrowser", "urllib", "http", "requests",
        "ftplib", "smtplib", "telnetlib", "tempfile", "pathlib", "io", "_io", "pkgutil",
        "pydoc", "dill", "cloudpickle", "joblib", "shelve", "multiprocessing", "threading",
        "asyncio", "signal", "_posixsubprocess", "_thread", "gc", "inspect", "types",
        "zipimport", "commands", "platform", "uuid", "glob", "fileinput", "sqlite3", "ssl",
        "xmlrpc", "socketserver", "base64", "codecs", "zlib", "operator", "functools",
        "__builtin__", "_xxsubinterpreters", "_interpreters", "doctest", "venv",
        "ensurepip", "pip", "setuptools", "distutils", "site", "atexit", "mmap",
    }
)  # fmt: skip

DANGEROUS_BUILTINS = frozenset(
    {
        "eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "delattr",
        "globals", "locals", "vars", "breakpoint", "input", "execfile", "exit", "quit",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Judged:
    severity: Severity
    reason: str


def judge_reference(module: str | None, name: str | None) -> Judged:
    """How dangerous it is for a loader to import ``module`` and look up ``name`` in it."""
    name = name or ""
    head = name.split(".")[0]
    if module is None or module in ("", "__main__"):
        if head in DANGEROUS_BUILTINS:
            return Judged(Severity.CRITICAL, f"{name!r} is a dangerous builtin")
        return Judged(Severity.INFO, "a function of the saving script; resolved by name")
    root = module.split(".")[0]
    if root in DANGEROUS_MODULES or (root == "builtins" and head in DANGEROUS_BUILTINS):
        target = f"{module}.{name}" if name else module
        return Judged(
            Severity.CRITICAL, f"{target} reaches process, file, network or import machinery"
        )
    if root == "builtins":
        return Judged(Severity.INFO, "builtins function reference (normal for Keras names)")
    if root in KERAS_FAMILY:
        if head in KERAS_NON_MODELLING or name.split(".")[-1] in KERAS_NON_MODELLING:
            return Judged(Severity.CRITICAL, f"{module}.{name} is a Keras non-modelling API")
        return Judged(Severity.INFO, "Keras family reference")
    if not name:
        return Judged(Severity.INFO, f"module {module!r}")
    return Judged(Severity.HIGH, f"{module}.{name} is imported from outside the Keras family")
