"""Guarded loading: scan a model with the guard's policy before a real loader touches it.

Drop-in wrappers::

    from modelxray import guard
    state = guard.torch_load("model.pt", map_location="cpu")   # raises ModelBlockedError
    obj = guard.pickle_load(open("x.pkl", "rb"))
    est = guard.joblib_load("model.joblib")
    arr = guard.numpy_load("a.npy")
    model = guard.keras_load_model("model.keras")
    module = guard.torch_jit_load("scripted.pt")             # TorchScript: blocked by default

**The loaded bytes are the scanned bytes.**  In-memory wrappers read the content once, scan
those bytes and hand the same bytes to the real loader.  Loaders that need a path (Keras
``load_model``, ``torch.load(mmap=True)``, ``numpy.load(mmap_mode=...)`` of a pickle or an
``.npz``) get a private copy made in a fresh ``0700`` temporary folder: the copy is what is
scanned and what is loaded, so a file rewritten between the check and the load is never read
unscanned.  (A memory-mapped ``.npy`` is mapped from the original path: numpy refuses to map
object arrays, so the mapped bytes are only numbers, never a pickle.)

**The policy comes from explicit configuration only**: the ``policy`` argument, the policy
given to :func:`install`, the file named by ``$MODELXRAY_POLICY``, or ``policy.toml`` in the
user's or the site's configuration folder (``~/.config/modelxray/``, ``/etc/xdg/modelxray/``,
``/etc/modelxray/``) -- never the working directory, which may be a clone of the very model
repository being loaded.  A file is blocked when the verdict is ``blocked`` or ``error``
(unless the policy is report-only) and, failing closed, when modelxray could not recognise the
content.  The guard also blocks TorchScript archives (MX-TORCH-001) unless the policy sets a
state or severity for that rule itself: their code runs on the module's first call.

Whole-process hook::

    import modelxray.guard
    modelxray.guard.install()        # patches every loader listed below
    ...
    modelxray.guard.uninstall()

Covered by ``install()`` (now, or as soon as the library is imported):

* ``pickle``/``_pickle``: ``load``, ``loads``, ``Unpickler`` (and subclasses made after
  ``install``), the pure-Python ``_load``/``_loads``/``_Unpickler``.  Each ``load()`` reads and
  scans exactly one pickle from the stream's current position, so stacked pickles and the
  legacy ``torch.load`` format load as without the guard.
* ``torch.load`` (``mmap=True`` included), ``torch.jit.load`` (also reached by ``torch.load``
  of a TorchScript archive), ``torch.hub.load_state_dict_from_url`` (it calls ``torch.load``).
* ``joblib.load``, ``numpy.load``, ``pandas.read_pickle`` (through ``pickle.load`` and pandas'
  compatibility unpickler), ``dill`` and ``cloudpickle`` (``load``, ``loads``, ``Unpickler``),
  ``shelve`` (its unpickler), Keras ``load_model`` (``keras.saving``, ``keras.models``).
* ``transformers`` / ``diffusers`` ``from_pretrained`` on pickle checkpoints: they call
  ``torch.load`` (or ``pickle``), so they are covered through those.
* Module-level references taken *before* ``install()`` (``from pickle import loads``) are
  re-pointed to the guarded loader; classes that subclassed an unguarded ``Unpickler`` before
  ``install()`` cannot be re-based and are reported: :func:`install` warns (``GuardWarning``)
  and :func:`unguarded_references` lists them.  ``importlib.reload(pickle)`` is re-patched.

Not covered (honest):

* ``torch.hub.load`` runs a repository's ``hubconf.py`` by design: no scan can make it safe.
* C extensions that call the C unpickler directly, or their own deserialiser, are not seen.
* Class attributes holding a loader (``multiprocessing``'s ``ForkingPickler.loads``) are left
  alone: they carry the process's own inter-process messages, not files.
* Scanning holds the whole file (or one pickle) in memory for the in-memory wrappers.
* The guard decides with the scanner; what the scanner cannot see it cannot block.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.abc
import importlib.machinery
import io
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from modelxray.model import FileResult, FileStatus, Report

if TYPE_CHECKING:
    from modelxray.policy import Policy

ENV_VAR = "MODELXRAY_GUARD"
# One pickle read by a guarded load() is held in memory; beyond this it is refused.
MAX_PICKLE_BYTES = 8 * 1024 * 1024 * 1024
# Rules the guard blocks on by default (when the policy says nothing of them): the
# severity they get in the guard, and why.
GUARD_RULE_SEVERITY = {"MX-TORCH-001": "high"}

__all__ = [
    "GuardWarning",
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
    "torch_jit_load",
    "torch_load",
    "unguarded_references",
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
        if not report.files:
            lines.append("  nothing was scanned")
        super().__init__("\n".join(lines))


class GuardWarning(UserWarning):
    """A loader the guard cannot cover in this process (see :func:`unguarded_references`)."""


# ------------------------------------------------------------------------------ the check

_state = threading.local()
_installed_policy: Policy | None = None


def _policy(policy: Policy | None) -> Policy:
    """The guard's policy: explicit configuration only, never the working directory."""
    from dataclasses import replace

    from modelxray.model import Disposition, Severity
    from modelxray.policy import Policy, RuleSetting, configured_policy

    if policy is None:
        policy = _installed_policy
    if policy is None:
        policy = configured_policy() or Policy()
    missing = {k: v for k, v in GUARD_RULE_SEVERITY.items() if k not in policy.rules}
    if not missing:
        return policy
    extra = {k: RuleSetting(Disposition.BLOCK, Severity.parse(v)) for k, v in missing.items()}
    return replace(policy, rules={**policy.rules, **extra})


