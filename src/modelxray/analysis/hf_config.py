"""Hugging Face configs: the classes and modules a loader would import for them.

Every field of a Hub config that names a class or a module is resolved the way its loader
resolves it, to one of:

* the repository's own code: transformers ``auto_map`` (``{"AutoModel": "modeling_x.Cls"}``,
  list values ``["tok.Slow", "tok.Fast"]``, an older bare list) and ``custom_pipelines``
  (``{"task": {"impl": "pipe.Cls"}}``) in ``config.json``, ``tokenizer_config.json``,
  ``preprocessor_config.json`` and friends; a diffusers ``model_index.json`` component
  ``[module, class]`` or list ``_class_name`` whose module is not a library; a
  sentence-transformers ``modules.json`` / router ``type`` outside ``sentence_transformers``.
  A reference of the form ``org/repo--module.Class`` fetches the module from *another*
  repository;
* a library path: diffusers components from ``diffusers``/``transformers`` or a diffusers
  pipeline module, a PEFT ``auto_mapping.parent_library`` under a package PEFT allows, a
  ``sentence_transformers.*`` module type, a transformers ``processor_class`` /
  ``image_processor_type`` / ``feature_extractor_type``.  Judged against the threat catalogue
  and the library's own names (``_generated/hub_classes.py``, from ``scripts/gen_hub_classes.py``);
* any other module: imported from the environment (older diffusers, PEFT and
  sentence-transformers import whatever module the config names), judged against the threat
  catalogue.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from modelxray.analysis import threats
from modelxray.artifact import Artifact
from modelxray.budget import Budget
from modelxray.model import Judgement

HF_KEYS = frozenset(
    {"model_type", "architectures", "auto_map", "tokenizer_class", "custom_pipelines",
     "feature_extractor_type", "image_processor_type", "processor_class", "_diffusers_version",
     "transformers_version", "peft_type", "auto_mapping", "video_processor_type"}
)  # fmt: skip
# Config keys whose value transformers resolves to a class by name (``*_class_from_name``).
TRANSFORMERS_NAME_KEYS = (
    "processor_class", "feature_extractor_type", "image_processor_type", "video_processor_type"
)  # fmt: skip
SUBPROCESSOR_KEYS = ("image_processor", "feature_extractor", "video_processor", "audio_processor")
PIPELINE_INDEX_NAMES = frozenset({"model_index.json", "modular_model_index.json"})
_REFERENCE = re.compile(r"^(?:[\w.-]+/[\w.-]+--)?[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+$")
_MODULE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")

# Judgement kinds (rules.repo.BY_KIND maps them to rules).
LOCAL = "auto-map-local"  # code in this repository            -> MX-REPO-101
REMOTE = "auto-map-remote"  # code in another repository       -> MX-REPO-102
DANGEROUS = "config-import-dangerous"  # threat catalogue       -> MX-REPO-121
EXTERNAL = "config-import-external"  # outside the libraries    -> MX-REPO-122
UNKNOWN = "config-unknown-class"  # not one of the library's    -> MX-REPO-123


def looks_like_hf_config(doc: Any) -> bool:
    if isinstance(doc, dict):
        return any(k in doc for k in HF_KEYS) or _is_router_config(doc)
    return _is_modules_json(doc)


@dataclass(frozen=True, slots=True)
class Named:
    """A field naming something the loader imports: ``module`` and ``name`` as the loader
    splits them, the ``library`` whose names it is resolved in (None: the repository or the
    environment), and the component folder a custom module file may sit in."""

    json_path: str
    field: str
    module: str
    name: str
    library: str | None = None
    folder: str = ""
    code_only: bool = False  # a code reference whatever the file system says (auto_map)


def _auto_map_refs(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield f"{path}[{i}]", item
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (str, list)):
                yield from _auto_map_refs(item, f"{path}.{key}")


def _split(ref: str) -> tuple[str, str]:
    module, _, name = ref.rpartition(".")
    return module, name


def _is_modules_json(doc: Any) -> bool:
    """sentence-transformers ``modules.json``: a list of ``{"idx", "name", "path", "type"}``
    (one such entry makes it one; every entry's ``type`` is then judged)."""
    return isinstance(doc, list) and any(
        isinstance(m, dict) and isinstance(m.get("type"), str) and ("path" in m or "idx" in m)
        for m in doc
    )


def _is_router_config(doc: dict[str, Any]) -> bool:
    """sentence-transformers ``Router``/``Asym`` config: ``{"types": {id: class_ref}, ...}``."""
    return isinstance(doc.get("types"), dict) and "structure" in doc


def _is_pipeline_index(doc: dict[str, Any], artifact: Artifact) -> bool:
    """A diffusers pipeline index: read by name by ``DiffusionPipeline``, or recognised by
    content (a component naming a diffusers library or pipeline module, a list
    ``_class_name``, or a ``_class_name`` that is a diffusers pipeline class)."""
    from modelxray.analysis._generated import hub_classes as hub

    if os.path.basename(artifact.name.replace("\\", "/")) in PIPELINE_INDEX_NAMES:
        return True
    cls = doc.get("_class_name")
    if isinstance(cls, list) or (isinstance(cls, str) and cls.endswith("Pipeline")):
        return True
    libraries = hub.DIFFUSERS_LOADABLE_LIBRARIES | hub.DIFFUSERS_PIPELINE_MODULES.keys()
    return any(
        isinstance(v, list) and len(v) >= 2 and v[0] in libraries
        for k, v in doc.items()
        if not k.startswith("_")
    )


def _diffusers_component(key: str, value: Any) -> Named | None:
    from modelxray.analysis._generated import hub_classes as hub

    if not (isinstance(value, list) and len(value) >= 2):
        return None
    library, name = value[0], value[1]
    if not isinstance(library, str) or not isinstance(name, str) or not library:
        return None  # an absent component ([null, null])
    name = name.removeprefix("FlashPack")  # the loader strips it
    path = f"$.{key}"
    if library in hub.DIFFUSERS_LOADABLE_LIBRARIES:
        return Named(path, key, library, name, library=library, folder=key)
    if library in hub.DIFFUSERS_PIPELINE_MODULES:
        return Named(path, key, library, name, library=f"diffusers.pipelines.{library}", folder=key)
    return Named(path, key, library, name, folder=key)


def _st_type(path: str, ref: str) -> Named | None:
    if "--" in ref or "." not in ref:
        return Named(path, "type", *_split(ref), code_only=True) if "." in ref else None
    module, name = _split(ref)
    library = "sentence_transformers" if ref.startswith("sentence_transformers.") else None
    return Named(path, "type", module, name, library=library)


def _named(doc: Any, artifact: Artifact) -> Iterator[Named]:
    if isinstance(doc, list):  # modules.json
        for i, module in enumerate(doc):
            ref = module.get("type") if isinstance(module, dict) else None
            named = _st_type(f"$[{i}].type", ref) if isinstance(ref, str) else None
            if named is not None:
                yield named
        return
    custom: set[str] = set()  # classes auto_map maps to repository code
    if "auto_map" in doc:
        for path, ref in _auto_map_refs(doc["auto_map"], "$.auto_map"):
            if "." in ref:
                yield Named(path, "auto_map", *_split(ref), code_only=True)
                custom.add(_split(ref)[1])
    pipelines = doc.get("custom_pipelines")
    if isinstance(pipelines, dict):
        for task, spec in pipelines.items():
            if isinstance(spec, dict) and isinstance(spec.get("impl"), str) and "." in spec["impl"]:
                path = f"$.custom_pipelines.{task}.impl"
                yield Named(path, "custom_pipelines", *_split(spec["impl"]), code_only=True)
    for named in _transformers_names(doc):
        if named.name not in custom:  # the auto_map entry is the reference judged
            yield named
    if "_diffusers_version" in doc or "_class_name" in doc:
        yield from _diffusers_names(doc, artifact)
    if "peft_type" in doc or "auto_mapping" in doc:
        yield from _peft_names(doc)
    if _is_router_config(doc):
        for key, ref in doc["types"].items():
            named = _st_type(f"$.types.{key}", ref) if isinstance(ref, str) else None
            if named is not None:
                yield named


def _transformers_names(doc: dict[str, Any], path: str = "$") -> Iterator[Named]:
    for key in TRANSFORMERS_NAME_KEYS:
        value = doc.get(key)
        if isinstance(value, str) and value:
            yield Named(f"{path}.{key}", key, "transformers", value, library="transformers")
    if path == "$":  # a processor_config.json nests its sub-processors' configs
        for key in SUBPROCESSOR_KEYS:
            if isinstance(doc.get(key), dict):
                yield from _transformers_names(doc[key], f"$.{key}")


def _diffusers_names(doc: dict[str, Any], artifact: Artifact) -> Iterator[Named]:
    cls = doc.get("_class_name")
    index = _is_pipeline_index(doc, artifact)
    if isinstance(cls, list) and len(cls) >= 2 and isinstance(cls[0], str):
        # A custom pipeline: ``<module>.py`` beside the index (or fetched from the Hub).
        name = cls[1] if isinstance(cls[1], str) else ""
        yield Named("$._class_name", "_class_name", cls[0], name, code_only=True)
    elif isinstance(cls, str) and cls and "auto_map" not in doc:
        yield Named("$._class_name", "_class_name", "diffusers", cls, library="diffusers")
    if not index:
        return
    for key, value in doc.items():
        if not key.startswith("_"):
            named = _diffusers_component(key, value)
            if named is not None:
                yield named


def _peft_names(doc: dict[str, Any]) -> Iterator[Named]:
    from modelxray.analysis._generated import hub_classes as hub

    mapping = doc.get("auto_mapping")
    if isinstance(mapping, dict) and isinstance(mapping.get("parent_library"), str):
        parent = mapping["parent_library"]
        name = mapping.get("base_model_class")
        name = name if isinstance(name, str) else ""
        allowed = next(
            (a for a in sorted(hub.PEFT_IMPORT_ALLOWLIST)
             if parent == a or parent.startswith(f"{a}.")), None
        )  # fmt: skip
        yield Named("$.auto_mapping.parent_library", "auto_mapping", parent, name, library=allowed)
    core = doc.get("megatron_core")
    if isinstance(core, str) and core and doc.get("megatron_config"):
        library = "megatron" if core == "megatron" or core.startswith("megatron.") else None
        yield Named("$.megatron_core", "megatron_core", core, "", library=library)


def _module_file(artifact: Artifact, module: str, folder: str = "") -> bool | None:
    """Whether the module's file sits beside the config, or in the component ``folder`` below
    it, on disk or in the remote folder the config was read from (None inside an archive)."""
    from modelxray.artifact import loader_folder

    beside = loader_folder(artifact, through_wrapper=False)
    if beside is None:
        return None
    if not _MODULE.match(module):
        return False  # not an importable name ("../x", "/abs"): no file is looked up
    rel = "/".join(module.split(".")) + ".py"
    places = [rel]
    if folder and "/" not in folder and os.sep not in folder and folder not in (".", ".."):
        places.append(f"{folder}/{rel}")
    return any(beside.file(p) is not None for p in places)


def _library_names(library: str) -> frozenset[str] | None:
    """The names a library path resolves in (None: no table for that library)."""
    from modelxray.analysis._generated import hub_classes as hub

    if library == "diffusers":
        return hub.DIFFUSERS_CLASSES
    if library == "transformers":
        return hub.TRANSFORMERS_CLASSES
    if library.startswith("diffusers.pipelines."):
        return hub.DIFFUSERS_PIPELINE_MODULES.get(library.rsplit(".", 1)[1])
    return None


def _known_in_library(named: Named) -> bool | None:
    from modelxray.analysis._generated import hub_classes as hub

    assert named.library is not None
    if named.library == "sentence_transformers":
        return f"{named.module}.{named.name}" in hub.SENTENCE_TRANSFORMERS_MODULES
    root = named.library
    if named.field == "auto_mapping":  # transformers.models.bert.modeling_bert.BertModel
        root = named.library.split(".")[0]
    names = _library_names(root)
    if names is None or not named.name:
        return None
    return named.name in names or named.name.removesuffix("Fast") in names


def _judge(named: Named, artifact: Artifact) -> Judgement | None:
    target = f"{named.module}.{named.name}" if named.name else named.module
    evidence: dict[str, Any] = {
        "json_path": named.json_path, "field": named.field, "reference": target[:300],
        "module": named.module[:200],
    }  # fmt: skip
    where = (named.json_path,)
    if named.code_only and "--" in named.module:
        repo_id, _, module = named.module.partition("--")
        evidence.update({"repository": repo_id, "module": module,
                         "class_reference": f"{module}.{named.name}"})  # fmt: skip
        return Judgement(
            REMOTE,
            f"trust_remote_code=True would import {module}.py from another repository, "
            f"{repo_id!r} ({target})"[:400],
            evidence,
            where,
        )
    hit = threats.lookup(named.module, named.name) if _MODULE.match(named.module) else None
    if hit is not None and not named.code_only:
        evidence.update({"category": hit.category, "cwe": hit.cwe, "threat": hit.target})
        return Judgement(
            DANGEROUS,
            f"{named.field} makes the loader import {target}: {hit.category} ({hit.reason})"[:400],
            evidence,
            where,
        )
    if named.library is not None:
        known = _known_in_library(named)
        if known is not False:
            return None
        evidence["library"] = named.library
        return Judgement(
            UNKNOWN,
            f"{named.field} names {named.name!r}, which {named.library} does not define "
            f"(as of the versions in the generated table): loading fails or needs a newer "
            f"release"[:400],
            evidence,
            where,
        )
    present = _module_file(artifact, named.module, named.folder)
    if present is not None:
        evidence["module_file_present"] = present
    evidence["well_formed"] = bool(_REFERENCE.match(target))
    if named.code_only or present:
        return Judgement(
            LOCAL,
            f"{named.field}: trust_remote_code=True (or a custom pipeline) would import and run "
            f"{named.module}.py from this repository ({target})"[:400],
            evidence,
            where,
        )
    return Judgement(
        EXTERNAL,
        f"{named.field} makes the loader import module {named.module!r}, which is neither one "
        f"of the loader's libraries nor shipped beside the config: older releases import it "
        f"from the environment, newer ones need trust_remote_code=True ({target})"[:400],
        evidence,
        where,
    )


def judge_hf_config(doc: Any, artifact: Artifact, budget: Budget) -> Iterator[Judgement]:
    """The code loading this config would import, as judgements (``rules.repo.BY_KIND`` maps
    the kinds to rules)."""
    for named in _named(doc, artifact):
        budget.tick()
        judgement = _judge(named, artifact)
        if judgement is not None:
            yield judgement
