"""skops schema audit, MLflow MLmodel loader context, XGBoost/LightGBM native formats."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelxray
from modelxray.formats import readers
from modelxray.formats.mlflow import parse_yaml_subset
from modelxray.model import Severity
from tests.factories.skops_files import rewrite_schema


def _at_least_low(report: modelxray.Report) -> list:
    npy_reader = any("numpy" in r.name or "npy" in r.name for r in readers())
    return [
        f
        for f in report.findings
        if f.severity >= Severity.LOW
        # Until a .npy reader is registered, skops' array members are "unrecognised" (not ours).
        and (
            npy_reader or not (f.rule_id == "MX-SCAN-003" and f.location.inner[-1].endswith(".npy"))
        )
    ]


def _rules(report: modelxray.Report, prefix: str) -> list:
    return [f for f in report.findings if f.rule_id.startswith(prefix)]


# -- skops ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def skops_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import operator

    import skops.io as sio
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    out = tmp_path_factory.mktemp("skops")
    X = np.random.default_rng(0).random((30, 3))
    y = (X[:, 0] > 0.5).astype(int)
    files = {
        "logreg": LogisticRegression().fit(X, y),
        "tree": DecisionTreeClassifier(max_depth=2).fit(X, y),
        "ufunc": FunctionTransformer(func=np.log1p),
        "attrgetter": FunctionTransformer(func=operator.attrgetter("real")),
    }
    paths = {}
    for name, obj in files.items():
        paths[name] = out / f"{name}.skops"
        sio.dump(obj, paths[name])
    return paths


def test_clean_skops_files(skops_files: dict[str, Path]) -> None:
    import skops.io as sio

    for name in ("logreg", "ufunc", "tree"):
        report = modelxray.scan(str(skops_files[name]))
        assert "skops" in report.files[0].formats, name
        assert _at_least_low(report) == [], name
        # What we call untrusted is what skops itself reports.
        ours = {f.evidence["type"] for f in _rules(report, "MX-SKOPS-102")}
        assert ours == set(sio.get_untrusted_types(file=skops_files[name])), name
    (tree,) = _rules(modelxray.scan(str(skops_files["tree"])), "MX-SKOPS-102")
    assert (tree.evidence["type"], tree.severity) == ("sklearn.tree._tree.Tree", Severity.INFO)


def test_untrusted_operator_type(skops_files: dict[str, Path]) -> None:
    import skops.io as sio

    report = modelxray.scan(str(skops_files["attrgetter"]))
    (finding,) = _rules(report, "MX-SKOPS")
    assert finding.rule_id == "MX-SKOPS-102" and finding.severity == Severity.MEDIUM
    assert [finding.evidence["type"]] == sio.get_untrusted_types(file=skops_files["attrgetter"])
    assert finding.location.inner == ("schema.json", "$.content.content.func")


def test_dangerous_function_node(skops_files: dict[str, Path], tmp_path: Path) -> None:
    def edit(doc: dict) -> None:
        func = doc["content"]["content"]["func"]
        func.update({"__module__": "os", "__class__": "system"})

    p = rewrite_schema(skops_files["ufunc"], tmp_path / "evil.skops", edit)
    found = {(f.rule_id, f.severity) for f in _rules(modelxray.scan(str(p)), "MX-SKOPS")}
    assert found == {("MX-SKOPS-101", Severity.CRITICAL), ("MX-SKOPS-102", Severity.MEDIUM)}


def test_operator_node_type_confusion(skops_files: dict[str, Path], tmp_path: Path) -> None:
    def edit(doc: dict) -> None:
        doc["content"]["content"]["func"].update({"__module__": "builtins", "__class__": "eval"})

    p = rewrite_schema(skops_files["attrgetter"], tmp_path / "cve.skops", edit)
    rules = {f.rule_id for f in _rules(modelxray.scan(str(p)), "MX-SKOPS")}
    assert rules == {"MX-SKOPS-101", "MX-SKOPS-102", "MX-SKOPS-103"}


def method_node_mismatch(doc: dict[str, Any]) -> None:
    """A MethodNode whose class is an estimator but whose object is subprocess.Popen."""
    doc["content"]["content"]["func"] = {
        "__class__": "LogisticRegression",
        "__module__": "sklearn.linear_model._logistic",
        "__loader__": "MethodNode",
        "content": {
            "func": "system",
            "obj": {"__class__": "Popen", "__module__": "subprocess",
                    "__loader__": "ObjectNode", "content": {}},
        },
    }  # fmt: skip


def test_method_node_mismatch(skops_files: dict[str, Path], tmp_path: Path) -> None:
    p = rewrite_schema(skops_files["ufunc"], tmp_path / "method.skops", method_node_mismatch)
    findings = _rules(modelxray.scan(str(p)), "MX-SKOPS")
    assert any(f.rule_id == "MX-SKOPS-103" and "CVE-2025-54413" in f.message for f in findings)
    assert any(
        f.rule_id == "MX-SKOPS-101" and f.evidence["module"] == "subprocess" for f in findings
    )
    types = {f.evidence["type"] for f in findings if f.rule_id == "MX-SKOPS-102"}
    assert "subprocess.Popen.system" in types


# -- MLflow -----------------------------------------------------------------------------------
PYFUNC_MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    cloudpickle_version: 3.0.0
    code: null
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.11.7
    streamable: false
mlflow_version: 2.14.1
model_size_bytes: 2048
model_uuid: 4c3f0a5e2b1d4f6e8a9b0c1d2e3f4a5b
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}, {"type": "double", "name":
    "y", "required": true}]'
  outputs: null
  params: null
utc_time_created: '2024-06-18 10:20:30.123456'
"""

