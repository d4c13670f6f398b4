"""The generated pickle allow-list: real objects pickled by the real libraries scan clean,
re-exports and handle types under allowed packages do not, and the committed table is what
its generator builds from its committed inputs.

Benign pickles are made here with the installed libraries (pickling objects we built; the
scanner never loads anything).  Malicious ones are hand-assembled and never loaded.
"""

from __future__ import annotations

import glob
import importlib
import importlib.util
import io
import json
import pickle
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from modelxray.analysis.pickle import GENERATED_ALLOWED, Policy, classify, scan_bytes
from modelxray.analysis.pickle.verdict import VerdictItem, verdict_items
from modelxray.engine import scan_bytes as engine_scan_bytes
from modelxray.model import Severity
from tests import pickle_samples as ps

ROOT = Path(__file__).resolve().parent.parent
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


@pytest.fixture(autouse=True)
def _no_marker_files() -> Iterator[None]:
    before = set(glob.glob(ps.MARKER_GLOB))
    yield
    assert set(glob.glob(ps.MARKER_GLOB)) == before, "a sample payload ran"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_pickle_allowlist", ROOT / "scripts" / "gen_pickle_allowlist.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_pickle_allowlist", mod)
    spec.loader.exec_module(mod)
    return mod


def items(data: bytes) -> list[VerdictItem]:
    return verdict_items(scan_bytes(data))


def assert_clean(obj: object, protocols: range = PROTOCOLS) -> None:
    """Every protocol's pickle of ``obj`` has no verdict item and no finding >= medium."""
    for proto in protocols:
        try:
            data = pickle.dumps(obj, protocol=proto)
        except (TypeError, pickle.PicklingError, ValueError):
            continue
        its = items(data)
        assert its == [], (proto, [(i.severity, i.global_name, i.reason) for i in its])
        r = engine_scan_bytes(data, "model.pkl")
        bad = [f for f in r.findings if f.severity >= Severity.MEDIUM]
        assert not bad, (proto, [(f.rule_id, f.message) for f in bad])


# ------------------------------------------------------------------ pandas


def _pandas_objects() -> Iterator[tuple[str, Callable[[], object]]]:
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    cols: dict[str, Any] = {
        "int": [1, 2, 3],
        "float": [1.0, np.nan, 3.0],
        "bool": [True, False, True],
        "object": ["a", None, 3],
        "str": ["a", "b", "c"],
        "category": pd.Categorical(["a", "b", "a"]),
        "dt": pd.date_range("2020-01-01", periods=3),
        "dt_tz": pd.date_range("2020-01-01", periods=3, tz="UTC"),
        "td": pd.to_timedelta([1, 2, 3], unit="s"),
        "period": pd.period_range("2020-01", periods=3, freq="M"),
        "interval": pd.interval_range(0, 3),
        "Int64": pd.array([1, None, 3], dtype="Int64"),
        "Float64": pd.array([1.0, None, 3.0], dtype="Float64"),
        "boolean": pd.array([True, None, False], dtype="boolean"),
        "string": pd.array(["a", None, "c"], dtype="string"),
        "sparse": pd.arrays.SparseArray([0, 0, 1]),
    }
    yield "frame of every dtype", lambda: pd.DataFrame(cols)
    for name, col in cols.items():
        yield f"series {name}", lambda col=col: pd.Series(col)
    yield (
        "multiindex frame",
        lambda: pd.DataFrame(
            {"a": [1, 2, 3, 4]}, index=pd.MultiIndex.from_product([["x", "y"], [1, 2]])
        ),
    )
    yield "CategoricalIndex", lambda: pd.CategoricalIndex(["a", "b"])
    yield "IntervalIndex", lambda: pd.IntervalIndex.from_breaks([0, 1, 2])
    yield "TimedeltaIndex", lambda: pd.timedelta_range("1 day", periods=3)
    yield "RangeIndex", lambda: pd.RangeIndex(4)
    yield "Categorical", lambda: pd.Categorical(["a", "b"], ordered=True)
    yield "Timestamp", lambda: pd.Timestamp("2020-01-01", tz="UTC")
    yield "Timedelta", lambda: pd.Timedelta("1 day")
    yield "Period", lambda: pd.Period("2020-01", freq="M")
    yield "Interval", lambda: pd.Interval(0, 1)
    yield "NaT", lambda: pd.NaT
    yield "offsets", lambda: [pd.offsets.MonthEnd(2), pd.offsets.BusinessDay(), pd.offsets.Hour()]
    yield "StringDtype", lambda: pd.StringDtype()


