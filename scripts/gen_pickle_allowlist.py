#!/usr/bin/env python
"""Generate the pickle allow-list table from the libraries' own source and history.

Offline, developer-run (never at scan time)::

    # 1. record what one library generation pickles, in an env that has it (the snapshots
    #    committed were made with the current libraries and with older generations):
    python scripts/gen_pickle_allowlist.py collect --out scripts/pickle_allowlist_inputs/NAME.json
    # 2. regenerate the committed table from every committed snapshot:
    python scripts/gen_pickle_allowlist.py generate
    # 3. check that the committed table is what step 2 writes (tests do this too):
    python scripts/gen_pickle_allowlist.py check

Sources of truth, each recorded with the library versions that produced it:

(a) ``torch._weights_only_unpickler._get_allowed_globals()``: the globals
    ``torch.load(weights_only=True)`` accepts.
(b) Every global the libraries' own ``__reduce__``/``__reduce_ex__`` emit: the
    generator builds representative objects with the installed libraries
    (DataFrames of every dtype, every Index type, sparse matrices, every
    scikit-learn estimator fitted on a tiny problem, KDTree/BallTree, random
    generators, ufuncs, masked arrays, torch tensors/modules/Generator,
    XGBoost/LightGBM models), pickles them with protocols 0-5 (and through
    ``torch.save``/``joblib.dump``), and reads the GLOBAL/STACK_GLOBAL names with
    ``pickletools``.  Only objects built here are pickled; nothing scanned is.
(c) Model-part classes *defined* in the estimator packages (scikit-learn, XGBoost,
    LightGBM, CatBoost, torch.nn.modules, numpy.dtypes).  Selection rule, per class found
    in a module of those packages:
    1. defined there: ``obj.__module__`` is that module and ``obj.__qualname__`` the
       attribute name (re-exports such as ``sklearn.callback._transport.Client``, which is
       ``multiprocessing.connection.Client``, and aliases are never taken);
    2. a model part, i.e. what a saved model actually contains: a subclass of a
       ``MODEL_BASES`` class (scikit-learn ``BaseEstimator``, GP kernels, losses and links,
       CV splitters, scorers; XGBoost/LightGBM Booster and estimators; CatBoost models;
       ``torch.nn.Module``; ``numpy.dtype``), or a class of a compiled extension module
       whose MRO (within the package) defines ``__reduce__``/``__reduce_cython__``/
       ``__setstate__``/``__setstate_cython__`` (trees, losses, criteria, splitters,
       distance metrics);
    3. not excluded: on the deny list; an exception or warning; a context manager
       (``__enter__``/``__exit__``: files, temporary files, sockets, locks); a class with a
       thread/process/socket/io/executor/denied class in its MRO; a constructor or
       ``__setstate__`` whose code reaches process, network, file, evaluation or import
       machinery (static walk of the code objects).
    So ``lightgbm.dask._RemoteSocket`` (no model part), ``lightgbm.basic._TempFile``
    (context manager), ``sklearn.exceptions.*`` (exceptions) are left out.  Functions are
    never taken from this walk; other objects real models hold come from (b).
(d) Stdlib enum classes (pure data: calling one with a value looks a member up),
    outside denied modules.
(e) History: the snapshots in ``scripts/pickle_allowlist_inputs/`` (what older
    NumPy/pandas/scikit-learn generations pickle, recorded with step 1), pandas'
    own ``pandas.compat.pickle_compat._class_locations_map`` (old name allowed
    when the object it maps to is allowed), scikit-learn 0.22's deprecated
    public module names, and the ``HISTORICAL`` list below with its citations.

Every candidate, history included, is dropped if the hand-written deny list
classifies it as dangerous (``Policy.denied``), and at scan time the deny list is
consulted before this table (deny beats it).  The hand-reviewed allow list stays in
``globals_policy.ALLOW`` (``torch._C.Generator``, joblib's ``NumpyArrayWrapper``).
Deliberately absent: ``numpy.core._ufunc_reconstruct`` (imports any module by name; the
ufuncs themselves are on the table under every module path NumPy used) and the old joblib
``NDArrayWrapper`` (reads a sidecar file).
"""

# ruff: noqa: E501  (data tables kept one release/rename per line)
from __future__ import annotations

import argparse
import enum
import importlib
import inspect
import io
import json
import pickle
import pickletools
import platform
import sys
import types
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

INPUTS = ROOT / "scripts" / "pickle_allowlist_inputs"
OUT = ROOT / "src" / "modelxray" / "analysis" / "pickle" / "_generated" / "allowlist.py"

LIBS = ("numpy", "pandas", "scipy", "sklearn", "torch", "xgboost", "lightgbm", "catboost", "joblib")

# Packages whose *classes* are walked (source c): the estimator packages the old
# name-prefix rule covered, now as exact objects.
CLASS_PACKAGES = ("sklearn", "xgboost", "lightgbm", "catboost", "torch.nn.modules", "numpy.dtypes")

# What a saved model holds, as base classes: a class of the walk is a model part when it is
# (a subclass of) one of these.  (module, qualname, why).  A base missing from the installed
# version (older/newer library) is skipped.
# fmt: off
MODEL_BASES: tuple[tuple[str, str, str], ...] = (
    ("sklearn.base", "BaseEstimator", "scikit-learn estimator"),
    ("sklearn.gaussian_process.kernels", "Kernel", "scikit-learn Gaussian-process kernel"),
    ("sklearn._loss.loss", "BaseLoss", "scikit-learn loss held by fitted estimators"),
    ("sklearn._loss.link", "BaseLink", "scikit-learn link function held by a loss"),
    ("sklearn._loss.link", "Interval", "scikit-learn loss value interval"),
    ("sklearn.ensemble._gb_losses", "LossFunction", "scikit-learn < 1.3 gradient-boosting loss"),
    ("sklearn.model_selection._split", "BaseCrossValidator", "scikit-learn CV splitter (cv=)"),
    ("sklearn.model_selection._split", "BaseShuffleSplit", "scikit-learn CV splitter (cv=)"),
    ("sklearn.model_selection._split", "_RepeatedSplits", "scikit-learn CV splitter (cv=)"),
    ("sklearn.metrics._scorer", "_BaseScorer", "scikit-learn scorer (scoring=)"),
    ("xgboost.core", "Booster", "XGBoost Booster"),
    ("xgboost.sklearn", "XGBModel", "XGBoost estimator"),
    ("lightgbm.basic", "Booster", "LightGBM Booster"),
    ("lightgbm.sklearn", "LGBMModel", "LightGBM estimator"),
    ("catboost.core", "CatBoost", "CatBoost model"),
    ("torch.nn.modules.module", "Module", "torch.nn module (whole-module saves)"),
    ("numpy", "dtype", "NumPy dtype class"),
)
# fmt: on

# Pickle hooks that make an extension type (a compiled class: trees, losses, criteria,
# splitters, distance metrics) restorable from a pickle.
PICKLE_HOOKS = ("__reduce__", "__reduce_cython__", "__setstate__", "__setstate_cython__")

# Stdlib modules whose classes no allowed class may derive from (beyond the deny list).
HANDLE_MODULES = (
    "threading", "_thread", "multiprocessing", "concurrent", "asyncio", "socket", "_socket",
    "socketserver", "selectors", "subprocess", "io", "_io", "queue", "ssl", "http.client",
    "http.server", "tempfile", "mmap", "sqlite3", "zipfile", "tarfile", "logging.handlers",
)  # fmt: skip

# What a constructor may not use internally (see _reach_denied_fn).
REACH_FAMILIES = frozenset({"process", "network", "file", "eval", "import", "code",
                            "package-install", "deserialization"})  # fmt: skip
