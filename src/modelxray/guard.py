"""Guarded loading: scan a model with the active policy before a real loader touches it.

Drop-in wrappers::

    from modelxray import guard
    state = guard.torch_load("model.pt", map_location="cpu")   # raises ModelBlockedError
    obj = guard.pickle_load(open("x.pkl", "rb"))
    est = guard.joblib_load("model.joblib")
    arr = guard.numpy_load("a.npy")
    model = guard.keras_load_model("model.keras")

Each reads the file **once** into memory, scans those exact bytes, and hands the same
bytes (as a ``BytesIO``) to the real loader, so the file cannot be swapped between the
check and the load.  A file is blocked when the policy's verdict is ``blocked`` or
``error`` (unless the policy is report-only), and — fail closed — when modelxray could
not recognise the content at all.

Whole-process hook::

    import modelxray.guard
    modelxray.guard.install()        # patches pickle/_pickle, torch, joblib, numpy, keras
    ...
    modelxray.guard.uninstall()

``install()`` patches ``pickle.load``/``loads``/``Unpickler`` (and the pure-Python
``pickle._load``/``_loads``/``_Unpickler``, and ``_pickle.load``/``loads``/``Unpickler``)
immediately, and ``torch.load``, ``joblib.load``, ``numpy.load`` and Keras
``load_model`` as soon as those libraries are imported (now, if already imported).
For a whole process without editing code, set ``MODELXRAY_GUARD=1`` and either run
``python -m modelxray.guard script.py [args]`` or add to a ``sitecustomize.py`` on the
path::

    import modelxray.guard
    modelxray.guard.install_from_env()   # installs when MODELXRAY_GUARD=1

Limits (honest):

* Code that captured a reference before ``install()`` (``from pickle import loads``,
  a class that subclassed ``pickle.Unpickler`` at import time, a library holding
  ``torch.load`` in a variable) calls the original, unguarded function.
* C extensions that call the C unpickler directly (``PyObject_CallMethod`` on ``_pickle``
  internals, or their own deserialiser) are not seen.
* ``Unpickler(file)`` objects scan what the file holds *from its current position to the
  end* when constructed, then rewind; a stream that is not seekable is buffered in memory.
* Keras ``load_model`` and ``numpy.load(..., mmap_mode=...)`` need a path: those are
  scanned by path and loaded by path, so a file swapped between the two is not caught
  (the time-of-check/time-of-use window the in-memory wrappers close).
* Scanning holds the whole file in memory for the in-memory wrappers.
* The guard decides with the scanner; what the scanner cannot see it cannot block.
"""

from __future__ import annotations

import builtins
import importlib.abc
import importlib.machinery
import importlib.util
import io
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from modelxray.model import FileResult, FileStatus, Report

if TYPE_CHECKING:
    from modelxray.policy import Policy

ENV_VAR = "MODELXRAY_GUARD"

__all__ = [
    "ModelBlockedError",
    "check_bytes",
    "check_path",
    "install",
    "install_from_env",
    "installed",
    "joblib_load",
    "keras_load_model",
    "numpy_load",
    "pickle_load",
    "pickle_loads",
    "torch_load",
    "uninstall",
]


class ModelBlockedError(RuntimeError):
    """Raised instead of loading a model the policy blocks; ``report`` says why."""

    def __init__(self, name: str, report: Report) -> None:
        self.name = name
        self.report = report
        lines = [f"modelxray blocked loading {name}:"]
        for r in report.files:
            if r.status != FileStatus.SCANNED:
                lines.append(f"  {r.path}: {r.status} (not fully scanned)")
            for f in r.findings[:10]:
                lines.append(f"  [{f.severity}] {f.rule_id} at {f.location}: {f.message}")
        super().__init__("\n".join(lines))


# ------------------------------------------------------------------------------ the check

_state = threading.local()
_installed_policy: Policy | None = None


def _policy(policy: Policy | None) -> Policy:
    from modelxray.policy import Policy, find_policy

    if policy is not None:
        return policy
    if _installed_policy is not None:
        return _installed_policy
    return find_policy(os.getcwd()) or Policy()


def _decide(name: str, result: FileResult, policy: Policy) -> Report:
    report = Report(files=[result], policy=policy)
    blocked = report.failed or (
        not policy.report_only and any(r.status != FileStatus.SCANNED for r in report.files)
    )
    if blocked:
        raise ModelBlockedError(name, report)
    return report


def check_bytes(data: bytes, name: str = "<bytes>", policy: Policy | None = None) -> Report:
    """Scan ``data``; raise :class:`ModelBlockedError` if the policy blocks it."""
    from modelxray.engine import ScanOptions, scan_bytes

    pol = _policy(policy)
    with _scanning():
        result = scan_bytes(data, name, ScanOptions(policy=pol))
    return _decide(name, result, pol)