def _decide(name: str, report: Report, policy: Policy) -> Report:
    blocked = (
        report.failed
        or not report.files
        or (not policy.report_only and any(r.status != FileStatus.SCANNED for r in report.files))
    )
    if blocked:
        raise ModelBlockedError(name, report)
    return report


def check_bytes(data: bytes, name: str = "<bytes>", policy: Policy | None = None) -> Report:
    """Scan ``data``; raise :class:`ModelBlockedError` if the policy blocks it."""
    from modelxray.engine import ScanOptions, scan_bytes

    pol = _policy(policy)
    with _scanning():
        result: FileResult = scan_bytes(data, name, ScanOptions(policy=pol))
    return _decide(name, Report(files=[result], gate=pol.gate()), pol)


def check_path(path: str | os.PathLike[str], policy: Policy | None = None) -> Report:
    """Scan a file or folder on disk; raise :class:`ModelBlockedError` if the policy blocks it.

    This judges the path as it is now; to load what was judged, load a private copy
    (:func:`verified_copy`) rather than the path itself.
    """
    from modelxray.engine import ScanOptions, scan

    pol = _policy(policy)
    with _scanning():
        report = scan(os.fspath(path), ScanOptions(policy=pol))
    return _decide(os.fspath(path), report, pol)


@contextlib.contextmanager
def verified_copy(path: str | os.PathLike[str], policy: Policy | None = None) -> Iterator[str]:
    """A private copy of a file or folder, scanned; yields its path, removed afterwards.

    The copy lives in a fresh ``0700`` temporary folder, so the bytes a path-based loader reads
    from it are the bytes that were scanned.  Symbolic links inside a folder are copied as
    links (the scan reports those that leave it).
    """
    import shutil
    import tempfile

    src = os.fspath(path)
    folder = tempfile.mkdtemp(prefix="modelxray-guard-")
    dst = os.path.join(folder, os.path.basename(os.path.normpath(src)) or "model")
    try:
        if os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True)
        else:
            shutil.copyfile(src, dst)
        check_path(dst, policy)
        yield dst
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class _scanning:
    """Marks this thread as inside a scan (the scanner never loads, but be safe)."""

    def __enter__(self) -> None:
        _state.depth = getattr(_state, "depth", 0) + 1

    def __exit__(self, *exc: object) -> None:
        _state.depth -= 1


