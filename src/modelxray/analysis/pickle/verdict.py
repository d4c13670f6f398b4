"""Turn what the VM recorded into verdict items with severities.

Rules (allow-list first, see :mod:`.globals_policy`):

* a dangerous global invoked, instantiated or merely imported -> ``critical``
* BUILD state applied to a module-level object, or SETITEM/APPEND/ADDITEMS on one
  (attribute planting, registry poisoning) -> ``critical``
* a global computed at load time (STACK_GLOBAL with non-constant operands) -> ``critical``
* any other (unknown) callable *invoked* (REDUCE, OBJ, INST, or a computed callable) -> ``high``
* an unknown class only instantiated (NEWOBJ, ``copyreg._reconstructor``,
  ``__newobj__``...) or an unknown global merely referenced -> ``medium``
* a FRAME violation (the pickle means different things to different CPython
  versions) -> ``high``
* allowed globals -> nothing

Allowed reconstruction helpers that themselves call one of their arguments
(``copyreg._reconstructor``'s base class, ``torch._tensor._rebuild_from_type_v2``'s
function, dill's ``_create_array``...) have that argument judged as a call of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from .alloc import ALLOC_HIGH_BYTES, ALLOC_MEDIUM_BYTES, allocation, may_allocate
from .globals_policy import DEFAULT_POLICY, SINGLETON_FACTORIES, Classification, Policy
from .nested import CONTENT_JUDGED_LOADERS
from .render import Renderer, global_name, render_call
from .resolve import (
    IMPLICIT_METHOD,
    INERT_RESOLVERS,
    PLAIN_CONTAINERS,
    TYPE_LOOKUPS,
    MethodRef,
    effective_callee,
    global_path,
    instantiated_class,
    is_constant,
    method_ref,
    value_path,
)
from .values import NO_STATE, Call, Global, Mutation, PersistentRef, PickleStream, SDict

CRITICAL = "critical"
HIGH = "high"
MEDIUM = "medium"
_RANK = {CRITICAL: 3, HIGH: 2, MEDIUM: 1}

# Allowed callables that invoke or instantiate one of their arguments:
# path -> ((argument index, "invoke" | "instantiate"), ...)
DERIVED: dict[str, tuple[tuple[int, str], ...]] = {
    "copyreg._reconstructor": ((0, "instantiate"), (1, "base")),
    "copyreg.__newobj__": ((0, "instantiate"),),
    "copyreg.__newobj_ex__": ((0, "instantiate"),),
    "torch._tensor._rebuild_from_type_v2": ((0, "invoke"), (1, "instantiate")),
    "torch._tensor._rebuild_from_type": ((0, "invoke"), (1, "instantiate")),
    "torch._utils._rebuild_wrapper_subclass": ((0, "instantiate"),),
    "dill._dill._create_array": ((0, "invoke"),),
    "numpy.core.multiarray._reconstruct": ((0, "instantiate"),),
    "numpy._core.multiarray._reconstruct": ((0, "instantiate"),),
    # (name_or_instance, ctor): ctor(name) runs unless the first argument is an instance
    "numpy.random._pickle.__randomstate_ctor": ((1, "invoke"),),
    "numpy.random._pickle.__generator_ctor": ((1, "invoke"),),
    "numpy.random._pickle.__bit_generator_ctor": ((0, "invoke"),),
    "collections.defaultdict": ((0, "invoke"),),
    # partial(func, ...) stores func (and partial.__setstate__ may replace it); nothing runs
    # until the partial is called, and that call is judged as the call of func it makes
    "functools.partial": ((0, "bind"),),
    "_functools.partial": ((0, "bind"),),
    "functools.partialmethod": ((0, "bind"),),
}
_OBJECT = frozenset({"builtins.object", "__builtin__.object"})


# --- method references: ``str.split`` pickles as ``getattr(str, 'split')`` --------------------


def _public(t: type) -> frozenset[str]:
    return frozenset(n for n in dir(t) if not n.startswith("_"))


# The builtin value types on the allow-list.  Their public methods (read from the types
# themselves, so they match this interpreter exactly) compute on their arguments and touch
# nothing else -- except ``str.format``/``format_map``, whose format fields walk attributes of
# their arguments (``'{0.__init__.__globals__}'``).
_VALUE_TYPES: tuple[type, ...] = (
    str, bytes, bytearray, int, bool, float, complex, tuple, list, dict, set, frozenset, range,
    slice,
)  # fmt: skip
_NOT_PURE = frozenset({"format", "format_map"})
BUILTIN_METHODS: dict[str, frozenset[str]] = {
    f"builtins.{t.__name__}": _public(t) - _NOT_PURE for t in _VALUE_TYPES
}
# Methods that change their receiver: harmless on an object the pickle made itself, module
# state tampering when the receiver is a module-level object (``list.append(<global>, x)``).
MUTATORS: frozenset[str] = (
    _public(list) | _public(dict) | _public(set) | _public(bytearray)
) - (_public(tuple) | _public(frozenset) | _public(bytes) | {"copy", "get", "items", "keys",
                                                           "values", "fromkeys"})  # fmt: skip
# Non-dunder attributes every class has through its metaclass ``type``.
TYPE_INTROSPECTION = frozenset({"mro"})
_BUILTINS = frozenset({"builtins", "__builtin__", "__builtins__"})


def classify_method(m: MethodRef, policy: Policy | None = None) -> Classification | None:
    """Judge ``getattr(<class or constant>, '<name>')``; None when the receiver is not an
    allowed class (``getattr`` then stays an arbitrary attribute lookup)."""
    policy = policy or DEFAULT_POLICY
    if isinstance(m.receiver, Global) and classify_global(m.receiver, policy).category != "allowed":
        return None
    denied = policy.configured_denial(m.path)
    if denied is not None:
        return denied  # the team's deny entry beats the builtin-method shortcut below
    name = m.name
    if (name.startswith("__") and name.endswith("__")) or name in TYPE_INTROSPECTION:
        return Classification(
            "dangerous",
            f"{m.path}: attribute {name} reaches interpreter internals (introspection)",
            "introspection",
        )
    if name in BUILTIN_METHODS.get(m.owner, ()):
        return Classification("allowed", f"method {name} of {m.owner}", "allowed")
    c = policy.classify_path(m.path)
    if c.category != "unknown":
        return c
    return Classification(
        "unknown", f"attribute {name} of the allowed {m.owner} is not on the allow-list", "unknown"
    )


# --- objects the unpickler mutates through their own methods ------------------------------


def _state_attr(state: object, name: str) -> object:
    """``state[name]`` of a BUILD state (a dict, or the dicts of ``(dict, slotstate)``)."""
    parts = state if isinstance(state, tuple) and len(state) == 2 else (state,)
    for part in parts:
        if isinstance(part, SDict):
            for k, v in part.items:
                if type(k) is str and k == name:
                    return v
    return NO_STATE


def singleton_source(v: object) -> str | None:
    """What ``v`` is when it is an object shared with the loading process: the factory path
    (``logging.getLogger``) or, for ``getattr(<class>, name)``, the class attribute."""
    if isinstance(v, Call) and v.kind == "reduce" and isinstance(v.func, Global):
        path = global_path(v.func)
        if path in SINGLETON_FACTORIES:
            return path
        m = method_ref(v)
        if m is not None and not m.bound:
            return m.path
    return None


def _shared_why(source: str) -> str:
    why = SINGLETON_FACTORIES.get(source)
    if why is not None:
        return f"the object {source}() returns: {why}"
    return f"the class attribute {source} (module-level state)"


@dataclass(frozen=True)
class VerdictItem:
    """One reason a pickle is not clean.

    ``kind``: ``call`` (a callable invoked), ``instantiate`` (a class created without
    running its ``__init__``), ``import`` (a global only referenced), ``build`` (BUILD on
    a module-level object), ``mutation``, ``dynamic-import``, ``frame`` (parser
    differential).  ``source`` is the reconstructed pseudo-source line; ``path`` the
    nesting path (archive member, nested payload, alternate interpretation).
    """

    severity: str
    kind: str
    offset: int
    opcode: str
    module: str
    name: str
    family: str
    reason: str
    source: str
    path: tuple[str, ...] = ()
    count: int = 1
    # The caller's allow entry that cleared this item (it is reported as accepted by the
    # policy, never silently dropped); None for an item that stands.
    allowed_by: str | None = None

    @property
    def global_name(self) -> str:
        return f"{self.module}.{self.name}" if self.module else self.name


def classify_global(g: Global, policy: Policy | None = None) -> Classification:
    """Classify a recorded global (dynamic STACK_GLOBAL, EXT codes, fix_imports names)."""
    policy = policy or DEFAULT_POLICY
    if g.dynamic is not None:
        return Classification(
            "dangerous",
            "STACK_GLOBAL module/name computed at load time (hides the imported name)",
            "dynamic-import",
        )
    if g.ext_code is not None and g.module == "<ext>":
        return Classification(
            "unknown",
            f"extension code {g.ext_code} is not in the default copyreg registry",
            "unknown",
        )
    c = policy.classify(g.module, g.name)
    if c.category == "unknown" and g.module in _BUILTINS and "." in g.name:
        owner, _, meth = g.name.rpartition(".")  # find_class('builtins', 'str.split')
        if meth in BUILTIN_METHODS.get(f"builtins.{owner}", ()):
            return Classification("allowed", f"method {meth} of builtins.{owner}", "allowed")
    if g.raw_module is not None and g.raw_name is not None and c.category != "dangerous":
        raw = policy.classify(g.raw_module, g.raw_name)
        if raw.category == "dangerous":
            return raw
    return c


class _Collector:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.items: dict[tuple[object, ...], VerdictItem] = {}
        self.order: list[tuple[object, ...]] = []

    def add(self, item: VerdictItem) -> None:
        key = (
            item.severity,
            item.kind,
            item.module,
            item.name,
            item.path,
            item.source if item.severity == CRITICAL else "",
        )
        old = self.items.get(key)
        if old is None:
            self.items[key] = item
            self.order.append(key)
        else:
            self.items[key] = replace(old, count=old.count + 1)

    def result(self) -> list[VerdictItem]:
        out = [self.items[k] for k in self.order]
        out.sort(key=lambda it: (-_RANK[it.severity], it.path, it.offset))
        return out


def _item(
    severity: str,
    kind: str,
    offset: int,
    opcode: str,
    g: Global | None,
    path_name: str,
    c: Classification,
    reason: str,
    source: str,
    path: tuple[str, ...],
) -> VerdictItem:
    if g is not None and g.dynamic is None and not (g.ext_code is not None and g.module == "<ext>"):
        module, name = g.module, g.name
    else:
        module, _, name = path_name.rpartition(".") if "." in path_name else ("", "", path_name)
    return VerdictItem(severity, kind, offset, opcode, module, name, c.family, reason, source, path)


def _plain_allowed_callee(f: Global, policy: Policy) -> bool:
    """Calling ``f`` is judged "allowed" and nothing more, whatever its arguments: an allowed
    global that is no ``getattr``, content-judged loader, type lookup, inert resolver or
    callable whose arguments are judged as callables (``DERIVED``)."""
    if f.name == "getattr":
        return False
    path = global_path(f)
    if path is None or DERIVED.get(path):
        return False
    if path in CONTENT_JUDGED_LOADERS or path in TYPE_LOOKUPS or path in INERT_RESOLVERS:
        return False
    return classify_global(f, policy).category == "allowed"


def _stream_items(s: PickleStream, col: _Collector, policy: Policy) -> None:
    path = s.path
    touched: set[int] = set()

    def emit(
        sev: str, kind: str, call: Call, g: Global | None, label: str, c: Classification, why: str
    ) -> None:
        item = _item(sev, kind, call.offset, call.opcode, g, label, c, why, render_call(call), path)
        col.add(item)

    def judge_callee(v: object, mode: str, call: Call, via: str) -> None:
        """mode: "invoke" | "instantiate" | "base" (copyreg base: __new__ + maybe __init__)
        | "bind" (stored to be called later, as by functools.partial: unknown is medium)."""
        stored = mode in ("instantiate", "bind")
        if isinstance(v, Global):
            touched.add(id(v))
            c = classify_global(v, policy)
            if c.category == "allowed" or (mode == "base" and global_path(v) in _OBJECT):
                return
            name = global_name(v)
            kind = "instantiate" if mode == "instantiate" else "call"
            if c.category == "dangerous":
                why = c.reason.removeprefix(f"{name}: ")  # reasons may already name the global
                emit(CRITICAL, kind, call, v, name, c, f"{via}dangerous callable {name}: {why}")
            elif mode == "instantiate":
                emit(MEDIUM, kind, call, v, name, c, f"{via}unknown class {name} instantiated "
                     f"({c.reason})")  # fmt: skip
            elif mode == "bind":
                emit(MEDIUM, "import", call, v, name, c, f"{via}binds unknown callable {name}, "
                     f"called only if the partial is ({c.reason})")  # fmt: skip
            else:
                emit(HIGH, kind, call, v, name, c, f"{via}unknown callable {name} invoked "
                     f"({c.reason})")  # fmt: skip
            return
        if isinstance(v, Call):
            m = method_ref(v)
            mc = classify_method(m, policy) if m is not None else None
            if m is not None and mc is not None:
                if mc.category == "allowed":
                    args = call.args if isinstance(call.args, tuple) else ()
                    if m.name in MUTATORS and not m.bound and args and isinstance(args[0], Global):
                        name = global_name(args[0])
                        why = f"{via}{m.path} modifies the module-level object {name}"
                        item = _item(CRITICAL, "mutation", call.offset, call.opcode, args[0], name,
                                     mc, why, render_call(call), path)  # fmt: skip
                        col.add(item)
                    return
                if mc.category == "dangerous":
                    emit(CRITICAL, "call", call, None, m.path, mc, f"{via}calls {m.path}: "
                         f"{mc.reason}")  # fmt: skip
                else:
                    sev = MEDIUM if stored else HIGH
                    emit(sev, "call", call, None, m.path, mc, f"{via}calls method {m.path} "
                         f"({mc.reason})")  # fmt: skip
                return
            target = effective_callee(call) if v is call.func else None
            if target is None:
                target = value_path(v)
            if target is not None:
                c = policy.classify_path(target)
                if c.category == "dangerous":
                    why = f"{via}calls {target} reached at load time: {c.reason}"
                    emit(CRITICAL, "call", call, None, target, c, why)
                    return
                if c.category == "allowed":
                    return  # what computed it (getattr, a partial) is judged where it ran
            c = Classification("unknown", "callable computed at load time", "dynamic-call")
            label = target or "<computed callable>"
            why = f"{via}calls a value computed at load time ({label})"
            emit(MEDIUM if stored else HIGH, "call", call, None, label, c, why)
            return
        if isinstance(v, PersistentRef):
            c = Classification("unknown", "object returned by persistent_load", "persistent")
            why = f"{via}calls an object returned by persistent_load()"
            emit(HIGH, "call", call, None, "<persistent_load>", c, why)
            return
        if mode == "invoke" and via == "":
            c = Classification("unknown", "not a callable", "malformed")
            why = "calls a value that is not a global (malformed or hostile stream)"
            emit(HIGH, "call", call, None, f"<{type(v).__name__}>", c, why)

    content_judged = {
        n.offset
        for n in s.nested
        if n.loader in CONTENT_JUDGED_LOADERS
        and n.error is None
        and (n.kind == "archive" or (n.kind == "pickle" and all(st.ok for st in n.streams)))
    }
    # Calls of the same allowed global (a checkpoint's thousands of ``_rebuild_tensor_v2``)
    # are judged once: whether the global needs more than "allowed" depends on it alone.
    plain: dict[int, bool] = {}
    for call in s.calls:
        f = call.func
        if type(f) is Global:
            quiet = plain.get(id(f))
            if quiet is None:
                quiet = plain[id(f)] = _plain_allowed_callee(f, policy)
                if quiet:
                    touched.add(id(f))
            if quiet:
                continue
        mr = method_ref(call)
        mc = classify_method(mr, policy) if mr is not None else None
        if mr is not None and mc is not None:
            # getattr(<allowed class or constant>, '<name>'): a method reference, judged as
            # the attribute it names (and again wherever it is called)
            touched.add(id(call.func))
            if mc.category == "dangerous":
                emit(CRITICAL, "call", call, None, mr.path, mc, f"getattr reaches {mr.path}: "
                     f"{mc.reason}")  # fmt: skip
            elif mc.category == "unknown":
                emit(MEDIUM, "import", call, None, mr.path, mc, f"references {mr.path} "
                     f"({mc.reason})")  # fmt: skip
            continue
        f = call.func
        # A global the team's policy denies is judged as the call it is, never by a shortcut.
        fpath = global_path(f) if isinstance(f, Global) else None
        if fpath is not None and policy.configured_denial(fpath) is not None:
            fpath = None
        if call.offset in content_judged and fpath in CONTENT_JUDGED_LOADERS:
            # the bytes it loads were decoded and are judged as that loader reads them
            touched.add(id(f))
            continue
        if (
            call.kind == "reduce"
            and isinstance(f, Global)
            and fpath in TYPE_LOOKUPS
            and (target := value_path(call)) is not None
        ):
            # dill's _load_type('object') looks a type up in dill's own table: it is a
            # reference to that type, judged as one
            touched.add(id(f))
            c = policy.classify_path(target)
            if c.category == "dangerous":
                emit(CRITICAL, "import", call, None, target, c, f"{global_name(f)} returns "
                     f"{target}: {c.reason}")  # fmt: skip
            elif c.category == "unknown":
                emit(MEDIUM, "import", call, None, target, c, f"{global_name(f)} returns "
                     f"{target} ({c.reason})")  # fmt: skip
            continue
        if (
            call.kind == "reduce"
            and isinstance(f, Global)
            and fpath in INERT_RESOLVERS
            and is_constant(call.args)
        ):
            # operator.methodcaller('split', ',') stores a name; calling it is judged
            # where it happens (the receiver then decides), building it runs nothing
            touched.add(id(f))
            name = global_name(f)
            c = classify_global(f, policy)
            why = f"builds {name} from constants (runs nothing; each call of it is judged)"
            emit(MEDIUM, "import", call, f, name, c, why)
            continue
        mode = "instantiate" if call.kind in ("newobj", "newobj_ex") else "invoke"
        judge_callee(call.func, mode, call, "")
        f = call.func
        if isinstance(f, Global) and classify_global(f, policy).category == "allowed":
            derived = DERIVED.get(global_path(f) or "")
            if derived and isinstance(call.args, tuple):
                for idx, how in derived:
                    if idx < len(call.args):
                        arg = call.args[idx]
                        if isinstance(arg, (Global, Call, PersistentRef)):
                            judge_callee(arg, how, call, f"via {global_name(f)}: ")

    for g in s.imports:
        if id(g) in touched:
            continue
        c = classify_global(g, policy)
        if c.category == "allowed":
            continue
        name = global_name(g)
        if c.category == "dangerous":
            sev, kind = CRITICAL, ("dynamic-import" if g.dynamic is not None else "import")
            why = f"imports dangerous global {name}: {c.reason}"
        else:
            sev, kind = MEDIUM, "import"
            why = f"references unknown global {name} ({c.reason})"
        col.add(_item(sev, kind, g.offset, g.opcode, g, name, c, why, name, path))

    r = Renderer()
    for b in s.builds:
        single = singleton_source(b.obj)
        if single is not None and isinstance(b.obj, Call):
            why = (
                f"BUILD sets attributes on {_shared_why(single)} (tampers with the loading process)"
            )
            mod, _, nm = single.rpartition(".")
            col.add(VerdictItem(CRITICAL, "build", b.offset, "BUILD", mod, nm, "process-state",
                                why, r.build(b), path))  # fmt: skip
            continue
        if isinstance(b.obj, Global):
            name = global_name(b.obj)
            why = (
                f"BUILD sets attributes on the module-level object {name} "
                "(attribute planting / gadget preparation)"
            )
            item = VerdictItem(CRITICAL, "build", b.offset, "BUILD", b.obj.module, b.obj.name,
                               "attribute-planting", why, r.build(b), path)  # fmt: skip
            col.add(item)
    for m in s.mutations:
        if isinstance(m.target, Call):
            _implicit_call(m, col, policy, path, judge_callee)
            continue
        if isinstance(m.target, Global):
            name = global_name(m.target)
            why = f"{m.opcode} modifies the module-level object {name}"
            item = VerdictItem(CRITICAL, "mutation", m.offset, m.opcode, m.target.module,
                               m.target.name, "mutation", why, r.mutation(m), path)  # fmt: skip
            col.add(item)
    _allocations(s, col, path)
    frames = [(i.offset, i.message) for i in s.issues if i.kind == "frame"]
    if s.error is not None and s.error.kind == "frame":
        frames.append((s.error.offset, s.error.message))
    for offset, message in frames:
        why = f"pickle framing is interpreted differently by CPython versions: {message}"
        col.add(VerdictItem(HIGH, "frame", offset, "FRAME", "", "", "parser-differential", why,
                            "", path))  # fmt: skip


def _implicit_call(
    m: Mutation,
    col: _Collector,
    policy: Policy,
    path: tuple[str, ...],
    judge_callee: Callable[[object, str, Call, str], None],
) -> None:
    """APPEND(S)/SETITEM(S)/ADDITEMS on an object made by a call: judge the method that runs."""
    target = m.target
    assert isinstance(target, Call)
    method = IMPLICIT_METHOD.get(m.kind, m.kind)
    cls = instantiated_class(target)
    if isinstance(cls, Global) and method in PLAIN_CONTAINERS.get(cls.qualname, ()):
        return  # a builtin container stores the item (and has no __dict__ to plant in)
    source = Renderer().mutation(m)
    single = singleton_source(target)
    if single is not None:
        why = (
            f"{m.opcode} calls {method} on {_shared_why(single)} (tampers with the loading process)"
        )
        mod, _, nm = single.rpartition(".")
        col.add(VerdictItem(CRITICAL, "mutation", m.offset, m.opcode, mod, nm, "process-state",
                            why, source, path))  # fmt: skip
        return
    if method != "__setitem__" and target.state is not NO_STATE:
        # instance attributes shadow methods: a BUILD can plant the callable APPEND(S) runs
        names = ("extend", "append") if method == "extend" else (method,)
        for name in names:
            planted = _state_attr(target.state, name)
            if planted is not NO_STATE:
                fake = Call(planted, (m.value,), None, "reduce", m.offset, m.opcode)
                judge_callee(planted, "invoke", fake, f"{m.opcode} calls the {name} attribute "
                             "planted by BUILD: ")  # fmt: skip
                if not isinstance(planted, (Global, Call, PersistentRef)):
                    c = Classification("unknown", "planted attribute", "dynamic-call")
                    why = f"{m.opcode} calls the {name} attribute planted by BUILD (a constant)"
                    col.add(_item(HIGH, "call", m.offset, m.opcode, None, f"<planted {name}>",
                                  c, why, source, path))  # fmt: skip
                return
    if isinstance(cls, Global):
        c = classify_global(cls, policy)
        if c.category == "allowed":
            return  # the allow-list vouches for the class's own pickle protocol
        if c.category == "dangerous":
            return  # already critical where the class is named
        name = global_name(cls)
        why = f"{m.opcode} on an instance of the unknown {name} calls its own {method} ({c.reason})"
        col.add(_item(MEDIUM, "call", m.offset, m.opcode, cls, name, c, why, source, path))
        return
    c = Classification("unknown", "object computed at load time", "dynamic-call")
    why = f"{m.opcode} calls {method} on an object computed at load time"
    col.add(_item(MEDIUM, "call", m.offset, m.opcode, None, f"<computed>.{method}", c, why,
                  source, path))  # fmt: skip


def _allocations(s: PickleStream, col: _Collector, path: tuple[str, ...]) -> None:
    """Calls of allowed constructors whose constant arguments make the loader allocate
    a huge object (resource exhaustion, CWE-400)."""
    total = 0
    parts: list[str] = []
    first: Call | None = None
    # whether a global is an allocator, judged once per global (a checkpoint calls a few
    # globals tens of thousands of times)
    allocator: dict[int, bool] = {}
    for call in s.calls:
        f = call.func
        if type(f) is Global:
            known = allocator.get(id(f))
            if known is None:
                known = allocator[id(f)] = may_allocate(f)
            if not known:
                continue
        est = allocation(call)
        if est is None:
            continue
        level = est.level
        if level is not None:
            why = f"{est.what} allocates about {_human(est.nbytes)} when the pickle is loaded"
            item = VerdictItem(HIGH if level == "high" else MEDIUM, "allocation", call.offset,
                               call.opcode, "", est.what.split("(")[0], "resource", why,
                               render_call(call), path)  # fmt: skip
            col.add(item)
        else:
            total += est.nbytes
            parts.append(est.what)
            if first is None:
                first = call
    if first is not None and total >= ALLOC_MEDIUM_BYTES:
        sev = HIGH if total >= ALLOC_HIGH_BYTES else MEDIUM
        why = (
            f"{len(parts)} calls together allocate about {_human(total)} when the pickle is "
            f"loaded (first: {parts[0]})"
        )
        col.add(VerdictItem(sev, "allocation", first.offset, first.opcode, "", "<many>",
                            "resource", why, render_call(first), path))  # fmt: skip


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    x = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB"):
        x /= 1024
        if x < 1024 or unit == "PiB":
            break
    return f"{x:,.1f} {unit} ({n:,} bytes)"


def verdict_items(
    streams: PickleStream | Iterable[PickleStream],
    policy: Policy | None = None,
    *,
    extra_allow: Iterable[str | tuple[str, str]] = (),
    extra_deny: Iterable[str | tuple[str, str]] = (),
    cleared: bool = False,
) -> list[VerdictItem]:
    """Verdict items for one stream or a list of streams, including nested payloads and
    alternate interpretations (items only an alternate interpretation produces carry its
    ``interpretation=...`` path).  Items that repeat are merged (``count``).

    ``cleared``: also return, after them, the items the policy's configured allow entries
    cleared, each with ``allowed_by`` set (for the report to show as accepted by the policy).
    """
    if policy is None:
        extra_allow = tuple(extra_allow)
        extra_deny = tuple(extra_deny)
        policy = Policy(extra_allow, extra_deny) if extra_allow or extra_deny else DEFAULT_POLICY
    roots = [streams] if isinstance(streams, PickleStream) else list(streams)
    items = _items(roots, policy)
    unallowed = policy.without_configured_allow() if cleared else None
    if unallowed is None:
        return items
    # What the caller's allow entries cleared: the items a verdict without them has and this
    # one lacks, each named with the entry that covers it.
    kept = {(it.kind, it.module, it.name, it.path, it.offset) for it in items}
    accepted = [
        replace(it, allowed_by=policy.allow_entry_for(it.global_name) or "allow.pickle_globals")
        for it in _items(roots, unallowed)
        if (it.kind, it.module, it.name, it.path, it.offset) not in kept
    ]
    return items + accepted


def _items(roots: list[PickleStream], policy: Policy) -> list[VerdictItem]:
    col = _Collector(policy)
    for root in roots:
        for s in root.walk():
            if s.interpretation != "strict":
                continue
            _stream_items(s, col, policy)
            for alt in s.alternates:
                primary_keys = {
                    (it.kind, it.module, it.name, it.source) for it in col.items.values()
                }
                alt_col = _Collector(policy)
                _stream_items(alt, alt_col, policy)
                for it in alt_col.result():
                    if (it.kind, it.module, it.name, it.source) not in primary_keys:
                        col.add(it)
    return col.result()


def max_severity(items: Iterable[VerdictItem]) -> str | None:
    best: str | None = None
    for it in items:
        if best is None or _RANK[it.severity] > _RANK[best]:
            best = it.severity
    return best


# fmt: off
__all__ = [
    "CRITICAL", "DERIVED", "HIGH", "MEDIUM", "VerdictItem", "classify_global", "max_severity",
    "verdict_items",
]
# fmt: on
