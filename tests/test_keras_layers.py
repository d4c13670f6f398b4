"""Issue 11 on real Keras 3 files: the generated tensor vocabulary, untyped output_shape values,
TorchModuleWrapper judged by its unpickled payload, and Lambdas whose constants exhaust memory
or time (MX-KERAS-107)."""

from __future__ import annotations

import base64
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.analysis import lambda_code
from modelxray.analysis._generated import tensor_vocab
from modelxray.model import Finding, Severity


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    from tests.factories.keras_layers import build_layer_corpus

    return build_layer_corpus(tmp_path_factory.mktemp("keras_layers"))


def _findings(path: Path) -> list[Finding]:
    return list(modelxray.scan(str(path)).findings)


def _show(findings: list[Finding]) -> list[tuple[str, str, str]]:
    return [(f.rule_id, f.severity.name, f.message[:160]) for f in findings]


def _cases(layers: dict[str, dict[str, Path]], prefix: str) -> list[tuple[str, Path]]:
    return [
        (f"{k}.{ext}", p) for k, v in layers.items() if k.startswith(prefix) for ext, p in v.items()
    ]


# -- class 4: the vocabulary is generated from the libraries' APIs --------------------------------


def test_generated_vocabulary_covers_the_reported_names() -> None:
    for name in ("nan_to_num", "logaddexp", "hstack", "median", "reduce_logsumexp", "gelu"):
        assert name in lambda_code.TENSOR_VOCABULARY, name
    # Every source contributed, and the header names the exact versions it was made from.
    assert len(tensor_vocab.KERAS_NAMES) > 300 and len(tensor_vocab.TORCH_NAMES) > 500
    assert len(tensor_vocab.TENSORFLOW_NAMES) > 300
    header = (tensor_vocab.__doc__ or "").lower()
    assert "keras==" in header and "torch==" in header and "tensorflow" in header


def test_vocabulary_leaves_out_io_and_code_running_names() -> None:
    for name in (
        "from_file", "load", "save", "py_function", "numpy_function", "load_library",
        "load_op_library", "raw_ops", "register_hook", "set_floatx", "print", "get",
    ):  # fmt: skip
        assert name not in tensor_vocab.TENSOR_API_NAMES, name
    assert {"from_file", "py_function", "raw_ops"} <= tensor_vocab.EXCLUDED_NAMES


def test_dangerous_names_win_over_the_vocabulary() -> None:
    # tf.signal / torch.types are tensor namespaces, but a bare `signal` / `types` stays a hit.
    raw = compile("lambda x: types.FunctionType(x, {})", "f.py", "eval").co_consts[0]
    import marshal

    from modelxray.budget import Budget

    verdict = lambda_code.judge_code(marshal.dumps(raw), Budget())
    assert verdict.level == lambda_code.MALICIOUS
    assert "types" in verdict.dangerous_names


def test_lambdas_using_newly_allowed_ops_are_tensor_math(layers: dict[str, Any]) -> None:
    cases = _cases(layers, "benign_ops_") + _cases(layers, "benign_api_")
    assert len(cases) == 30
    for name, path in cases:
        findings = _findings(path)
        assert [f.rule_id for f in findings if f.severity >= Severity.LOW] == ["MX-KERAS-104"], (
            name,
            _show(findings),
        )


# -- class 5: Keras 3 writes output_shape untyped -------------------------------------------------


def test_keras3_writes_output_shape_as_a_plain_list(layers: dict[str, Any]) -> None:
    with zipfile.ZipFile(layers["benign_shape_dim"]["keras"]) as zf:
        config = json.loads(zf.read("config.json"))
    lam = next(lyr for lyr in config["config"]["layers"] if lyr["class_name"] == "Lambda")
    assert lam["config"]["output_shape"] == [4]
    assert "output_shape_type" not in lam["config"]


def test_untyped_output_shapes_are_not_read_as_code(layers: dict[str, Any]) -> None:
    cases = _cases(layers, "benign_shape_")
    assert len(cases) == 12
    for name, path in cases:
        findings = _findings(path)
        assert not [f for f in findings if f.rule_id == "MX-KERAS-103"], (name, _show(findings))
        worst = max(f.severity for f in findings)
        assert worst == Severity.LOW, (name, _show(findings))


def test_is_shape_tells_shapes_from_function_triples() -> None:
    from modelxray.analysis.keras_config import is_shape

    assert is_shape([4]) and is_shape([None, 4]) and is_shape([[4], [None, 3]]) and is_shape([])
    assert not is_shape(["4wEAAAAA", None, None])
    assert not is_shape([["4wEAAAAA", None, None]])
    assert not is_shape([True]) and not is_shape([1.5]) and not is_shape("4wEA")


def test_a_code_triple_without_a_type_is_still_judged(layers: dict[str, Any]) -> None:
    """Content decides: an untyped output_shape that starts with a code string is code."""
    from tests.factories.keras_models import derive_json, host_blob, walk_dicts

    blob = host_blob("lambda s: __import__('os').system('echo MODELXRAY_MARKER') or s")
    src = layers["benign_shape_dim"]["json"]
    dst = src.with_name("shape_triple.json")

    def edit(tree: Any) -> int:
        count = 0
        for _, node in walk_dicts(tree):
            if node.get("class_name") == "Lambda":
                node["config"]["output_shape"] = [blob.b64, None, None]
                count += 1
        return count

    derive_json(src, dst, edit)
    findings = _findings(dst)
    hits = [f for f in findings if f.rule_id == "MX-KERAS-101"]
    assert hits and "output_shape" in hits[0].message, _show(findings)


# -- class 2: TorchModuleWrapper judged by what torch.load reads -----------------------------------