def _read_source(f: Any) -> tuple[bytes, str]:
    """All bytes of a path or of a binary file object from its position, and a display name."""
    if isinstance(f, (str, bytes, os.PathLike)):
        path = os.fsdecode(f)
        with builtins.open(path, "rb") as fh:
            return fh.read(), path
    data = f.read()
    if isinstance(data, str):
        raise TypeError("the file must be opened in binary mode")
    return bytes(data), str(getattr(f, "name", "<stream>"))


class _Recorder:
    """Reads from a stream exactly what a pickle parser asks for, and keeps it."""

    def __init__(self, file: Any, limit: int) -> None:
        self._read = file.read
        self._readline = file.readline
        self._limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def _keep(self, data: Any) -> bytes:
        if isinstance(data, str):
            raise TypeError("the file must be opened in binary mode")
        kept = bytes(data)
        self.size += len(kept)
        self.parts.append(kept)
        if self.size > self._limit:
            raise OverflowError(f"a pickle larger than {self._limit} bytes is not loaded")
        return kept

    def read(self, n: int = -1) -> bytes:
        room = self._limit - self.size + 1
        return self._keep(self._read(room if n is None or n < 0 else min(n, room)))

    def readline(self, n: int = -1) -> bytes:
        return self._keep(self._readline())


def _one_pickle(file: Any) -> bytes:
    """Exactly the bytes one ``pickle.load`` reads from ``file``'s position (up to STOP).

    The stream is left where the real loader leaves it.  A malformed stream yields what was
    read up to the fault: the scan judges that (a loader would have run it up to there).
    """
    import pickletools

    rec = _Recorder(file, MAX_PICKLE_BYTES)
    with contextlib.suppress(ValueError, EOFError, UnicodeDecodeError):
        for _ in pickletools.genops(rec):  # type: ignore[arg-type]  # a disassembler only
            pass
    return b"".join(rec.parts)


def _stream_name(file: Any) -> str:
    return str(getattr(file, "name", "<stream>"))


# ------------------------------------------------------------------------------ originals

_ORIGINALS: dict[str, Any] = {}
_REPLACEMENTS: dict[str, Any] = {}


def _original(key: str, fallback: Callable[[], Any]) -> Any:
    return _ORIGINALS.get(key) or fallback()


# ------------------------------------------------------------------------------ wrappers