@pytest.mark.parametrize("label", [label for label, _ in _pandas_objects()])
def test_real_pandas_pickles_scan_clean(label: str) -> None:
    build = dict(_pandas_objects())[label]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert_clean(build())


def test_zoneinfo_method_reference_is_on_the_table() -> None:
    """A zoneinfo time zone reduces to the classmethod ``ZoneInfo._unpickle``, which CPython
    pickles as ``getattr(ZoneInfo, '_unpickle')``: the table holds the dotted name the VM
    resolves such a method reference to (the resolution itself is the VM's, issue 11 class 3)."""
    assert classify("zoneinfo", "ZoneInfo._unpickle").category == "allowed"


# Names pandas 0.x/1.x pickles use, as GLOBAL opcodes (the scanner never imports them).
LEGACY_PANDAS = [
    ("pandas.core.internals", "BlockManager"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
    ("pandas.core.internals.blocks", "new_block"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.base", "Index"),
    ("pandas.core.indexes.range", "RangeIndex"),
    ("pandas.core.indexes.numeric", "Int64Index"),
    ("pandas.core.indexes.numeric", "Float64Index"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.series", "Series"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas._libs.tslibs.nattype", "__nat_unpickle"),
    ("pandas.core.arrays.categorical", "Categorical"),
    ("pandas.indexes.base", "_new_Index"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core._internal", "_reconstruct"),
    ("numpy.random", "__RandomState_ctor"),
    ("numpy.ma.core", "_mareconstruct"),
    ("sklearn.datasets.base", "Bunch"),
    ("sklearn.ensemble.forest", "RandomForestClassifier"),
    ("sklearn.tree.tree", "DecisionTreeClassifier"),
    ("sklearn.neighbors.kd_tree", "KDTree"),
]


@pytest.mark.parametrize(("module", "name"), LEGACY_PANDAS)
def test_legacy_names_are_allowed(module: str, name: str) -> None:
    assert classify(module, name).category == "allowed"
    # as a protocol-2 GLOBAL referenced in a real-shaped stream: no item
    assert items(ps.p2(ps.glob(module, name))) == []


def test_legacy_dataframe_shape_scans_clean() -> None:
    """A pandas 1.x DataFrame pickle's opcode shape (GLOBALs, _reconstructor, BUILD)."""
    body = (
        ps.glob("copyreg", "_reconstructor")
        + ps.glob("pandas.core.frame", "DataFrame")
        + ps.glob("builtins", "object")
        + ps.NONE
        + ps.TUPLE3
        + ps.REDUCE
        + ps.EMPTY_DICT
        + ps.u("_mgr")
        + ps.glob("pandas.core.internals.managers", "BlockManager")
        + ps.glob("builtins", "object")
        + ps.TUPLE1
        + ps.REDUCE
        + ps.SETITEM
        + ps.BUILD
    )
    assert items(ps.p2(body)) == []


# ------------------------------------------------------------------ NumPy


def _numpy_objects() -> Iterator[tuple[str, Callable[[], object]]]:
    np = pytest.importorskip("numpy")
    yield "ufuncs", lambda: [np.add, np.multiply, np.sqrt, np.exp, np.logaddexp, np.isnan]
    yield "masked array", lambda: np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    yield "RandomState", lambda: np.random.RandomState(0)
    yield "Generator", lambda: np.random.default_rng(0)
    yield "Generator Philox", lambda: np.random.Generator(np.random.Philox(0))
    yield "SeedSequence", lambda: np.random.SeedSequence(3)
    yield "structured", lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "f8", (2,))])
    yield "datetime", lambda: np.array(["2020-01-01"], dtype="M8[D]")
    yield "matrix", lambda: np.matrix([[1, 2], [3, 4]])
    yield "dtypes", lambda: [np.dtype("f4"), np.dtypes.Float64DType(), np.dtypes.Int8DType()]
    yield "scalars", lambda: [np.float32(1), np.int64(2), np.complex128(1j), np.bool_(True)]


