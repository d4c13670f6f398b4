"""skops archives: a ZIP whose ``schema.json`` describes the object tree ``skops.io.load`` builds.

The zip container classifies the archive as ``skops``; its ``schema.json``
member reaches this JSON analyser, which walks every node (any dict carrying
``__loader__``) and decides, the way skops' audit does, which
``module.class`` names fall outside the loader's default trusted set.
skops itself is not needed: each loader's default trusted list is skops' own,
generated offline into ``analysis/_generated/skops_trust.py``.  On top of the
audit, every object the loader imports is judged against the threat catalogue
by what it names (a protocol-0 ``FunctionNode``'s ``module_path``/``function``,
a ``MethodNode``'s bound method, a re-exported name's real object).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.json_doc import register_json_analyser
from modelxray.model import Severity
from modelxray.rules import skops as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

KNOWN_LOADERS = frozenset(
    {
        "DictNode", "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "BytesNode",
        "BytearrayNode", "SliceNode", "FunctionNode", "MethodNode", "PartialNode", "TypeNode",
        "ConstructorFromReduceNode", "ObjectNode", "JsonNode", "OperatorFuncNode",
        "NdArrayNode", "MaskedArrayNode", "RandomStateNode", "RandomGeneratorNode",
        "BitGeneratorNode", "DTypeNode", "SparseMatrixNode", "ReduceNode", "TreeNode",
        "LossNode", "SGDNode", "_DictWithDeprecatedKeysNode", "QuantileForestNode",
        "UfuncNode", "SkopsNode", "CachedNode",
    }
)  # fmt: skip

CALLABLE_LOADERS = frozenset({"FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode"})
# Libraries whose classes skops merely declines to trust by default.
WELL_KNOWN_ROOTS = frozenset({"sklearn", "numpy", "scipy"})
MAX_REPORTED_TYPES = 200


def trusted_by_default(loader: str, name: str) -> bool:
    """Whether skops' audit accepts the type ``name`` under ``loader`` without ``trusted=``.

    The lists are skops' own (``analysis/_generated/skops_trust.py``); a loader it does not
    list trusts nothing.
    """
    from modelxray.analysis._generated.skops_trust import DEFAULT_TRUSTED

    return name in DEFAULT_TRUSTED.get(loader, frozenset())


@dataclass(frozen=True)
class Imported:
    """An object ``skops.io.load`` resolves for one node: what skops' audit calls it
    (``type_name``) and the module and attribute the loader imports (``module``, ``name``)."""

    type_name: str
    module: str
    name: str
    bit_generator: bool = False


def _json_string(node: Any) -> str | None:
    """The string a ``JsonNode`` holds (its ``content`` is a JSON literal)."""
    if not isinstance(node, dict) or not isinstance(node.get("content"), str):
        return None
    try:
        value = json.loads(node["content"])
    except ValueError:
        return None
    return value if isinstance(value, str) else None


def imported_objects(
    node: dict[str, Any], loader: str, module: str, cls: str, protocol: Any
) -> list[Imported]:
    """What the loader imports for ``node`` and how skops' audit names it.

    Judged by what the node names, not by its label: a protocol-0 ``FunctionNode`` is labelled
    ``builtins.function`` and imports ``content.module_path``/``content.function``.
    """
    content = node.get("content")
    if loader == "FunctionNode" and isinstance(content, dict):
        path, function = content.get("module_path"), content.get("function")
        if isinstance(path, str) and isinstance(function, str):
            old = Imported(f"{path}.{function}", path, function)
            # skops picks the node class by the schema's protocol; judge both readings when
            # the protocol is not the one that settles it.
            return [old] if protocol == 0 else [old, Imported(f"{module}.{cls}", module, cls)]
    if loader == "RandomGeneratorNode" and isinstance(content, dict):
        state = content.get("bit_generator")
        inner = state.get("content") if isinstance(state, dict) else None
        name = _json_string(inner.get("bit_generator")) if isinstance(inner, dict) else None
        out = [Imported(f"{module}.{cls}", module, cls)]
        if name is not None:
            out.append(Imported(f"numpy.random.{name}", "numpy.random", name, True))
        return out
    return [Imported(f"{module}.{cls}", module, cls)]


def judge_import(module: str, name: str) -> str | None:
    """Why importing ``module.name`` is dangerous (threat catalogue), or None.

    A name under scikit-learn/NumPy/SciPy that is another package's object
    (``sklearn.callback._transport.Client`` is ``multiprocessing.connection.Client``) is
    judged as that object, from the table generated from the libraries.
    """
    from modelxray.analysis import threats
    from modelxray.analysis._generated.skops_trust import REEXPORTS
    from modelxray.analysis.callables import judge_reference

    judged = judge_reference(module, name)
    if judged.severity >= Severity.CRITICAL:
        return judged.reason
    origin = REEXPORTS.get(f"{module}.{name}")
    if origin is not None:
        head, _, rest = origin.partition(".")
        hit = threats.lookup(head, rest)  # every split of the dotted path is tried
        if hit is not None:
            return f"{module}.{name} is {origin} ({hit.category}): {hit.reason}"
    return None


def _method_chain(func: Any) -> str | None:
    """Why calling the method ``func`` of a loaded object is dangerous, or None."""
    from modelxray.analysis import threats

    if not isinstance(func, str):
        return None
    hit = threats.chain_segments().get(func)
    return None if hit is None else f"method {func!r} ({hit[0]}): {hit[1]}"


def looks_like_skops_schema(doc: Any, artifact: Artifact) -> bool:
    if not isinstance(doc, dict) or "__loader__" not in doc:
        return False
    return (
        "_skops_version" in doc or "protocol" in doc or artifact.facts.get("container") == "skops"
    )


def _nodes(doc: Any, max_nodes: int, max_depth: int) -> Iterator[tuple[str, dict[str, Any]]]:
    stack: list[tuple[Any, str, int]] = [(doc, "$", 0)]
    seen = 0
    while stack:
        value, path, depth = stack.pop()
        seen += 1
        if seen > max_nodes:
            raise BudgetExceeded("max_json_nodes", f"skops schema has over {max_nodes} nodes")
        if depth > max_depth:
            raise BudgetExceeded("max_json_depth", f"skops schema nests deeper than {max_depth}")
        if isinstance(value, dict):
            if "__loader__" in value:
                yield path, value
            for k in reversed(list(value)):
                stack.append((value[k], f"{path}.{k}", depth + 1))
        elif isinstance(value, list):
            for i in range(len(value) - 1, -1, -1):
                stack.append((value[i], f"{path}[{i}]", depth + 1))


def analyse_skops_schema(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    if not looks_like_skops_schema(doc, artifact):
        return
    from modelxray.analysis._generated.skops_trust import BIT_GENERATORS

    ctx.add_format("skops")
    protocol = doc.get("protocol")
    untrusted: dict[str, tuple[str, str, int]] = {}  # type -> (first path, loader, count)
    called: set[str] = set()  # names the loader calls, whatever the node's loader
    for path, node in _nodes(doc, ctx.limits.max_json_nodes, ctx.limits.max_json_depth):
        ctx.budget.tick()
        loader = node.get("__loader__")
        module = node.get("__module__")
        cls = node.get("__class__")
        loc = artifact.location.child(path)
        base = {"json_path": path, "loader": loader, "module": module, "class": cls}
        if not isinstance(loader, str) or not isinstance(module, str) or not isinstance(cls, str):
            ctx.report(
                rules.INCONSISTENT_NODE,
                loc,
                "node lacks a string __loader__, __module__ or __class__",
                base,
                severity=Severity.MEDIUM,
            )
            continue
        if loader not in KNOWN_LOADERS:
            ctx.report(
                rules.INCONSISTENT_NODE,
                loc,
                f"__loader__ {loader!r} is not one skops knows",
                base,
                severity=Severity.MEDIUM,
            )
        if loader == "OperatorFuncNode" and module != "operator":
            ctx.report(
                rules.INCONSISTENT_NODE,
                loc,
                f"OperatorFuncNode names {module}.{cls}, not an operator function (CVE-2025-54412)",
                base,
            )
        imported = imported_objects(node, loader, module, cls, protocol)
        # What skops' audit lists for this node: the objects it imports, and for a MethodNode
        # the bound method (``module.Class.func``), which it never trusts by default.
        audit_names = [i.type_name for i in imported]
        # The bit generator a RandomGeneratorNode names is checked against skops' own list.
        named_bit_generators = {i.type_name for i in imported if i.bit_generator}
        bit_generators = named_bit_generators & BIT_GENERATORS
        called.update(named_bit_generators)  # numpy.random.<name>(seed_seq) is called
        if loader == "MethodNode":
            audit_names.extend(_method_node(node, path, loc, base, ctx))
        if loader == "RandomGeneratorNode" and len(imported) < 2:
            ctx.report(
                rules.INCONSISTENT_NODE,
                loc,
                "RandomGeneratorNode does not name its bit generator where skops reads it",
                base,
                severity=Severity.MEDIUM,
            )
        # functools.partial and operator.* are skops' own wrappers; what they wrap is a node too.
        wrapper = loader == "PartialNode" or (loader == "OperatorFuncNode" and module == "operator")
        for item in imported if not wrapper else ():
            reason = judge_import(item.module, item.name)
            if reason is not None:
                ctx.report(
                    rules.DANGEROUS_TYPE,
                    loc,
                    f"{loader} makes skops.io.load import and use {item.type_name}: {reason}",
                    {**base, "type": item.type_name, "reason": reason},
                )
        for name in audit_names:
            if trusted_by_default(loader, name) or name in bit_generators:
                continue
            first, first_loader, count = untrusted.get(name, (path, loader, 0))
            untrusted[name] = (first, first_loader, count + 1)
    for name, (path, loader, count) in list(untrusted.items())[:MAX_REPORTED_TYPES]:
        root = name.split(".")[0]
        # A scikit-learn/NumPy/SciPy class is data; a function or method of theirs is a callable
        # the model would call with its own arguments, and a name the libraries merely import
        # from elsewhere is that other object: both stay at the rule's severity.
        well_known = (
            root in WELL_KNOWN_ROOTS
            and loader not in CALLABLE_LOADERS
            and name not in called
            and not _reexported(name)
        )
        ctx.report(
            rules.UNTRUSTED_TYPE,
            artifact.location.child(path),
            f"skops.io.load refuses {name} unless it is passed in trusted="
            + (f" (a {root} type skops does not trust by default)" if well_known else ""),
            {
                "type": name,
                "loader": loader,
                "json_path": path,
                "occurrences": count,
                "well_known_library": well_known,
            },
            severity=Severity.INFO if well_known else None,
        )


def _reexported(name: str) -> bool:
    from modelxray.analysis._generated.skops_trust import REEXPORTS

    return name in REEXPORTS


def _method_node(
    node: dict[str, Any], path: str, loc: Any, base: dict[str, Any], ctx: Sink
) -> list[str]:
    content = node.get("content")
    obj = content.get("obj") if isinstance(content, dict) else None
    func = content.get("func") if isinstance(content, dict) else None
    if not isinstance(obj, dict):
        ctx.report(
            rules.INCONSISTENT_NODE,
            loc,
            "MethodNode has no bound object",
            base,
            severity=Severity.MEDIUM,
        )
        return []
    obj_module, obj_class = obj.get("__module__"), obj.get("__class__")
    if (obj_module, obj_class) != (node.get("__module__"), node.get("__class__")):
        ctx.report(
            rules.INCONSISTENT_NODE,
            loc,
            f"MethodNode declares {node.get('__module__')}.{node.get('__class__')} but binds "
            f"an object of {obj_module}.{obj_class} (CVE-2025-54413)",
            {**base, "object_module": obj_module, "object_class": obj_class},
        )
    # The method is judged by what it names: ``getattr(obj, func)`` of a dangerous class, or a
    # method name that is dangerous on whatever object holds it (``system``, ``exec`` ...).
    method = f"{obj_module}.{obj_class}.{func}"
    reason = None
    if isinstance(obj_module, str) and isinstance(obj_class, str) and isinstance(func, str):
        reason = judge_import(obj_module, f"{obj_class}.{func}")
    reason = reason or _method_chain(func)
    if reason is not None:
        ctx.report(
            rules.DANGEROUS_TYPE,
            loc,
            f"MethodNode makes skops.io.load bind and return {method}: {reason}",
            {**base, "type": method, "reason": reason},
        )
    return [method]


register_json_analyser(analyse_skops_schema)