REACH_MODULES = ("multiprocessing", "concurrent", "asyncio", "socket", "_socket", "socketserver",
                 "subprocess", "ssl", "http.client", "http.server", "tempfile", "mmap",
                 "sqlite3", "zipfile", "tarfile", "logging.handlers")  # fmt: skip

# Stdlib modules never imported by the enum walk (importing runs something visible).
_NO_IMPORT = frozenset({"antigravity", "this", "idlelib", "turtledemo", "tkinter", "turtle",
                        "__hello__", "__phello__", "_pyrepl"})  # fmt: skip

# (e) History kept as data.  (module, name, citation)
# fmt: off
HISTORICAL: tuple[tuple[str, str, str], ...] = (
    # numpy <= 1.16: numpy/random/__init__.py defined __RandomState_ctor() (RandomState pickles
    # reduced to it); replaced by numpy.random._pickle.__randomstate_ctor in 1.17.
    ("numpy.random", "__RandomState_ctor", "numpy <= 1.16 numpy/random/__init__.py"),
    ("numpy.random.mtrand", "__RandomState_ctor", "numpy <= 1.16 (mtrand module)"),
    # numpy 1.x: ndarray.__reduce__ named multiarray._reconstruct; numpy.core._internal held the
    # same helper name in old releases' pickles of structured/void data.
    ("numpy.core._internal", "_reconstruct", "numpy 1.x numpy/core/_internal.py"),
    ("numpy.core.multiarray", "_reconstruct", "numpy 1.x ndarray.__reduce__"),
    ("numpy.core.multiarray", "scalar", "numpy 1.x generic.__reduce__"),
    ("numpy.core.numeric", "_frombuffer", "numpy 1.x ndarray.__reduce_ex__ protocol 5"),
    ("numpy.ma.core", "_mareconstruct", "numpy MaskedArray.__reduce__ (all versions)"),
    ("numpy.ma.core", "MaskedArray", "numpy MaskedArray class"),
    ("numpy.ma.core", "mvoid", "numpy masked void scalar"),
    # numpy < 1.17 (before numpy's set_module("numpy") on public classes) pickled classes
    # under their defining module.
    ("numpy.matrixlib.defmatrix", "matrix", "numpy < 1.17 numpy/matrixlib/defmatrix.py"),
    ("numpy.core.records", "recarray", "numpy < 1.17 numpy/core/records.py"),
    ("numpy.core.records", "record", "numpy < 1.17 numpy/core/records.py"),
    ("numpy.core.defchararray", "chararray", "numpy < 1.17 numpy/core/defchararray.py"),
    # numpy < 1.17 bit generator-less RandomState module path.
    ("numpy.random.mtrand", "RandomState", "numpy <= 1.16 RandomState class"),
    # scikit-learn Bunch: sklearn.datasets.base (<= 0.21), sklearn.datasets._base (0.22-1.1),
    # sklearn.utils.Bunch / sklearn.utils._bunch (>= 1.2).  A dict subclass.
    ("sklearn.datasets.base", "Bunch", "scikit-learn <= 0.21 sklearn/datasets/base.py"),
    ("sklearn.datasets._base", "Bunch", "scikit-learn 0.22-1.1 sklearn/datasets/_base.py"),
    ("sklearn.utils", "Bunch", "scikit-learn 0.21-1.1 sklearn/utils/__init__.py"),
    ("sklearn.utils._bunch", "Bunch", "scikit-learn >= 1.2 sklearn/utils/_bunch.py"),
    # pandas before the 0.24/1.0 internals split: internals was one module.
    ("pandas.core.internals", "BlockManager", "pandas <= 0.23 pandas/core/internals.py"),
    ("pandas.core.internals", "SingleBlockManager", "pandas <= 0.23 pandas/core/internals.py"),
    ("pandas.core.internals", "make_block", "pandas <= 0.23 pandas/core/internals.py"),
    ("pandas.core.internals.blocks", "new_block", "pandas 1.3-2.x (pickle_compat maps it)"),
    ("pandas.core.internals.managers", "BlockManager", "pandas >= 0.24"),
    ("pandas.core.internals.managers", "SingleBlockManager", "pandas >= 0.24"),
    ("pandas.core.index", "_new_Index", "pandas <= 0.19 pandas/core/index.py"),
    ("pandas.core.indexes.base", "_new_Index", "pandas >= 0.20"),
    ("pandas._libs.tslib", "Timestamp", "pandas 0.20-0.24"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp", "pandas >= 1.0"),
    ("pandas._libs.tslibs.nattype", "__nat_unpickle", "pandas 0.24-2.x"),
    ("pandas._libs.tslibs.nattype", "_nat_unpickle", "pandas >= 3.0"),
    ("pandas.core.frame", "DataFrame", "pandas < 0.24 class path"),
    ("pandas.core.series", "Series", "pandas < 0.24 class path"),
    # torch: plain-pickle Generator state (torch.Generator is torch._C.Generator, which the
    # hand-reviewed ALLOW list in globals_policy holds: the deny list covers torch._C).
    ("torch", "Generator", "torch.Generator public name"),
)
# fmt: on

# scikit-learn 0.22 made its implementation modules private and kept the old public
# names as aliases until 0.24: (package, old module name, new module name), from
# sklearn/_build_utils/deprecated_modules.py (scikit-learn 0.22) _DEPRECATED_MODULES.
# Classes allowed in the new module are allowed under the old name.
# fmt: off
SKLEARN_022_RENAMES: tuple[tuple[str, str, str], ...] = (
    ("sklearn.utils", "mocking", "_mocking"),
    ("sklearn.ensemble", "bagging", "_bagging"), ("sklearn.ensemble", "base", "_base"),
    ("sklearn.ensemble", "forest", "_forest"), ("sklearn.ensemble", "gradient_boosting", "_gb"),
    ("sklearn.ensemble", "iforest", "_iforest"), ("sklearn.ensemble", "voting", "_voting"),
    ("sklearn.ensemble", "weight_boosting", "_weight_boosting"),
    ("sklearn.tree", "tree", "_classes"), ("sklearn.tree", "export", "_export"),
    ("sklearn.neural_network", "rbm", "_rbm"),
    ("sklearn.neural_network", "multilayer_perceptron", "_multilayer_perceptron"),
    ("sklearn.utils", "weight_vector", "_weight_vector"),
    ("sklearn.utils", "seq_dataset", "_seq_dataset"), ("sklearn.utils", "fast_dict", "_fast_dict"),
    ("sklearn.cluster", "affinity_propagation_", "_affinity_propagation"),
    ("sklearn.cluster", "bicluster", "_bicluster"), ("sklearn.cluster", "birch", "_birch"),
    ("sklearn.cluster", "dbscan_", "_dbscan"), ("sklearn.cluster", "hierarchical", "_agglomerative"),
    ("sklearn.cluster", "k_means_", "_kmeans"), ("sklearn.cluster", "mean_shift_", "_mean_shift"),
    ("sklearn.cluster", "optics_", "_optics"), ("sklearn.cluster", "spectral", "_spectral"),
    ("sklearn.mixture", "base", "_base"), ("sklearn.mixture", "gaussian_mixture", "_gaussian_mixture"),
    ("sklearn.mixture", "bayesian_mixture", "_bayesian_mixture"),
    ("sklearn.covariance", "empirical_covariance_", "_empirical_covariance"),
    ("sklearn.covariance", "shrunk_covariance_", "_shrunk_covariance"),
    ("sklearn.covariance", "robust_covariance", "_robust_covariance"),
    ("sklearn.covariance", "graph_lasso_", "_graph_lasso"),
    ("sklearn.covariance", "elliptic_envelope", "_elliptic_envelope"),
    ("sklearn.cross_decomposition", "cca_", "_cca"), ("sklearn.cross_decomposition", "pls_", "_pls"),
    ("sklearn.svm", "base", "_base"), ("sklearn.svm", "classes", "_classes"),
    ("sklearn.decomposition", "base", "_base"),
    ("sklearn.decomposition", "dict_learning", "_dict_learning"),
    ("sklearn.decomposition", "factor_analysis", "_factor_analysis"),
    ("sklearn.decomposition", "fastica_", "_fastica"),
    ("sklearn.decomposition", "incremental_pca", "_incremental_pca"),
    ("sklearn.decomposition", "kernel_pca", "_kernel_pca"), ("sklearn.decomposition", "nmf", "_nmf"),
    ("sklearn.decomposition", "online_lda", "_lda"), ("sklearn.decomposition", "pca", "_pca"),
    ("sklearn.decomposition", "sparse_pca", "_sparse_pca"),
    ("sklearn.decomposition", "truncated_svd", "_truncated_svd"),
    ("sklearn.gaussian_process", "gpr", "_gpr"), ("sklearn.gaussian_process", "gpc", "_gpc"),
    ("sklearn.feature_extraction", "dict_vectorizer", "_dict_vectorizer"),
    ("sklearn.feature_extraction", "hashing", "_hash"),
    ("sklearn.linear_model", "base", "_base"), ("sklearn.linear_model", "cd_fast", "_cd_fast"),
    ("sklearn.linear_model", "bayes", "_bayes"),
    ("sklearn.linear_model", "coordinate_descent", "_coordinate_descent"),
    ("sklearn.linear_model", "huber", "_huber"), ("sklearn.linear_model", "least_angle", "_least_angle"),
    ("sklearn.linear_model", "logistic", "_logistic"), ("sklearn.linear_model", "omp", "_omp"),
    ("sklearn.linear_model", "passive_aggressive", "_passive_aggressive"),
    ("sklearn.linear_model", "perceptron", "_perceptron"), ("sklearn.linear_model", "ransac", "_ransac"),
    ("sklearn.linear_model", "ridge", "_ridge"), ("sklearn.linear_model", "sag_fast", "_sag_fast"),
    ("sklearn.linear_model", "sgd_fast", "_sgd_fast"),
    ("sklearn.linear_model", "stochastic_gradient", "_stochastic_gradient"),
    ("sklearn.linear_model", "theil_sen", "_theil_sen"),
    ("sklearn.neighbors", "ball_tree", "_ball_tree"), ("sklearn.neighbors", "base", "_base"),
    ("sklearn.neighbors", "classification", "_classification"),
    ("sklearn.neighbors", "dist_metrics", "_dist_metrics"), ("sklearn.neighbors", "graph", "_graph"),
    ("sklearn.neighbors", "kd_tree", "_kd_tree"), ("sklearn.neighbors", "kde", "_kde"),
    ("sklearn.neighbors", "lof", "_lof"), ("sklearn.neighbors", "nca", "_nca"),
    ("sklearn.neighbors", "nearest_centroid", "_nearest_centroid"),
    ("sklearn.neighbors", "quad_tree", "_quad_tree"), ("sklearn.neighbors", "regression", "_regression"),
    ("sklearn.neighbors", "unsupervised", "_unsupervised"),
    ("sklearn.manifold", "isomap", "_isomap"), ("sklearn.manifold", "locally_linear", "_locally_linear"),
    ("sklearn.manifold", "mds", "_mds"), ("sklearn.manifold", "spectral_embedding_", "_spectral_embedding"),
    ("sklearn.manifold", "t_sne", "_t_sne"),
    ("sklearn.semi_supervised", "label_propagation", "_label_propagation"),
    ("sklearn.preprocessing", "data", "_data"), ("sklearn.preprocessing", "label", "_label"),
    ("sklearn.feature_selection", "base", "_base"),
    ("sklearn.feature_selection", "from_model", "_from_model"),
    ("sklearn.feature_selection", "rfe", "_rfe"),
    ("sklearn.feature_selection", "univariate_selection", "_univariate_selection"),
    ("sklearn.feature_selection", "variance_threshold", "_variance_threshold"),
    ("sklearn.metrics", "scorer", "_scorer"), ("sklearn.metrics", "classification", "_classification"),
    ("sklearn.metrics", "regression", "_regression"), ("sklearn.metrics", "ranking", "_ranking"),
)
# fmt: on


# ============================================================================ pickle names


_GETATTR = (("builtins", "getattr"), ("__builtin__", "getattr"))


def pickled_names(data: bytes, protocol: int) -> set[tuple[str, str]]:
    """GLOBAL/INST/STACK_GLOBAL (module, name) pairs of one or more concatenated pickles,
    with protocol < 3 names mapped the way ``pickle.Unpickler(fix_imports=True)`` maps them.

    A method reference (CPython pickles ``C.m`` as ``getattr(C, 'm')``) is recorded as the
    dotted name ``(C's module, 'C.m')``, the way the scanner names a resolved attribute.
    """
    from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING

    def fix(mod: str, qual: str) -> tuple[str, str]:
        if protocol < 3:
            if (mod, qual) in NAME_MAPPING:
                return NAME_MAPPING[(mod, qual)]  # type: ignore[no-any-return]
            return IMPORT_MAPPING.get(mod, mod), qual
        return mod, qual

    out: set[tuple[str, str]] = set()
    buf = io.BytesIO(data)
    while buf.tell() < len(data):
        start = buf.tell()
        recent: list[object] = []
        memo: dict[int, object] = {}
        try:
            for op, arg, pos in pickletools.genops(buf):
                name = op.name
                if name == "PROTO":
                    memo = {}  # joblib writes each object array with a fresh pickler inline
                    recent.append(None)
                elif name in ("GLOBAL", "INST", "STACK_GLOBAL"):
                    if name == "STACK_GLOBAL":
                        mod, qual = recent[-2], recent[-1]
                        if not (isinstance(mod, str) and isinstance(qual, str)):
                            raise RuntimeError(f"STACK_GLOBAL with non-constant operands at {pos}")
                    else:
                        mod, _, qual = str(arg).partition(" ")
                    g = fix(mod, qual)
                    out.add(g)
                    recent.append(("global", *g))
                elif name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    recent.append(arg)
                elif name == "MARK":
                    recent.append("<mark>")
                elif name in ("TUPLE2", "TUPLE"):
                    # getattr(<global>, 'name') -> the dotted method reference
                    k = 4 if name == "TUPLE" else 3
                    if len(recent) >= k:
                        f, obj, attr = recent[-k], recent[-k + 1 if k == 3 else -2], recent[-1]
                        if name == "TUPLE" and recent[-3] != "<mark>":
                            f = None
                        if (
                            isinstance(f, tuple) and f[1:] in _GETATTR
                            and isinstance(obj, tuple) and isinstance(attr, str)
                        ):  # fmt: skip
                            out.add((obj[1], f"{obj[2]}.{attr}"))
                    recent.append(None)
                elif name == "MEMOIZE":
                    memo[len(memo)] = recent[-1] if recent else None
                elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                    memo[int(arg)] = recent[-1] if recent else None  # type: ignore[arg-type]
                elif name in ("GET", "BINGET", "LONG_BINGET"):
                    recent.append(memo.get(int(arg)))  # type: ignore[arg-type]
                else:
                    recent.append(None)
        except ValueError:
            break  # raw bytes after the pickles (legacy torch storages, joblib arrays)
        if buf.tell() == start:
            break
    return out


def names_of(obj: object) -> set[tuple[str, str]]:
    got: set[tuple[str, str]] = set()
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        try:
            data = pickle.dumps(obj, protocol=proto)
        except Exception:
            continue
        got |= pickled_names(data, proto)
    return got


# ============================================================================ sample objects

Sample = tuple[str, Callable[[], object]]


def _numpy_samples() -> Iterator[Sample]:
    import numpy as np

    codes = "?bBhHiIlLqQefdgFDGSUVOMm"
    for c in codes:
        dt = np.dtype({"M": "M8[ns]", "m": "m8[ns]", "V": "V4"}.get(c, c))
        yield f"array {dt}", lambda dt=dt: np.zeros(3, dtype=dt)
        yield f"scalar {dt}", lambda dt=dt: np.zeros(1, dtype=dt)[0]
        yield f"dtype {dt}", lambda dt=dt: dt
        yield f"dtype class {dt}", lambda dt=dt: type(dt)
    yield "structured", lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "f8", (2,)), ("c", "U3")])
    yield "structured scalar", lambda: np.zeros(2, dtype=[("a", "i4"), ("b", "f8")])[0]
    yield "fortran", lambda: np.asfortranarray(np.ones((2, 3)))
    yield "object array", lambda: np.array([1, "a", None], dtype=object)
    yield "matrix", lambda: np.matrix([[1, 2], [3, 4]])
    yield "recarray", lambda: np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])
    yield "record", lambda: np.rec.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")])[0]
    yield "masked", lambda: np.ma.masked_array([1, 2, 3], mask=[0, 1, 0])
    yield (
        "masked structured",
        lambda: np.ma.masked_array(
            np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), mask=[(0, 1), (1, 0)]
        ),
    )
    yield (
        "masked void",
        lambda: np.ma.masked_array(
            np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]), mask=[(0, 1), (1, 0)]
        )[0],
    )
    yield "masked constant", lambda: np.ma.masked
    yield "chararray", lambda: np.char.array(["a", "b"])
    yield "RandomState", lambda: np.random.RandomState(0)
    yield "default_rng", lambda: np.random.default_rng(0)
    for bg in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"):
        cls = getattr(np.random, bg, None)
        if cls is not None:
            yield f"Generator {bg}", lambda cls=cls: np.random.Generator(cls(0))
            yield f"bit generator {bg}", lambda cls=cls: cls(0)
    yield "SeedSequence", lambda: np.random.SeedSequence(1)
    for n in sorted(dir(np)):
        v = getattr(np, n, None)
        if isinstance(v, np.ufunc):
            yield f"ufunc {n}", lambda v=v: v
    yield "finfo", lambda: np.finfo(np.float32)
    yield "iinfo", lambda: np.iinfo(np.int32)
    yield "datetime scalar", lambda: np.datetime64("2020-01-01")
    yield "timedelta scalar", lambda: np.timedelta64(3, "D")
    yield "float scalar", lambda: np.float64(1.5)
    yield "bool scalar", lambda: np.True_
    yield "poly1d", lambda: np.poly1d([1, 2, 3])
    yield "Polynomial", lambda: np.polynomial.Polynomial([1, 2, 3])
    yield "Chebyshev", lambda: np.polynomial.Chebyshev([1, 2, 3])
    yield "Legendre", lambda: np.polynomial.Legendre([1, 2])
    yield "Hermite", lambda: np.polynomial.Hermite([1, 2])
    yield "HermiteE", lambda: np.polynomial.HermiteE([1, 2])
    yield "Laguerre", lambda: np.polynomial.Laguerre([1, 2])
    yield "StringDType", lambda: np.array(["a", "bc"], dtype=np.dtypes.StringDType())