SKLEARN_MLMODEL = """\
artifact_path: model
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.sklearn
    model_path: model.pkl
    predict_fn: predict
    python_version: 3.11.7
  sklearn:
    code: null
    pickled_model: model.pkl
    serialization_format: cloudpickle
    sklearn_version: 1.4.2
mlflow_version: 2.14.1
"""


def _mlmodel(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / "MLmodel"
    p.write_text(text)
    return p


def test_yaml_subset_matches_pyyaml() -> None:
    yaml = pytest.importorskip("yaml")
    for text in (PYFUNC_MLMODEL, SKLEARN_MLMODEL):
        assert parse_yaml_subset(text) == yaml.safe_load(text)


def test_pyfunc_model_reports_cloudpickle(tmp_path: Path) -> None:
    import cloudpickle

    p = _mlmodel(tmp_path / "m", PYFUNC_MLMODEL)
    (tmp_path / "m" / "python_model.pkl").write_bytes(cloudpickle.dumps({"harmless": 1}))
    report = modelxray.scan(str(p))
    assert report.files[0].formats == ["mlflow-mlmodel"]
    (finding,) = report.findings
    assert finding.rule_id == "MX-MLFLOW-101" and finding.severity == Severity.INFO
    assert "mlflow.pyfunc.load_model would unpickle python_model.pkl" in finding.message
    assert finding.evidence["present"] is True
    assert finding.location.inner == ("flavors.python_function", "python_model")


def test_sklearn_flavour_and_compression(tmp_path: Path) -> None:
    report = modelxray.scan(str(_mlmodel(tmp_path / "s", SKLEARN_MLMODEL)))
    flavours = {f.evidence["flavour"] for f in report.findings if f.rule_id == "MX-MLFLOW-101"}
    assert flavours == {"python_function", "sklearn"}
    gz = PYFUNC_MLMODEL.replace(
        "python_model: python_model.pkl",
        "python_model: python_model.pkl.gz\n    python_model_compression: gzip",
    )
    (finding,) = modelxray.scan(str(_mlmodel(tmp_path / "gz", gz))).findings
    assert finding.evidence["compression"] == {"python_model_compression": "gzip"}
    assert "decompressing" in finding.message


def test_custom_loader_code_and_escape(tmp_path: Path) -> None:
    text = PYFUNC_MLMODEL.replace("loader_module: mlflow.pyfunc.model", "loader_module: my_loader")
    text = text.replace("code: null", "code: code").replace(
        "python_model: python_model.pkl", "python_model: ../../tmp/payload.pkl"
    )
    report = modelxray.scan(str(_mlmodel(tmp_path / "c", text)))
    found = {(f.rule_id, f.location.inner[-1]) for f in report.findings}
    assert found == {
        ("MX-MLFLOW-102", "loader_module"),
        ("MX-MLFLOW-102", "code"),
        ("MX-MLFLOW-103", "python_model"),
        ("MX-MLFLOW-101", "python_model"),
    }


def test_non_pickle_flavour_is_clean(tmp_path: Path) -> None:
    text = "flavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.16.0\n"
    report = modelxray.scan(str(_mlmodel(tmp_path / "o", text)))
    assert report.files[0].formats == ["mlflow-mlmodel"]
    assert report.findings == []


def test_malformed_mlmodel_fails_closed(tmp_path: Path) -> None:
    text = "flavors:\n  python_function:\n    a: 1\n      b: 2\n"
    (finding,) = modelxray.scan(str(_mlmodel(tmp_path / "bad", text))).findings
    assert finding.rule_id == "MX-SCAN-001"


# -- XGBoost / LightGBM -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def boosters(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import lightgbm as lgb
    import xgboost as xgb

    out = tmp_path_factory.mktemp("boost")
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    y = (X[:, 0] > 0.5).astype(int)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(X, label=y), 2
    )
    paths = {"json": out / "m.json", "ubj": out / "m.ubj", "bst": out / "m.bst"}
    for p in paths.values():
        booster.save_model(str(p))
    lgbm = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lgb.Dataset(X, y), 2)
    paths["lgb"] = out / "model.txt"
    lgbm.save_model(str(paths["lgb"]))
    # XGBoost's legacy binary layout (learner.cc): "binf", LearnerModelParamLegacy (136 bytes),
    # then the objective and booster names as uint64-length-prefixed strings.  XGBoost 3 no
    # longer writes it, so it is assembled by hand.
    param = struct.pack("<fIiiiIIIi", 0.5, 3, 0, 0, 0, 1, 7, 1, 1) + bytes(100)
    legacy = b"binf" + param
    for name in (b"binary:logistic", b"gbtree"):
        legacy += struct.pack("<Q", len(name)) + name
    paths["legacy"] = out / "legacy.model"
    paths["legacy"].write_bytes(legacy + bytes(64))
    return paths


@pytest.mark.parametrize(
    ("key", "fmt"),
    [("json", "xgboost-json"), ("ubj", "xgboost-ubj"), ("bst", "xgboost-ubj"),
     ("lgb", "lightgbm-text"), ("legacy", "xgboost-binary")],
)  # fmt: skip
def test_native_booster_formats_are_clean(boosters: dict[str, Path], key: str, fmt: str) -> None:
    report = modelxray.scan(str(boosters[key]))
    (result,) = report.files
    assert fmt in result.formats
    assert result.status == "scanned"
    assert report.findings == []


def test_truncated_ubjson_fails_closed(boosters: dict[str, Path], tmp_path: Path) -> None:
    p = tmp_path / "cut.ubj"
    p.write_bytes(boosters["ubj"].read_bytes()[:-9])
    (result,) = modelxray.scan(str(p)).files
    assert [f.rule_id for f in result.findings] == ["MX-SCAN-001"]


def test_huge_declared_ubjson_length_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "huge.ubj"
    p.write_bytes(b"{L" + struct.pack(">q", 7) + b"learner" + b"SL" + struct.pack(">q", 1 << 60))
    (result,) = modelxray.scan(str(p)).files
    assert [f.rule_id for f in result.findings] == ["MX-SCAN-001"]
