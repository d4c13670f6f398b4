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
the last dot).  A user's deny entry beats every allow (built-in, generated or the
user's own) under every name the loader resolves to the same object; a user's allow
entry never clears what the threat catalogue denies (see :class:`Policy`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from modelxray.analysis import threats

from ._generated.allowlist import ALLOWED as GENERATED_ALLOWED
from .torch_package import demangle

Category = Literal["allowed", "dangerous", "unknown"]


@dataclass(frozen=True, slots=True)
class Classification:
    """How the policy judges a global: allowed, dangerous or unknown, and why."""

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

# Allowed callables that return an object shared with the whole loading process: BUILD or
# item assignment on their result changes the loader's own state (CWE-915).
SINGLETON_FACTORIES: dict[str, str] = {
    "logging.getLogger": "the process-wide logger registered under that name",
}

# --------------------------------------------------------------------------------------------
# DENY list: a view of the threat catalogue (analysis/threats.py), in the shape
# (module, names or None for the whole module and its submodules, family, reason).
# --------------------------------------------------------------------------------------------


def _deny_view() -> tuple[tuple[str, tuple[str, ...] | None, str, str], ...]:
    rows: list[tuple[str, tuple[str, ...] | None, str, str]] = []
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for t in threats.CALLABLES:
        if t.name is None:
            rows.append((t.module, None, t.category, t.reason))
        else:
            grouped.setdefault((t.module, t.category, t.reason), []).append(t.name)
    rows.extend((mod, tuple(names), fam, why) for (mod, fam, why), names in grouped.items())
    return tuple(rows)


DENY: tuple[tuple[str, tuple[str, ...] | None, str, str], ...] = _deny_view()

# Attribute names that, appearing as a segment of a *dotted* name, reach code execution or
# file/network effects whatever the object they hang off: the threat catalogue's ``chain``
# records, name -> (family, reason).
CHAIN_DANGER_SEGMENTS: dict[str, tuple[str, str]] = threats.chain_segments()

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
_BUILTINS_ALIASES = threats.BUILTINS_ALIASES

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
    """The allow/deny data plus the caller's extra entries, with a bounded result cache.

    Precedence, most binding first (so no allow entry can clear what a deny names):

    1. the caller's deny entries (``extra_deny``), under every name the loader resolves to
       the same object (:func:`_entry_names`): nothing allows what the team denies;
    2. the hand-reviewed :data:`ALLOW` list (and ``reviewed`` entries for one container);
    3. the threat catalogue's deny list (:data:`DENY`, dotted chains, dunders);
    4. the caller's allow entries (``extra_allow``): they never clear a catalogue threat;
    5. the generated table of exact objects, then the caller's ``module:*`` allow entries.
    """

    _CACHE_MAX = 65536

    def __init__(
        self,
        extra_allow: Iterable[str | tuple[str, str]] = (),
        extra_deny: Iterable[str | tuple[str, str]] = (),
        reviewed: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        self.allow_exact: dict[tuple[str, str], str] = {}
        self.allow_modules: dict[str, str] = {}
        for mod, names, why in ALLOW:
            for n in names:
                self.allow_exact[(mod, n)] = why
        # (module, name, why) reviewed by hand for one container, with ALLOW's precedence
        # (TorchScript's unpickler helpers, which live in the denied torch.jit package).
        for mod, n, why in reviewed:
            self.allow_exact[(mod, n)] = why
        # The generated table is consulted after the deny list (deny beats it); the
        # hand-reviewed ALLOW entries before it.
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
        # The caller's entries, kept apart from the built-in data (their precedence differs).
        self.config_allow: dict[tuple[str, str], str] = {}
        self.config_deny_names: dict[tuple[str, str], _Hit] = {}
        self.config_deny_modules: dict[str, _Hit] = {}
        # (module, name) or (module, "*") -> the entry as the caller wrote it
        self.config_allow_entries: dict[tuple[str, str], str] = {}
        self._extra_deny = tuple(extra_deny)
        self._reviewed = tuple(reviewed)
        for entry in extra_allow:
            written = entry if isinstance(entry, str) else f"{entry[0]}.{entry[1]}"
            for mod, name in _entry_names(*_split_entry(entry), aliases=False):
                self.config_allow_entries.setdefault((mod, name), written)
                if name == "*":
                    self.allow_modules[mod] = "allowed by configuration"
                else:
                    self.config_allow[(mod, name)] = "allowed by configuration"
        for entry in self._extra_deny:
            for mod, name in _entry_names(*_split_entry(entry), aliases=True):
                if name == "*":
                    self.config_deny_modules[mod] = ("configured", "denied by configuration")
                else:
                    self.config_deny_names[(mod, name)] = ("configured", "denied by configuration")
        self._cache: dict[tuple[str, str], Classification] = {}
        self._denials: dict[str, Classification | None] = {}
        self._unallowed: Policy | None = None

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
            module = _BUILTINS_ALIASES.get(path, path)
            hit = self._module_denied(module, self.config_deny_modules) or self._module_denied(
                module, self.deny_modules
            )
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
        """The deny lists' verdict on ``module.name`` alone (allow entries not consulted).

        The offline table generator uses it to keep denied objects out of the allow table.
        """
        module = _BUILTINS_ALIASES.get(module, module)
        parts = name.split(".")
        hit = self._configured_deny(module, name, parts) or self._deny(
            module, name, parts, len(parts) > 1
        )
        return None if hit is None else Classification("dangerous", hit[1], hit[0])

    def without_configured_allow(self) -> Policy | None:
        """This policy without the caller's allow entries (None when it has none): what a
        verdict would be had they not been written, to report what each entry cleared."""
        if not self.config_allow_entries:
            return None
        if self._unallowed is None:
            self._unallowed = Policy((), self._extra_deny, self._reviewed)
        return self._unallowed

    def allow_entry_for(self, path: str) -> str | None:
        """The caller's allow entry that covers the dotted ``path`` (exact, else its module)."""
        parts = path.split(".")
        for k in range(len(parts) - 1, 0, -1):
            mod = ".".join(parts[:k])
            written = self.config_allow_entries.get((mod, ".".join(parts[k:])))
            if written is None:
                written = self.config_allow_entries.get((mod, "*"))
            if written is not None:
                return written
        return None

    def configured_denial(self, path: str) -> Classification | None:
        """The caller's deny entries' verdict on a dotted path (every module/attribute split),
        or None: for shortcuts that would otherwise judge a global without :meth:`classify`
        (an allowed method of a builtin type, a loader whose payload is judged instead)."""
        if not (self.config_deny_names or self.config_deny_modules):
            return None
        if path in self._denials:
            return self._denials[path]
        found: Classification | None = None
        parts = path.split(".")
        for k in range(1, len(parts)):
            module = _BUILTINS_ALIASES.get(".".join(parts[:k]), ".".join(parts[:k]))
            hit = self._configured_deny(module, ".".join(parts[k:]), parts[k:])
            if hit is not None:
                found = Classification("dangerous", hit[1], hit[0])
                break
        if len(self._denials) >= self._CACHE_MAX:
            self._denials.clear()
        self._denials[path] = found
        return found

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _module_denied(module: str, modules: dict[str, _Hit]) -> _Hit | None:
        if not modules:
            return None
        parts = module.split(".")
        for k in range(len(parts), 0, -1):
            hit = modules.get(".".join(parts[:k]))
            if hit is not None:
                return hit
        return None

    def _classify(self, module: str, name: str) -> Classification:
        # A torch.package importer demangles its own ``<torch_package_N>.`` prefix.
        module = demangle(module)
        module = _BUILTINS_ALIASES.get(module, module)
        if not module or not name:
            return Classification("unknown", "empty module or attribute name", "unknown")
        name_parts = name.split(".")
        dotted = len(name_parts) > 1
        denied = self._configured_deny(module, name, name_parts)
        if denied is None:
            why = self.allow_exact.get((module, name))
            if why is not None:
                return Classification("allowed", why, "allowed")
            denied = self._deny(module, name, name_parts, dotted)
        if denied is not None:
            fam, reason = denied
            return Classification("dangerous", reason, fam)
        why = self.config_allow.get((module, name)) or self.allow_generated.get((module, name))
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

    def _configured_deny(self, module: str, name: str, name_parts: list[str]) -> _Hit | None:
        if not (self.config_deny_names or self.config_deny_modules):
            return None
        return _deny_in(self.config_deny_names, self.config_deny_modules, module, name, name_parts)

    def _deny(self, module: str, name: str, name_parts: list[str], dotted: bool) -> _Hit | None:
        full = f"{module}.{name}"
        hit = _deny_in(self.deny_names, self.deny_modules, module, name, name_parts)
        if hit is not None:
            return hit
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
                chained = CHAIN_DANGER_SEGMENTS.get(seg)
                if chained is not None:
                    return chained[0], f"{full}: attribute chain ends in {seg}() ({chained[1]})"
        return None


def _deny_in(
    names: dict[tuple[str, str], _Hit],
    modules: dict[str, _Hit],
    module: str,
    name: str,
    name_parts: list[str],
) -> _Hit | None:
    """Whether ``find_class(module, name)`` reaches an object or module of these deny tables,
    by the exact name, a denied (parent) module, any split of the dotted path, or an
    attribute chain re-rooted at a module it passes through (``X.os.system``)."""
    full = f"{module}.{name}"
    # 0. an exact name record refines its module's (os.remove is "file", os is "process")
    hit = names.get((module, name))
    if hit is not None:
        return hit[0], f"{full}: {hit[1]}"
    # 1. the module itself or one of its parent packages is denied as a whole
    hit = Policy._module_denied(module, modules)
    if hit is not None:
        return hit[0], f"{full}: {hit[1]}"
    mod_parts = module.split(".")
    parts = mod_parts + name_parts
    nm = len(mod_parts)
    # 2. every (prefix, next segment) split of the full path
    for k in range(1, len(parts)):
        m = ".".join(parts[:k])
        hit = names.get((_BUILTINS_ALIASES.get(m, m), parts[k]))
        if hit is not None:
            where = ".".join(parts[: k + 1])
            if where == full:
                return hit[0], f"{full}: {hit[1]}"
            return hit[0], f"{full} reaches {where}: {hit[1]}"
        if k > nm:
            hit = modules.get(m)
            if hit is not None:
                return hit[0], f"{full} reaches module {m}: {hit[1]}"
    # 3. re-rooting: an attribute of a module is often another module (X.os.system)
    last = len(parts) - 1
    for j in range(nm, len(parts)):
        seg = _BUILTINS_ALIASES.get(parts[j], parts[j])
        mhit = modules.get(seg)
        if mhit is not None and (j < last or seg in REROOT_MODULES):
            return mhit[0], f"{full}: attribute chain reaches module {seg} ({mhit[1]})"
        for k in range(j + 1, len(parts)):
            m = ".".join([seg] + parts[j + 1 : k])
            hit = names.get((m, parts[k]))
            if hit is not None:
                return hit[0], f"{full}: attribute chain reaches {m}.{parts[k]} ({hit[1]})"
            if k > j + 1:
                hit = modules.get(m)
                if hit is not None:
                    return hit[0], f"{full}: attribute chain reaches module {m} ({hit[1]})"
    return None


def _entry_names(module: str, name: str, *, aliases: bool) -> list[tuple[str, str]]:
    """Every ``(module, name)`` under which the loader resolves the object an entry names.

    The entry as written; the name CPython's protocol < 3 ``fix_imports`` maps it to
    (``__builtin__.set`` is ``builtins.set``, ``copy_reg`` is ``copyreg``); and, for deny
    entries (``aliases``), every other path the libraries bind the same object under, from
    the generated alias table (``torch.nn.Linear`` is ``torch.nn.modules.linear.Linear``,
    ``functools.partial`` is ``_functools.partial``) -- so no second name reaches a denied
    object.  Allow entries are never widened to names the team did not write.
    """
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    out = [(module, name)]
    mapped = NAME_MAPPING.get((module, name))
    if mapped is None:
        base = _BUILTINS_ALIASES.get(module, IMPORT_MAPPING.get(module, module))
        mapped = (base, name)
    if mapped not in out:
        out.append(mapped)
    if aliases and name != "*":
        from modelxray.analysis._generated.import_aliases import ALIASES

        for mod, nm in list(out):
            target = ALIASES.get(f"{mod}.{nm}", (mod, nm))
            same = [target] + [
                (alias.rpartition(".")[0], alias.rpartition(".")[2])
                for alias, defined in ALIASES.items()
                if defined == target
            ]
            out.extend(pair for pair in same if pair not in out)
    return out


DEFAULT_POLICY = Policy()


def classify(module: str, name: str, policy: Policy | None = None) -> Classification:
    """Classify ``module.name`` as ``allowed``, ``dangerous`` or ``unknown``."""
    return (policy or DEFAULT_POLICY).classify(module, name)