@pytest.mark.parametrize("label", [label for label, _ in _numpy_objects()])
def test_real_numpy_pickles_scan_clean(label: str) -> None:
    assert_clean(dict(_numpy_objects())[label]())


# ------------------------------------------------------------------ scikit-learn


def _sklearn_objects() -> Iterator[tuple[str, Callable[[], object]]]:
    np = pytest.importorskip("numpy")
    pytest.importorskip("sklearn")
    from sklearn import (
        cluster,
        datasets,
        decomposition,
        ensemble,
        linear_model,
        naive_bayes,
        neighbors,
        neural_network,
        pipeline,
        preprocessing,
        svm,
        tree,
    )
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import GridSearchCV

    rng = np.random.RandomState(0)
    x, y = rng.rand(40, 4), np.array([0, 1] * 20)
    texts = ["the cat sat", "a dog ran", "the dog sat", "a cat ran"] * 5
    yield "RandomForest", lambda: ensemble.RandomForestClassifier(3, random_state=0).fit(x, y)
    yield "GradientBoosting", lambda: ensemble.GradientBoostingClassifier(n_estimators=3).fit(x, y)
    yield (
        "HistGradientBoosting",
        lambda: ensemble.HistGradientBoostingRegressor(max_iter=3).fit(x, y),
    )
    yield "IsolationForest", lambda: ensemble.IsolationForest(n_estimators=3).fit(x)
    yield "LogisticRegression", lambda: linear_model.LogisticRegression().fit(x, y)
    yield "SGD", lambda: linear_model.SGDClassifier().fit(x, y)
    yield "DecisionTree", lambda: tree.DecisionTreeRegressor().fit(x, y)
    yield "SVC", lambda: svm.SVC().fit(x, y)
    yield "MLP", lambda: neural_network.MLPClassifier(max_iter=5).fit(x, y)
    yield "KMeans", lambda: cluster.KMeans(2, n_init=1).fit(x)
    yield "PCA", lambda: decomposition.PCA(2).fit(x)
    yield "GaussianNB", lambda: naive_bayes.GaussianNB().fit(x, y)
    yield "KNN kd_tree", lambda: neighbors.KNeighborsClassifier(algorithm="kd_tree").fit(x, y)
    yield "KNN ball_tree", lambda: neighbors.KNeighborsClassifier(algorithm="ball_tree").fit(x, y)
    yield "KDTree", lambda: neighbors.KDTree(x)
    yield "BallTree", lambda: neighbors.BallTree(x, metric="manhattan")
    yield "KernelDensity", lambda: neighbors.KernelDensity().fit(x)
    yield (
        "Pipeline",
        lambda: pipeline.make_pipeline(
            preprocessing.StandardScaler(), preprocessing.OneHotEncoder(handle_unknown="ignore")
        ).fit(x),
    )
    yield "Tfidf", lambda: TfidfVectorizer().fit(texts)
    yield (
        "GridSearchCV",
        lambda: GridSearchCV(linear_model.LogisticRegression(), {"C": [1.0, 2.0]}, cv=2).fit(x, y),
    )
    yield "Bunch", lambda: datasets.load_iris()
    yield "Bunch frame", lambda: datasets.load_iris(as_frame=True)


