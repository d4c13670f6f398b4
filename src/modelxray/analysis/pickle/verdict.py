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

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .globals_policy import DEFAULT_POLICY, Classification, Policy
from .render import Renderer, global_name, render_call
from .resolve import effective_callee, global_path, value_path
from .values import Call, Global, PersistentRef, PickleStream

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
}
_OBJECT = frozenset({"builtins.object", "__builtin__.object"})


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


def _stream_items(s: PickleStream, col: _Collector, policy: Policy) -> None:
    path = s.path
    touched: set[int] = set()

    def emit(
        sev: str, kind: str, call: Call, g: Global | None, label: str, c: Classification, why: str
    ) -> None:
        item = _item(sev, kind, call.offset, call.opcode, g, label, c, why, render_call(call), path)
        col.add(item)

    def judge_callee(v: object, mode: str, call: Call, via: str) -> None:
        """mode: "invoke" | "instantiate" | "base" (copyreg base: __new__ + maybe __init__)."""
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
            else:
                emit(HIGH, kind, call, v, name, c, f"{via}unknown callable {name} invoked "
                     f"({c.reason})")  # fmt: skip
            return
        if isinstance(v, Call):
            target = effective_callee(call) if v is call.func else None
            if target is None:
                target = value_path(v)
            if target is not None:
                c = policy.classify_path(target)
                if c.category == "dangerous":
                    why = f"{via}calls {target} reached at load time: {c.reason}"
                    emit(CRITICAL, "call", call, None, target, c, why)
                    return
            c = Classification("unknown", "callable computed at load time", "dynamic-call")
            label = target or "<computed callable>"
            why = f"{via}calls a value computed at load time ({label})"
            emit(MEDIUM if mode == "instantiate" else HIGH, "call", call, None, label, c, why)
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

    for call in s.calls:
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
        if isinstance(m.target, Global):
            name = global_name(m.target)
            why = f"{m.opcode} modifies the module-level object {name}"
            item = VerdictItem(CRITICAL, "mutation", m.offset, m.opcode, m.target.module,
                               m.target.name, "mutation", why, r.mutation(m), path)  # fmt: skip
            col.add(item)
    frames = [(i.offset, i.message) for i in s.issues if i.kind == "frame"]
    if s.error is not None and s.error.kind == "frame":
        frames.append((s.error.offset, s.error.message))
    for offset, message in frames:
        why = f"pickle framing is interpreted differently by CPython versions: {message}"
        col.add(VerdictItem(HIGH, "frame", offset, "FRAME", "", "", "parser-differential", why,
                            "", path))  # fmt: skip


def verdict_items(
    streams: PickleStream | Iterable[PickleStream],
    policy: Policy | None = None,
    *,
    extra_allow: Iterable[str | tuple[str, str]] = (),
    extra_deny: Iterable[str | tuple[str, str]] = (),
) -> list[VerdictItem]:
    """Verdict items for one stream or a list of streams, including nested payloads and
    alternate interpretations (items only an alternate interpretation produces carry its
    ``interpretation=...`` path).  Items that repeat are merged (``count``).
    """
    if policy is None:
        extra_allow = tuple(extra_allow)
        extra_deny = tuple(extra_deny)
        policy = Policy(extra_allow, extra_deny) if extra_allow or extra_deny else DEFAULT_POLICY
    col = _Collector(policy)
    roots = [streams] if isinstance(streams, PickleStream) else list(streams)
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
