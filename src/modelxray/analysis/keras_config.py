"""Walk a whole Keras model config and judge everything in it that runs on load.

The walk covers every node of the JSON tree (nested models, wrappers,
``compile_config``, ``build_config``, activations, losses, …), not just
``config.layers``.  It recognises every shape Keras generations use for a
Lambda's function (see the MX-KERAS-1xx rule pages) and, besides those, any
string anywhere that decodes to a marshalled code object.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from modelxray.analysis import callables, keras_versions, lambda_code
from modelxray.analysis.callables import judge_reference
from modelxray.artifact import Artifact
from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.model import ALLOWED_BY, Finding, Judgement, Location, Severity

if TYPE_CHECKING:
    from modelxray.scanning import AnalysisSettings

# What a Keras config does when it loads (``rules.keras.BY_KIND`` maps each to its rule).
LAMBDA_MALICIOUS = "lambda-malicious"
LAMBDA_UNKNOWN = "lambda-unknown"
LAMBDA_UNREADABLE = "lambda-unreadable"
LAMBDA_TENSOR_MATH = "lambda-tensor-math"
LAMBDA_EXHAUSTION = "lambda-exhaustion"
FUNCTION_REFERENCE_UNKNOWN = "function-reference-unknown"
FUNCTION_REFERENCE = "function-reference"
REFERENCE_DANGEROUS = "reference-dangerous"
REFERENCE_OUTSIDE = "reference-outside"
REFERENCE_CUSTOM = "reference-custom"
KERAS_API_GADGET = "keras-api-gadget"
REFERENCE_BUILTINS_NAME = "reference-builtins-name"
ARGUMENT_LOCATION = "argument-location"
TORCH_MODULE_WRAPPER = "torch-module-wrapper"
TFSM_LAYER = "tfsm-layer"
VOCABULARY_FILE = "vocabulary-file"
ARCHIVE_PATH_TRAVERSAL = "archive-path-traversal"

# Function-carrying fields of a Lambda config and the fields that say how they were stored.
_FUNCTION_FIELDS = (
    ("function", "function_type", "module"),
    ("output_shape", "output_shape_type", "output_shape_module"),
    ("mask", "mask_type", "mask_module"),
)


@dataclass
class KerasDoc:
    """One config found in a file, and where it sits."""

    location: Location
    doc: Any
    keras_version: str | None = None
    generation: str = ""  # "tf.keras" | "keras3" | "" when unknown
    # "h5" | "keras-zip" | "json" | "savedmodel"; "" = infer from facts / generation
    container: str = ""
    facts: dict[str, Any] = field(default_factory=dict)  # the artifact's container facts
    depth: int = 0  # the artifact's container depth (for payloads handed back to the engine)


@dataclass(frozen=True)
class NestedPayload:
    """Bytes the loader reads as a file of their own (TorchModuleWrapper's ``torch.load``).

    The reader has ``artifact`` scanned like any file, then reports
    ``conclude(recognised, findings)``: ``recognised`` says whether a reader knew the bytes,
    ``findings`` are those the scan made at or below ``artifact.location``.
    """

    artifact: Artifact
    conclude: Callable[[bool, Sequence[Finding]], Judgement]


def _members(node: dict[Any, Any]) -> Iterator[tuple[str, Any]]:
    """A dict's (key, value) pairs, keys as a path names them (JSON keys are strings already)."""
    return zip(map(str, node), node.values(), strict=True)


def _json_path(parts: tuple[str | int, ...]) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _untuple(value: Any) -> Any:
    """SavedModel metadata encodes a tuple as ``{"class_name": "__tuple__", "items": [...]}``."""
    if isinstance(value, dict) and value.get("class_name") == "__tuple__":
        items = value.get("items")
        return list(items) if isinstance(items, list) else []
    return value


# What reads a TorchModuleWrapper's module, and when (keras/src/utils/torch_utils.py).
TORCH_WRAPPER_LOADER = (
    "keras.layers.TorchModuleWrapper.from_config: "
    "torch.load(io.BytesIO(base64.b64decode(config['module'])), weights_only=False)"
)
TORCH_WRAPPER_SAFE_MODE = (
    "Keras >= 3.11.3 refuses it unless safe_mode=False (or a bypass turns safe_mode off); "
    "Keras 3.11.0 - 3.11.2 unpickle it even under safe_mode (CVE-2025-49655)"
)

# Layers whose config names a file or URL the loader reads (CVE-2025-12058).
_LOOKUP_LAYERS = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})
_LOOKUP_FIELDS = ("vocabulary", "idf_weights")
_TOKENIZER_FIELDS = (
    "vocabulary",
    "merges",
    "proto",
    "spm_proto",
    "vocabulary_file",
    "merges_file",
    "vocab_file",
    "tokenizer_file",
)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
# What a string must show for :meth:`_Walker._visit_string` to judge it: the first non-blank
# character of marshalled code (``lambda_code.looks_like_code_string``: base64 "4w"/"Yw", raw
# "\xe3"), or one of the gadget chain's names anywhere in it.
_CODE_FIRST = frozenset({"4", "Y", "\xe3"})
_GADGET = re.compile("|".join(re.escape(t) for t in sorted(callables.SAFE_MODE_GADGET_STRINGS)))
# Every path :func:`escapes_directory` refuses holds one of these (absolute, home, drive,
# backslash, parent directory).
_MAY_ESCAPE = re.compile(r"[/\\~:]|\.\.")
_PATHLIKE_SUFFIX = re.compile(r"\.(txt|model|json|spm|vocab|proto|pb|tsv|csv)$", re.I)