@pytest.mark.parametrize("label", [label for label, _ in _sklearn_objects()])
def test_real_sklearn_pickles_scan_clean(label: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = dict(_sklearn_objects())[label]()
    assert_clean(obj, range(2, pickle.HIGHEST_PROTOCOL + 1))


# ------------------------------------------------------------------ boosting libraries


def _boosting_objects() -> Iterator[tuple[str, Callable[[], object]]]:
    np = pytest.importorskip("numpy")
    rng = np.random.RandomState(0)
    x, y = rng.rand(40, 3), np.array([0, 1] * 20)

    def xgb() -> object:
        xgboost = pytest.importorskip("xgboost")
        return xgboost.XGBClassifier(n_estimators=2).fit(x, y)

    def xgb_booster() -> object:
        xgboost = pytest.importorskip("xgboost")
        return xgboost.train({}, xgboost.DMatrix(x, y), 2)

    def lgb() -> object:
        lightgbm = pytest.importorskip("lightgbm")
        return lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(x, y)

    def lgb_booster() -> object:
        lightgbm = pytest.importorskip("lightgbm")
        return lightgbm.train({"verbose": -1}, lightgbm.Dataset(x, y), num_boost_round=2)

    def catboost() -> object:
        cb = pytest.importorskip("catboost")
        return cb.CatBoostClassifier(iterations=2, verbose=False, allow_writing_files=False).fit(
            x, y
        )

    yield "XGBClassifier", xgb
    yield "xgboost Booster", xgb_booster
    yield "LGBMRegressor", lgb
    yield "lightgbm Booster", lgb_booster
    yield "CatBoostClassifier", catboost


@pytest.mark.parametrize("label", [label for label, _ in _boosting_objects()])
def test_real_boosting_model_pickles_scan_clean(label: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = dict(_boosting_objects())[label]()
    assert_clean(obj, range(2, pickle.HIGHEST_PROTOCOL + 1))


# ------------------------------------------------------------------ legacy library pickles

LEGACY_DIR = ROOT / "tests" / "data" / "legacy_pickles"


@pytest.mark.parametrize("name", sorted(p.name for p in LEGACY_DIR.glob("*.pkl")))
def test_legacy_library_pickles_scan_clean(name: str) -> None:
    """Pickles written by numpy 1.26 / pandas 1.5 / scikit-learn 1.3 (tests/data/legacy_pickles/
    make.py): old module paths of reconstructors, ufuncs, Cython newObj helpers, Bunch."""
    data = (LEGACY_DIR / name).read_bytes()
    its = items(data)
    assert its == [], [(i.severity, i.global_name, i.reason) for i in its]
    r = engine_scan_bytes(data, name)
    bad = [f for f in r.findings if f.severity >= Severity.MEDIUM]
    assert not bad, [(f.rule_id, f.message) for f in bad]


def test_legacy_pickles_name_the_old_paths() -> None:
    """The fixtures really exercise the historical names (read as opcodes, never loaded)."""
    gen = _generator()
    names: set[tuple[str, str]] = set()
    for p in LEGACY_DIR.glob("*.pkl"):
        names |= gen.pickled_names(p.read_bytes(), 4)
    for want in [
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core._multiarray_umath", "add"),
        ("numpy.ma.core", "_mareconstruct"),
        ("numpy.random._pickle", "__randomstate_ctor"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.internals.managers", "BlockManager"),
        ("sklearn.neighbors._kd_tree", "newObj"),
        ("sklearn.neighbors._ball_tree", "newObj"),
        ("sklearn.utils._bunch", "Bunch"),
        ("sklearn.ensemble._gb_losses", "MultinomialDeviance"),
    ]:
        assert want in names, want


# ------------------------------------------------------------------ SciPy


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil", "dok", "dia", "bsr"])
@pytest.mark.parametrize("kind", ["matrix", "array"])
def test_real_scipy_sparse_pickles_scan_clean(fmt: str, kind: str) -> None:
    np = pytest.importorskip("numpy")
    sp = pytest.importorskip("scipy.sparse")
    cls = getattr(sp, f"{fmt}_{kind}", None)
    if cls is None:
        pytest.skip(f"scipy has no {fmt}_{kind}")
    assert_clean(cls(np.array([[0.0, 1.0], [2.0, 0.0]])))


# ------------------------------------------------------------------ torch


def _torch_save_pickle(obj: object) -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith("/data.pkl")))


def test_torch_generator_scans_clean() -> None:
    torch = pytest.importorskip("torch")
    data = _torch_save_pickle({"gen": torch.Generator().manual_seed(1), "t": torch.ones(2)})
    assert items(data) == []
    assert classify("torch._C", "Generator").category == "allowed"
    assert classify("torch", "Generator").category == "allowed"


def test_whole_torch_module_save_scans_clean() -> None:
    """torch.save of a module object (not a state dict) names torch.nn.modules classes."""
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(2, 2), torch.nn.LayerNorm(2), torch.nn.Dropout(), torch.nn.GRU(2, 2),
    )  # fmt: skip
    buf = io.BytesIO()
    torch.save(model, buf)
    r = engine_scan_bytes(buf.getvalue(), "model.pt")
    assert not [f for f in r.findings if f.severity >= Severity.MEDIUM], r.findings


