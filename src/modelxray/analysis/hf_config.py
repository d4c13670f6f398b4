"""Hugging Face configs: which Python code ``trust_remote_code=True`` would import.

``config.json``, ``tokenizer_config.json``, ``preprocessor_config.json`` and
friends may carry ``auto_map`` (``{"AutoModel": "modeling_x.Cls"}``, list
values ``["tok.Slow", "tok.Fast"]``, or an older bare list), and
``custom_pipelines`` (``{"task": {"impl": "pipe.Cls"}}``).  Diffusers
``model_index.json`` names each component as ``[library, class]``; a library
that is not a known package is a module in the repository.  A reference of the
form ``org/repo--module.Class`` makes transformers fetch the module from
*another* repository.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

from modelxray.artifact import Artifact
from modelxray.budget import Budget
from modelxray.model import Judgement

HF_KEYS = frozenset(
    {"model_type", "architectures", "auto_map", "tokenizer_class", "custom_pipelines",
     "feature_extractor_type", "image_processor_type", "processor_class", "_diffusers_version",
     "transformers_version"}
)  # fmt: skip
# Diffusers component libraries that are packages, not repository modules.
DIFFUSERS_LIBRARIES = frozenset(
    {"diffusers", "transformers", "onnxruntime", "onnxruntime.training", "peft", "tokenizers"}
)
_REFERENCE = re.compile(r"^(?:[\w.-]+/[\w.-]+--)?[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+$")
MAX_REFERENCES = 500


def looks_like_hf_config(doc: Any) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in HF_KEYS)


def _auto_map_refs(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value[:16]):
            if isinstance(item, str):
                yield f"{path}[{i}]", item
    elif isinstance(value, dict):
        for key, item in list(value.items())[:MAX_REFERENCES]:
            if isinstance(item, (str, list)):
                yield from _auto_map_refs(item, f"{path}.{key}")


def _references(doc: dict[str, Any], artifact: Artifact) -> Iterator[tuple[str, str]]:
    if "auto_map" in doc:
        yield from _auto_map_refs(doc["auto_map"], "$.auto_map")
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in list(pipelines.items())[:MAX_REFERENCES]:
            if isinstance(spec, dict) and isinstance(spec.get("impl"), str):
                yield f"$.custom_pipelines.{task}.impl", spec["impl"]
    if "_diffusers_version" in doc:
        for key, value in list(doc.items())[:MAX_REFERENCES]:
            if (
                isinstance(value, list)
                and len(value) == 2
                and isinstance(value[0], str)
                and isinstance(value[1], str)
                and value[0] not in DIFFUSERS_LIBRARIES
                # Diffusers also names its own pipeline submodules ("stable_diffusion"); only a
                # module file shipped beside model_index.json is repository code.
                and _module_file(artifact, value[0])
            ):
                yield f"$.{key}", f"{value[0]}.{value[1]}"


def _module_file(artifact: Artifact, module: str) -> bool | None:
    """Whether the module's file sits beside the config (None when not on disk)."""
    if artifact.fs_path is None:
        return None
    folder = os.path.dirname(artifact.fs_path)
    return os.path.isfile(os.path.join(folder, *module.split(".")) + ".py")


def judge_hf_config(doc: dict[str, Any], artifact: Artifact, budget: Budget) -> Iterator[Judgement]:
    """The code ``trust_remote_code=True`` would import for this config, as judgements
    (``auto-map-remote``, ``auto-map-local``; ``rules.repo.BY_KIND`` maps them to rules)."""
    for json_path, ref in _references(doc, artifact):
        budget.tick()
        evidence: dict[str, Any] = {"json_path": json_path, "reference": ref[:300]}
        if "--" in ref:
            repo_id, _, class_ref = ref.partition("--")
            module = class_ref.rsplit(".", 1)[0]
            evidence.update({"repository": repo_id, "module": module, "class_reference": class_ref})
            yield Judgement(
                "auto-map-remote",
                f"trust_remote_code=True would import {module}.py from another "
                f"repository, {repo_id!r} ({ref})"[:400],
                evidence,
                (json_path,),
            )
            continue
        if "." not in ref:
            continue
        module = ref.rsplit(".", 1)[0]
        present = _module_file(artifact, module)
        evidence["module"] = module
        evidence["well_formed"] = bool(_REFERENCE.match(ref))
        if present is not None:
            evidence["module_file_present"] = present
        yield Judgement(
            "auto-map-local",
            f"trust_remote_code=True would import and run {module}.py from this repository ({ref})"[
                :400
            ],
            evidence,
            (json_path,),
        )