def pickle_load(file: IO[bytes], *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``pickle.load`` after a scan of exactly the bytes it will read (one pickle)."""
    import pickle

    data = _one_pickle(file)
    check_bytes(data, _stream_name(file), policy)
    return _original("pickle.load", lambda: pickle.load)(io.BytesIO(data), *args, **kw)


def pickle_loads(data: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``pickle.loads`` after a scan of the pickle it will read."""
    import pickle

    one = _one_pickle(io.BytesIO(bytes(data)))
    check_bytes(one, "<pickle.loads>", policy)
    return _original("pickle.loads", lambda: pickle.loads)(one, *args, **kw)


def _torch_mmap(torch: Any, kw: dict[str, Any]) -> bool:
    if kw.get("mmap") is not None:
        return bool(kw["mmap"])
    config = getattr(getattr(getattr(torch, "utils", None), "serialization", None), "config", None)
    return bool(getattr(getattr(config, "load", None), "mmap", False))


def torch_load(f: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``torch.load`` after a scan; loads exactly the scanned bytes.

    With ``mmap=True`` (which needs a path) the scanned private copy is mapped.
    """
    import torch

    real = _original("torch.load", lambda: torch.load)
    if _torch_mmap(torch, kw) and isinstance(f, (str, os.PathLike)):
        with verified_copy(f, policy) as copy:
            return real(copy, *args, **kw)
    data, name = _read_source(f)
    check_bytes(data, name, policy)
    return real(io.BytesIO(data), *args, **kw)


def torch_jit_load(f: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``torch.jit.load`` after a scan; TorchScript is blocked unless the policy allows it."""
    import torch

    data, name = _read_source(f)
    check_bytes(data, name, policy)
    real = _original("torch.jit.load", lambda: torch.jit.load)
    return real(io.BytesIO(data), *args, **kw)


def joblib_load(filename: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``joblib.load`` after a scan; loads from the scanned bytes held in memory."""
    data, name = _read_source(filename)
    check_bytes(data, name, policy)
    import joblib  # type: ignore[import-untyped]

    if kw.get("mmap_mode") is not None:
        kw = {**kw, "mmap_mode": None}  # a memory map needs a path; the bytes are in memory
    return _original("joblib.load", lambda: joblib.load)(io.BytesIO(data), *args, **kw)


_NPY_MAGIC = b"\x93NUMPY"


def numpy_load(file: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """``numpy.load`` after a scan of exactly the bytes it reads.

    ``mmap_mode`` maps a ``.npy`` from its path (numpy never maps object arrays, so the mapped
    bytes are plain numbers) after the header was judged; for anything else numpy reads
    eagerly or lazily through pickle and zip, so it is served from the scanned bytes.
    """
    import numpy

    real = _original("numpy.load", lambda: numpy.load)
    mmap = kw.get("mmap_mode") if "mmap_mode" in kw else (args[0] if args else None)
    data, name = _read_source(file)
    check_bytes(data, name, policy)
    if mmap is not None and isinstance(file, (str, os.PathLike)) and data[:6] == _NPY_MAGIC:
        return real(file, *args, **kw)
    if mmap is not None:
        args, kw = args[1:], {k: v for k, v in kw.items() if k != "mmap_mode"}
    return real(io.BytesIO(data), *args, **kw)


def keras_load_model(filepath: Any, *args: Any, policy: Policy | None = None, **kw: Any) -> Any:
    """Keras ``load_model`` of a scanned private copy (Keras needs a path)."""
    real = _ORIGINALS.get("keras.load_model")
    if real is None:
        import keras  # type: ignore[import-untyped]

        real = keras.saving.load_model
    with verified_copy(filepath, policy) as copy:
        return real(copy, *args, **kw)


# ------------------------------------------------------------------------------ the hook


class _OnePickleAtATime:
    """The stream an Unpickler reads: before each ``load()``, one scanned pickle.

    The real stream is read exactly up to that pickle's STOP (so its position stays where the
    real unpickler would leave it); the unpickler reads the scanned copy.
    """

    def __init__(self, file: Any) -> None:
        self._file = file
        self._buf = io.BytesIO(b"")

    def next_pickle(self, policy: Policy | None = None) -> None:
        data = _one_pickle(self._file)
        check_bytes(data, _stream_name(self._file), policy)
        self._buf = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._buf.read(n)

    def readline(self, n: int = -1) -> bytes:
        return self._buf.readline(n)

    def readinto(self, b: Any) -> int:
        return self._buf.readinto(b)


def _guarded_unpickler(base: type) -> type:
    class GuardedUnpickler(base):  # type: ignore[misc]
        """An Unpickler that scans each pickle it is about to load."""

        def __init__(self, file: IO[bytes], *args: Any, **kw: Any) -> None:
            self.__mx_stream = _OnePickleAtATime(file)
            super().__init__(self.__mx_stream, *args, **kw)

        def load(self) -> Any:
            self.__mx_stream.next_pickle()
            return super().load()

    GuardedUnpickler.__name__ = base.__name__
    GuardedUnpickler.__qualname__ = base.__qualname__
    GuardedUnpickler.__module__ = base.__module__
    GuardedUnpickler._modelxray_guarded = True
    return GuardedUnpickler


def _make_load(key: str) -> Callable[..., Any]:
    def load(file: IO[bytes], *args: Any, **kw: Any) -> Any:
        data = _one_pickle(file)
        check_bytes(data, _stream_name(file))
        return _ORIGINALS[key](io.BytesIO(data), *args, **kw)

    return load


def _make_loads(key: str) -> Callable[..., Any]:
    def loads(data: Any, *args: Any, **kw: Any) -> Any:
        one = _one_pickle(io.BytesIO(bytes(data)))
        check_bytes(one, "<pickle.loads>")
        return _ORIGINALS[key](one, *args, **kw)

    return loads


_PATCHED: list[tuple[ModuleType, str, str]] = []


def _patch(module: ModuleType, attr: str, key: str, replacement: Any) -> None:
    if not hasattr(module, attr):
        return
    current = getattr(module, attr)
    if key in _ORIGINALS:
        if current is _REPLACEMENTS.get(key):
            return
        if current is not _ORIGINALS[key]:
            return  # someone else replaced it since: leave theirs alone
        setattr(module, attr, _REPLACEMENTS[key])  # re-executed (reload): patch again
        return
    _ORIGINALS[key] = current
    _REPLACEMENTS[key] = replacement
    _PATCHED.append((module, attr, key))
    setattr(module, attr, replacement)


def _patch_pickle_module(mod: ModuleType, prefix: str) -> None:
    _patch(mod, "load", f"{prefix}.load", _make_load(f"{prefix}.load"))
    _patch(mod, "loads", f"{prefix}.loads", _make_loads(f"{prefix}.loads"))
    base = getattr(mod, "Unpickler", None)
    if isinstance(base, type) and not getattr(base, "_modelxray_guarded", False):
        _patch(mod, "Unpickler", f"{prefix}.Unpickler", _guarded_unpickler(base))


def _patch_pickle() -> None:
    import _pickle
    import pickle

    _patch_pickle_module(_pickle, "_pickle")
    _patch_pickle_module(pickle, "pickle")
    _patch(pickle, "_load", "pickle._load", _make_load("pickle._load"))
    _patch(pickle, "_loads", "pickle._loads", _make_loads("pickle._loads"))
    _patch(pickle, "_Unpickler", "pickle._Unpickler", _guarded_unpickler(pickle._Unpickler))


def _guard_with(key: str, wrapper: Callable[..., Any]) -> Callable[..., Any]:
    def guarded(*args: Any, **kw: Any) -> Any:
        return wrapper(*args, **kw)

    guarded.__name__ = getattr(wrapper, "__name__", "guarded")
    guarded.__doc__ = wrapper.__doc__
    return guarded


def _scan_then(key: str) -> Callable[..., Any]:
    """A ``load(file)`` of a pickle-based library: one pickle scanned, then the library's own."""

    def load(file: IO[bytes], *args: Any, **kw: Any) -> Any:
        data = _one_pickle(file)
        check_bytes(data, _stream_name(file))
        return _ORIGINALS[key](io.BytesIO(data), *args, **kw)

    return load


def _patch_library(name: str, module: ModuleType) -> None:
    """Patch a library's loaders (called when it is imported, or at install if already)."""
    if name == "pickle":
        _patch_pickle()
    elif name == "torch":
        _patch(module, "load", "torch.load", _guard_with("torch.load", torch_load))
        ser = sys.modules.get("torch.serialization")
        if ser is not None and "torch.load" in _ORIGINALS:
            vars(ser)["load"] = vars(module)["load"]
        jit = sys.modules.get("torch.jit")
        if jit is not None:
            _patch(jit, "load", "torch.jit.load", _guard_with("torch.jit.load", torch_jit_load))
    elif name == "joblib":
        _patch(module, "load", "joblib.load", _guard_with("joblib.load", joblib_load))
    elif name == "numpy":
        _patch(module, "load", "numpy.load", _guard_with("numpy.load", numpy_load))
    elif name in ("dill", "cloudpickle"):
        for mod in (
            module,
            sys.modules.get(f"{name}._dill"),
            sys.modules.get(f"{name}.cloudpickle"),
        ):
            if mod is None:
                continue
            prefix = mod.__name__
            _patch(mod, "load", f"{prefix}.load", _scan_then(f"{prefix}.load"))
            _patch(mod, "loads", f"{prefix}.loads", _make_loads(f"{prefix}.loads"))
            base = getattr(mod, "Unpickler", None)
            if isinstance(base, type) and not getattr(base, "_modelxray_guarded", False):
                _patch(mod, "Unpickler", f"{prefix}.Unpickler", _guarded_unpickler(base))
    elif name == "shelve":
        base = getattr(module, "Unpickler", None)
        if isinstance(base, type) and not getattr(base, "_modelxray_guarded", False):
            _patch(module, "Unpickler", "shelve.Unpickler", _guarded_unpickler(base))
    elif name == "pandas":
        compat = sys.modules.get("pandas.compat.pickle_compat")
        base = getattr(compat, "Unpickler", None) if compat is not None else None
        if compat is not None and isinstance(base, type):
            if not getattr(base, "_modelxray_guarded", False):
                key = "pandas.compat.pickle_compat.Unpickler"
                _patch(compat, "Unpickler", key, _guarded_unpickler(base))
    elif name == "keras":
        for modname in ("keras.saving", "keras.models", "keras.src.saving.saving_api"):
            sub = sys.modules.get(modname)
            if sub is None:
                try:
                    sub = importlib.import_module(modname)
                except ImportError:
                    continue
            if getattr(sub, "load_model", None) is None:
                continue
            if "keras.load_model" not in _ORIGINALS:
                _ORIGINALS["keras.load_model"] = sub.load_model
            own = f"{modname}.load_model"
            _patch(sub, "load_model", own, _guard_with(own, keras_load_model))


_LIBRARIES = (
    "pickle",
    "torch",
    "joblib",
    "numpy",
    "dill",
    "cloudpickle",
    "shelve",
    "pandas",
    "keras",
)


class _PostImportPatcher(importlib.abc.MetaPathFinder):
    """Patches a library's loaders right after it is imported (or re-executed by reload)."""

    def __init__(self) -> None:
        self._busy: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _LIBRARIES or fullname in self._busy:
            return None
        self._busy.add(fullname)
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
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


# Libraries whose own unpicklers are only reached through an entry point the guard wraps
# (``joblib.load`` scans the whole file before joblib's unpickler runs).
_WRAPPED_ABOVE = ("joblib.",)

_hook: _PostImportPatcher | None = None
_lock = threading.Lock()
_UNGUARDED: list[str] = []


def _sweep_references() -> list[str]:
    """Re-point module-level references to unguarded pickle loaders; list what cannot be."""
    loaders = {
        id(v): k
        for k, v in _ORIGINALS.items()
        if k.split(".")[-1] in ("load", "loads", "_load", "_loads") and callable(v)
    }
    bases = tuple(
        v for k, v in _ORIGINALS.items() if k.endswith("Unpickler") and isinstance(v, type)
    )
    own = {id(m) for m, _, _ in _PATCHED}
    unguarded: list[str] = []
    for modname, mod in list(sys.modules.items()):
        if mod is None or modname.startswith("modelxray") or id(mod) in own:
            continue
        try:
            items = list(vars(mod).items())
        except TypeError:
            continue
        for attr, value in items:
            key = loaders.get(id(value))
            if key is not None and value is _ORIGINALS[key]:
                _patch(mod, attr, f"{modname}.{attr}@{key}", _REPLACEMENTS[key])
            elif (
                isinstance(value, type)
                and not modname.startswith(_WRAPPED_ABOVE)
                and bases
                and getattr(value, "__module__", None) == modname
                and issubclass(value, bases)
                and not getattr(value, "_modelxray_guarded", False)
            ):
                unguarded.append(
                    f"{modname}.{attr} subclasses an Unpickler taken before install(): "
                    "its loads are not scanned"
                )
    return unguarded


def install(policy: Policy | None = None) -> None:
    """Guard every covered loader in this process (see the module documentation)."""
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
        _UNGUARDED[:] = _sweep_references()
    if _UNGUARDED:
        warnings.warn(
            GuardWarning(
                "modelxray.guard cannot cover loaders taken before install():\n  "
                + "\n  ".join(_UNGUARDED)
            ),
            stacklevel=2,
        )


def unguarded_references() -> list[str]:
    """What :func:`install` found it could not guard (empty when everything is covered)."""
    return list(_UNGUARDED)


def uninstall() -> None:
    """Restore every original loader."""
    global _hook, _installed_policy
    with _lock:
        if _hook is not None and _hook in sys.meta_path:
            sys.meta_path.remove(_hook)
        _hook = None
        _installed_policy = None
        for module, attr, key in reversed(_PATCHED):
            if getattr(module, attr, None) is _REPLACEMENTS.get(key):
                setattr(module, attr, _ORIGINALS[key])
        _PATCHED.clear()
        _ORIGINALS.clear()
        _REPLACEMENTS.clear()
        _UNGUARDED.clear()
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