def test_torch_generator_whole_file_scans_clean() -> None:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"gen": torch.Generator().manual_seed(1)}, buf)
    r = engine_scan_bytes(buf.getvalue(), "state.pt")
    assert not [f for f in r.findings if f.severity >= Severity.MEDIUM], r.findings


# ------------------------------------------------------------------ stdlib data enums


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("http", "HTTPStatus"),
        ("http", "HTTPMethod"),
        ("re", "RegexFlag"),
        ("pstats", "SortKey"),
        ("uuid", "SafeUUID"),
    ],
)
def test_stdlib_data_enums_are_allowed(module: str, name: str) -> None:
    if module == "http" and name == "HTTPMethod" and sys.version_info < (3, 11):
        pytest.skip("HTTPMethod is new in Python 3.11")
    assert classify(module, name).category == "allowed"


@pytest.mark.parametrize(
    ("module", "name"), [("signal", "Signals"), ("socket", "AddressFamily"), ("ssl", "TLSVersion")]
)
def test_enums_in_denied_modules_stay_denied(module: str, name: str) -> None:
    """The deny list beats the generated table: an enum of a denied module is not allowed."""
    assert (module, name) not in {(m, n) for m, n, _ in GENERATED_ALLOWED}
    assert classify(module, name).category == "dangerous"


def test_stdlib_enum_pickles_scan_clean() -> None:
    import http
    import re

    assert_clean([http.HTTPStatus.OK, re.IGNORECASE | re.MULTILINE])


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("http.client", "HTTPConnection"),
        ("http.server", "CGIHTTPRequestHandler"),
        ("http.cookiejar", "MozillaCookieJar"),
        ("http", "client.HTTPConnection"),
        ("signal", "signal"),
        ("socket", "socket"),
    ],
)
def test_module_denials_stay_precise_and_dangerous(module: str, name: str) -> None:
    assert classify(module, name).category == "dangerous"


def test_http_connection_call_is_critical() -> None:
    its = items(ps.call1("http.client", "HTTPConnection", "example.invalid"))
    assert [i.severity for i in its] == ["critical"]


# ------------------------------------------------------------------ no name patterns


