"""MLflow ``MLmodel`` files: which artefacts each flavour's loader deserialises or imports.

``MLmodel`` is YAML that MLflow writes with ``yaml.safe_dump`` in block style.
It is read with the shared bounded YAML decoder (``formats/yaml_doc.py``: PyYAML's event
parser, nothing constructed); what it cannot parse raises, which the engine reports as an
unparseable file (fail closed).

The artefacts themselves (``python_model.pkl``, ``model.pkl``, ``data/``) are
scanned by their own readers when the folder is scanned; the findings here add
what the loader would do with them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import Budget, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.model import Location
from modelxray.rules import mlflow as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

_FLAVORS_LINE = re.compile(rb"^flavors:[ \t]*\r?$", re.M)
PICKLE_EXTENSIONS = (".pkl", ".pickle", ".cloudpickle", ".joblib", ".dill")
PICKLE_FORMATS = frozenset({"pickle", "cloudpickle"})


class YamlSubsetError(ValueError):
    pass


def parse_yaml_subset(text: str, budget: Budget | None = None, limits: Limits | None = None) -> Any:
    """An ``MLmodel`` (or other small YAML file) as plain data, read by the shared bounded YAML
    decoder (:func:`modelxray.formats.yaml_doc.load_yaml_data`: core scalar types only, nothing
    constructed); kept under this name for its callers."""
    from modelxray.formats.yaml_doc import load_yaml_data

    limits = limits or Limits()
    return load_yaml_data(text, budget or Budget(limits), limits)


# -- MLmodel semantics ------------------------------------------------------------------------
def _escapes(path: str) -> bool:
    norm = path.replace("\\", "/")
    return (
        norm.startswith("/")
        or bool(re.match(r"^[A-Za-z]:", norm))
        or "://" in norm
        or ".." in norm.split("/")
    )


@dataclass
class Load:
    flavour: str
    key: str
    path: str
    how: str  # what the loader does with it
    pickle: bool
    code: bool = False


def flavour_loads(flavour: str, spec: dict[str, Any]) -> list[Load]:
    out: list[Load] = []

    def add(key: str, how: str, pickle: bool, code: bool = False) -> None:
        value = spec.get(key)
        if isinstance(value, str) and value:
            out.append(Load(flavour, key, value, how, pickle, code))

    loader = spec.get("loader_module")
    if flavour == "python_function":
        add("python_model", "mlflow.pyfunc.load_model would unpickle {path} with cloudpickle", True)
        loader_s = loader if isinstance(loader, str) else ""
        for key in ("model_path", "data"):
            value = spec.get(key)
            if isinstance(value, str) and value.lower().endswith(PICKLE_EXTENSIONS):
                add(
                    key,
                    f"mlflow.pyfunc.load_model ({loader_s or 'its loader'}) would unpickle "
                    "{path}",
                    True,
                )
    elif flavour == "sklearn":
        fmt = spec.get("serialization_format", "cloudpickle")
        add(
            "pickled_model",
            f"mlflow.sklearn.load_model would unpickle {{path}} with {fmt}",
            fmt in PICKLE_FORMATS,
        )
    elif flavour == "pytorch":
        add(
            "model_data",
            "mlflow.pytorch.load_model would torch.load the model under {path} (a pickle inside)",
            True,
        )
    else:
        for key in ("data", "model_data", "pickled_model", "model_path"):
            value = spec.get(key)
            if isinstance(value, str) and value.lower().endswith(PICKLE_EXTENSIONS):
                add(key, f"mlflow.{flavour}.load_model would unpickle {{path}}", True)
    if isinstance(spec.get("code"), str) and spec["code"]:
        add(
            "code",
            "MLflow puts {path} on sys.path and imports the modules the model names",
            False,
            code=True,
        )
    return out


class MLmodelReader(FormatReader):
    name = "mlflow-mlmodel"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if b"\x00" in head or head.lstrip()[:1] in (b"{", b"["):
            return 0
        return 30 if _FLAVORS_LINE.search(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(self.name)
        data = artifact.read(ctx.limits.max_python_source_bytes, "MLmodel file")
        doc = parse_yaml_subset(data.decode("utf-8-sig", errors="replace"), ctx.budget, ctx.limits)
        flavors = doc.get("flavors") if isinstance(doc, dict) else None
        if not isinstance(flavors, dict):
            raise YamlSubsetError("'flavors' is not a mapping")
        folder = os.path.dirname(artifact.fs_path) if artifact.fs_path else None
        for flavour, spec in flavors.items():
            ctx.budget.tick()
            if not isinstance(spec, dict):
                continue
            loc = artifact.location.child(f"flavors.{flavour}")
            self._loader_module(flavour, spec, loc, ctx)
            compression = {k: v for k, v in spec.items() if k.endswith("_compression") and v}
            for load in flavour_loads(flavour, spec):
                self._report(load, compression, loc, folder, ctx)

    @staticmethod
    def _loader_module(flavour: str, spec: dict[str, Any], loc: Location, ctx: Sink) -> None:
        loader = spec.get("loader_module")
        if flavour == "python_function" and isinstance(loader, str) and loader:
            if loader != "mlflow" and not loader.startswith("mlflow."):
                ctx.report(
                    rules.IMPORTS_CODE,
                    loc.child("loader_module"),
                    f"mlflow.pyfunc.load_model would import {loader!r} and call its "
                    "_load_pyfunc: a loader outside MLflow",
                    {"flavour": flavour, "loader_module": loader},
                )

    @staticmethod
    def _report(
        load: Load,
        compression: dict[str, Any],
        loc: Location,
        folder: str | None,
        ctx: Sink,
    ) -> None:
        where = loc.child(load.key)
        evidence: dict[str, Any] = {"flavour": load.flavour, "key": load.key, "path": load.path}
        if compression:
            evidence["compression"] = compression
        if _escapes(load.path):
            ctx.report(
                rules.PATH_ESCAPE,
                where,
                f"{load.key} points outside the model directory: {load.path!r}",
                evidence,
            )
        elif folder is not None:
            evidence["present"] = os.path.exists(os.path.join(folder, load.path))
        message = load.how.format(path=load.path)
        if compression:
            message += f" after decompressing it ({', '.join(map(str, compression.values()))})"
        if load.code:
            ctx.report(rules.IMPORTS_CODE, where, message, evidence)
        elif load.pickle:
            ctx.report(rules.UNPICKLES, where, message, evidence)


register(MLmodelReader())