def check_path(path: str | os.PathLike[str], policy: Policy | None = None) -> Report:
    """Scan a file or folder on disk; raise :class:`ModelBlockedError` if the policy blocks it."""
    from modelxray.engine import ScanOptions, scan

    pol = _policy(policy)
    with _scanning():
        report = scan(os.fspath(path), ScanOptions(policy=pol))
    if not report.files:
        raise ModelBlockedError(os.fspath(path), report)
    blocked = report.failed or (
        not pol.report_only and any(r.status != FileStatus.SCANNED for r in report.files)
    )
    if blocked:
        raise ModelBlockedError(os.fspath(path), report)
    return report


class _scanning:
    """Marks this thread as inside a scan (the scanner never loads, but be safe)."""

    def __enter__(self) -> None:
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, *exc: object) -> None:
        _state.depth -= 1


def _read_source(f: Any) -> tuple[bytes, str, Callable[[], None]]:
    """Bytes of a path or file object, its display name, and a rewind for the file object."""
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with builtins.open(path, "rb") as fh:
            return fh.read(), path, lambda: None
    name = str(getattr(f, "name", "<stream>"))
    start: int | None = None
    try:
        if f.seekable():
            start = f.tell()
    except (AttributeError, OSError, ValueError):
        start = None
    data = f.read()
    if isinstance(data, str):
        raise TypeError("the file must be opened in binary mode")
    data = bytes(data)

    def rewind() -> None:
        if start is not None:
            f.seek(start)

    return data, name, rewind


# ------------------------------------------------------------------------------ originals

_ORIGINALS: dict[str, Any] = {}


def _original(key: str, fallback: Callable[[], Any]) -> Any:
    return _ORIGINALS.get(key) or fallback()


# ------------------------------------------------------------------------------ wrappers


