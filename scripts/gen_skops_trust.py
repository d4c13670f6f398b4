"""Regenerate src/modelxray/analysis/_generated/skops_trust.py from skops' own audit.

Two tables, both derived from the installed libraries, never written by hand:

``DEFAULT_TRUSTED``: for each skops node class (``__loader__``) of the current protocol, the
type names its audit accepts without ``trusted=`` -- exactly the ``self.trusted`` list each
node's ``__init__`` computes when ``skops.io.load``/``get_untrusted_types`` runs with
``trusted=None``.  The script does not re-read skops' source: it wraps every node class in
``NODE_TYPE_MAPPING``, dumps a set of real objects with ``skops.io.dump`` that reaches every
loader, runs ``get_untrusted_types`` on them and records the list each node computed (a loader
no dump reaches is listed in ``UNREACHED`` and trusts nothing).  ``BIT_GENERATORS`` is skops'
list of ``numpy.random`` bit generators a ``RandomGeneratorNode`` may name.

``REEXPORTS``: a name ``module.attr`` under scikit-learn, NumPy or SciPy that skops' loader
would import (``getattr(importlib.import_module(module), attr)``) but that is an object of
*another* package (``sklearn.callback._transport.Client`` is
``multiprocessing.connection.Client``), mapped to what it really is -- kept when the threat
catalogue (``analysis/threats.py``) condemns the real object, so the scanner judges the
re-export as the object it is.  Regenerate after changing the catalogue.

Usage: ``python scripts/gen_skops_trust.py`` (needs skops, scikit-learn, NumPy, SciPy).
"""

from __future__ import annotations

import collections
import datetime
import functools
import importlib
import operator
import pkgutil
import sys
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src/modelxray/analysis/_generated/skops_trust.py"
LIBRARIES = ("sklearn", "numpy", "scipy")
# Loaders a dump with this environment cannot produce (a sklearn < 1.2 dict subclass, the
# quantile-forest package, the memo back-reference that re-uses another node's audit).
UNREACHED = ("_DictWithDeprecatedKeysNode", "QuantileForestNode", "CachedNode")


def _objects() -> list[Any]:
    """Real objects whose skops dumps reach every loader of the current protocol."""
    import numpy as np
    import scipy.sparse
    from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.preprocessing import FunctionTransformer
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.random((40, 3))
    y = (X[:, 0] > 0.5).astype(int)
    return [
        LogisticRegression().fit(X, y),
        DecisionTreeClassifier(max_depth=2).fit(X, y),
        GradientBoostingClassifier(n_estimators=2).fit(X, y),
        HistGradientBoostingClassifier(max_iter=2).fit(X, y),
        SGDClassifier(max_iter=5).fit(X, y),
        FunctionTransformer(func=np.log1p),
        FunctionTransformer(func=operator.attrgetter("real")),
        FunctionTransformer(func=functools.partial(np.add, 1)),
        FunctionTransformer(func=LogisticRegression().fit),
        {
            "dict": {"a": 1},
            "ordered": collections.OrderedDict(a=1),
            "default": collections.defaultdict(list, a=[1]),
            "list": [1, 2.0, "s", True],
            "set": {1},
            "tuple": (1,),
            "bytes": b"x",
            "bytearray": bytearray(b"x"),
            "slice": slice(1, 2),
            "type": int,
            "dtype": np.dtype("float32"),
            "array": np.arange(3),
            "masked": np.ma.masked_array([1, 2], mask=[0, 1]),
            "random_state": np.random.RandomState(0),
            "generator": np.random.default_rng(0),
            "sparse": scipy.sparse.csr_matrix(np.eye(2)),
            "timezone": datetime.timezone.utc,
        },
    ]


