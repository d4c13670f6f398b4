"""Judge what a YAML/OmegaConf/Hydra config makes its loader import and call.

Works on the node trees of :mod:`modelxray.formats.yaml_doc` (never on constructed objects) and
returns :class:`~modelxray.model.Judgement` values; the ``config`` rule family maps their kinds
to rules.  What is judged, and how the loaders treat it:

* ``_target_`` -- ``hydra.utils.instantiate`` (NeMo restores ``.nemo`` models with it) imports
  the dotted path the way pickle's ``find_class`` does (``hydra._internal.utils._locate``: import
  the first segment, then ``getattr``/import each next one) and calls it with the node's other
  keys (``_args_`` positionally); ``_partial_: true`` returns ``functools.partial`` of it instead,
  still importing it.  The path is judged by the pickle policy
  (:mod:`modelxray.analysis.pickle.globals_policy`): the threat catalogue, then the allow-list
  of exact objects (a public alias such as ``torch.nn.Linear`` is the object it names,
  ``analysis/_generated/import_aliases.py``), so ``_target_: subprocess.run`` is critical as a
  pickle global ``subprocess.run`` is, and an unknown class is medium as an unknown global is.
  A target written as an interpolation is resolved when it points at a literal in the same
  document, and reported as computed otherwise.
* NeMo's older ``target:``/``cls:`` keys (``Serialization.from_config_dict``, ``import_class_by_
  path``): judged when they hold a dotted path; only a dangerous one is reported (the keys are
  common words in other configs).
* YAML Python tags (``!!python/object/apply:X`` ...): what ``yaml.unsafe_load`` would import or
  call, judged like ``_target_`` (PyYAML splits ``X`` at its last dot).
* OmegaConf resolvers (``${name:args}``): the built-in ones (``oc.env`` reads the environment:
  info), names the catalogue condemns as a builtin or dotted callable (``${eval:...}`` runs
  code when the program registered ``eval``, as many do: critical), any other name a custom
  resolver whose code is not in the file (low).
* Hydra overrides (``.hydra/overrides.yaml``, ``hydra.overrides.task``): ``key._target_=value``
  strings are judged like ``_target_`` keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelxray.analysis import threats
from modelxray.budget import Budget
from modelxray.formats.yaml_doc import MAPPING, SCALAR, SEQUENCE, YAML_TAG_PREFIX, YamlNode
from modelxray.formats.yaml_doc import key_text as _key
from modelxray.model import ALLOWED_BY, Judgement, Severity

if TYPE_CHECKING:
    from modelxray.analysis.pickle.globals_policy import Policy

TARGET_KEY = "_target_"
# Keys hydra.utils.instantiate reads beside _target_ (hydra/_internal/instantiate/_instantiate2.py
# ``_Keys``); recorded as evidence.
HYDRA_KEYS = ("_args_", "_partial_", "_recursive_", "_convert_")
# NeMo's Serialization.from_config_dict also imports ``target`` / ``cls`` (older configs).
NEMO_TARGET_KEYS = ("target", "cls")

# Resolvers OmegaConf 2.1+ registers itself (omegaconf/omegaconf.py register_default_resolvers;
# "env" is OmegaConf 2.0's) and the ones Hydra registers (hydra/core/utils.py).
BUILTIN_RESOLVERS = frozenset(
    {
        "oc.env", "oc.create", "oc.decode", "oc.deprecated", "oc.select", "oc.dict.keys",
        "oc.dict.values", "env", "hydra", "now",
    }
)  # fmt: skip
ENV_RESOLVERS = frozenset({"oc.env", "env"})

# PyYAML's data tags (constructor.py FullConstructor): they build plain values, import nothing.
PYTHON_DATA_TAGS = frozenset(
    {
        "none", "bool", "str", "unicode", "bytes", "int", "long", "float", "complex", "list",
        "tuple", "dict",
    }
)  # fmt: skip
# Tags whose suffix names what PyYAML imports (``python/name:os.system``): tag -> what it does.
PYTHON_CODE_TAGS = {
    "python/object/apply": "imports and calls",
    "python/object/new": "imports and instantiates (cls.__new__)",
    "python/object": "imports and instantiates (setting its state)",
    "python/name": "imports and returns",
    "python/module": "imports",
}

_RESOLVER = re.compile(r"(?<!\\)\$\{\s*([A-Za-z_][\w.\-]*)\s*:")
_NODE_INTERPOLATION = re.compile(r"^\$\{\s*(\.*[\w.\-\[\]]+)\s*\}$")
_OVERRIDE = re.compile(r"^\s*(?:~|\+\+?)?([\w./@\-\[\]]+)\s*=(.*)$", re.S)
_INLINE_TARGET = re.compile(r"""_target_['"]?\s*:\s*['"]?([A-Za-z_][\w.]*)""")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$")
_MAX_ARG_PREVIEW = 200
_MAX_LOCATIONS = 8
_MAX_INTERPOLATION_HOPS = 16


