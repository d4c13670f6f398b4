"""Walk a whole Keras model config and judge everything in it that runs on load.

The walk covers every node of the JSON tree (nested models, wrappers,
``compile_config``, ``build_config``, activations, losses, …), not just
``config.layers``.  It recognises every shape Keras generations use for a
Lambda's function (see the MX-KERAS-1xx rule pages) and, besides those, any
string anywhere that decodes to a marshalled code object.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelxray.analysis import lambda_code
from modelxray.analysis.callables import judge_reference
from modelxray.budget import BudgetExceeded
from modelxray.model import Location, Severity
from modelxray.rules import keras as rules

if TYPE_CHECKING:
    from modelxray.engine import ScanContext

# Function-carrying fields of a Lambda config and the fields that say how they were stored.
_FUNCTION_FIELDS = (("function", "function_type", "module"),
                    ("output_shape", "output_shape_type", "output_shape_module"),
                    ("mask", "mask_type", "mask_module"))  # fmt: skip


@dataclass
class KerasDoc:
    """One config found in a file, and where it sits."""

    location: Location
    doc: Any
    keras_version: str | None = None
    generation: str = ""  # "tf.keras" | "keras3" | "" when unknown


def _json_path(parts: tuple[str | int, ...]) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _untuple(value: Any) -> Any:
    """SavedModel metadata encodes every tuple as ``{"class_name": "__tuple__", "items": [...]}``."""
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        items = value.get("items")
        return list(items) if isinstance(items, list) else []
    return value


class _Walker:
    def __init__(self, doc: KerasDoc, ctx: ScanContext) -> None:
        self.doc = doc
        self.ctx = ctx
        self.handled: set[tuple[str | int, ...]] = set()
        self.nodes = 0

    # -- traversal --------------------------------------------------------------------------
    def walk(self) -> None:
        limits = self.ctx.limits
        stack: list[tuple[Any, tuple[str | int, ...], tuple[str, ...]]] = [(self.doc.doc, (), ())]
        while stack:
            value, path, layers = stack.pop()
            self.nodes += 1
            if self.nodes > limits.max_json_nodes:
                raise BudgetExceeded("max_json_nodes", f"config has over {limits.max_json_nodes}")
            if len(path) > limits.max_json_depth:
                raise BudgetExceeded("max_json_depth", f"config nests deeper than {len(path)}")
            self.ctx.budget.tick()
            if isinstance(value, dict):
                layers = self._visit_dict(value, path, layers)
                for k in reversed(list(value)):
                    stack.append((value[k], (*path, str(k)), layers))
            elif isinstance(value, list):
                for i in range(len(value) - 1, -1, -1):
                    stack.append((value[i], (*path, i), layers))
            elif isinstance(value, str) and path not in self.handled:
                if lambda_code.looks_like_code_string(value):
                    self._code_blob(value, path, layers, None, None, "string in config")

    def _visit_dict(
        self, node: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> tuple[str, ...]:
        class_name = node.get("class_name")
        config = node.get("config")
        if isinstance(config, dict) and isinstance(config.get("name"), str) and class_name:
            layers = (*layers, config["name"])
        if class_name == "Lambda" and isinstance(config, dict):
            self._lambda_layer(config, (*path, "config"), layers)
        elif class_name == "__lambda__" and isinstance(config, dict):
            self._lambda_object(config, (*path, "config"), layers)
        elif "value" in node and class_name is None and isinstance(node["value"], list):
            # Keras 3 lambda activation: {"value": [code, defaults, closure]}
            self._function_list(node["value"], (*path, "value"), layers, "activation lambda")
        return layers

    # -- the function shapes ----------------------------------------------------------------
    def _lambda_layer(
        self, config: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        for fn_field, type_field, module_field in _FUNCTION_FIELDS:
            if fn_field not in config:
                continue
            value = _untuple(config[fn_field])
            fn_type = config.get(type_field)
            module = config.get(module_field)
            fpath = (*path, fn_field)
            where = f"Lambda {fn_field}"
            if isinstance(module, str) and module not in ("__main__", "builtins"):
                self._module_globals(module, (*path, module_field), layers, where)
            if isinstance(value, (list, str)) and (
                fn_type == "lambda" or (fn_type is None and isinstance(value, list))
            ):
                self._function_list(value, fpath, layers, where)
            elif fn_type == "function" or (fn_type is None and isinstance(value, str)):
                if isinstance(value, str) and not lambda_code.looks_like_code_string(value):
                    self._reference(module if isinstance(module, str) else None, value, fpath,
                                    layers, where)  # fmt: skip
                    self.handled.add(fpath)
            # dict forms ({"class_name": "__lambda__"...} or a function reference dict) are
            # visited by the generic walk below this node.
            if isinstance(value, dict) and value.get("class_name") == "function":
                self._reference_dict(value, fpath, layers, where)

    def _lambda_object(
        self, config: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        if "code" in config:
            self.handled.add((*path, "code"))
            self._code_blob(config["code"], (*path, "code"), layers, config.get("defaults"),
                            config.get("closure"), "__lambda__ code")  # fmt: skip
        elif "value" in config:
            self._function_list(config["value"], (*path, "value"), layers, "__lambda__ value")

    def _function_list(
        self, value: Any, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> None:
        value = _untuple(value)
        defaults: Any = None
        closure: Any = None
        code: Any = value
        if isinstance(value, list):
            # func_load accepts [code, defaults, closure], and code itself may be such a list.
            code = value[0] if value else None
            defaults = value[1] if len(value) > 1 else None
            closure = value[2] if len(value) > 2 else None
            if isinstance(code, list):
                inner = code
                code = inner[0] if inner else None
                defaults = inner[1] if len(inner) > 1 else defaults
                closure = inner[2] if len(inner) > 2 else closure
            self.handled.add((*path, 0))
        else:
            self.handled.add(path)
        self._code_blob(code, path, layers, defaults, closure, where)

    def _code_blob(
        self,
        code: Any,
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        defaults: Any,
        closure: Any,
        where: str,
    ) -> None:
        loc = self._location(path, layers)
        base = self._base_evidence(path, layers, where)
        if not isinstance(code, str):
            self.ctx.report(rules.LAMBDA_UNREADABLE, loc,
                            f"{where}: code is a {type(code).__name__}, not a string",
                            {**base, "value": repr(code)[:200]})  # fmt: skip
            return
        raw, encoding = lambda_code.decode_keras_code(code, self.ctx.limits.max_code_blob_bytes)
        verdict = lambda_code.judge_code(
            raw, self.ctx.budget, encoding=encoding, defaults=defaults, closure=closure
        )
        evidence = {**base, **verdict.evidence()}
        if defaults is not None:
            evidence["defaults"] = defaults
        if closure is not None:
            evidence["closure"] = closure
        call = verdict.calls[-1] if verdict.calls else None
        if verdict.level == lambda_code.MALICIOUS:
            shown = f": {call}" if call else ""
            self.ctx.report(rules.LAMBDA_MALICIOUS, loc,
                            f"{where} runs code on load that reaches "
                            f"{', '.join(verdict.dangerous_names)}{shown}", evidence)  # fmt: skip
        elif verdict.level == lambda_code.UNKNOWN:
            self.ctx.report(rules.LAMBDA_UNKNOWN, loc,
                            f"{where} runs code on load that is not plain tensor math: "
                            f"{'; '.join(verdict.reasons)[:300]}", evidence)  # fmt: skip
        elif verdict.level == lambda_code.UNREADABLE:
            self.ctx.report(
                rules.LAMBDA_UNREADABLE,
                loc,
                f"{where}: code blob could not be read ({verdict.error})",
                evidence,
            )
        else:
            shown = f" ({call})" if call else ""
            self.ctx.report(rules.LAMBDA_TENSOR_MATH, loc,
                            f"{where} runs code on load; only tensor math was seen{shown}",
                            evidence)  # fmt: skip

    def _module_globals(
        self, module: str, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> None:
        """tf.keras merges an already-imported module's namespace into the lambda's globals."""
        judged = judge_reference(module, None)
        if judged.severity >= Severity.HIGH:
            self.ctx.report(rules.FUNCTION_REFERENCE, self._location(path, layers),
                            f"{where}: module {module!r} is merged into the function's globals "
                            f"by tf.keras ({judged.reason})",
                            {**self._base_evidence(path, layers, where), "module": module,
                             "reason": judged.reason})  # fmt: skip

    def _reference_dict(
        self,
        value: dict[str, Any],
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        where: str,
    ) -> None:
        module = value.get("module")
        name = value.get("config")
        if isinstance(name, str):
            self._reference(module if isinstance(module, str) else None, name, path, layers, where)

    def _reference(
        self,
        module: str | None,
        name: str,
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        where: str,
    ) -> None:
        judged = judge_reference(module, name)
        if judged.severity < Severity.HIGH:
            return
        rule = (
            rules.FUNCTION_REFERENCE
            if judged.severity >= Severity.CRITICAL
            else rules.FUNCTION_REFERENCE_UNKNOWN
        )
        target = f"{module}.{name}" if module else name
        self.ctx.report(rule, self._location(path, layers),
                        f"{where} resolves {target!r} when the model loads: {judged.reason}",
                        {**self._base_evidence(path, layers, where), "module": module,
                         "name": name, "reason": judged.reason})  # fmt: skip

    # -- reporting helpers ------------------------------------------------------------------
    def _location(self, path: tuple[str | int, ...], layers: tuple[str, ...]) -> Location:
        loc = self.doc.location
        if layers:
            loc = loc.child("layer:" + "/".join(layers))
        return loc.child(_json_path(path))

    def _base_evidence(
        self, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> dict[str, Any]:
        ev: dict[str, Any] = {"json_path": _json_path(path), "field": where}
        if layers:
            ev["layer_path"] = "/".join(layers)
        if self.doc.keras_version:
            ev["keras_version"] = self.doc.keras_version
        return ev


def analyse_config(doc: KerasDoc, ctx: ScanContext) -> None:
    """Judge everything in one Keras config document."""
    _Walker(doc, ctx).walk()


def iter_strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string value in a JSON document (bounded depth)."""
    if depth > 200:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from iter_strings(v, depth + 1)


def looks_like_keras_config(doc: Any) -> bool:
    """A dict with Keras's serialization keys somewhere near the top."""
    if not isinstance(doc, dict):
        return False
    if "class_name" in doc and "config" in doc:
        return True
    return any(k in doc for k in ("keras_version", "model_config", "training_config"))