def _pandas_samples() -> Iterator[Sample]:
    import numpy as np
    import pandas as pd

    def dtypes() -> dict[str, Any]:
        cols: dict[str, Any] = {
            "int": [1, 2, 3],
            "float": [1.0, np.nan, 3.0],
            "bool": [True, False, True],
            "object": ["a", None, 3],
            "str": ["a", "b", "c"],
            "category": pd.Categorical(["a", "b", "a"]),
            "ordered": pd.Categorical(["a", "b", "a"], ordered=True),
            "dt": pd.date_range("2020-01-01", periods=3),
            "dt_tz": pd.date_range("2020-01-01", periods=3, tz="UTC"),
            "dt_tz2": pd.date_range("2020-01-01", periods=3, tz="Europe/Paris"),
            "td": pd.to_timedelta([1, 2, 3], unit="s"),
            "period": pd.period_range("2020-01", periods=3, freq="M"),
            "interval": pd.interval_range(0, 3),
            "Int64": pd.array([1, None, 3], dtype="Int64"),
            "UInt8": pd.array([1, None, 3], dtype="UInt8"),
            "Float64": pd.array([1.0, None, 3.0], dtype="Float64"),
            "boolean": pd.array([True, None, False], dtype="boolean"),
            "string": pd.array(["a", None, "c"], dtype="string"),
            "sparse": pd.arrays.SparseArray([0, 0, 1]),
            "complex": np.array([1j, 2, 3]),
            "uint": np.array([1, 2, 3], dtype="uint16"),
            "f32": np.array([1, 2, 3], dtype="float32"),
            "bytes": np.array([b"a", b"b", b"c"], dtype=object),
        }
        return cols

    for name, col in dtypes().items():
        yield f"series {name}", lambda col=col: pd.Series(col)
        yield f"index {name}", lambda col=col: pd.Index(col)
        yield f"array {name}", lambda col=col: pd.array(col)
        yield f"dtype {name}", lambda col=col: pd.Series(col).dtype
    yield "frame all", lambda: pd.DataFrame(dtypes())
    yield "frame int", lambda: pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    yield "frame str index", lambda: pd.DataFrame({"a": [1.0, 2.0]}, index=["x", "y"])
    yield (
        "frame dt index",
        lambda: pd.DataFrame({"a": [1.0, 2.0]}, index=pd.date_range("2021", periods=2, freq="D")),
    )
    yield (
        "frame multiindex",
        lambda: pd.DataFrame(
            {"a": [1, 2, 3, 4]},
            index=pd.MultiIndex.from_product([["x", "y"], [1, 2]], names=["k", "n"]),
        ),
    )
    yield (
        "frame multicols",
        lambda: pd.DataFrame(
            np.ones((2, 4)), columns=pd.MultiIndex.from_product([["a", "b"], [1, 2]])
        ),
    )
    yield "RangeIndex", lambda: pd.RangeIndex(5)
    yield "empty frame", lambda: pd.DataFrame()
    yield "empty series", lambda: pd.Series([], dtype=float)
    yield "CategoricalIndex", lambda: pd.CategoricalIndex(["a", "b"])
    yield "IntervalIndex", lambda: pd.IntervalIndex.from_breaks([0, 1, 2])
    yield "PeriodIndex", lambda: pd.period_range("2020-01-01", periods=3, freq="D")
    yield "TimedeltaIndex", lambda: pd.timedelta_range("1 day", periods=3)
    yield "DatetimeIndex freq", lambda: pd.date_range("2020", periods=3, freq="h")
    yield "MultiIndex", lambda: pd.MultiIndex.from_arrays([[1, 2], ["a", "b"]])
    yield "Timestamp", lambda: pd.Timestamp("2020-01-01 12:00")
    yield "Timestamp tz", lambda: pd.Timestamp("2020-01-01", tz="US/Eastern")
    yield "Timedelta", lambda: pd.Timedelta("1 day")
    yield "Period", lambda: pd.Period("2020-01", freq="M")
    yield "Interval", lambda: pd.Interval(0, 1)
    yield "NaT", lambda: pd.NaT
    yield "NA", lambda: pd.NA
    for off in (
        "Day", "Hour", "Minute", "Second", "Milli", "Micro", "Nano", "BusinessDay", "Week",
        "MonthEnd", "MonthBegin", "BusinessMonthEnd", "QuarterEnd", "QuarterBegin", "YearEnd",
        "YearBegin", "DateOffset", "Easter", "FY5253", "WeekOfMonth", "SemiMonthEnd",
        "CustomBusinessDay", "BusinessHour",
    ):  # fmt: skip
        cls = getattr(pd.offsets, off, None)
        if cls is not None:
            yield f"offset {off}", lambda cls=cls: cls()
    yield "freq", lambda: pd.tseries.frequencies.to_offset("15min")
    yield "CategoricalDtype", lambda: pd.CategoricalDtype(["a", "b"], ordered=True)
    yield "IntervalDtype", lambda: pd.IntervalDtype("int64", closed="right")
    yield "PeriodDtype", lambda: pd.PeriodDtype("D")
    yield "DatetimeTZDtype", lambda: pd.DatetimeTZDtype(tz="UTC")
    yield "SparseDtype", lambda: pd.SparseDtype("float", 0.0)
    yield "StringDtype", lambda: pd.StringDtype()
    yield "Flags", lambda: pd.DataFrame({"a": [1]}).flags
    yield "frame attrs", lambda: pd.DataFrame({"a": [1]}).set_flags(allows_duplicate_labels=False)