@pytest.mark.parametrize(
    ("module", "name"),
    [
        # re-exports of multiprocessing/threading objects inside scikit-learn
        ("sklearn.callback._transport", "Client"),
        ("sklearn.callback._transport", "Listener"),
        ("sklearn.callback._transport", "Thread"),
        ("sklearn.callback._progressbar", "Thread"),
        ("sklearn.callback._progressbar", "Queue"),
        # defined there, but a thread / joblib executor / a constructor reaching the network
        ("sklearn.callback._progressbar", "RichProgressMonitor"),
        ("sklearn.utils.parallel", "Parallel"),
        ("sklearn.callback._scoring_monitor", "ScoringMonitor"),
        # CapWords names that do not exist are no longer allowed by shape
        ("sklearn.ensemble", "Evil"),
        ("xgboost.core", "NotAClass"),
        ("torch.nn.modules.linear", "Whatever"),
        ("numpy.dtypes", "Nope"),
        # functions are not taken from the class walk
        ("sklearn.utils", "check_array"),
        # defined in the estimator packages, but no model part: sockets, temporary files,
        # data loaders reading paths, trackers, exceptions and warnings
        ("lightgbm.dask", "_RemoteSocket"),
        ("lightgbm.basic", "_TempFile"),
        ("lightgbm.basic", "Dataset"),
        ("lightgbm.basic", "LightGBMError"),
        ("xgboost.core", "DMatrix"),
        ("xgboost.tracker", "RabitTracker"),
        ("xgboost.callback", "TrainingCheckPoint"),
        ("xgboost.collective", "CommunicatorContext"),
        ("sklearn.exceptions", "NotFittedError"),
        ("sklearn.exceptions", "ConvergenceWarning"),
        ("sklearn.utils._testing", "TempMemmap"),
        ("sklearn.datasets._base", "RemoteFileMetadata"),
        ("sklearn.datasets", "fetch_openml"),
        ("sklearn.datasets._openml", "OpenMLError"),
        ("catboost.core", "Pool"),
    ],
)
def test_names_under_estimator_packages_are_not_allowed_by_shape(module: str, name: str) -> None:
    assert classify(module, name).category != "allowed"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("sklearn.callback._transport", "Client"),
        ("sklearn.callback._transport", "Listener"),
        ("sklearn.callback._progressbar", "Thread"),
        ("sklearn.utils.parallel", "Parallel"),
        ("lightgbm.dask", "_RemoteSocket"),
        ("lightgbm.basic", "_TempFile"),
        ("lightgbm.basic", "Dataset"),
        ("xgboost.tracker", "RabitTracker"),
        ("sklearn.datasets", "fetch_openml"),
    ],
)
def test_reexported_handle_called_is_at_least_high(module: str, name: str) -> None:
    its = items(ps.call1(module, name, "localhost"))
    assert its and max(Severity.parse(i.severity) for i in its) >= Severity.HIGH, its
    its = items(ps.p4(ps.sg(module, name) + ps.u("localhost") + ps.TUPLE1 + ps.REDUCE))
    assert its and max(Severity.parse(i.severity) for i in its) >= Severity.HIGH, its


def test_dangerous_stays_dangerous() -> None:
    for module, name in [
        ("os", "system"),
        ("subprocess", "Popen"),
        ("builtins", "eval"),
        ("builtins", "exec"),
        ("builtins", "getattr"),
        ("builtins", "__import__"),
        ("multiprocessing.connection", "Client"),
        ("threading", "Thread"),
        ("torch.storage", "_load_from_bytes"),
        ("joblib", "load"),
    ]:
        assert classify(module, name).category == "dangerous", (module, name)


def test_extra_allow_still_works_for_generated_packages() -> None:
    p = Policy(extra_allow=["sklearn.callback._transport:Client", "mypkg.*"])
    assert p.classify("sklearn.callback._transport", "Client").category == "allowed"
    assert p.classify("mypkg.sub", "Thing").category == "allowed"
    assert Policy().classify("mypkg.sub", "Thing").category == "unknown"


# ------------------------------------------------------------------ the table itself


def test_generated_table_matches_its_generator() -> None:
    """The committed table is exactly what the generator builds from its committed inputs
    (snapshots, historical data, the deny list); rerun ``generate`` after changing any."""
    gen = _generator()
    table, header, _dropped = gen.build_table(gen.load_snapshots())
    want = gen.render(table, header)
    assert (ROOT / "src/modelxray/analysis/pickle/_generated/allowlist.py").read_text() == want
    assert {(m, n) for m, n, _ in GENERATED_ALLOWED} == set(table)


def test_generated_table_has_no_denied_entry() -> None:
    p = Policy()
    for mod, name, why in GENERATED_ALLOWED:
        assert p.denied(mod, name) is None, (mod, name, why)
        assert p.classify(mod, name).category == "allowed", (mod, name, why)


def test_deny_beats_the_generated_table() -> None:
    mod, name = "sklearn.ensemble._forest", "RandomForestClassifier"
    assert (mod, name) in {(m, n) for m, n, _ in GENERATED_ALLOWED}
    assert Policy().classify(mod, name).category == "allowed"
    p = Policy(extra_deny=[f"{mod}:{name}"])
    assert p.classify(mod, name).category == "dangerous"
    p = Policy(extra_deny=["sklearn.ensemble:*"])
    assert p.classify(mod, name).category == "dangerous"


