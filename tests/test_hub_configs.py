"""Hub configs that name classes or modules for a loader to import: diffusers pipeline indexes,
PEFT adapter configs, sentence-transformers modules.json / router configs, processor configs.

Clean configs are the ones the libraries write (tests/data/hubconfigs, made by
scripts/make_hub_config_fixtures.py) and published configs of real projects; malicious
variants change one field of a real config.  Nothing here imports what a config names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.analysis._generated import hub_classes
from modelxray.model import Severity
from tests.conftest import data_path

MARKER = "/tmp/modelxray_marker_hubconfig"
EVIL_MODULE = f"import os\nos.system('touch {MARKER}')\n\n\nclass Evil:\n    pass\n"
REAL = data_path("hubconfigs")


def _real(*parts: str) -> Any:
    return json.loads(REAL.joinpath(*parts).read_text())


def _scan(path: Path) -> list[modelxray.Finding]:
    return list(modelxray.scan(str(path)).findings)


def _write(folder: Path, name: str, doc: Any) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def _only(findings: list[modelxray.Finding], rule: str) -> modelxray.Finding:
    hits = [f for f in findings if f.rule_id == rule]
    assert len(hits) == 1, [(f.rule_id, f.message) for f in findings]
    return hits[0]


# ---------------------------------------------------------------- clean: real library output


def test_configs_written_by_the_libraries_are_clean() -> None:
    report = modelxray.scan(str(REAL))
    assert report.findings == [], [(f.rule_id, str(f.location)) for f in report.findings]
    formats = {Path(r.path).relative_to(REAL).as_posix(): r.formats for r in report.files}
    for name in (
        "diffusers_sd/model_index.json",
        "peft_auto_mapping/adapter_config.json",
        "st_bert/modules.json",
        "processors/clip_processor/processor_config.json",
    ):
        assert "hf-config" in formats[name], name


def test_real_configs_name_what_the_judge_resolves() -> None:
    """The fixtures exercise each resolution path (a test of the fixtures themselves)."""
    sd = _real("diffusers_sd", "model_index.json")
    assert sd["safety_checker"] == ["stable_diffusion", "StableDiffusionSafetyChecker"]
    assert sd["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert sd["image_encoder"] == [None, None]
    peft = _real("peft_auto_mapping", "adapter_config.json")
    assert peft["auto_mapping"]["parent_library"] == "transformers.models.bert.modeling_bert"
    types = [m["type"] for m in _real("st_bert", "modules.json")]
    assert all(t in hub_classes.SENTENCE_TRANSFORMERS_MODULES for t in types)
    unet = _real("diffusers_ddpm", "unet", "config.json")
    assert unet["down_block_types"] == ["DownBlock2D", "AttnDownBlock2D"]  # a look-alike pair


# Published configs of real projects (reproduced; names as the projects wrote them).
PUBLISHED: dict[str, tuple[str, Any]] = {
    # CompVis/stable-diffusion-v1-4 model_index.json as first published (diffusers 0.2.x):
    # names transformers 4.x's CLIPFeatureExtractor, which 5.x dropped.
    "sd14": ("model_index.json", {
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.2.2",
        "feature_extractor": ["transformers", "CLIPFeatureExtractor"],
        "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
    }),
    # sentence-transformers/all-MiniLM-L6-v2 modules.json (pre-5.4 module paths).
    "minilm": ("modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]),
    "minilm-st-config": ("config_sentence_transformers.json", {
        "__version__": {"sentence_transformers": "2.0.0", "transformers": "4.6.1",
                        "pytorch": "1.8.1"},
    }),
    # tloen/alpaca-lora-7b adapter_config.json (an early PEFT release).
    "alpaca-lora": ("adapter_config.json", {
        "base_model_name_or_path": "decapoda-research/llama-7b-hf", "bias": "none",
        "enable_lora": None, "fan_in_fan_out": False, "inference_mode": True, "lora_alpha": 16,
        "lora_dropout": 0.05, "merge_weights": False, "modules_to_save": None,
        "peft_type": "LORA", "r": 16, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        "task_type": "CAUSAL_LM",
    }),
    # An old ViT preprocessor_config.json (transformers 4.x feature extractor name).
    "vit": ("preprocessor_config.json", {
        "do_normalize": True, "do_resize": True, "feature_extractor_type": "ViTFeatureExtractor",
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "resample": 2, "size": 224,
    }),
}  # fmt: skip


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_published_configs_are_clean(tmp_path: Path, key: str) -> None:
    name, doc = PUBLISHED[key]
    findings = _scan(_write(tmp_path, name, doc))
    assert findings == [], [(f.rule_id, f.message) for f in findings]


def test_published_custom_sentence_transformer_is_repository_code(tmp_path: Path) -> None:
    """jinaai/jina-embeddings-v3's modules.json names its own custom_st.py: code, not a block."""
    modules = [
        {"idx": 0, "name": "transformer", "path": "", "type": "custom_st.Transformer"},
        {"idx": 1, "name": "pooler", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "normalizer", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"},
    ]  # fmt: skip
    (tmp_path / "custom_st.py").write_text("import torch\n\n\nclass Transformer:\n    pass\n")
    finding = _only(_scan(_write(tmp_path, "modules.json", modules)), "MX-REPO-101")
    assert finding.severity == Severity.MEDIUM
    assert finding.location.inner == ("$[0].type",)
    assert finding.evidence["module_file_present"] is True


# ---------------------------------------------------------------- diffusers


def _sd_index() -> dict[str, Any]:
    doc = _real("diffusers_sd", "model_index.json")
    assert isinstance(doc, dict)
    return doc


def test_component_naming_a_dangerous_callable(tmp_path: Path, assert_no_marker: None) -> None:
    doc = _sd_index() | {"unet": ["subprocess", "Popen"]}
    finding = _only(_scan(_write(tmp_path, "model_index.json", doc)), "MX-REPO-121")
    assert finding.severity == Severity.CRITICAL
    assert finding.location.inner == ("$.unet",)
    assert finding.evidence["category"] == "process"
    assert finding.evidence["reference"] == "subprocess.Popen"


def test_custom_component_module_in_repository(tmp_path: Path, assert_no_marker: None) -> None:
    doc = _sd_index() | {"unet": ["my_pipeline", "Evil"]}
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "my_pipeline.py").write_text(EVIL_MODULE)
    _write(tmp_path, "model_index.json", doc)
    report = modelxray.scan(str(tmp_path))
    local = _only(list(report.findings), "MX-REPO-101")
    assert local.location.inner == ("$.unet",)
    assert local.evidence["module_file_present"] is True
    assert local.evidence["module"] == "my_pipeline"
    code = _only(list(report.findings), "MX-REPO-103")  # the module itself is judged too
    assert code.evidence["call"] == "os.system"
    assert report.failed  # the module blocks (MX-REPO-103 is high)