def is_url(text: str) -> bool:
    return bool(_URL.match(text.strip()))


def is_absolute_path(text: str) -> bool:
    t = text.strip()
    return t.startswith(("/", "~", "\\\\")) or bool(_DRIVE.match(t))


def escapes_directory(path: str) -> bool:
    """A member or asset path that leaves the directory it is extracted or joined into."""
    if _MAY_ESCAPE.search(path) is None:
        return False  # no separator, drive, home or parent: a plain name
    if is_absolute_path(path) or "\\" in path:
        return True
    return ".." in path.replace("\\", "/").split("/")


def _in_policy(target: str, entries: tuple[tuple[str, str], ...]) -> str | None:
    """The reason of the first policy entry naming ``target``'s module (or itself), or None.

    ``target`` is matched under every name Keras' loader reaches its object by (a deny entry
    for ``keras.layers`` also covers ``keras.src.layers.core.dense.Dense``).
    """
    if not entries:
        return None
    for name in _keras_names(target):
        for module, reason in entries:
            if name == module or name.startswith(module + "."):
                return reason
    return None


# The modules Keras 3 searches for a function serialized as {"module": "builtins", ...}
# (keras/src/saving/serialization_lib.py BUILTIN_MODULES).
_BUILTIN_FUNCTION_MODULES = (
    "activations", "constraints", "initializers", "losses", "metrics", "optimizers",
    "regularizers",
)  # fmt: skip


@functools.cache
def _same_object() -> dict[str, tuple[str, ...]]:
    from modelxray.analysis._generated.keras_aliases import KERAS_SAME_OBJECT

    return {name: group for group in KERAS_SAME_OBJECT for name in group}


def _keras_names(target: str) -> list[str]:
    """``target`` and every other name Keras' loader resolves to the same object (generated
    from Keras' export registry), including the functions a ``builtins`` name stands for."""
    names = [target]
    module, _, name = target.rpartition(".")
    same = _same_object()
    if module == "builtins":
        names += [f"keras.{m}.{name}" for m in _BUILTIN_FUNCTION_MODULES]
        names = [n for n in names if n == target or n in same]  # the functions Keras has
    for n in list(names):
        names.extend(x for x in same.get(n, ()) if x not in names)
    return names


def _starts_with_code(value: Any) -> bool:
    """A ``func_dump`` triple (``[code, defaults, closure]``, or one nested in a list): the
    first item, however deep, is the code string ``func_load`` decodes."""
    for _ in range(3):
        if not isinstance(value, list) or not value:
            return False
        value = value[0]
        if isinstance(value, str):
            return True
    return False


def is_shape(value: Any, depth: int = 0) -> bool:
    """A tensor shape (or a list of them) as Keras 3 writes an untyped ``output_shape``.

    ``Lambda.get_config`` stores a non-callable ``output_shape`` as it is: ``(4,)`` becomes
    ``[4]``, several outputs ``[[4], [None, 3]]``.  A function triple
    (``func_dump``: ``[code, defaults, closure]``) always starts with its code *string* (or a
    nested triple), so dimensions and ``None`` alone can never be one.
    """
    if depth > 8 or not isinstance(value, list):
        return False
    return all(
        (isinstance(v, int) and not isinstance(v, bool) and v >= -1)
        or v is None
        or is_shape(v, depth + 1)
        for v in value
    )


# Names Keras configs repeat (a model's every Dense, initializer and dtype policy): what the
# loader imports for each is judged once per process.  Only short all-string names are kept.
_REFERENCE_CACHE_NAME_CHARS = 512


@functools.lru_cache(maxsize=4096)
def _judged_reference(
    module: str | None,
    class_name: str,
    registered_name: str | None,
    function_name: str | None,
    generation: str,
) -> callables.RefVerdict | None:
    return callables.judge_config_reference(
        module, class_name, registered_name, function_name, generation
    )