@dataclass
class _Seen:
    first: tuple[str, ...]
    count: int = 1
    more: list[str] = field(default_factory=list)


@dataclass
class _Collector:
    """Judgements merged by (kind, target): a config names the same class in many places."""

    found: dict[tuple[str, str], tuple[Judgement, _Seen]] = field(default_factory=dict)

    def add(self, key: tuple[str, str], where: tuple[str, ...], make: Any) -> None:
        seen = self.found.get(key)
        if seen is not None:
            seen[1].count += 1
            if len(seen[1].more) < _MAX_LOCATIONS:
                seen[1].more.append("/".join(where))
            return
        self.found[key] = (make(), _Seen(where))

    def result(self) -> Iterator[Judgement]:
        for judgement, seen in self.found.values():
            if seen.count > 1:
                judgement.evidence["occurrences"] = seen.count
                judgement.evidence["also_at"] = seen.more
            yield judgement


def classify_target(path: str, policy: Policy | None = None) -> tuple[str, str, str]:
    """(category, reason, family) of a dotted path a loader imports the way ``_locate`` does:
    the pickle policy's verdict on it (with the scan policy's pickle-global additions when
    given), a public alias judged as the object it names."""
    from modelxray.analysis._generated.import_aliases import ALIASES
    from modelxray.analysis.pickle.globals_policy import DEFAULT_POLICY

    policy = policy or DEFAULT_POLICY
    c = policy.classify_path(path)
    if c.category == "unknown":
        defined = ALIASES.get(path)
        if defined is not None:
            d = policy.classify(*defined)
            if d.category != "unknown":  # allowed, or denied by the team's policy
                return d.category, f"{path} is {'.'.join(defined)}: {d.reason}", d.family
    return c.category, c.reason, c.family


def _classify_python_name(
    name: str, module_tag: bool, policy: Policy | None
) -> tuple[str, str, str]:
    from modelxray.analysis.pickle.globals_policy import DEFAULT_POLICY

    if module_tag:
        return classify_target(name, policy)
    module, dot, attr = name.rpartition(".")
    c = (policy or DEFAULT_POLICY).classify(module if dot else "builtins", attr)
    return c.category, c.reason, c.family


def _cleared(
    path: str, policy: Policy | None, judge: Callable[[Policy | None], tuple[str, str, str]]
) -> tuple[tuple[str, str, str], dict[str, str]] | None:
    """When the policy's own allow entries are what allowed ``path``: its verdict without
    them and the entry (for the evidence: the policy accepts it with the entry's reason)."""
    unallowed = policy.without_configured_allow() if policy is not None else None
    if policy is None or unallowed is None:
        return None
    judged = judge(unallowed)
    if judged[0] == "allowed":
        return None
    entry = policy.allow_entry_for(path) or "allow.pickle_globals"
    return judged, {"list": "allow.pickle_globals", "entry": entry}