def test_component_module_from_the_environment(tmp_path: Path) -> None:
    doc = _sd_index() | {"unet": ["acme_unets.fast", "FastUNet"]}
    finding = _only(_scan(_write(tmp_path, "model_index.json", doc)), "MX-REPO-122")
    assert finding.severity == Severity.MEDIUM
    assert finding.evidence["module_file_present"] is False


def test_custom_pipeline_class_name(tmp_path: Path) -> None:
    doc = _sd_index() | {"_class_name": ["pipeline_evil", "EvilPipeline"]}
    (tmp_path / "pipeline_evil.py").write_text(EVIL_MODULE)
    finding = _only(_scan(_write(tmp_path, "model_index.json", doc)), "MX-REPO-101")
    assert finding.location.inner == ("$._class_name",)
    assert finding.evidence["module_file_present"] is True


def test_unknown_library_classes_are_informational(tmp_path: Path) -> None:
    doc = _sd_index() | {
        "unet": ["diffusers", "NotAUNet"],
        "safety_checker": ["stable_diffusion", "NotAChecker"],
        "text_encoder": ["transformers", "CLIPTextModel"],
    }
    findings = _scan(_write(tmp_path, "model_index.json", doc))
    assert {f.location.inner for f in findings} == {("$.unet",), ("$.safety_checker",)}
    assert {f.rule_id for f in findings} == {"MX-REPO-123"}
    assert all(f.severity == Severity.INFO for f in findings)