def _judge_config_reference(
    module: Any, class_name: Any, registered_name: Any, config: Any, generation: str
) -> callables.RefVerdict | None:
    """:func:`callables.judge_config_reference` (a pure function of its arguments; ``config``
    counts only as the name of a ``"function"`` object), remembered for repeated names."""
    name = config if class_name == "function" and isinstance(config, str) else None
    if (
        type(class_name) is str
        and (module is None or type(module) is str)
        and (registered_name is None or type(registered_name) is str)
        and (name is None or type(name) is str)
    ):
        chars = len(class_name) + len(module or "") + len(registered_name or "") + len(name or "")
        if chars <= _REFERENCE_CACHE_NAME_CHARS:
            return _judged_reference(module, class_name, registered_name, name, generation)
    return callables.judge_config_reference(module, class_name, registered_name, config, generation)


def _infer_container(doc: KerasDoc) -> str:
    if doc.container:
        return doc.container
    if doc.facts.get("container") == "keras-v3":
        return "keras-zip"
    if doc.generation == "tf.keras":
        return "savedmodel"
    return "json"


def _torch_wrapper_judgement(
    evidence: dict[str, Any],
    where: tuple[str, ...],
    size: int,
    problem: str,
    recognised: bool,
    found: Sequence[Finding],
) -> Judgement:
    """TorchModuleWrapper's judgement: its severity follows what the payload's scan found."""
    evidence = dict(evidence)
    severity = Severity.HIGH
    if not problem:
        worst = max((f.severity for f in found), default=Severity.INFO)
        evidence["payload_findings"] = sorted({f.rule_id for f in found})
        evidence["payload_max_severity"] = worst.name.lower()
        if not recognised:
            problem = "the decoded bytes are in no format torch.load reads that modelxray knows"
        else:
            severity = max(worst, Severity.LOW)
            evidence["payload_verdict"] = (
                "flagged" if worst >= Severity.MEDIUM else "only allowed objects"
            )
    if problem:
        evidence["payload_verdict"] = "not judged"
        verdict = f"its payload could not be judged ({problem})"
    elif severity >= Severity.MEDIUM:
        rules_seen = ", ".join(evidence["payload_findings"])
        verdict = f"the unpickled module is flagged ({rules_seen})"
    else:
        verdict = "the pickled module rebuilds only allowed objects"
    return Judgement(
        TORCH_MODULE_WRAPPER,
        f"TorchModuleWrapper: torch.load(weights_only=False) unpickles the {size}-byte "
        f"module stored in the config, when loaded with safe_mode=False; {verdict}",
        evidence,
        where,
        severity,
    )


