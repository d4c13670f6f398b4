"""Keras config references, gadgets and specific layers (MX-KERAS-2xx), per CVE, on samples
made by editing real Keras 3 files (tests/factories/keras_cves.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.analysis import keras_versions
from modelxray.analysis.callables import judge_config_reference
from modelxray.model import Finding, Severity


@pytest.fixture(scope="session")
def cve_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from tests.factories.keras_cves import build_cve_corpus
    from tests.factories.keras_models import quiet_keras

    with quiet_keras():
        return build_cve_corpus(tmp_path_factory.mktemp("keras_cves"))


def _findings(path: object) -> list[Finding]:
    return modelxray.scan(str(path)).findings


def _dump(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.rule_id, str(f.severity), f.message) for f in findings]


CVES = (
    "CVE-2025-1550",
    "CVE-2025-8747",
    "CVE-2025-9906",
    "CVE-2025-9905",
    "CVE-2025-49655",
    "CVE-2025-12058",
    "CVE-2026-1462",
    "CVE-2026-1669",
    "CVE-2026-0897",
    "CVE-2026-12479",
)


def test_every_cve_has_a_sample(cve_corpus: dict[str, Any]) -> None:
    assert {s.cve for s in cve_corpus.values()} >= set(CVES)


def test_each_cve_sample_is_reported_with_the_cve(cve_corpus: dict[str, Any]) -> None:
    for name, sample in cve_corpus.items():
        if sample.cve is None:
            continue
        findings = _findings(sample.path)
        for rule in sample.rules:
            hits = [f for f in findings if f.rule_id == rule]
            assert hits, (name, rule, _dump(findings))
            assert any(sample.cve in json.dumps(f.evidence) for f in hits), (name, rule)
            for f in hits:
                assert f.location.inner, name  # says where inside the file
                assert f.severity >= Severity.MEDIUM, (name, f.rule_id)
        # the evidence names the affected versions and quotes the file's claimed keras version
        assert all("versions" in f.evidence for f in findings if f.rule_id in sample.rules)
        if name == "cve_2026_0897_h5":
            continue  # a weights-only file records no keras version
        assert any(
            "this file claims keras 3." in f.evidence.get("versions", "")
            for f in findings
            if f.rule_id in sample.rules
        ), name


def test_unedited_real_models_stay_clean(cve_corpus: dict[str, Any]) -> None:
    for name, sample in cve_corpus.items():
        if sample.cve is not None:
            continue
        findings = _findings(sample.path)
        bad = [f for f in findings if f.severity >= Severity.LOW]
        assert not bad, (name, _dump(bad))


def test_gadget_chains_are_critical(cve_corpus: dict[str, Any]) -> None:
    for name in (
        "cve_2025_1550_keras",
        "cve_2025_8747_keras",
        "cve_2025_9906_keras",
        "cve_2025_49655_keras",
    ):
        findings = _findings(cve_corpus[name].path)
        assert any(f.severity == Severity.CRITICAL for f in findings), (name, _dump(findings))


def test_safe_mode_switch_chain_details(cve_corpus: dict[str, Any]) -> None:
    findings = _findings(cve_corpus["cve_2025_9906_keras"].path)
    gadget = [f for f in findings if f.rule_id == "MX-KERAS-204"]
    refs = " ".join(f.evidence.get("reference", "") for f in gadget)
    assert "set_global_attribute" in refs and "keras.models.load_model" in refs
    assert any("safe_mode_saving" in f.message for f in gadget)
    assert any("safe_mode=False" in f.message for f in gadget)
    paths = [f for f in findings if f.rule_id == "MX-KERAS-206"]
    assert any("/tmp/modelxray_marker_cve_2025_9906.keras" in f.message for f in paths)


def test_download_gadget_reports_the_url(cve_corpus: dict[str, Any]) -> None:
    findings = _findings(cve_corpus["cve_2025_8747_keras"].path)
    urls = [f for f in findings if f.rule_id == "MX-KERAS-206"]
    assert any(f.evidence["value"] == "https://attacker.invalid/payload.keras" for f in urls)
    gadget = [f for f in findings if f.rule_id == "MX-KERAS-204"]
    assert gadget[0].evidence["reference"] == "keras.utils.get_file"
    assert gadget[0].severity == Severity.CRITICAL


def test_torch_module_wrapper_payload_goes_to_the_engine(cve_corpus: dict[str, Any]) -> None:
    findings = _findings(cve_corpus["cve_2025_49655_keras"].path)
    (wrapper,) = [f for f in findings if f.rule_id == "MX-KERAS-207"]
    assert wrapper.evidence["payload_kind"] == "pickle stream"
    assert wrapper.evidence["decoded_bytes"] > 20
    # The decoded bytes were scanned as a child artifact at the wrapper's location (by the
    # pickle engine when it is registered; otherwise as unrecognised model content).
    children = [
        f
        for f in findings
        if f is not wrapper and str(f.location).startswith(str(wrapper.location))
    ]
    assert children, _dump(findings)


def test_tfsm_and_vocabulary_layers(cve_corpus: dict[str, Any]) -> None:
    tfsm = [
        f for f in _findings(cve_corpus["cve_2026_1462_keras"].path) if f.rule_id == "MX-KERAS-208"
    ]
    assert tfsm[0].evidence["kind"] == "absolute path"
    assert tfsm[0].evidence["filepath"] == "/tmp/modelxray_marker_savedmodel"
    vocab = [
        f for f in _findings(cve_corpus["cve_2025_12058_keras"].path) if f.rule_id == "MX-KERAS-209"
    ]
    assert vocab[0].evidence["value"] == "/tmp/modelxray_marker_vocab.txt"


def test_archive_member_traversal_names_the_member(cve_corpus: dict[str, Any]) -> None:
    findings = _findings(cve_corpus["cve_2026_12479_keras"].path)
    hits = [f for f in findings if f.rule_id == "MX-KERAS-306"]
    assert hits[0].evidence["member"] == "assets/../../../tmp/modelxray_marker_cve_2026_12479"
    assert hits[0].location.inner[-1] == hits[0].evidence["member"]


# -- unit-level judgement --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "class_name", "registered", "config"),
    [
        ("keras", "DTypePolicy", None, {"name": "float32"}),
        ("keras.layers", "Dense", None, {}),
        ("keras.src.models.functional", "Functional", "Functional", {}),
        ("keras.src.backend.torch.optimizers.torch_adam", "Adam", "Adam", {}),
        ("keras.initializers", "GlorotUniform", None, {}),
        ("builtins", "function", "function", "relu"),
        ("builtins", "function", "function", "mean_squared_error"),
        ("keras.activations", "function", "function", "gelu"),
        ("keras_hub.src.models.bert.bert_backbone", "BertBackbone", "keras_hub>BertBackbone", {}),
        (None, "Dense", None, {}),
        (None, "__lambda__", None, {}),
    ],
)
def test_normal_keras_references_are_not_judged(
    module: Any, class_name: str, registered: Any, config: Any
) -> None:
    assert judge_config_reference(module, class_name, registered, config, "keras3") is None


@pytest.mark.parametrize(
    ("module", "class_name", "registered", "config", "kind", "severity"),
    [
        ("subprocess", "run", None, {}, "dangerous", Severity.CRITICAL),
        ("builtins", "function", "function", "exec", "dangerous", Severity.CRITICAL),
        ("posix", "function", "function", "system", "dangerous", Severity.CRITICAL),
        ("keras.utils", "function", "function", "get_file", "keras-api", Severity.CRITICAL),
        (
            "keras.config",
            "function",
            "function",
            "enable_unsafe_deserialization",
            "keras-api",
            Severity.CRITICAL,
        ),
        ("keras.src.saving.saving_lib", "load_model", None, {}, "keras-api", Severity.CRITICAL),
        ("keras.src.ops.numpy", "function", "function", "abs", "keras-api", Severity.CRITICAL),
        ("some_pkg.tools", "Fetcher", None, {}, "outside", Severity.HIGH),
        ("tensorflow.io", "function", "function", "read_file", "outside", Severity.HIGH),
        ("my_pkg.layers", "MyLayer", "MyPkg>MyLayer", {}, "custom", Severity.MEDIUM),
        (None, "MyLayer", "MyPkg>MyLayer", {}, "custom", Severity.LOW),
        ("builtins", "function", "function", "MyPkg>my_act", "custom", Severity.LOW),
        ("builtins", "function", "function", "my_fn", "builtins-name", Severity.MEDIUM),
        ("builtins", "function", "function", "print", "builtins-name", Severity.MEDIUM),
    ],
)
def test_suspicious_references(
    module: Any, class_name: str, registered: Any, config: Any, kind: str, severity: Severity
) -> None:
    verdict = judge_config_reference(module, class_name, registered, config, "keras3")
    assert verdict is not None
    assert (verdict.kind, verdict.severity) == (kind, severity), verdict.reason


def test_tf_keras_files_may_name_tensorflow_modules() -> None:
    assert judge_config_reference("tensorflow.keras.layers", "Dense", None, {}, "tf.keras") is None
    assert judge_config_reference("tf_keras.layers", "Dense", None, {}, "tf.keras") is None


def test_version_evidence_never_lowers_and_states_the_claim() -> None:
    ev = keras_versions.cve_evidence("CVE-2025-1550", "3.8.0")
    assert ev["claimed_version_affected"] is True and "3.8.0" in ev["versions"]
    ev = keras_versions.cve_evidence("CVE-2025-1550", "3.15.1")
    assert ev["claimed_version_affected"] is False
    assert "does not lower the severity" in ev["versions"]
    assert keras_versions.claims_affected("CVE-2026-1462", "3.13.1") is True
    assert keras_versions.claims_affected("CVE-2026-1462", "3.13.2") is False
    assert keras_versions.claims_affected("CVE-2025-9905", "banana") is None
    assert "9905" in keras_versions.safe_mode_note("h5", "3.10.0")


def _json_model(tmp_path: Path, layer: dict[str, Any], keras_version: str = "3.8.0") -> Path:
    doc = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "keras_version": keras_version,
        "config": {"name": "s", "layers": [layer]},
    }
    p = tmp_path / "model.json"
    p.write_text(json.dumps(doc))
    return p


def test_claimed_old_version_keeps_severity_and_says_so(tmp_path: Path) -> None:
    layer = {
        "module": "operator",
        "class_name": "methodcaller",
        "config": {},
        "registered_name": None,
    }
    for version in ("3.8.0", "3.15.1"):
        (f,) = [
            f
            for f in _findings(_json_model(tmp_path, layer, version))
            if f.rule_id == "MX-KERAS-201"
        ]
        assert f.severity == Severity.CRITICAL
        assert f.evidence["claimed_keras_version"] == version
        assert f.evidence["claimed_version_affected"] is (version == "3.8.0")


def test_remote_tfsm_is_critical_and_tokenizer_paths_are_reported(tmp_path: Path) -> None:
    tfsm = {
        "module": "keras.layers",
        "class_name": "TFSMLayer",
        "config": {"name": "t", "filepath": "gs://bucket/model"},
    }
    (f,) = [f for f in _findings(_json_model(tmp_path, tfsm)) if f.rule_id == "MX-KERAS-208"]
    assert f.severity == Severity.CRITICAL and f.evidence["kind"] == "remote location"
    tok = {
        "module": "keras_hub.tokenizers",
        "class_name": "BytePairTokenizer",
        "config": {
            "name": "tok",
            "vocabulary": "https://example.invalid/vocab.json",
            "merges": None,
        },
    }
    hits = [f for f in _findings(_json_model(tmp_path, tok)) if f.rule_id == "MX-KERAS-209"]
    assert hits and "URL" in hits[0].evidence["kind"]
    plain = {
        "module": "keras_hub.tokenizers",
        "class_name": "WordPieceTokenizer",
        "config": {"name": "tok", "vocabulary": None, "lowercase": "yes"},
    }
    assert not [f for f in _findings(_json_model(tmp_path, plain)) if f.rule_id == "MX-KERAS-209"]


def test_lambda_builtins_named_function_is_medium_not_high(tmp_path: Path) -> None:
    lam = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "l",
            "function": {
                "module": "builtins",
                "class_name": "function",
                "config": "my_fn",
                "registered_name": "function",
            },
        },
    }
    findings = _findings(_json_model(tmp_path, lam))
    assert [(f.rule_id, f.severity) for f in findings] == [("MX-KERAS-205", Severity.MEDIUM)]


def test_code_buried_in_an_innocuous_layer_is_found(
    cve_corpus: dict[str, Any], tmp_path: Path, assert_no_marker: None
) -> None:
    """Payloads planted in a real Dense layer's ordinary fields, behind lists of numbers and
    dicts with no ``class_name``: the walk counts numbers and plain strings without a call
    each, but every string that can hold code and every object reference is still judged."""
    from tests.factories.keras_models import derive_keras_zip, host_blob, payload_source

    blob = host_blob(payload_source("import_system", "buried_b64")).b64
    raw = host_blob(payload_source("import_system", "buried_raw")).raw_unicode_escape
    where: dict[str, str] = {}

    def edit(tree: Any) -> int:
        layers = _layers_of(tree)
        i = next(n for n, layer in enumerate(layers) if layer["class_name"] == "Dense")
        cfg = layers[i]["config"]
        at = f"$.config.layers[{i}].config"
        # marshalled code (with a leading newline) five containers down a list of numbers
        buried = [True, [0, {"n": [3, "\n" + blob]}]]
        cfg["kernel_initializer"]["config"]["seed"] = [1, 2.5, None, buried]
        where["code"] = f"{at}.kernel_initializer.config.seed[3][1][1].n[1]"
        # a function reference inside plain dicts and lists (no class_name on the way)
        cfg["bias_initializer"]["config"]["extra"] = {
            "deep": [
                [
                    [
                        {
                            "module": "os",
                            "class_name": "function",
                            "config": "system",
                            "registered_name": "function",
                        }
                    ]
                ]
            ]  # fmt: skip
        }
        where["reference"] = f"{at}.bias_initializer.config.extra.deep[0][0][0]"
        # the safe_mode gadget's argument among numbers
        cfg["units_note"] = [0, 0.5, "keras.config.enable_unsafe_deserialization"]
        where["gadget"] = f"{at}.units_note[2]"
        # the Keras 3 lambda-activation shape in a dict with no class_name
        cfg["kernel_regularizer"] = {"value": [blob, None, None]}
        where["activation"] = f"{at}.kernel_regularizer.value"
        # raw (Keras <= 2.1) marshal text six lists down
        cfg["bias_constraint"] = [[[[[[raw]]]]]]
        where["raw"] = f"{at}.bias_constraint[0][0][0][0][0][0]"
        return 5

    dst = tmp_path / "buried.keras"
    derive_keras_zip(cve_corpus["base_keras"].path, dst, edit)
    found = {(f.rule_id, f.evidence.get("json_path")) for f in _findings(dst)}
    assert ("MX-KERAS-101", where["code"]) in found
    assert ("MX-KERAS-201", where["reference"]) in found
    assert ("MX-KERAS-204", where["gadget"]) in found
    assert ("MX-KERAS-101", where["activation"]) in found
    assert ("MX-KERAS-101", where["raw"]) in found


def _layers_of(tree: Any) -> list[Any]:
    layers = tree["config"]["layers"]
    assert isinstance(layers, list)
    return layers


def test_reference_judgements_follow_each_files_generation(tmp_path: Path) -> None:
    """A reference judged once (the judgement is remembered per name) is judged again for a
    file of another Keras generation: tensorflow modules are normal in tf.keras files only."""
    layer = {
        "module": "tensorflow.keras.layers",
        "class_name": "Dense",
        "config": {"name": "d"},
        "registered_name": None,
    }

    def outside(version: str) -> bool:
        found = _findings(_json_model(tmp_path, layer, version))
        return any(f.rule_id == "MX-KERAS-202" for f in found)

    assert [outside(v) for v in ("3.8.0", "2.15.0", "3.8.0", "2.15.0")] == [
        True,
        False,
        True,
        False,
    ]