def test_benign_torch_module_wrapper_is_low(layers: dict[str, Any]) -> None:
    for ext, path in layers["clean_torch_wrapper"].items():
        findings = _findings(path)
        assert max(f.severity for f in findings) <= Severity.LOW, (ext, _show(findings))
        (wrapper,) = [f for f in findings if f.rule_id == "MX-KERAS-207"]
        assert wrapper.severity == Severity.LOW
        ev = wrapper.evidence
        assert ev["payload_kind"] == "torch zip archive"
        assert ev["payload_verdict"] == "only allowed objects"
        assert "weights_only=False" in ev["loader"] and "safe_mode=False" in wrapper.message
        assert "safe_mode" in ev["loaders"]


def test_real_wrapper_payload_is_a_torch_zip_with_module_classes(layers: dict[str, Any]) -> None:
    from tests.factories.keras_layers import torch_module_b64

    data = base64.b64decode(torch_module_b64(layers["clean_torch_wrapper"]["keras"]))
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as zf:
        pkl = next(n for n in zf.namelist() if n.endswith("/data.pkl"))
        assert b"torch.nn.modules.linear" in zf.read(pkl)


def test_malicious_torch_module_wrapper_is_critical(
    layers: dict[str, Any], assert_no_marker: None
) -> None:
    for ext, path in layers["bad_torch_wrapper_zip"].items():
        findings = _findings(path)
        (wrapper,) = [f for f in findings if f.rule_id == "MX-KERAS-207"]
        assert wrapper.severity == Severity.CRITICAL, (ext, _show(findings))
        assert wrapper.evidence["payload_verdict"] == "flagged"
        assert "MX-PICKLE-001" in wrapper.evidence["payload_findings"]
        nested = [
            f
            for f in findings
            if f.rule_id == "MX-PICKLE-001" and str(f.location).startswith(str(wrapper.location))
        ]
        assert nested and "data.pkl" in str(nested[0].location), _show(findings)


def test_legacy_pickle_wrapper_payload_is_critical(tmp_path: Path) -> None:
    from tests.factories.keras_cves import build_cve_corpus

    sample = build_cve_corpus(tmp_path)["cve_2025_49655_keras"]
    (wrapper,) = [f for f in _findings(sample.path) if f.rule_id == "MX-KERAS-207"]
    assert wrapper.severity == Severity.CRITICAL
    assert wrapper.evidence["payload_kind"] == "pickle stream"


@pytest.mark.parametrize("case", ["bad_torch_wrapper_garbage", "bad_torch_wrapper_number"])
def test_unjudgeable_wrapper_payload_fails_closed(layers: dict[str, Any], case: str) -> None:
    for ext, path in layers[case].items():
        findings = _findings(path)
        (wrapper,) = [f for f in findings if f.rule_id == "MX-KERAS-207"]
        assert wrapper.severity == Severity.HIGH, (ext, _show(findings))
        assert wrapper.evidence["payload_verdict"] == "not judged"


# -- miss 4: constants that drive huge loops or allocations ----------------------------------------


def test_huge_constant_lambdas_are_reported_with_sizes(layers: dict[str, Any]) -> None:
    cases = _cases(layers, "huge_")
    pythons = {p.name.rsplit("_", 1)[-1] for _, p in cases}
    assert {"3.11.keras"} <= pythons
    for name, path in cases:
        findings = _findings(path)
        hits = [f for f in findings if f.rule_id == "MX-KERAS-107"]
        assert hits, (name, _show(findings))
        (hit,) = hits
        assert hit.severity >= Severity.MEDIUM
        top = hit.evidence["exhaustion"][0]
        assert top["amount"] >= top["threshold"] >= 10**8, (name, top)
        assert top["expr"] and str(top["amount"])[:2] in hit.message.replace(",", "")


def test_huge_constants_are_measured(layers: dict[str, Any]) -> None:
    expect = {
        "huge_list_repeat": ("allocation", 10**10),
        "huge_bytearray": ("allocation", 10**10),
        "huge_str_repeat": ("allocation", 10**10),
        "huge_range_sum": ("loop", 10**12),
        "huge_nested_loops": ("loop", 10**12),
        "huge_big_power": ("integer", 10**10),
        "huge_tensor_alloc": ("allocation", 10**10),
        "huge_np_zeros": ("allocation", 10**10),
        "huge_range_loop": ("loop", 10**10),
    }
    for case, (kind, amount) in expect.items():
        for python, path in layers[case].items():
            (hit,) = [f for f in _findings(path) if f.rule_id == "MX-KERAS-107"]
            top = hit.evidence["exhaustion"][0]
            assert (top["kind"], top["amount"]) == (kind, amount), (case, python, top)


def test_small_loops_in_benign_lambdas_are_not_reported(layers: dict[str, Any]) -> None:
    for _, path in _cases(layers, "benign_ops_columns"):
        assert not [f for f in _findings(path) if f.rule_id == "MX-KERAS-107"]


def test_methods_of_the_input_value_are_not_allocations(layers: dict[str, Any]) -> None:
    """``x.fill(10**9)`` on the layer's input sets values; ``tf.fill(dims, v)`` would allocate."""
    from tests.factories.keras_layers import VALUE_METHOD_SOURCES

    cases = _cases(layers, "benign_value_")
    assert len(cases) == 3 * len(VALUE_METHOD_SOURCES)
    for name, path in cases:
        findings = _findings(path)
        assert not [f for f in findings if f.rule_id == "MX-KERAS-107"], (name, _show(findings))
        assert max(f.severity for f in findings) <= Severity.LOW, (name, _show(findings))