class _Walker:
    def __init__(
        self, doc: KerasDoc, budget: Budget, limits: Limits, settings: AnalysisSettings
    ) -> None:
        self.doc = doc
        self.budget = budget
        self.limits = limits
        self.settings = settings
        # What the node being entered concluded, handed out before the walk moves on.
        self._out: list[Judgement | NestedPayload] = []
        self.handled: set[tuple[str | int, ...]] = set()
        self.nodes = 0
        self.container = _infer_container(doc)
        self.generation = keras_versions.generation(doc.keras_version, doc.generation)

    # -- traversal --------------------------------------------------------------------------
    def walk(self) -> Iterator[Judgement | NestedPayload]:
        """Every node, depth first in document order: each dict is judged by
        :meth:`_visit_dict`, each string by :meth:`_visit_string`; numbers, booleans and
        nulls carry nothing a loader runs, so they are only counted.

        One frame per open container, whose children are produced lazily: memory follows the
        nesting depth (bounded by max_json_depth), not the width of the widest list.  A
        container's scalar children are counted and checked in this loop, without a frame,
        a path or a call each: a string's path is built only when its first character or a
        gadget name says a check may hold for it (the checks of :meth:`_visit_string` hold
        for no other string).
        """
        stack: list[tuple[Iterator[tuple[Any, Any]], tuple[str | int, ...], tuple[str, ...]]]
        stack = []
        yield from self._step(self.doc.doc, (), (), stack)
        max_nodes = self.limits.max_json_nodes
        max_depth = self.limits.max_json_depth
        tick = self.budget.tick
        handled = self.handled
        gadget = _GADGET.search
        nodes = ticked = self.nodes
        while stack:
            children, path, layers = stack[-1]
            too_deep = len(path) + 1 > max_depth
            for key, value in children:
                nodes += 1
                if nodes > max_nodes:
                    raise BudgetExceeded("max_json_nodes", f"config has over {max_nodes}")
                if too_deep:
                    raise BudgetExceeded(
                        "max_json_depth", f"config nests deeper than {len(path) + 1}"
                    )
                if isinstance(value, str):
                    if value.lstrip()[:1] in _CODE_FIRST or gadget(value) is not None:
                        spath = (*path, key)
                        if spath not in handled:
                            yield from self._judge_string(value, spath, layers)
                elif isinstance(value, dict):
                    cpath = (*path, key)
                    try:
                        inner = self._visit_dict(value, cpath, layers)
                    except Exception:
                        yield from self._handout()
                        raise
                    stack.append((_members(value), cpath, inner))
                    if self._out:
                        yield from self._handout()
                    break  # the child's frame is on top of the stack: walk it first
                elif isinstance(value, list):
                    stack.append((enumerate(value), (*path, key), layers))
                    break
            else:
                stack.pop()
            if nodes - ticked >= 1024:
                tick(nodes - ticked)  # the time check, once per thousand nodes or so
                ticked = nodes
        self.nodes = nodes

    def _handout(self) -> list[Judgement | NestedPayload]:
        """What the nodes entered since the last hand-out concluded (and forget it)."""
        out, self._out = self._out, []
        return out

    def _step(
        self,
        value: Any,
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        stack: list[tuple[Iterator[tuple[Any, Any]], tuple[str | int, ...], tuple[str, ...]]],
    ) -> Iterator[Judgement | NestedPayload]:
        """Enter one node and hand out what it concluded -- also when a limit stops the walk
        there, so that what was concluded before the limit is kept."""
        try:
            self._enter(value, path, layers, stack)
        except Exception:
            yield from self._handout()
            raise
        yield from self._handout()

    def _judge_string(
        self, value: str, path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> Iterator[Judgement | NestedPayload]:
        """:meth:`_visit_string` for a string the walk has counted, handed out as
        :meth:`_step` does."""
        try:
            self._visit_string(value, path, layers)
        except Exception:
            yield from self._handout()
            raise
        yield from self._handout()

    def _emit(
        self,
        kind: str,
        where: tuple[str, ...],
        message: str,
        evidence: dict[str, Any],
        *,
        severity: Severity | None = None,
    ) -> None:
        self._out.append(Judgement(kind, message, evidence, where, severity))

    def _enter(
        self,
        value: Any,
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        stack: list[tuple[Iterator[tuple[Any, Any]], tuple[str | int, ...], tuple[str, ...]]],
    ) -> None:
        limits = self.limits
        self.nodes += 1
        if self.nodes > limits.max_json_nodes:
            raise BudgetExceeded("max_json_nodes", f"config has over {limits.max_json_nodes}")
        if len(path) > limits.max_json_depth:
            raise BudgetExceeded("max_json_depth", f"config nests deeper than {len(path)}")
        self.budget.tick()
        if isinstance(value, dict):
            layers = self._visit_dict(value, path, layers)
            stack.append((_members(value), path, layers))
        elif isinstance(value, list):
            stack.append((enumerate(value), path, layers))
        elif isinstance(value, str) and path not in self.handled:
            self._visit_string(value, path, layers)

    def _visit_string(
        self, value: str, path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        """A string anywhere: marshalled code ``func_load`` would run, or the arguments of the
        safe_mode-disabling gadget chain."""
        if lambda_code.looks_like_code_string(value):
            self._code_blob(value, path, layers, None, None, "string in config")
        elif _GADGET.search(value) is not None:
            self._gadget_string(value, path, layers)

    def _visit_dict(
        self, node: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> tuple[str, ...]:
        class_name = node.get("class_name")
        if class_name is None:
            # no serialized object: only a Keras 3 lambda activation can run code here
            # Keras 3 lambda activation: {"value": [code, defaults, closure]}; func_load needs
            # the code string first, so a "value" list of data ([] or [null]) is no function
            if "value" in node and _starts_with_code(node["value"]):
                self._function_list(node["value"], (*path, "value"), layers, "activation lambda")
            return layers
        config = node.get("config")
        if isinstance(config, dict) and isinstance(config.get("name"), str) and class_name:
            layers = (*layers, config["name"])
        if class_name == "Lambda" and isinstance(config, dict):
            self._lambda_layer(config, (*path, "config"), layers)
        elif class_name == "__lambda__" and isinstance(config, dict):
            self._lambda_object(config, (*path, "config"), layers)
        if not isinstance(class_name, str):
            return layers
        cfg = config if isinstance(config, dict) else {}
        if class_name == "TorchModuleWrapper":
            self._torch_wrapper(cfg, (*path, "config"), layers)
        elif class_name == "TFSMLayer":
            self._tfsm_layer(cfg, (*path, "config"), layers)
        elif class_name in _LOOKUP_LAYERS:
            self._file_fields(cfg, (*path, "config"), layers, class_name, _LOOKUP_FIELDS, False)
        elif class_name.endswith("Tokenizer"):
            self._file_fields(cfg, (*path, "config"), layers, class_name, _TOKENIZER_FIELDS, True)
        if path not in self.handled:
            self._object_reference(node, path, layers)
        if class_name == "Lambda" and isinstance(cfg.get("arguments"), dict):
            self._arguments(cfg["arguments"], (*path, "config", "arguments"), layers, "Lambda")
        if isinstance(node.get("inbound_nodes"), list):
            self._arguments(node["inbound_nodes"], (*path, "inbound_nodes"), layers, "call")
        name = cfg.get("name")
        if isinstance(name, str) and escapes_directory(name) and class_name[:1] != "_":
            self._asset_path(name, (*path, "config", "name"), layers)
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
            if fn_type is None and fn_field != "function" and is_shape(value):
                continue  # Keras 3 stores a plain output_shape / mask value untyped: [4]
            if isinstance(value, (list, str)) and (
                fn_type == "lambda" or (fn_type is None and isinstance(value, list))
            ):
                self._function_list(config[fn_field], fpath, layers, where)
            elif fn_type == "function" or (fn_type is None and isinstance(value, str)):
                if isinstance(value, str) and not lambda_code.looks_like_code_string(value):
                    self._reference(
                        module if isinstance(module, str) else None, value, fpath, layers, where
                    )
                    self.handled.add(fpath)
            # dict forms ({"class_name": "__lambda__"...} or a function reference dict) are
            # visited by the generic walk below this node.
            if isinstance(value, dict) and value.get("class_name") == "function":
                self._reference_dict(value, fpath, layers, where)
                self.handled.add(fpath)
                self.handled.add((*fpath, "config"))

    def _lambda_object(
        self, config: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        if "code" in config:
            self.handled.add((*path, "code"))
            self._code_blob(
                config["code"],
                (*path, "code"),
                layers,
                config.get("defaults"),
                config.get("closure"),
                "__lambda__ code",
            )
        elif "value" in config:
            self._function_list(config["value"], (*path, "value"), layers, "__lambda__ value")

    def _function_list(
        self, value: Any, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> None:
        # Where the list's items sit in the raw JSON: SavedModel metadata wraps the list as
        # {"class_name": "__tuple__", "items": [...]}.
        items_path = (*path, "items") if _untuple(value) is not value else path
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
                self.handled.add((*items_path, 0, 0))
            self.handled.add((*items_path, 0))
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
        loc = self._where(path, layers)
        base = self._base_evidence(path, layers, where)
        if not isinstance(code, str):
            self._emit(
                LAMBDA_UNREADABLE,
                loc,
                f"{where}: code is a {type(code).__name__}, not a string",
                {**base, "value": repr(code)[:200]},
            )
            return
        raw, encoding = lambda_code.decode_keras_code(code, self.limits.max_code_blob_bytes)
        verdict = lambda_code.judge_code(
            raw, self.budget, encoding=encoding, defaults=defaults, closure=closure
        )
        evidence = {**base, **verdict.evidence()}
        evidence["loaders"] = keras_versions.safe_mode_note(self.container, self.doc.keras_version)
        if self.container == "h5" and self.generation != "tf.keras":
            evidence.update(keras_versions.cve_evidence("CVE-2025-9905", self.doc.keras_version))
        if defaults is not None:
            evidence["defaults"] = defaults
        if closure is not None:
            evidence["closure"] = closure
        call = verdict.calls[-1] if verdict.calls else None
        if verdict.exhaustion:
            top = verdict.exhaustion[0]
            self._emit(
                LAMBDA_EXHAUSTION,
                loc,
                f"{where} runs code on load whose constants commit it to a {top['kind']} of "
                f"{top['amount']:,} (limit {top['threshold']:,}): {top['expr']}"[:500],
                evidence,
            )
        if verdict.level == lambda_code.MALICIOUS:
            shown = f": {call}" if call else ""
            self._emit(
                LAMBDA_MALICIOUS,
                loc,
                f"{where} runs code on load that reaches "
                f"{', '.join(verdict.dangerous_names)}{shown}",
                evidence,
            )
        elif verdict.level == lambda_code.UNKNOWN:
            self._emit(
                LAMBDA_UNKNOWN,
                loc,
                f"{where} runs code on load that is not plain tensor math: "
                f"{'; '.join(verdict.reasons)[:300]}",
                evidence,
            )
        elif verdict.level == lambda_code.UNREADABLE:
            self._emit(
                LAMBDA_UNREADABLE,
                loc,
                f"{where}: code blob could not be read ({verdict.error})",
                evidence,
            )
        else:
            shown = f" ({call})" if call else ""
            self._emit(
                LAMBDA_TENSOR_MATH,
                loc,
                f"{where} runs code on load; only tensor math was seen{shown}",
                evidence,
            )

    def _module_globals(
        self, module: str, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> None:
        """tf.keras merges an already-imported module's namespace into the lambda's globals."""
        judged = judge_reference(module, None)
        if judged.severity >= Severity.HIGH:
            self._emit(
                FUNCTION_REFERENCE,
                self._where(path, layers),
                f"{where}: module {module!r} is merged into the function's globals "
                f"by tf.keras ({judged.reason})",
                {
                    **self._base_evidence(path, layers, where),
                    "module": module,
                    "reason": judged.reason,
                },
            )

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
        target = f"{module}.{name}" if module else name
        evidence = {
            **self._base_evidence(path, layers, where),
            "module": module,
            "name": name,
            "reason": judged.reason,
        }
        if judged.severity < Severity.HIGH:
            refused = self._denied(target)  # a reference Keras allows, unless the team denies it
            if refused is not None:
                self._report_reference(refused, path, layers, where)
                return
            if module == "builtins":
                verdict = callables.judge_config_reference(
                    module, "function", "function", name, self.generation
                )
                if verdict is not None:
                    self._report_reference(verdict, path, layers, where)
            return
        root = (module or "").split(".")[0]
        if judged.severity >= Severity.CRITICAL and root in callables.KERAS3_PACKAGES | (
            callables.TF_KERAS_PACKAGES
        ):
            verdict = callables.RefVerdict(
                callables.KERAS_API, Severity.CRITICAL, judged.reason, target
            )
            self._report_reference(verdict, path, layers, where)
            return
        denied = _in_policy(target, self.settings.deny_keras_modules)
        if denied is not None:
            judged = replace(
                judged, severity=Severity.CRITICAL, reason=f"denied by policy: {denied}"
            )
        elif judged.severity < Severity.CRITICAL and (entry := self._policy_allows(target)):
            # the team's policy allows this module: reported as accepted with its reason
            evidence[ALLOWED_BY] = {"list": "allow.keras_modules", "entry": entry}
        rule = (
            FUNCTION_REFERENCE
            if judged.severity >= Severity.CRITICAL
            else FUNCTION_REFERENCE_UNKNOWN
        )
        evidence.update(keras_versions.cve_evidence("CVE-2025-1550", self.doc.keras_version))
        self._emit(
            rule,
            self._where(path, layers),
            f"{where} resolves {target!r} when the model loads: {judged.reason}",
            evidence,
        )

    def _denied(self, target: str) -> callables.RefVerdict | None:
        """A reference to a module the team's policy denies: dangerous, whatever else it is."""
        reason = _in_policy(target, self.settings.deny_keras_modules)
        if reason is None:
            return None
        return callables.RefVerdict(
            callables.DANGEROUS, Severity.CRITICAL, f"denied by policy: {reason}", target
        )

    def _policy_allows(self, target: str) -> str | None:
        """The allow entry (its module) that covers ``target``, or None.

        Allow entries never excuse a dangerous module; they only approve a team's own
        packages that would otherwise count as outside the Keras family.  What one clears
        is still reported, with the entry (the policy accepts it with the entry's reason).
        """
        for module, _reason in self.settings.allow_keras_modules:
            if target == module or target.startswith(module + "."):
                return module
        return None

    # -- references, gadgets and specific layers (MX-KERAS-2xx) ------------------------------
    def _object_reference(
        self, node: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        verdict = _judge_config_reference(
            node.get("module"),
            node.get("class_name"),
            node.get("registered_name"),
            node.get("config"),
            self.generation,
        )
        module, class_name = node.get("module"), node.get("class_name")
        if verdict is None and isinstance(class_name, str) and self.settings.deny_keras_modules:
            # a reference the Keras family covers, unless the team's policy denies its module
            # (a function is serialized as class_name "function" with its name in config)
            config = node.get("config")
            name = config if class_name == "function" and isinstance(config, str) else class_name
            target = f"{module}.{name}" if isinstance(module, str) and module else name
            verdict = self._denied(target)
        if verdict is None:
            return
        if node.get("class_name") == "function":
            self.handled.add((*path, "config"))
        self._report_reference(verdict, path, layers, "object reference")

    def _report_reference(
        self,
        verdict: callables.RefVerdict,
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        where: str,
    ) -> None:
        if verdict.kind != callables.DANGEROUS:
            verdict = self._denied(verdict.target) or verdict
        allowed = self._policy_allows(verdict.target)
        if verdict.kind not in (callables.OUTSIDE, callables.CUSTOM):
            allowed = None  # an allow entry never clears a dangerous reference
        rule = {
            callables.DANGEROUS: REFERENCE_DANGEROUS,
            callables.KERAS_API: KERAS_API_GADGET,
            callables.OUTSIDE: REFERENCE_OUTSIDE,
            callables.CUSTOM: REFERENCE_CUSTOM,
            callables.BUILTINS_NAME: REFERENCE_BUILTINS_NAME,
        }[verdict.kind]
        if verdict.kind == callables.KERAS_API:
            last = verdict.target.split(".")[-1]
            cve = (
                "CVE-2025-9906"
                if (
                    last in callables.SAFE_MODE_GADGET_STRINGS
                    or last in ("load_model", "model_from_json", "model_from_config")
                    or ".config" in verdict.target
                    or "global_state" in verdict.target
                )
                else "CVE-2025-8747"
            )
        else:
            cve = "CVE-2025-1550"
        evidence = {
            **self._base_evidence(path, layers, where),
            "reference": verdict.target,
            "reason": verdict.reason,
            **keras_versions.cve_evidence(cve, self.doc.keras_version),
        }
        if allowed is not None:
            # the team's policy allows this module: reported as accepted with its reason
            evidence[ALLOWED_BY] = {"list": "allow.keras_modules", "entry": allowed}
        self._emit(
            rule,
            self._where(path, layers),
            f"{where} makes the loader resolve {verdict.target!r}: {verdict.reason}",
            evidence,
            severity=verdict.severity,
        )

    def _gadget_string(
        self, value: str, path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        tokens = sorted(t for t in callables.SAFE_MODE_GADGET_STRINGS if t in value)
        self._emit(
            KERAS_API_GADGET,
            self._where(path, layers),
            f"config carries {', '.join(tokens)}: the safe_mode-disabling gadget chain's arguments",
            {
                **self._base_evidence(path, layers, "string in config"),
                "value": value[:200],
                "tokens": tokens,
                **keras_versions.cve_evidence("CVE-2025-9906", self.doc.keras_version),
            },
        )

    def _arguments(
        self, value: Any, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> None:
        """URLs / absolute paths passed to a layer call, and ``safe_mode: false``."""
        stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, path)]
        seen = 0
        while stack and seen < 10_000:
            item, ipath = stack.pop()
            seen += 1
            if isinstance(item, dict):
                if item.get("class_name") == "__keras_tensor__":
                    continue
                for k, v in item.items():
                    if k == "safe_mode" and v is False:
                        self.handled.add((*ipath, k))
                        self._emit(
                            KERAS_API_GADGET,
                            self._where((*ipath, k), layers),
                            f"{where} arguments pass safe_mode=False to a Keras API",
                            {
                                **self._base_evidence((*ipath, k), layers, where),
                                **keras_versions.cve_evidence(
                                    "CVE-2025-9906", self.doc.keras_version
                                ),
                            },
                        )
                    stack.append((v, (*ipath, str(k))))
            elif isinstance(item, list):
                stack.extend((v, (*ipath, i)) for i, v in enumerate(item))
            elif isinstance(item, str) and (is_url(item) or is_absolute_path(item)):
                kind = "URL" if is_url(item) else "absolute path"
                self._emit(
                    ARGUMENT_LOCATION,
                    self._where(ipath, layers),
                    f"{where} arguments carry a {kind}: {item[:200]!r}",
                    {
                        **self._base_evidence(ipath, layers, where),
                        "value": item[:500],
                        "kind": kind,
                        **keras_versions.cve_evidence("CVE-2025-8747", self.doc.keras_version),
                    },
                )

    def _torch_wrapper(
        self, config: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        """Judge the torch module by what ``torch.load`` would read, not by its presence.

        ``TorchModuleWrapper.get_config`` stores ``base64(torch.save(module))``; ``from_config``
        runs ``torch.load(io.BytesIO(base64.b64decode(module)), weights_only=False)`` (a full
        unpickle).  The decoded bytes are scanned as a child artifact by the engine's own
        readers, and their findings decide this finding's severity.
        """
        fpath = (*path, "module")
        where = self._where(fpath, layers)
        self.handled.add(fpath)
        evidence = {
            **self._base_evidence(fpath, layers, "TorchModuleWrapper module"),
            "loader": TORCH_WRAPPER_LOADER,
            "loaders": TORCH_WRAPPER_SAFE_MODE,
            **keras_versions.cve_evidence("CVE-2025-49655", self.doc.keras_version),
        }
        value = config.get("module")
        data = b""
        problem = ""
        if isinstance(value, str):
            if len(value) > self.limits.max_code_blob_bytes * 2:
                raise BudgetExceeded(
                    "max_code_blob_bytes", f"TorchModuleWrapper module of {len(value)} characters"
                )
            try:
                data = binascii.a2b_base64(value.encode("ascii", errors="replace"))
            except (binascii.Error, ValueError) as exc:
                evidence["decode_error"] = problem = str(exc)
        else:
            evidence["value_type"] = type(value).__name__
            problem = f"module is a {type(value).__name__}, not a base64 string"
        evidence["decoded_bytes"] = len(data)
        evidence["payload_kind"] = (
            "torch zip archive"
            if data[:4] == b"PK\x03\x04"
            else "pickle stream"
            if data[:1] == b"\x80"
            else "unknown"
        )
        evidence["head"] = data[:16].hex()
        if data and not problem:
            child = Artifact.from_bytes(
                data,
                self.doc.location.child(*where),
                "torch_module_wrapper.pt",
                depth=self.doc.depth + 1,
            )
            conclude = functools.partial(_torch_wrapper_judgement, evidence, where, len(data), "")
            self._out.append(NestedPayload(child, conclude))
            return
        if not problem:
            problem = "the module field decodes to no bytes"
        self._out.append(_torch_wrapper_judgement(evidence, where, len(data), problem, False, ()))

    def _tfsm_layer(
        self, config: dict[str, Any], path: tuple[str | int, ...], layers: tuple[str, ...]
    ) -> None:
        fpath = (*path, "filepath")
        filepath = config.get("filepath")
        shown = filepath if isinstance(filepath, str) else repr(filepath)
        remote = isinstance(filepath, str) and is_url(filepath)
        absolute = isinstance(filepath, str) and is_absolute_path(filepath)
        kind = "remote location" if remote else "absolute path" if absolute else "relative path"
        self.handled.add(fpath)
        self._emit(
            TFSM_LAYER,
            self._where(fpath, layers),
            f"TFSMLayer loads the SavedModel at {shown[:200]!r} ({kind}) while the "
            "model is rebuilt; its graph runs at inference",
            {
                **self._base_evidence(fpath, layers, "TFSMLayer filepath"),
                "filepath": shown[:500],
                "kind": kind,
                **keras_versions.cve_evidence("CVE-2026-1462", self.doc.keras_version),
            },
            severity=Severity.CRITICAL if remote else None,
        )

    def _file_fields(
        self,
        config: dict[str, Any],
        path: tuple[str | int, ...],
        layers: tuple[str, ...],
        class_name: str,
        fields: tuple[str, ...],
        need_pathlike: bool,
    ) -> None:
        for name in fields:
            value = config.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            pathlike = (
                is_url(value)
                or is_absolute_path(value)
                or "/" in value
                or "\\" in value
                or bool(_PATHLIKE_SUFFIX.search(value))
            )
            if need_pathlike and not pathlike:
                continue
            fpath = (*path, name)
            self.handled.add(fpath)
            kind = "URL (server-side request)" if is_url(value) else "file path"
            self._emit(
                VOCABULARY_FILE,
                self._where(fpath, layers),
                f"{class_name} {name} is a {kind} the loader opens: {value[:200]!r}",
                {
                    **self._base_evidence(fpath, layers, f"{class_name} {name}"),
                    "value": value[:500],
                    "kind": kind,
                    **keras_versions.cve_evidence("CVE-2025-12058", self.doc.keras_version),
                },
            )

    def _asset_path(self, name: str, path: tuple[str | int, ...], layers: tuple[str, ...]) -> None:
        self._emit(
            ARCHIVE_PATH_TRAVERSAL,
            self._where(path, layers),
            f"layer name {name[:200]!r} leaves the asset directory Keras derives from layer names",
            {
                **self._base_evidence(path, layers, "layer name"),
                "value": name[:500],
                **keras_versions.cve_evidence("CVE-2026-12479", self.doc.keras_version),
            },
        )

    # -- reporting helpers ------------------------------------------------------------------
    def _where(self, path: tuple[str | int, ...], layers: tuple[str, ...]) -> tuple[str, ...]:
        """The place below the config's location: ``layer:a/b`` (when in a layer), JSON path."""
        if layers:
            return ("layer:" + "/".join(layers), _json_path(path))
        return (_json_path(path),)

    def _base_evidence(
        self, path: tuple[str | int, ...], layers: tuple[str, ...], where: str
    ) -> dict[str, Any]:
        ev: dict[str, Any] = {"json_path": _json_path(path), "field": where}
        if layers:
            ev["layer_path"] = "/".join(layers)
        if self.doc.keras_version:
            ev["keras_version"] = self.doc.keras_version
        return ev


def judge_config(
    doc: KerasDoc, budget: Budget, limits: Limits, settings: AnalysisSettings
) -> Iterator[Judgement | NestedPayload]:
    """Judge everything in one Keras config document, in walk order: judgements below
    ``doc.location`` and, for a TorchModuleWrapper, the payload the loader unpickles (the reader
    has it scanned, then reports what :attr:`NestedPayload.conclude` makes of the findings)."""
    yield from _Walker(doc, budget, limits, settings).walk()


def archive_location(doc: KerasDoc) -> Location:
    """The ``.keras`` archive a ``config.json`` was read from (its location without the member)."""
    return Location(doc.location.path, doc.location.inner[:-1])


def judge_archive_members(doc: KerasDoc, limits: Limits) -> Iterator[Judgement]:
    """``.keras`` member names that escape the extraction directory (CVE-2026-12479), each
    below :func:`archive_location`."""
    inner = doc.location.inner
    if doc.facts.get("container") != "keras-v3" or not inner or inner[-1] != "config.json":
        return
    members = doc.facts.get("members")
    if not isinstance(members, (list, tuple)):
        return
    for member in members[: limits.max_members]:
        if isinstance(member, str) and escapes_directory(member):
            yield Judgement(
                ARCHIVE_PATH_TRAVERSAL,
                f".keras member {member[:200]!r} escapes the directory Keras extracts assets into",
                {
                    "member": member[:500],
                    **keras_versions.cve_evidence("CVE-2026-12479", doc.keras_version),
                },
                (member,),
            )


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
