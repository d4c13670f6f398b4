"""skops archives: a ZIP whose ``schema.json`` describes the object tree ``skops.io.load`` builds.

The zip container classifies the archive as ``skops``; its ``schema.json``
member reaches this JSON analyser, which walks every node (any dict carrying
``__loader__``) and decides, the way skops' audit does, which
``module.class`` names fall outside the loader's default trusted set.
skops itself is not needed: its defaults are mirrored here statically (plain
builtins and containers, NumPy arrays, dtypes and ufuncs, SciPy sparse
matrices and special functions, public scikit-learn classes), with NumPy
imported lazily to tell ufuncs and scalar types from other NumPy names.
"""

from __future__ import annotations

from collections.abc import Iterator
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
        "UfuncNode", "SkopsNode",
    }
)  # fmt: skip

_PRIMITIVES = {"builtins.int", "builtins.float", "builtins.str", "builtins.bool"}
_CONTAINERS = {"builtins.list", "builtins.set", "builtins.map", "builtins.tuple"}
_EXACT: dict[str, set[str]] = {
    "DictNode": {"builtins.dict", "collections.OrderedDict"},
    "DefaultDictNode": {"collections.defaultdict"},
    "ListNode": {"builtins.list"},
    "SetNode": {"builtins.set"},
    "TupleNode": {"builtins.tuple"},
    "SliceNode": {"builtins.slice"},
    "BytesNode": {"builtins.bytes"},
    "BytearrayNode": {"builtins.bytearray"},
    "JsonNode": _PRIMITIVES,
    "TypeNode": _PRIMITIVES | _CONTAINERS,
    "MaskedArrayNode": {"numpy.ma.core.MaskedArray", "numpy.ma.MaskedArray"},
    "RandomStateNode": {"numpy.random.mtrand.RandomState", "numpy.random.RandomState"},
    "RandomGeneratorNode": {"numpy.random._generator.Generator", "numpy.random.Generator"},
}
# Loaders whose default trusted list is empty: every type they carry needs ``trusted=``.
_NOTHING_TRUSTED = frozenset(
    {"MethodNode", "PartialNode", "OperatorFuncNode", "TreeNode", "QuantileForestNode",
     "ConstructorFromReduceNode", "ReduceNode", "DTypeNode"}
)  # fmt: skip
CALLABLE_LOADERS = frozenset({"FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode"})
# Libraries whose classes skops merely declines to trust by default.
WELL_KNOWN_ROOTS = frozenset({"sklearn", "numpy", "scipy"})
MAX_REPORTED_TYPES = 200


def _numpy_attr(name: str) -> Any:
    import numpy as np

    return getattr(np, name, None)


def _is_numpy_scalar_type(module: str, cls: str) -> bool:
    if module != "numpy":
        return False
    import numpy as np

    obj = _numpy_attr(cls)
    return isinstance(obj, type) and issubclass(obj, np.generic)


def _is_numpy_ufunc(module: str, cls: str) -> bool:
    if module != "numpy":
        return False
    import numpy as np

    return isinstance(_numpy_attr(cls), np.ufunc)


def trusted_by_default(loader: str, module: str, cls: str) -> bool:
    """Whether skops' audit accepts ``module.cls`` under ``loader`` without ``trusted=``."""
    name = f"{module}.{cls}"
    if loader in _NOTHING_TRUSTED:
        return False
    if name in _EXACT.get(loader, set()):
        return True
    if loader == "TypeNode":
        return _is_numpy_scalar_type(module, cls)
    if loader == "NdArrayNode":
        return name == "numpy.ndarray" or _is_numpy_scalar_type(module, cls)
    if loader == "FunctionNode":
        return _is_numpy_ufunc(module, cls) or module == "scipy.special"
    if loader in ("ObjectNode", "LossNode", "SGDNode"):
        return (
            module.startswith("sklearn.")
            and not cls.startswith("_")
            or (module.startswith("sklearn.") and cls == "_BinMapper")
        )
    if loader == "SparseMatrixNode":
        return module.startswith("scipy.sparse")
    return False


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
    ctx.add_format("skops")
    untrusted: dict[str, tuple[str, str, int]] = {}  # type -> (first path, loader, count)
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
        type_names = [f"{module}.{cls}"]
        if loader == "MethodNode":
            type_names.extend(_method_node(node, path, loc, base, ctx))
        # functools.partial and operator.* are skops' own wrappers; what they wrap is a node too.
        wrapper = loader == "PartialNode" or (loader == "OperatorFuncNode" and module == "operator")
        from modelxray.analysis.callables import judge_reference

        judged = judge_reference(module, cls)
        if judged.severity >= Severity.CRITICAL and not wrapper:
            ctx.report(
                rules.DANGEROUS_TYPE,
                loc,
                f"{loader} makes skops.io.load import and use {module}.{cls}: {judged.reason}",
                {**base, "reason": judged.reason},
            )
        if not trusted_by_default(loader, module, cls):
            for name in type_names:
                first, first_loader, count = untrusted.get(name, (path, loader, 0))
                untrusted[name] = (first, first_loader, count + 1)
    for name, (path, loader, count) in list(untrusted.items())[:MAX_REPORTED_TYPES]:
        root = name.split(".")[0]
        # A scikit-learn/NumPy/SciPy class is data; a function or method of theirs is a callable
        # the model would call with its own arguments, so it stays at the rule's severity.
        well_known = root in WELL_KNOWN_ROOTS and loader not in CALLABLE_LOADERS
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
    return [f"{obj_module}.{obj_class}.{func}"]


register_json_analyser(analyse_skops_schema)