def default_trusted() -> dict[str, list[str]]:
    from skops.io import _audit, dump, get_untrusted_types
    from skops.io._protocol import PROTOCOL

    seen: dict[str, set[str]] = collections.defaultdict(set)
    current = {
        loader: cls for (loader, protocol), cls in _audit.NODE_TYPE_MAPPING.items()
        if protocol == PROTOCOL
    }  # fmt: skip
    originals = {}
    for loader, cls in current.items():
        original = cls.__init__
        originals[cls] = original

        def wrapped(self: Any, *args: Any, _loader: str = loader, _orig: Any = original,
                    **kwargs: Any) -> None:  # fmt: skip
            _orig(self, *args, **kwargs)
            if kwargs.get("trusted") is None and type(self) is current[_loader]:
                seen[_loader].update(self.trusted)

        cls.__init__ = wrapped
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for i, obj in enumerate(_objects()):
                path = Path(tmp) / f"{i}.skops"
                dump(obj, path)
                get_untrusted_types(file=path)
    finally:
        for cls, original in originals.items():
            cls.__init__ = original
    missing = sorted(set(current) - set(seen) - set(UNREACHED))
    if missing:
        sys.exit(f"no dump reached the loaders {missing}: add objects to _objects()")
    return {loader: sorted(seen[loader]) for loader in sorted(seen)}


def reexports() -> dict[str, str]:
    sys.path.insert(0, str(ROOT / "src"))
    from modelxray.analysis import threats

    out: dict[str, str] = {}
    for root in LIBRARIES:
        pkg = importlib.import_module(root)
        names = [root] + sorted(
            m.name for m in pkgutil.walk_packages(pkg.__path__, root + ".", onerror=lambda n: None)
        )
        for name in names:
            if ".tests" in name or name.endswith("conftest"):
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(name)
            except BaseException:  # noqa: BLE001 - optional dependencies, platform modules
                continue
            for attr, obj in sorted(vars(module).items()):
                if attr.startswith("__"):
                    continue
                if isinstance(obj, types.ModuleType):
                    origin_module, origin_name = obj.__name__, ""
                else:
                    origin_module = getattr(obj, "__module__", None)
                    origin_name = getattr(obj, "__qualname__", None) or getattr(
                        obj, "__name__", None
                    )
                    if not isinstance(origin_module, str) or not isinstance(origin_name, str):
                        continue
                if origin_module.split(".")[0] in LIBRARIES:
                    continue
                if threats.lookup(origin_module, origin_name) is None:
                    continue
                origin = f"{origin_module}.{origin_name}" if origin_name else origin_module
                out[f"{name}.{attr}"] = origin
    return dict(sorted(out.items()))


def main() -> None:
    import numpy
    import scipy
    import sklearn
    import skops
    from skops.io._trusted_types import NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES

    trusted = default_trusted()
    reexported = reexports()
    lines = [
        f'"""Generated by scripts/gen_skops_trust.py from skops {skops.__version__} '
        "-- do not edit.",
        "",
        f"With scikit-learn {sklearn.__version__}, NumPy {numpy.__version__}, SciPy "
        f"{scipy.__version__}.",
        "",
        "DEFAULT_TRUSTED: loader -> the type names its audit trusts without ``trusted=``.",
        "BIT_GENERATORS: the numpy.random names a RandomGeneratorNode may call.",
        "REEXPORTS: module.attr under scikit-learn/NumPy/SciPy -> the condemned object it is.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "# ruff: noqa: E501",
        "# fmt: off",
        "DEFAULT_TRUSTED: dict[str, frozenset[str]] = {",
    ]
    for loader, names in trusted.items():
        lines.append(f"    {loader!r}: frozenset({{")
        lines.extend(f"        {n!r}," for n in names)
        lines.append("    }),")
    lines.append("}")
    lines.append("BIT_GENERATORS: frozenset[str] = frozenset({")
    lines.extend(f"    {n!r}," for n in sorted(NUMPY_RANDOM_BIT_GENERATOR_TYPE_NAMES))
    lines.append("})")
    lines.append("REEXPORTS: dict[str, str] = {")
    lines.extend(f"    {k!r}: {v!r}," for k, v in reexported.items())
    lines.append("}")
    lines.append("# fmt: on")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT}: {sum(map(len, trusted.values()))} trusted names, "
          f"{len(reexported)} re-exports")  # fmt: skip


if __name__ == "__main__":
    main()