def _scipy_samples() -> Iterator[Sample]:
    import numpy as np
    import scipy.sparse as sp

    dense = np.array([[0.0, 1.0], [2.0, 0.0]])
    for fmt in ("csr", "csc", "coo", "lil", "dok", "dia", "bsr"):
        for kind in ("matrix", "array"):
            cls = getattr(sp, f"{fmt}_{kind}", None)
            if cls is not None:
                yield f"sparse {fmt}_{kind}", lambda cls=cls: cls(dense)
    yield "sparse int", lambda: sp.csr_matrix(np.eye(3, dtype=np.int64))

    def spatial() -> Iterator[Sample]:
        from scipy import spatial

        pts = np.random.RandomState(0).rand(10, 2)
        yield "cKDTree", lambda: spatial.cKDTree(pts)
        yield "KDTree", lambda: spatial.KDTree(pts)
        yield "Rotation", lambda: spatial.transform.Rotation.from_euler("z", 30, degrees=True)
        yield "ConvexHull", lambda: spatial.ConvexHull(pts)
        yield "Delaunay", lambda: spatial.Delaunay(pts)

    yield from spatial()
    from scipy import interpolate, stats

    x = np.linspace(0, 1, 6)
    yield "interp1d", lambda: interpolate.interp1d(x, x**2)
    yield "CubicSpline", lambda: interpolate.CubicSpline(x, x**2)
    yield "PchipInterpolator", lambda: interpolate.PchipInterpolator(x, x**2)
    yield "BSpline", lambda: interpolate.make_interp_spline(x, x**2)
    yield "UnivariateSpline", lambda: interpolate.UnivariateSpline(x, x**2)
    yield "RegularGridInterpolator", lambda: interpolate.RegularGridInterpolator((x,), x**2)
    yield "PPoly", lambda: interpolate.PPoly(np.ones((2, 1)), [0.0, 1.0])
    yield "norm frozen", lambda: stats.norm(0, 1)
    yield "gamma frozen", lambda: stats.gamma(2.0)
    yield "poisson frozen", lambda: stats.poisson(3.0)
    yield "gaussian_kde", lambda: stats.gaussian_kde(np.random.RandomState(0).rand(20))
    yield "norm gen", lambda: stats.norm
    yield "uniform gen", lambda: stats.uniform
    yield "randint gen", lambda: stats.randint
    yield "loguniform", lambda: stats.loguniform(1e-3, 1.0)