def test_ufunc_resolver_is_not_allowed_and_old_joblib_is_reviewed() -> None:
    """Not taken from history: the ufunc resolver imports any module by name.  The legacy
    joblib placeholders read a sidecar file; they are allowed only by the hand-reviewed list,
    because the sidecar is judged as joblib reads it (tests/test_legacy_formats.py)."""
    for mod in ("joblib.numpy_pickle", "sklearn.externals.joblib.numpy_pickle"):
        c = classify(mod, "NDArrayWrapper")
        assert c.category == "allowed" and "sidecar file is judged" in c.reason, c
    for mod in ("numpy.core", "numpy._core"):
        assert classify(mod, "_ufunc_reconstruct").category != "allowed"


def _installed_versions() -> dict[str, str]:
    return dict(_generator().versions())


def _current_snapshot() -> dict[str, Any]:
    """The committed snapshot made with exactly the installed library versions."""
    have = _installed_versions()
    for p in sorted((ROOT / "scripts" / "pickle_allowlist_inputs").glob("*.json")):
        snap = json.loads(p.read_text())
        v = snap["versions"]
        if all(have.get(k) == v.get(k) for k in ("python", "numpy", "pandas", "sklearn")):
            return dict(snap)
    pytest.skip(f"no committed snapshot for the installed versions {have}")


def _installed(module: str) -> bool:
    """Whether the library that made a snapshot entry is installed here (catboost may not)."""
    return importlib.util.find_spec(module.split(".")[0]) is not None


def _resolve(module: str, name: str) -> object:
    obj: object = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def test_every_entry_of_this_environments_snapshot_is_importable() -> None:
    snap = _current_snapshot()
    table = {(m, n) for m, n, _ in GENERATED_ALLOWED}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mod, name, *_ in snap["pickled"] + snap["classes"] + snap["stdlib_enums"]:
            if (mod, name) not in table or not _installed(mod):
                continue
            _resolve(mod, name)


def test_walked_classes_are_defined_where_they_are_named() -> None:
    """Classes from the package walk are the objects defined there, never re-exports."""
    snap = _current_snapshot()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mod, name, part in snap["classes"]:
            if not _installed(mod):
                continue
            obj = _resolve(mod, name)
            if part.startswith("Cython unpickle helper of "):
                owner = part.removeprefix("Cython unpickle helper of ")
                assert name == f"__pyx_unpickle_{owner}" and callable(obj)
                assert (mod, owner) in {(m, n) for m, n, _ in snap["classes"]}
                continue
            assert isinstance(obj, type)
            assert (obj.__module__, obj.__qualname__) == (mod, name)


def test_walked_classes_are_model_parts_and_no_handles() -> None:
    """Every class the walk took is a model part (estimator/Booster/Module/dtype/... or a
    pickle-capable extension type), no exception, no context manager, no thread/process/
    socket/io class in its MRO, and not denied."""
    import inspect
    import socket
    import threading

    gen = _generator()
    snap = _current_snapshot()
    bases = gen._model_bases()
    p = Policy()
    handle_bases = (threading.Thread, socket.socket, io.IOBase, BaseException)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for mod, name, part in snap["classes"]:
            if not _installed(mod) or part.startswith("Cython unpickle helper"):
                continue
            obj = _resolve(mod, name)
            assert isinstance(obj, type)
            assert gen._model_part(obj, importlib.import_module(mod), bases) == part
            assert not issubclass(obj, handle_bases), (mod, name)
            assert not any(
                h in vars(k) for k in inspect.getmro(obj)[:-1] for h in ("__enter__", "__exit__")
            ), (mod, name)
            assert p.denied(mod, name) is None, (mod, name)


def test_pickled_names_reads_stack_global_through_the_memo() -> None:
    gen = _generator()
    data = ps.p4(
        ps.u("collections") + ps.MEMOIZE + ps.u("OrderedDict") + ps.MEMOIZE + ps.STACK_GLOBAL
        + ps.binget(0) + ps.u("Counter") + ps.STACK_GLOBAL + ps.TUPLE2
    )  # fmt: skip
    assert gen.pickled_names(data, 4) == {
        ("collections", "OrderedDict"),
        ("collections", "Counter"),
    }
    assert gen.pickled_names(ps.p2(ps.glob("copy_reg", "_reconstructor")), 2) == {
        ("copyreg", "_reconstructor")
    }