def test_index_recognised_by_content_under_another_name(tmp_path: Path) -> None:
    doc = _sd_index() | {"unet": ["os", "system"]}
    finding = _only(_scan(_write(tmp_path, "pipeline.json", doc)), "MX-REPO-121")
    assert finding.evidence["threat"] == "os.system"


def test_component_config_lists_are_not_components(tmp_path: Path) -> None:
    """A UNet config's block-type pairs look like [library, class] but are not read as such."""
    unet = _real("diffusers_ddpm", "unet", "config.json")
    unet["up_block_types"] = ["subprocess", "Popen"]  # data, never imported
    assert _scan(_write(tmp_path, "config.json", unet)) == []


def test_component_config_class_name(tmp_path: Path) -> None:
    sched = _real("diffusers_ddpm", "scheduler", "scheduler_config.json")
    sched["_class_name"] = "NoSuchScheduler"
    finding = _only(_scan(_write(tmp_path, "scheduler_config.json", sched)), "MX-REPO-123")
    assert finding.evidence["library"] == "diffusers"


# ---------------------------------------------------------------- PEFT


def _adapter(**auto_mapping: str) -> dict[str, Any]:
    doc = _real("peft_auto_mapping", "adapter_config.json")
    doc["auto_mapping"] = auto_mapping
    assert isinstance(doc, dict)
    return doc


def test_peft_parent_library_dangerous(tmp_path: Path, assert_no_marker: None) -> None:
    doc = _adapter(base_model_class="system", parent_library="os")
    finding = _only(_scan(_write(tmp_path, "adapter_config.json", doc)), "MX-REPO-121")
    assert finding.location.inner == ("$.auto_mapping.parent_library",)
    assert finding.evidence["reference"] == "os.system"


def test_peft_parent_library_in_repository(tmp_path: Path, assert_no_marker: None) -> None:
    (tmp_path / "evil_models.py").write_text(EVIL_MODULE)
    doc = _adapter(base_model_class="Evil", parent_library="evil_models")
    finding = _only(_scan(_write(tmp_path, "adapter_config.json", doc)), "MX-REPO-101")
    assert finding.evidence["module_file_present"] is True


def test_peft_parent_library_outside_allowlist(tmp_path: Path) -> None:
    doc = _adapter(base_model_class="LlamaForCausalLM", parent_library="transformerz.models")
    finding = _only(_scan(_write(tmp_path, "adapter_config.json", doc)), "MX-REPO-122")
    assert finding.evidence["module"] == "transformerz.models"


def test_peft_allowed_library_unknown_class(tmp_path: Path) -> None:
    doc = _adapter(base_model_class="NotAModel", parent_library="transformers.models.bert")
    finding = _only(_scan(_write(tmp_path, "adapter_config.json", doc)), "MX-REPO-123")
    assert finding.severity == Severity.INFO


def test_peft_megatron_core(tmp_path: Path) -> None:
    doc = _real("peft_auto_mapping", "adapter_config.json")
    doc |= {"megatron_config": {"tensor_model_parallel_size": 1}, "megatron_core": "subprocess"}
    finding = _only(_scan(_write(tmp_path, "adapter_config.json", doc)), "MX-REPO-121")
    assert finding.location.inner == ("$.megatron_core",)
    # megatron_core is only imported when megatron_config is set
    doc["megatron_config"] = None
    assert _scan(_write(tmp_path, "adapter_config.json", doc)) == []


# ---------------------------------------------------------------- sentence-transformers


def _modules(type_: str) -> list[dict[str, Any]]:
    modules = _real("st_bert", "modules.json")
    modules[0]["type"] = type_
    assert isinstance(modules, list)
    return modules


