"""TorchServe model archives (``.mar``): what ``MAR-INF/MANIFEST.json`` makes the server run.

A ``.mar`` is a zip (the zip container walks its members: the handler's ``.py``, the weights,
the requirements file are each judged by their own readers).  The manifest, written by
torch-model-archiver (``model_archiver/manifest_components``), says what TorchServe does with
them: it imports ``model.handler`` (a file of the archive unless it names one of TorchServe's
own handlers) and calls it on every request, imports ``model.modelFile`` to build an
eager-mode model, and -- when the server runs with ``install_py_dep_per_model`` -- pip-installs
``model.requirementsFile`` before loading the model.  This JSON analyser reports those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.formats.json_doc import register_json_analyser
from modelxray.model import FormatName
from modelxray.rules import manifest as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

# torch-model-archiver's own handler names (model_archiver/model_packaging_utils.py
# ``model_handlers``): the archiver packs no file for them and TorchServe imports them from
# ``ts.torch_handler``.  tests/test_manifests.py checks this against the installed archiver.
BUILTIN_HANDLERS = frozenset(
    {"base_handler", "text_classifier", "image_classifier", "object_detector", "image_segmenter",
     "dali_image_classifier", "vllm_handler", "trt_llm_handler"}
)  # fmt: skip
_MANIFEST_KEYS = frozenset({"createdOn", "runtime", "archiverVersion"})


def looks_like_mar_manifest(doc: Any) -> bool:
    model = doc.get("model") if isinstance(doc, dict) else None
    return (
        isinstance(model, dict)
        and "handler" in model
        and ("modelName" in model or "serializedFile" in model)
        and bool(_MANIFEST_KEYS & set(doc))
    )


def analyse_mar_manifest(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    if not looks_like_mar_manifest(doc):
        return
    if artifact.depth == 0:
        ctx.add_format(FormatName.TORCHSERVE_MANIFEST)
    model: dict[str, Any] = doc["model"]
    base = artifact.location.child("model")
    runtime = doc.get("runtime")
    handler = model.get("handler")
    if isinstance(handler, str) and handler.split(":", 1)[0] not in BUILTIN_HANDLERS:
        native = runtime == "LSP"
        ctx.report(
            rules.SERVING_CODE,
            base.child("handler"),
            f"TorchServe imports the archive's handler {handler!r} and runs it on load and on "
            "every request" + (" (a native library: runtime LSP)" if native else ""),
            {"handler": handler, "runtime": runtime},
        )
    model_file = model.get("modelFile")
    if isinstance(model_file, str) and model_file:
        ctx.report(
            rules.SERVING_CODE,
            base.child("modelFile"),
            f"TorchServe imports the archive's model definition {model_file!r} to build the model",
            {"modelFile": model_file},
        )
    requirements = model.get("requirementsFile")
    if isinstance(requirements, str) and requirements:
        ctx.report(
            rules.INSTALLS_ON_LOAD,
            base.child("requirementsFile"),
            f"TorchServe pip-installs the packages in {requirements!r} before loading the model "
            "(when the server sets install_py_dep_per_model); the file is judged on its own",
            {"requirementsFile": requirements},
        )


register_json_analyser(analyse_mar_manifest)