def _sklearn_instances() -> Iterator[tuple[str, object]]:
    from sklearn.utils import all_estimators

    try:
        from sklearn.utils._test_common.instance_generator import _tested_estimators

        for est in _tested_estimators():
            yield type(est).__name__, est
        return
    except Exception:
        pass
    from sklearn.linear_model import LogisticRegression, Ridge

    for name, cls in all_estimators():
        for kw in ({}, {"estimator": LogisticRegression()}, {"base_estimator": LogisticRegression()},
                   {"estimators": [("a", LogisticRegression()), ("b", LogisticRegression())]},
                   {"steps": [("r", Ridge())]}, {"transformer_list": [("r", Ridge())]},
                   {"transformers": [("r", "passthrough", [0])]}, {"estimator": Ridge()}):  # fmt: skip
            try:
                yield name, cls(**kw)
                break
            except Exception:
                continue


def _sklearn_samples() -> Iterator[Sample]:
    import numpy as np

    rng = np.random.RandomState(0)
    x = rng.rand(40, 4)
    yc = np.array([0, 1] * 20)
    y3 = np.array([0, 1, 2, 3] * 10)
    yr = rng.rand(40)
    ym = np.stack([yc, 1 - yc], axis=1)
    texts = ["the cat sat", "a dog ran", "the dog sat", "a cat ran"] * 10

    def fitted(est: Any) -> Any:
        import copy

        for args in ((x, yc), (x, y3), (x, yr), (x,), (x, ym), (texts, yc), (texts,)):
            e = copy.deepcopy(est)
            try:
                e.fit(*args)
                return e
            except Exception:
                continue
        return est

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, est in _sklearn_instances():
            yield f"estimator {name}", lambda est=est: fitted(est)
            yield f"unfitted {name}", lambda est=est: est
    from sklearn import neighbors

    yield "KDTree", lambda: neighbors.KDTree(x)
    yield "BallTree", lambda: neighbors.BallTree(x)
    for metric in ("euclidean", "manhattan", "chebyshev", "minkowski", "haversine", "hamming",
                   "jaccard", "canberra", "braycurtis"):  # fmt: skip
        yield f"BallTree {metric}", lambda m=metric: neighbors.BallTree(x[:, :2], metric=m)
    yield "BallTree seuclidean", lambda: neighbors.BallTree(x, metric="seuclidean", V=np.ones(4))
    yield "BallTree mahalanobis", lambda: neighbors.BallTree(x, metric="mahalanobis", VI=np.eye(4))
    try:
        from sklearn.metrics import DistanceMetric
    except ImportError:
        from sklearn.neighbors import DistanceMetric  # type: ignore[attr-defined,no-redef]
    for metric in ("euclidean", "manhattan", "chebyshev", "minkowski", "haversine", "hamming"):
        yield f"DistanceMetric {metric}", lambda m=metric: DistanceMetric.get_metric(m)
        yield (
            f"DistanceMetric32 {metric}",
            lambda m=metric: DistanceMetric.get_metric(m, dtype=np.float32),
        )
    from sklearn import datasets

    yield "Bunch iris", lambda: datasets.load_iris()
    yield "Bunch iris frame", lambda: datasets.load_iris(as_frame=True)
    yield "Bunch diabetes", lambda: datasets.load_diabetes()
    from sklearn.utils import Bunch

    yield "Bunch", lambda: Bunch(a=1)
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

    yield "KFold", lambda: KFold(3, shuffle=True, random_state=0)
    yield "StratifiedKFold", lambda: StratifiedKFold(3)
    from sklearn.linear_model import LogisticRegression

    yield (
        "GridSearchCV",
        lambda: GridSearchCV(LogisticRegression(), {"C": [1.0, 2.0]}, cv=2).fit(x, yc),
    )
    import sklearn

    def routed() -> object:
        with sklearn.config_context(enable_metadata_routing=True):
            return LogisticRegression().set_fit_request(sample_weight=True).fit(x, yc)

    yield "metadata routing", routed
    from sklearn.metrics import accuracy_score, make_scorer

    yield "scorer", lambda: make_scorer(accuracy_score)