@pytest.mark.parametrize(
    ("type_", "rule", "severity"),
    [
        ("os.system", "MX-REPO-121", Severity.CRITICAL),
        ("builtins.exec", "MX-REPO-121", Severity.CRITICAL),
        ("attacker/st-extras--custom_st.Transformer", "MX-REPO-102", Severity.HIGH),
        ("acme_st_extras.Transformer", "MX-REPO-122", Severity.MEDIUM),
        ("sentence_transformers.models.NoSuchModule", "MX-REPO-123", Severity.INFO),
    ],
)
def test_modules_json_types(tmp_path: Path, type_: str, rule: str, severity: Severity) -> None:
    finding = _only(_scan(_write(tmp_path, "modules.json", _modules(type_))), rule)
    assert finding.severity == severity
    assert finding.location.inner == ("$[0].type",)


def test_router_config_types(tmp_path: Path) -> None:
    router = {
        "types": {"query_0_Transformer": "sentence_transformers.models.Transformer",
                  "document_0_Evil": "subprocess.Popen"},
        "structure": {"query": ["query_0_Transformer"], "document": ["document_0_Evil"]},
        "parameters": {"default_route": "query"},
    }  # fmt: skip
    finding = _only(_scan(_write(tmp_path, "router_config.json", router)), "MX-REPO-121")
    assert finding.location.inner == ("$.types.document_0_Evil",)


# ---------------------------------------------------------------- processors


def test_processor_names_resolved_in_transformers(tmp_path: Path) -> None:
    doc = _real("processors", "clip_processor", "processor_config.json")
    doc["image_processor"]["image_processor_type"] = "EvilImageProcessor"
    finding = _only(_scan(_write(tmp_path, "processor_config.json", doc)), "MX-REPO-123")
    assert finding.location.inner == ("$.image_processor.image_processor_type",)


def test_processor_auto_map_is_the_reference(tmp_path: Path, assert_no_marker: None) -> None:
    doc = _real("processors", "clip_image", "preprocessor_config.json")
    ref = "image_processing_evil.EvilImageProcessor"
    doc |= {"image_processor_type": "EvilImageProcessor", "auto_map": {"AutoImageProcessor": ref}}
    (tmp_path / "image_processing_evil.py").write_text(EVIL_MODULE)
    findings = _scan(_write(tmp_path, "preprocessor_config.json", doc))
    assert [f.rule_id for f in findings] == ["MX-REPO-101"]
    assert findings[0].location.inner == ("$.auto_map.AutoImageProcessor",)


def test_config_inside_an_archive_is_judged(tmp_path: Path) -> None:
    """No file system beside the config: a component module is judged without it."""
    folder = tmp_path / "repo"
    shutil.copytree(REAL / "diffusers_sd", folder)
    _write(folder, "model_index.json", _sd_index() | {"vae": ["posix", "system"]})
    archive = shutil.make_archive(str(tmp_path / "repo"), "zip", folder)
    findings = _scan(Path(archive))
    assert [f.rule_id for f in findings] == ["MX-REPO-121"]
    assert findings[0].location.inner[-1] == "$.vae"


def test_every_entry_is_judged_however_many(tmp_path: Path) -> None:
    """No silent cut-off: the 601st module type and an entry without ``path`` are judged."""
    modules: list[dict[str, Any]] = [
        {"idx": i, "name": str(i), "path": "", "type": "sentence_transformers.models.Pooling"}
        for i in range(600)
    ]
    modules.append({"idx": 600, "type": "subprocess.check_output"})
    finding = _only(_scan(_write(tmp_path, "modules.json", modules)), "MX-REPO-121")
    assert finding.location.inner == ("$[600].type",)


def test_plain_json_lists_are_not_module_lists(tmp_path: Path) -> None:
    rows = [{"type": "text.plain", "value": 1}, {"type": "image", "file": "a.png"}]
    assert _scan(_write(tmp_path, "data.json", rows)) == []


def test_module_names_that_are_paths_look_up_no_file(tmp_path: Path) -> None:
    (tmp_path / "outside.py").write_text(EVIL_MODULE)
    repo = tmp_path / "repo"
    doc = _sd_index() | {"unet": ["../outside", "Evil"]}
    finding = _only(_scan(_write(repo, "model_index.json", doc)), "MX-REPO-122")
    assert finding.evidence["module_file_present"] is False