def _scalar_preview(node: YamlNode) -> Any:
    if node.kind == SCALAR:
        return node.value[:_MAX_ARG_PREVIEW]
    if node.kind == SEQUENCE:
        return [_scalar_preview(i) if i.kind == SCALAR else f"<{i.kind}>" for i in node.items[:8]]
    return {_key(k)[:80]: (v.value[:_MAX_ARG_PREVIEW] if v.kind == SCALAR else f"<{v.kind}>")
            for k, v in node.pairs[:8]}  # fmt: skip


class _Judge:
    def __init__(self, roots: list[YamlNode], budget: Budget, policy: Policy | None) -> None:
        self.roots = roots
        self.budget = budget
        self.policy = policy
        self.out = _Collector()

    # -- the walk ---------------------------------------------------------------------------
    def run(self) -> Iterator[Judgement]:
        seen: set[int] = set()
        multi = len(self.roots) > 1
        for n, root in enumerate(self.roots):
            base = (f"document:{n}",) if multi else ()
            todo: list[tuple[YamlNode, tuple[str, ...]]] = [(root, base)]
            while todo:
                node, where = todo.pop()
                if id(node) in seen:
                    continue  # an alias: the node it names is judged once
                seen.add(id(node))
                self.budget.tick()
                if node.tag is not None:
                    self._tag(node, where)
                if node.kind == SCALAR:
                    self._scalar(node, where)
                elif node.kind == SEQUENCE:
                    for i, item in reversed(list(enumerate(node.items))):
                        todo.append((item, (*where, str(i))))
                else:
                    self._mapping(node, root, where)
                    for k, v in reversed(node.pairs):
                        if k.kind != SCALAR:
                            todo.append((k, (*where, "<key>")))
                        elif k.tag is not None:
                            self._tag(k, where)
                        todo.append((v, (*where, _key(k))))
        yield from self.out.result()

    # -- _target_ -----------------------------------------------------------------------------
    def _mapping(self, node: YamlNode, root: YamlNode, where: tuple[str, ...]) -> None:
        target = node.get(TARGET_KEY)
        if target is not None and target.kind == SCALAR:
            evidence: dict[str, Any] = {"key": TARGET_KEY}
            for key in HYDRA_KEYS:
                value = node.get(key)
                if value is not None:
                    evidence[key] = _scalar_preview(value)
            args = {_key(k)[:80]: _scalar_preview(v) for k, v in node.pairs[:12]
                    if _key(k) not in (TARGET_KEY, *HYDRA_KEYS)}  # fmt: skip
            if args:
                evidence["arguments"] = args
            partial = node.get("_partial_")
            how = (
                "import (and wrap in functools.partial, called later)"
                if partial is not None and partial.is_true
                else "import and call"
            )
            self._target(target.value, root, (*where, TARGET_KEY), evidence, how)
        for key in NEMO_TARGET_KEYS:
            value = node.get(key)
            if value is not None and value.kind == SCALAR and _DOTTED.match(value.value.strip()):
                category, reason, family = classify_target(value.value.strip(), self.policy)
                if category == "dangerous":
                    self._report_target(
                        value.value.strip(), (*where, key), {"key": key}, category, reason,
                        family, "NeMo's from_config_dict would import and call",
                    )  # fmt: skip

    def _target(
        self,
        text: str,
        root: YamlNode,
        where: tuple[str, ...],
        evidence: dict[str, Any],
        how: str,
    ) -> None:
        path = text.strip()
        if "${" in path:
            resolved = self._resolve(path, root, where[:-2])
            if resolved is None:
                evidence = {**evidence, "target": path}
                self.out.add(
                    ("computed-target", path),
                    where,
                    lambda: Judgement(
                        "computed-target",
                        f"hydra.utils.instantiate would {how} a _target_ computed "
                        f"when the config is resolved ({path!r}): what it imports is not in the "
                        "file",
                        evidence,
                        where,
                    ),
                )
                return
            evidence = {**evidence, "interpolation": path}
            path = resolved.strip()
        category, reason, family = classify_target(path, self.policy)
        self._report_target(
            path, where, evidence, category, reason, family,
            f"hydra.utils.instantiate would {how}",
        )  # fmt: skip

    def _report_target(
        self,
        path: str,
        where: tuple[str, ...],
        evidence: dict[str, Any],
        category: str,
        reason: str,
        family: str,
        how: str,
    ) -> None:
        if category == "allowed":
            cleared = _cleared(path, self.policy, lambda p: classify_target(path, p))
            if cleared is None:
                return
            (category, reason, family), entry = cleared
            evidence = {**evidence, ALLOWED_BY: entry}
        evidence = {**evidence, "target": path, "category": family, "reason": reason}
        if category == "dangerous":
            kind, message = "dangerous-target", f"{how} {path} ({family}): {reason}"
            severity = Severity.CRITICAL
        else:
            kind, message = "unknown-target", f"{how} {path}, which is not on the allow-list"
            severity = Severity.MEDIUM
        self.out.add(
            (kind, path), where, lambda: Judgement(kind, message, evidence, where, severity)
        )

    def _resolve(self, text: str, root: YamlNode, parent: tuple[str, ...]) -> str | None:
        """A node interpolation ``${a.b}`` / ``${.x}`` that ends at a literal in the document."""
        for _ in range(_MAX_INTERPOLATION_HOPS):
            m = _NODE_INTERPOLATION.match(text.strip())
            if m is None:
                return None
            ref = m.group(1)
            if ref.startswith("."):
                dots = len(ref) - len(ref.lstrip("."))
                start = list(parent[: len(parent) - (dots - 1)]) if dots - 1 <= len(parent) else []
                parts = start + [p for p in ref[dots:].split(".") if p]
            else:
                parts = [p for p in ref.split(".") if p]
            node: YamlNode | None = root
            for part in parts:
                if node is None:
                    return None
                if node.kind == MAPPING:
                    node = node.get(part)
                elif node.kind == SEQUENCE and part.isdigit() and int(part) < len(node.items):
                    node = node.items[int(part)]
                else:
                    return None
            if node is None or node.kind != SCALAR:
                return None
            if "${" not in node.value:
                return node.value
            text = node.value
        return None

    # -- scalars: resolvers and overrides -----------------------------------------------------
    def _scalar(self, node: YamlNode, where: tuple[str, ...]) -> None:
        value = node.value
        if "${" in value:
            for call in _RESOLVER.finditer(value):
                self._resolver(call.group(1), value, where)
        if "_target_" in value:
            override = _OVERRIDE.match(value)
            if override is not None:
                key, rhs = override.group(1), override.group(2).strip()
                if key.split(".")[-1] == TARGET_KEY or key.endswith("/_target_"):
                    self._override(rhs.strip("'\""), value, where)
                for inline in _INLINE_TARGET.finditer(rhs):
                    self._override(inline.group(1), value, where)

    def _override(self, path: str, override: str, where: tuple[str, ...]) -> None:
        if not path or "${" in path:
            return
        category, reason, family = classify_target(path, self.policy)
        self._report_target(
            path, where, {"override": override[:_MAX_ARG_PREVIEW]}, category, reason, family,
            "a Hydra override sets _target_: hydra.utils.instantiate would import and call",
        )  # fmt: skip

    def _resolver(self, name: str, value: str, where: tuple[str, ...]) -> None:
        evidence: dict[str, Any] = {"resolver": name, "value": value[:_MAX_ARG_PREVIEW]}
        if name in ENV_RESOLVERS:
            var = value.split(name, 1)[1].lstrip(" :").split(",")[0].split("}")[0].strip()
            evidence["variable"] = var
            self.out.add(
                ("resolver", f"{name}:{var}"),
                where,
                lambda: Judgement(
                    "resolver",
                    f"the config reads the environment variable {var!r} when it is resolved "
                    f"(${{{name}:...}})",
                    evidence,
                    where,
                    Severity.INFO,
                ),
            )
            return
        if name in BUILTIN_RESOLVERS:
            return
        hit = threats.lookup("builtins", name) if "." not in name else None
        category, reason, family = (
            ("dangerous", f"{name}: {hit.reason}", hit.category)
            if hit is not None
            else classify_target(name, self.policy)
            if "." in name
            else ("unknown", "", "")
        )
        if category == "dangerous":
            evidence.update(category=family, reason=reason)
            message = (
                f"${{{name}:...}} calls the resolver {name!r}, which the threat catalogue "
                f"condemns ({family}: {reason}); programs that register it under this name "
                "(OmegaConf.register_new_resolver) run the argument"
            )
            self.out.add(
                ("resolver", name),
                where,
                lambda: Judgement("resolver", message, evidence, where, Severity.CRITICAL),
            )
            return
        self.out.add(
            ("resolver", name),
            where,
            lambda: Judgement(
                "resolver",
                f"${{{name}:...}} calls a custom resolver {name!r}: it runs only when the loading "
                "program registered it, and its code is not in the file",
                evidence,
                where,
                Severity.LOW,
            ),
        )

    # -- YAML tags ------------------------------------------------------------------------------
    def _tag(self, node: YamlNode, where: tuple[str, ...]) -> None:
        tag = node.tag or ""
        if not tag.startswith(YAML_TAG_PREFIX + "python/"):
            return
        suffix = tag[len(YAML_TAG_PREFIX) :]
        kind, _, name = suffix.partition(":")
        if kind in ("python/" + t for t in PYTHON_DATA_TAGS) and not name:
            return
        evidence: dict[str, Any] = {"tag": "!!" + suffix, "line": node.line}
        how = PYTHON_CODE_TAGS.get(kind)
        if how is None or not name:
            evidence["reason"] = "not a tag PyYAML's constructors define"
            self.out.add(
                ("python-tag", suffix),
                where,
                lambda: Judgement(
                    "python-tag",
                    f"YAML tag !!{suffix} on line {node.line}: a Python tag that yaml.load with "
                    "an unsafe loader resolves",
                    evidence,
                    where,
                    Severity.MEDIUM,
                ),
            )
            return
        module_tag = kind == "python/module"
        category, reason, family = _classify_python_name(name, module_tag, self.policy)
        if category == "allowed":
            cleared = _cleared(
                name, self.policy, lambda p: _classify_python_name(name, module_tag, p)
            )
            if cleared is None:
                return
            (category, reason, family), entry = cleared
            evidence[ALLOWED_BY] = entry
        evidence.update(target=name, category=family, reason=reason)
        if node.kind != SCALAR:
            evidence["arguments"] = _scalar_preview(node)
        severity = Severity.CRITICAL if category == "dangerous" else Severity.MEDIUM
        message = (
            f"YAML tag !!{suffix} on line {node.line}: yaml.unsafe_load (and yaml.load with "
            f"Loader=yaml.Loader/UnsafeLoader) {how} {name}"
            + (f" ({family}): {reason}" if category == "dangerous" else f", not on the "
               f"allow-list ({reason})")
        )  # fmt: skip
        self.out.add(
            ("python-tag", suffix),
            where,
            lambda: Judgement("python-tag", message, evidence, where, severity),
        )


def judge_config(
    roots: list[YamlNode], budget: Budget, policy: Policy | None = None
) -> Iterator[Judgement]:
    """Judgements on the documents of one YAML (or JSON) config, merged by target; ``policy``
    is the pickle policy with the scan's pickle-global additions (the default one when None)."""
    yield from _Judge(roots, budget, policy).run()


def has_target_key(value: Any, budget: Budget, limit: int) -> bool:
    """Whether a parsed JSON document has a ``_target_`` key anywhere (a Hydra-style config)."""
    todo = [value]
    count = 0
    while todo and count < limit:
        item = todo.pop()
        count += 1
        budget.tick()
        if isinstance(item, dict):
            if TARGET_KEY in item:
                return True
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return False