def _torch_samples() -> Iterator[Sample]:
    import torch

    for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8,
               torch.uint8, torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64,
               torch.complex128):  # fmt: skip
        yield f"tensor {dt}", lambda dt=dt: torch.zeros(2, dtype=dt)
        yield f"dtype {dt}", lambda dt=dt: dt
    yield "Parameter", lambda: torch.nn.Parameter(torch.ones(2))
    yield "Size", lambda: torch.Size([1, 2])
    yield "device", lambda: torch.device("cpu")
    yield "layout", lambda: torch.sparse_coo
    yield "Generator", lambda: torch.Generator()
    yield "Generator seeded", lambda: torch.Generator().manual_seed(3)
    yield "sparse coo", lambda: torch.eye(2).to_sparse()
    yield "sparse csr", lambda: torch.eye(2).to_sparse_csr()
    yield "quantized", lambda: torch.quantize_per_tensor(torch.ones(2), 0.1, 0, torch.quint8)
    yield "channels_last", lambda: torch.ones(1, 2, 2, 2).to(memory_format=torch.channels_last)
    yield "Linear", lambda: torch.nn.Linear(2, 2)
    yield (
        "Sequential",
        lambda: torch.nn.Sequential(
            torch.nn.Conv2d(1, 2, 3),
            torch.nn.BatchNorm2d(2),
            torch.nn.ReLU(),
            torch.nn.Flatten(),
            torch.nn.LSTM(2, 2),
            torch.nn.Embedding(3, 2),
            torch.nn.LayerNorm(2),
            torch.nn.Dropout(),
        ),
    )
    yield "state_dict", lambda: torch.nn.Linear(2, 2).state_dict()
    yield "optimizer", lambda: torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)


def torch_save_names(obj: object) -> set[tuple[str, str]]:
    import torch

    got: set[tuple[str, str]] = set()
    buf = io.BytesIO()
    torch.save(obj, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zf:
        for info in zf.infolist():
            if info.filename.endswith(".pkl"):
                got |= pickled_names(zf.read(info), 2)
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    got |= pickled_names(buf.getvalue(), 2)
    return got


def _boosting_data() -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.RandomState(0)
    return rng.rand(40, 3), np.array([0, 1] * 20)


def _xgboost_samples() -> Iterator[Sample]:
    import xgboost

    x, y = _boosting_data()
    yield "XGBClassifier", lambda: xgboost.XGBClassifier(n_estimators=2).fit(x, y)
    yield "XGBRegressor", lambda: xgboost.XGBRegressor(n_estimators=2).fit(x, y)
    yield "Booster", lambda: xgboost.train({}, xgboost.DMatrix(x, y), 2)


def _lightgbm_samples() -> Iterator[Sample]:
    import lightgbm

    x, y = _boosting_data()
    yield "LGBMClassifier", lambda: lightgbm.LGBMClassifier(n_estimators=2, verbose=-1).fit(x, y)
    yield "LGBMRegressor", lambda: lightgbm.LGBMRegressor(n_estimators=2, verbose=-1).fit(x, y)
    yield (
        "Booster",
        lambda: lightgbm.train({"verbose": -1}, lightgbm.Dataset(x, y), num_boost_round=2),
    )


def _catboost_samples() -> Iterator[Sample]:
    import catboost

    x, y = _boosting_data()
    kw = {"iterations": 2, "verbose": False, "allow_writing_files": False}
    yield "CatBoostClassifier", lambda: catboost.CatBoostClassifier(**kw).fit(x, y)
    yield "CatBoostRegressor", lambda: catboost.CatBoostRegressor(**kw).fit(x, y)


SAMPLE_SOURCES: tuple[tuple[str, Callable[[], Iterator[Sample]]], ...] = (
    ("numpy", _numpy_samples),
    ("pandas", _pandas_samples),
    ("scipy", _scipy_samples),
    ("sklearn", _sklearn_samples),
    ("torch", _torch_samples),
    ("xgboost", _xgboost_samples),
    ("lightgbm", _lightgbm_samples),
    ("catboost", _catboost_samples),
)


def collect_pickled() -> tuple[dict[tuple[str, str], set[str]], list[str]]:
    """(module, name) -> the libraries whose own objects pickled it; and the failures."""
    found: dict[tuple[str, str], set[str]] = {}
    failed: list[str] = []
    for lib, source in SAMPLE_SOURCES:
        try:
            importlib.import_module(lib)
        except ImportError:
            continue
        try:
            samples = list(source())
        except Exception as e:  # a whole family unavailable in this library version
            failed.append(f"{lib}: {type(e).__name__}: {e}")
            continue
        for label, build in samples:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    obj = build()
                got = names_of(obj)
                if lib == "torch":
                    got |= torch_save_names(obj)
                if lib in ("numpy", "sklearn"):
                    got |= joblib_names(obj)
            except Exception as e:
                failed.append(f"{lib} {label}: {type(e).__name__}: {str(e)[:80]}")
                continue
            for key in got:
                found.setdefault(key, set()).add(lib)
    return found, failed


def joblib_names(obj: object) -> set[tuple[str, str]]:
    try:
        import joblib
    except ImportError:
        return set()
    buf = io.BytesIO()
    joblib.dump(obj, buf)
    return pickled_names(buf.getvalue(), pickle.HIGHEST_PROTOCOL)


# ============================================================================ class walk


def _walk_modules(package: str) -> Iterator[Any]:
    import pkgutil

    try:
        root = importlib.import_module(package)
    except Exception:
        return
    yield root
    path = getattr(root, "__path__", None)
    if path is None:
        return
    for info in pkgutil.walk_packages(path, package + ".", onerror=lambda _n: None):
        parts = info.name.split(".")
        if any(p in ("tests", "test", "testing", "_testing", "conftest") for p in parts):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(info.name)
        except BaseException:  # noqa: BLE001 - optional backends, pytest.importorskip
            continue
        if mod.__name__ == info.name:  # catboost.hnsw._hnsw calls itself "_hnsw"
            yield mod


def _handle_type(cls: type, denied: Callable[[str, str], str | None]) -> str | None:
    """Why ``cls`` is (or derives from) a thread/process/socket/io/denied type, else None."""
    for base in inspect.getmro(cls)[1:]:
        mod = getattr(base, "__module__", "") or ""
        for h in HANDLE_MODULES:
            if mod == h or mod.startswith(h + "."):
                return f"derives from {mod}.{base.__qualname__}"
        why = denied(mod, base.__qualname__)
        if why is not None:
            return f"derives from {mod}.{base.__qualname__} ({why})"
    return None


# Methods a pickle can run on a class it names: the constructor a REDUCE/OBJ/INST call runs
# and the state hook BUILD runs.
_REACH_METHODS = ("__new__", "__init__", "__post_init__", "__setstate__")
_REACH_DEPTH = 4


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _code_objects(c)


def _reach(
    obj: object, owner: type, top: str, denied: Callable[[str, str], str | None], depth: int,
    seen: set[int],
) -> str | None:  # fmt: skip
    """Why running ``obj`` (a Python function of package ``top``) reaches a denied module,
    a handle type or native code through the globals/attributes its code names, else None.
    Static: reads code objects and resolves names in the function's globals and on the class.
    """
    func = getattr(obj, "__func__", obj)
    if not isinstance(func, types.FunctionType) or id(func) in seen or depth > _REACH_DEPTH:
        return None
    seen.add(id(func))
    fglobals = func.__globals__
    for code in _code_objects(func.__code__):
        for name in code.co_names:
            targets = []
            if name in fglobals:
                targets.append(fglobals[name])
            attr = inspect.getattr_static(owner, name, None)
            if attr is not None:
                targets.append(attr)
            for t in targets:
                why = _judge_target(t, owner, top, denied, depth, seen)
                if why is not None:
                    return f"{func.__qualname__} uses {name}: {why}"
    return None


def _judge_target(
    t: object, owner: type, top: str, denied: Callable[[str, str], str | None], depth: int,
    seen: set[int],
) -> str | None:  # fmt: skip
    if isinstance(t, types.ModuleType):
        mod = t.__name__
        qual = "x"
    elif isinstance(t, (type, types.FunctionType, types.BuiltinFunctionType)):
        mod = getattr(t, "__module__", "") or ""
        qual = getattr(t, "__qualname__", "x")
    elif isinstance(t, (staticmethod, classmethod, property)):
        inner = getattr(t, "__func__", None) or getattr(t, "fget", None)
        return None if inner is None else _reach(inner, owner, top, denied, depth + 1, seen)
    else:
        mod = type(t).__module__ or ""
        qual = type(t).__qualname__
    why = denied(mod, qual.split(".")[0])
    if why is not None:
        return f"{mod}.{qual} ({why})"
    if isinstance(t, types.FunctionType) and mod.split(".")[0] == top:
        return _reach(t, owner, top, denied, depth + 1, seen)
    return None


def _constructor_reach(cls: type, denied: Callable[[str, str], str | None]) -> str | None:
    top = cls.__module__.split(".")[0]
    seen: set[int] = set()
    for meth in _REACH_METHODS:
        for klass in inspect.getmro(cls):
            if meth in vars(klass):
                why = _reach(vars(klass)[meth], cls, top, denied, 0, seen)
                if why is not None:
                    return f"constructor reaches {why}"
                break
    return None


def _model_bases() -> list[tuple[type, str]]:
    out = []
    for mod, qual, why in MODEL_BASES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obj = getattr(importlib.import_module(mod), qual)
        except Exception:
            continue
        if isinstance(obj, type):
            out.append((obj, why))
    return out


def _compiled(module: types.ModuleType) -> bool:
    return str(getattr(module, "__file__", "") or "").endswith((".so", ".pyd"))


def _model_part(cls: type, module: types.ModuleType, bases: list[tuple[type, str]]) -> str | None:
    """Why ``cls`` is something a saved model holds, else None.

    Either a subclass of a MODEL_BASES class (torch modules only under torch.nn.modules,
    NumPy dtype classes only under numpy.dtypes: the walk roots already ensure it), or an
    extension type of a compiled module of the package whose own MRO (within the package)
    defines a pickle hook.
    """
    for base, why in bases:
        try:
            if issubclass(cls, base):
                return why
        except TypeError:
            continue
    if _compiled(module):
        top = cls.__module__.split(".")[0]
        for klass in inspect.getmro(cls)[:-1]:
            if (getattr(klass, "__module__", "") or "").split(".")[0] != top:
                continue
            if any(h in vars(klass) for h in PICKLE_HOOKS):
                return "extension type with pickle support"
    return None


def _not_data(cls: type) -> str | None:
    """Why ``cls`` is no part of a saved model's data whatever its base: exceptions and
    warnings, context managers (files, temporary directories, sockets, locks)."""
    if issubclass(cls, BaseException):
        return "an exception or warning"
    for hook in ("__enter__", "__exit__", "__aenter__", "__aexit__"):
        for klass in inspect.getmro(cls)[:-1]:
            if hook in vars(klass):
                return f"a context manager ({klass.__qualname__}.{hook})"
    return None


def collect_classes(
    denied: Callable[[str, str], str | None], reach_denied: Callable[[str, str], str | None]
) -> tuple[
    dict[tuple[str, str], str], list[str]
]:  # fmt: skip
    """Model-part classes defined in CLASS_PACKAGES (exact __module__/__qualname__).

    Selection rule: a class object found in a module of CLASS_PACKAGES is taken when
    1. it is defined there (``__module__`` is that module, ``__qualname__`` the attribute
       name; re-exports and aliases are skipped),
    2. it is a model part (``_model_part``: a MODEL_BASES subclass, or an extension type with
       a pickle hook), and
    3. nothing excludes it: the deny list (``Policy.denied``), an exception/warning or context
       manager (``_not_data``), a thread/process/socket/io/denied class in its MRO
       (``_handle_type``), or a constructor/``__setstate__`` whose code reaches process,
       network, file, evaluation or import machinery (``_constructor_reach``).
    Functions are never taken from this walk, except the ``__pyx_unpickle_<Class>`` helper
    Cython generates beside a selected class.  Classes that are no model part but appear in
    real models' pickles come from source (b) instead.
    """
    bases = _model_bases()
    out: dict[tuple[str, str], str] = {}
    rejected: list[str] = []
    for package in CLASS_PACKAGES:
        for mod in _walk_modules(package):
            for attr, obj in sorted(vars(mod).items()):
                if not inspect.isclass(obj):
                    continue
                if obj.__module__ != mod.__name__ or obj.__qualname__ != attr:
                    continue  # a re-export or an alias, not defined here
                part = _model_part(obj, mod, bases)
                if part is None:
                    continue  # not something a saved model holds
                why = (
                    denied(mod.__name__, attr)
                    or _not_data(obj)
                    or _handle_type(obj, denied)
                    or _constructor_reach(obj, reach_denied)
                )
                if why is not None:
                    rejected.append(f"{mod.__name__}.{attr}: {why}")
                    continue
                out[(mod.__name__, attr)] = part
                # Cython's generated unpickle helper of that extension type, if it has one
                helper = f"__pyx_unpickle_{attr}"
                if callable(vars(mod).get(helper)):
                    out[(mod.__name__, helper)] = f"Cython unpickle helper of {attr}"
    return out, rejected


def collect_stdlib_enums() -> set[tuple[str, str]]:
    """Enum classes defined in top-level stdlib modules, denied modules included: a plain
    enum class is data (calling it with a value looks a member up), whatever else its
    module holds.  Enums with their own ``_missing_`` hook are left out.
    """
    out: set[tuple[str, str]] = set()
    for name in sorted(getattr(sys, "stdlib_module_names", ())):
        if name in _NO_IMPORT or name.startswith("_") or name == "enum":
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                mod = importlib.import_module(name)
        except BaseException:  # noqa: BLE001
            continue
        for attr, obj in vars(mod).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, enum.Enum)
                and obj.__module__ == name
                and obj.__qualname__ == attr
                and "_missing_" not in vars(obj)
            ):
                out.add((name, attr))
    return out


