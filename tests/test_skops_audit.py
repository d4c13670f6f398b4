"""skops trust decided like skops' own audit (``get_untrusted_types``), threat catalogue on top.

Clean files are real ``skops.io.dump`` output of real estimators; hostile ones are those
files with ``schema.json`` edited by hand (harmless: nothing is ever loaded, and skops' own
``get_untrusted_types`` only builds its audit tree, which imports nothing it names).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import modelxray
from modelxray.model import Severity
from tests.factories.skops_files import rewrite_schema

sio = pytest.importorskip("skops.io")


def _table_matches_installed() -> bool:
    """Whether the committed trust table was made from the skops and scikit-learn installed."""
    import sklearn
    import skops

    from modelxray.analysis._generated import skops_trust

    doc = (skops_trust.__doc__ or "").splitlines()
    return f"from skops {skops.__version__} " in doc[0] and any(
        f"scikit-learn {sklearn.__version__}," in line for line in doc
    )


# skops' default lists move with skops and scikit-learn: compare with skops' own audit only
# when the table was made from the versions installed.
SAME_VERSIONS = _table_matches_installed()


def _agrees(report: modelxray.Report, path: Path) -> bool:
    return not SAME_VERSIONS or _untrusted(report) == set(sio.get_untrusted_types(file=path))


def _estimators() -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.svm import SVC

    rng = np.random.default_rng(0)
    X = rng.random((60, 4))
    y = (X[:, 0] > 0.5).astype(int)
    texts = ["a model file", "a data file", "weights and biases", "a config"] * 5
    return {
        "pipeline": make_pipeline(StandardScaler(), PCA(2), LogisticRegression()).fit(X, y),
        "forest": RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
        "gbc": GradientBoostingClassifier(n_estimators=3).fit(X, y),
        "hgbr": HistGradientBoostingRegressor(max_iter=3).fit(X, X[:, 1]),
        "sgd": SGDClassifier(loss="modified_huber", max_iter=5).fit(X, y),
        "svc": SVC().fit(X, y),
        "knn": KNeighborsClassifier(3).fit(X, y),
        "kmeans": KMeans(2, n_init=1, random_state=0).fit(X),
        "tfidf": TfidfVectorizer().fit(texts),
        "columns": ColumnTransformer([("oh", OneHotEncoder(), [0])]).fit(
            np.array([["a"], ["b"], ["a"]], dtype=object)
        ),
        "generator": {"rng": np.random.default_rng(1), "rs": np.random.RandomState(0)},
    }


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("skops-audit")
    paths = {}
    for name, obj in _estimators().items():
        paths[name] = out / f"{name}.skops"
        sio.dump(obj, paths[name])
    return paths


def _skops(report: modelxray.Report) -> list[Any]:
    return [f for f in report.findings if f.rule_id.startswith("MX-SKOPS")]


def _untrusted(report: modelxray.Report) -> set[str]:
    return {f.evidence["type"] for f in report.findings if f.rule_id == "MX-SKOPS-102"}


@pytest.mark.parametrize("name", sorted(_estimators()))
def test_real_dumps_agree_with_skops_and_stay_clean(dumps: dict[str, Path], name: str) -> None:
    report = modelxray.scan(str(dumps[name]))
    assert "skops" in report.files[0].formats
    assert [f for f in _skops(report) if f.severity > Severity.INFO] == []
    # What we call untrusted is exactly what skops' own audit lists.
    assert _agrees(report, dumps[name])


def _object_node(module: str, cls: str) -> dict[str, Any]:
    return {"__class__": cls, "__module__": module, "__loader__": "ObjectNode", "content": {
        "__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
        "content": {}, "key_types": {"__class__": "list", "__module__": "builtins",
                                     "__loader__": "ListNode", "content": []}}}  # fmt: skip


def test_reexported_threat_under_sklearn_is_critical(
    dumps: dict[str, Path], tmp_path: Path
) -> None:
    """``sklearn.callback._transport.Client`` is multiprocessing.connection.Client."""
    pytest.importorskip("sklearn.callback._transport")

    def edit(doc: dict[str, Any]) -> None:
        doc["content"]["content"]["steps"]["content"][0] = _object_node(
            "sklearn.callback._transport", "Client"
        )

    p = rewrite_schema(dumps["pipeline"], tmp_path / "client.skops", edit)
    findings = _skops(modelxray.scan(str(p)))
    (dangerous,) = [f for f in findings if f.rule_id == "MX-SKOPS-101"]
    assert dangerous.severity == Severity.CRITICAL
    assert "multiprocessing.connection.Client" in dangerous.message
    name = "sklearn.callback._transport.Client"
    (flagged,) = [
        f for f in findings if f.evidence.get("type") == name and f.rule_id == "MX-SKOPS-102"
    ]
    assert flagged.severity == Severity.MEDIUM  # not the INFO of a scikit-learn class
    assert "sklearn.callback._transport.Client" in sio.get_untrusted_types(file=p)


def test_sklearn_name_not_an_estimator_is_untrusted(dumps: dict[str, Path], tmp_path: Path) -> None:
    """skops trusts the estimators ``all_estimators()`` lists, not every public sklearn class."""

    def edit(doc: dict[str, Any]) -> None:
        doc["content"]["content"]["steps"]["content"][0] = _object_node(
            "sklearn.utils._bunch", "Bunch"
        )

    p = rewrite_schema(dumps["pipeline"], tmp_path / "bunch.skops", edit)
    report = modelxray.scan(str(p))
    assert "sklearn.utils._bunch.Bunch" in _untrusted(report)
    assert _agrees(report, p)


def _function_transformer(tmp_path: Path) -> Path:
    from sklearn.preprocessing import FunctionTransformer

    p = tmp_path / "ft.skops"
    sio.dump(FunctionTransformer(func=np.log1p), p)
    return p


def test_protocol0_function_node_is_judged_by_the_function_it_names(tmp_path: Path) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["protocol"] = 0
        doc["content"]["content"]["func"] = {
            "__class__": "function", "__module__": "builtins", "__loader__": "FunctionNode",
            "content": {"module_path": "posix", "function": "system"},
        }  # fmt: skip

    p = rewrite_schema(_function_transformer(tmp_path), tmp_path / "v0.skops", edit)
    findings = _skops(modelxray.scan(str(p)))
    critical = [f for f in findings if f.rule_id == "MX-SKOPS-101"]
    assert [(f.severity, f.evidence["type"]) for f in critical] == [
        (Severity.CRITICAL, "posix.system")
    ]
    assert _agrees(modelxray.scan(str(p)), p)
    assert "posix.system" in _untrusted(modelxray.scan(str(p)))


def test_method_node_is_judged_by_the_method_it_binds(tmp_path: Path) -> None:
    """A MethodNode whose object is consistent but whose method is ``system``."""

    def edit(doc: dict[str, Any]) -> None:
        obj = _object_node("sklearn.preprocessing._function_transformer", "FunctionTransformer")
        doc["content"]["content"]["func"] = {
            "__class__": "FunctionTransformer",
            "__module__": "sklearn.preprocessing._function_transformer",
            "__loader__": "MethodNode",
            "content": {"func": "system", "obj": obj},
        }

    p = rewrite_schema(_function_transformer(tmp_path), tmp_path / "method.skops", edit)
    findings = _skops(modelxray.scan(str(p)))
    assert any(
        f.rule_id == "MX-SKOPS-101"
        and f.severity == Severity.CRITICAL
        and f.evidence["type"].endswith("FunctionTransformer.system")
        for f in findings
    )
    assert not any(f.rule_id == "MX-SKOPS-103" for f in findings)  # consistent, yet dangerous
    assert _agrees(modelxray.scan(str(p)), p)


def test_generator_bit_generator_name_is_audited(dumps: dict[str, Path], tmp_path: Path) -> None:
    """numpy.random.<name> is called by the loader: a name other than a bit generator."""

    def edit(doc: dict[str, Any]) -> None:
        rng = doc["content"]["rng"]
        state = rng["content"]["bit_generator"]["content"]
        state["bit_generator"]["content"] = json.dumps("seed")

    p = rewrite_schema(dumps["generator"], tmp_path / "seed.skops", edit)
    report = modelxray.scan(str(p))
    (seed,) = [f for f in _skops(report) if f.evidence.get("type") == "numpy.random.seed"]
    assert seed.rule_id == "MX-SKOPS-102" and seed.severity == Severity.MEDIUM
    assert _agrees(report, p)


def test_generated_trust_table_matches_skops() -> None:
    import importlib.util

    from modelxray.analysis._generated import skops_trust

    if not SAME_VERSIONS:
        pytest.skip("table made from another skops or scikit-learn than the installed ones")
    path = Path(__file__).resolve().parents[1] / "scripts" / "gen_skops_trust.py"
    spec = importlib.util.spec_from_file_location("gen_skops_trust", path)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    rebuilt = gen.default_trusted()
    assert {k: frozenset(v) for k, v in rebuilt.items()} == skops_trust.DEFAULT_TRUSTED