def pickle_load(file: IO[bytes], *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``pickle.load`` after a scan of exactly the bytes it will read."""
    import pickle

    data, name, _ = _read_source(file)
    check_bytes(data, name, policy)
    return _original("pickle.load", lambda: pickle.load)(io.BytesIO(data), *args, **kw)


def pickle_loads(data: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``pickle.loads`` after a scan of ``data``."""
    import pickle

    raw = bytes(data)
    check_bytes(raw, "<pickle.loads>", policy)
    return _original("pickle.loads", lambda: pickle.loads)(raw, *args, **kw)


def torch_load(f: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``torch.load`` after a scan; loads from the scanned bytes held in memory."""
    data, name, _ = _read_source(f)
    check_bytes(data, name, policy)
    import torch

    return _original("torch.load", lambda: torch.load)(io.BytesIO(data), *args, **kw)


def joblib_load(filename: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``joblib.load`` after a scan; loads from the scanned bytes held in memory."""
    data, name, _ = _read_source(filename)
    check_bytes(data, name, policy)
    import joblib  # type: ignore[import-untyped]

    if kw.get("mmap_mode") is not None:
        kw = {**kw, "mmap_mode": None}  # a memory map needs a path; the bytes are in memory
    return _original("joblib.load", lambda: joblib.load)(io.BytesIO(data), *args, **kw)


def numpy_load(file: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``numpy.load`` after a scan (from the scanned bytes unless ``mmap_mode`` needs a path)."""
    import numpy

    real = _original("numpy.load", lambda: numpy.load)
    mmap = kw.get("mmap_mode") if "mmap_mode" in kw else (args[0] if args else None)
    if mmap is not None and isinstance(file, (str, os.PathLike)):
        check_path(file, policy)
        return real(file, *args, **kw)
    data, name, _ = _read_source(file)
    check_bytes(data, name, policy)
    return real(io.BytesIO(data), *args, **kw)


def keras_load_model(filepath: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """Keras ``load_model`` after a scan of the path (Keras needs a path: see the limits)."""
    check_path(filepath, policy)
    real = _ORIGINALS.get("keras.load_model")
    if real is None:
        import keras  # type: ignore[import-untyped]

        real = keras.saving.load_model
    return real(filepath, *args, **kw)


# ------------------------------------------------------------------------------ the hook


def _guarded_unpickler(base: type) -> type:
    class GuardedUnpickler(base):  # type: ignore[misc]
        """An Unpickler that scans its input before anything is loaded."""

        def __init__(self, file: IO[bytes], *args: Any, **kw: Any) -> None:
            data, name, rewind = _read_source(file)
            check_bytes(data, name)
            try:
                rewind()
                src: IO[bytes] = file
                if not file.seekable():
                    src = io.BytesIO(data)
            except (AttributeError, OSError, ValueError):
                src = io.BytesIO(data)
            super().__init__(src, *args, **kw)

    GuardedUnpickler.__name__ = base.__name__
    GuardedUnpickler.__qualname__ = base.__qualname__
    return GuardedUnpickler


def _make_load(key: str) -> Callable[..., Any]:
    def load(file: IO[bytes], *args: Any, **kw: Any) -> Any:
        data, name, _ = _read_source(file)
        check_bytes(data, name)
        return _ORIGINALS[key](io.BytesIO(data), *args, **kw)

    return load


def _make_loads(key: str) -> Callable[..., Any]:
    def loads(data: Any, *args: Any, **kw: Any) -> Any:
        raw = bytes(data)
        check_bytes(raw, "<pickle.loads>")
        return _ORIGINALS[key](raw, *args, **kw)

    return loads


def _patch(module: ModuleType, attr: str, key: str, replacement: Any) -> None:
    if key in _ORIGINALS or not hasattr(module, attr):
        return
    _ORIGINALS[key] = getattr(module, attr)
    _PATCHED.append((module, attr, key))
    setattr(module, attr, replacement)


_PATCHED: list[tuple[ModuleType, str, str]] = []


def _patch_pickle() -> None:
    import _pickle
    import pickle

    for mod, prefix in ((pickle, "pickle"), (_pickle, "_pickle")):
        _patch(mod, "load", f"{prefix}.load", _make_load(f"{prefix}.load"))
        _patch(mod, "loads", f"{prefix}.loads", _make_loads(f"{prefix}.loads"))
        base = getattr(mod, "Unpickler", None)
        if base is not None:
            _patch(mod, "Unpickler", f"{prefix}.Unpickler", _guarded_unpickler(base))
    _patch(pickle, "_load", "pickle._load", _make_load("pickle._load"))
    _patch(pickle, "_loads", "pickle._loads", _make_loads("pickle._loads"))
    _patch(pickle, "_Unpickler", "pickle._Unpickler", _guarded_unpickler(pickle._Unpickler))


def _guard_with(key: str, wrapper: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kw: Any) -> Any:
        return wrapper(*args, **kw)

    guarded.__name__ = getattr(wrapper, "__name__", "guarded")
    guarded.__doc__ = wrapper.__doc__
    return guarded


def _patch_library(name: str, module: ModuleType) -> None:
    """Patch a library's loaders (called when it is imported, or at install if already)."""
    if name == "torch":
        _patch(module, "load", "torch.load", _guard_with("torch.load", torch_load))
        ser = sys.modules.get("torch.serialization")
        if ser is not None and "torch.load" in _ORIGINALS:
            vars(ser)["load"] = vars(module)["load"]
    elif name == "joblib":
        _patch(module, "load", "joblib.load", _guard_with("joblib.load", joblib_load))
    elif name == "numpy":
        _patch(module, "load", "numpy.load", _guard_with("numpy.load", numpy_load))
    elif name == "keras":
        for modname in ("keras.saving", "keras.models", "keras.src.saving.saving_api"):
            sub = sys.modules.get(modname)
            if sub is None:
                try:
                    sub = importlib.import_module(modname)
                except ImportError:
                    continue
            key = "keras.load_model" if "keras.load_model" not in _ORIGINALS else None
            if getattr(sub, "load_model", None) is None:
                continue
            if key is not None:
                _ORIGINALS[key] = sub.load_model
            own = f"{modname}.load_model"
            if own not in _ORIGINALS:
                _ORIGINALS[own] = sub.load_model
                _PATCHED.append((sub, "load_model", own))
                setattr(sub, "load_model", _guard_with(own, keras_load_model))  # noqa: B010


_LIBRARIES = ("torch", "joblib", "numpy", "keras")


class _PostImportPatcher(importlib.abc.MetaPathFinder):
    """Patches a library's loaders right after it is first imported."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _LIBRARIES or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        loader = spec.loader
        real_exec = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            real_exec(module)
            if _hook is not None:
                _patch_library(fullname, module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_hook: _PostImportPatcher | None = None
_lock = threading.Lock()


def install(policy: Policy | None = None) -> None:
    """Guard every pickle, torch, joblib, numpy and Keras load in this process."""
    global _hook, _installed_policy
    with _lock:
        _installed_policy = policy
        if _hook is not None:
            return
        _patch_pickle()
        _hook = _PostImportPatcher()
        sys.meta_path.insert(0, _hook)
        for name in _LIBRARIES:
            mod = sys.modules.get(name)
            if mod is not None:
                _patch_library(name, mod)


def uninstall() -> None:
    """Restore every original loader."""
    global _hook, _installed_policy
    with _lock:
        if _hook is not None and _hook in sys.meta_path:
            sys.meta_path.remove(_hook)
        _hook = None
        _installed_policy = None
        for module, attr, key in reversed(_PATCHED):
            setattr(module, attr, _ORIGINALS[key])
        _PATCHED.clear()
        _ORIGINALS.clear()
        torch = sys.modules.get("torch")
        ser = sys.modules.get("torch.serialization")
        if torch is not None and ser is not None:
            vars(ser)["load"] = vars(torch)["load"]


def installed() -> bool:
    return _hook is not None


def install_from_env() -> bool:
    """Install when ``MODELXRAY_GUARD`` is ``1``/``true``/``yes``; returns whether it did."""
    if os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on"):
        install()
        return True
    return False


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m modelxray.guard script.py [args]``: run a script with the guard installed."""
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m modelxray.guard SCRIPT.py [ARGS...] | -m MODULE [ARGS...]")
        return 2
    install()
    if args[0] == "-m" and len(args) > 1:
        sys.argv = args[1:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