def collect_torch_weights_only() -> set[tuple[str, str]]:
    try:
        from torch import _weights_only_unpickler as wo
    except ImportError:
        return set()
    out = set()
    for key in wo._get_allowed_globals():
        mod, _, name = key.rpartition(".")
        out.add((mod, name))
    return out


def collect_pandas_compat() -> list[tuple[str, str, str, str]]:
    """pandas' own old-name table: (old module, old name, canonical module, canonical name)."""
    try:
        from pandas.compat import pickle_compat
    except ImportError:
        return []
    rows = []
    for (om, on), (nm, nn) in pickle_compat._class_locations_map.items():
        canon = (nm, nn)
        try:
            obj = getattr(importlib.import_module(nm), nn)
            canon = (getattr(obj, "__module__", nm), getattr(obj, "__qualname__", nn))
        except Exception:
            pass
        rows.append((om, on, canon[0], canon[1]))
        if canon != (nm, nn):
            rows.append((om, on, nm, nn))
    return rows


def collect_ufuncs() -> list[str]:
    """Names of the ufuncs NumPy's umath extension module defines."""
    try:
        import numpy as np
    except ImportError:
        return []
    umath = None
    for name in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            umath = importlib.import_module(name)
            break
        except ImportError:
            continue
    if umath is None:
        return []
    return sorted(n for n, v in vars(umath).items() if isinstance(v, np.ufunc) and v.__name__ == n)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for lib in LIBS:
        try:
            out[lib] = str(importlib.import_module(lib).__version__)
        except Exception:
            continue
    return out


# ============================================================================ collect / merge


def _denied_fn() -> Callable[[str, str], str | None]:
    from modelxray.analysis.pickle.globals_policy import Policy

    p = Policy()

    def denied(module: str, name: str) -> str | None:
        c = p.denied(module, name)
        return None if c is None else c.reason

    return denied


def _reach_denied_fn() -> Callable[[str, str], str | None]:
    """Deny verdicts that matter when a constructor *uses* an object internally: process,
    network, file, evaluation, import and code machinery (not locks, introspection, ctypes
    calls into the library's own native code)."""
    from modelxray.analysis.pickle.globals_policy import Policy

    p = Policy()

    def denied(module: str, name: str) -> str | None:
        for h in REACH_MODULES:
            if module == h or module.startswith(h + "."):
                return f"{h} machinery"
        c = p.denied(module, name)
        return None if c is None or c.family not in REACH_FAMILIES else c.reason

    return denied


def collect() -> dict[str, Any]:
    denied = _denied_fn()
    pickled, failed = collect_pickled()
    classes, rejected = collect_classes(denied, _reach_denied_fn())
    return {
        "versions": versions(),
        "pickled": sorted([m, n, sorted(libs)] for (m, n), libs in pickled.items()),
        "classes": sorted([m, n, why] for (m, n), why in classes.items()),
        "rejected_classes": sorted(rejected),
        "stdlib_enums": sorted([m, n] for m, n in collect_stdlib_enums()),
        "torch_weights_only": sorted([m, n] for m, n in collect_torch_weights_only()),
        "pandas_compat": sorted(list(r) for r in collect_pandas_compat()),
        "ufuncs": collect_ufuncs(),
        "failed_samples": failed,
    }


def _label(v: dict[str, str]) -> str:
    return ", ".join(f"{k} {v[k]}" for k in ("python", *LIBS) if k in v)


def build_table(snapshots: list[tuple[str, dict[str, Any]]]) -> tuple[
    dict[tuple[str, str], str], list[str], list[str]
]:  # fmt: skip
    """Merge snapshots into {(module, name): why}; also the header lines and dropped names."""
    denied = _denied_fn()
    table: dict[tuple[str, str], str] = {}
    dropped: list[str] = []

    def add(mod: str, name: str, why: str) -> None:
        reason = denied(mod, name)
        if reason is not None:
            dropped.append(f"{mod}.{name}: {reason}")
            return
        table.setdefault((mod, name), why)

    header = []
    for sname, snap in snapshots:
        v = snap["versions"]
        header.append(f"{sname}: {_label(v)}")
        for mod, name in snap["torch_weights_only"]:
            add(mod, name, f"torch weights-only allow-list (torch {v.get('torch', '?')})")
        for mod, name, libs in snap["pickled"]:
            lv = "/".join(f"{lib} {v.get(lib, '?')}" for lib in libs)
            add(mod, name, f"pickled by {lv}")
        for mod, name, part in snap["classes"]:
            top = mod.split(".")[0]
            add(mod, name, f"{part} defined in {top} {v.get(top, '?')}")
        for mod, name in snap["stdlib_enums"]:
            add(mod, name, f"stdlib data enum (Python {v['python']})")
    # pandas' own history: an old name is allowed when what it maps to is allowed.
    for _sname, snap in snapshots:
        for om, on, nm, nn in snap["pandas_compat"]:
            if (nm, nn) in table and (om, on) not in table:
                add(om, on, f"pandas pickle_compat old name of {nm}.{nn}")
    # scikit-learn 0.22 public module names of the private modules.
    for (mod, name), _why in sorted(table.items()):
        for pkg, old, new in SKLEARN_022_RENAMES:
            if mod == f"{pkg}.{new}":
                add(f"{pkg}.{old}", name, f"scikit-learn < 0.22 name of {mod}.{name}")
    # numpy 2 moved numpy.core to numpy._core; 1.x pickles name numpy.core.*.
    for (mod, name), _why in sorted(table.items()):
        if mod.startswith("numpy._core."):
            old = "numpy.core." + mod.removeprefix("numpy._core.")
            add(old, name, f"numpy 1.x name of {mod}.{name}")
    # NumPy ufuncs pickle by reference to the module holding them: numpy.core.umath before
    # 1.16 (the names it re-exports from _multiarray_umath), _multiarray_umath in 1.16-1.26,
    # numpy._core._multiarray_umath / numpy in 2.x.  Every recorded ufunc under every path.
    ufunc_mods = ("numpy.core._multiarray_umath", "numpy._core._multiarray_umath",
                  "numpy.core.umath", "numpy._core.umath")  # fmt: skip
    for _sname, snap in snapshots:
        v = snap["versions"]
        for name in snap.get("ufuncs", ()):
            for alias in ufunc_mods:
                add(alias, name, f"numpy ufunc {name} (numpy {v.get('numpy', '?')})")
    for mod, name, cite in HISTORICAL:
        add(mod, name, f"historical: {cite}")
    return table, header, dropped


def load_snapshots() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, json.loads(p.read_text())) for p in sorted(INPUTS.glob("*.json"))]


def render(table: dict[tuple[str, str], str], header: list[str]) -> str:
    lines = [
        '"""Generated by scripts/gen_pickle_allowlist.py -- do not edit by hand.',
        "",
        "Exact (module, name) globals a pickle may name, derived from the libraries' own",
        "source.  An entry is one of:",
        "",
        "- on torch's weights-only allow-list (``torch.load(weights_only=True)`` accepts it);",
        "- a global the libraries' own ``__reduce__`` emitted when the generator pickled real",
        "  objects it built (fitted estimators, DataFrames of every dtype, sparse matrices, ...);",
        "- a class *defined* (``__module__``/``__qualname__``, never a re-export) in scikit-learn,",
        "  XGBoost, LightGBM, CatBoost, torch.nn.modules or numpy.dtypes that is a model part:",
        "  a subclass of an estimator/Booster/Module/dtype/kernel/loss/splitter/scorer base",
        "  (``MODEL_BASES`` in the script) or a compiled extension type with a pickle hook",
        "  (trees, losses, criteria, splitters, distance metrics); exceptions, warnings, context",
        "  managers, classes with a thread/process/socket/io/denied class in their MRO, and",
        "  classes whose constructor or ``__setstate__`` reaches process, network, file, eval or",
        "  import machinery are left out;",
        "- a stdlib enum class (data: calling it looks a member up);",
        "- recorded history: older library generations' snapshots, pandas' pickle_compat map,",
        "  scikit-learn 0.22's old module names, numpy.core names of numpy._core objects, and",
        "  the script's HISTORICAL list with citations.",
        "",
        "Every candidate the deny list flags is left out, and the deny list also beats this",
        "table at scan time.  Generated from:",
    ]
    lines += [f"  {h}" for h in header]
    lines += [
        '"""',
        "",
        "# ruff: noqa: E501",
        "# fmt: off",
        "ALLOWED: tuple[tuple[str, str, str], ...] = (",
    ]
    for (mod, name), why in sorted(table.items()):
        lines.append(f"    ({json.dumps(mod)}, {json.dumps(name)}, {json.dumps(why)}),")
    lines += [")", "# fmt: on", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("collect", help="record this environment's names as a snapshot")
    c.add_argument("--out", type=Path, required=True)
    sub.add_parser("generate", help="write the table from the committed snapshots")
    sub.add_parser("check", help="the committed table equals the one built from the snapshots")
    args = ap.parse_args(argv)
    if args.cmd == "collect":
        snap = collect()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(snap, indent=0, sort_keys=True) + "\n")
        print(f"{args.out}: {len(snap['pickled'])} pickled, {len(snap['classes'])} classes")
        for f in snap["failed_samples"]:
            print("  sample failed:", f)
        return 0
    table, header, dropped = build_table(load_snapshots())
    want = render(table, header)
    if args.cmd == "generate":
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(want)
        print(f"{OUT}: {len(table)} entries; {len(set(dropped))} candidates denied")
        for d in sorted(set(dropped)):
            print("  denied:", d)
        return 0
    if OUT.read_text() != want:
        print(f"{OUT} differs from what the snapshots generate; rerun generate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
