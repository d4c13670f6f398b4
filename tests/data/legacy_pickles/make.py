"""Make the legacy-library pickles in this folder (run once, with the old libraries).

    python -m venv /tmp/venv-old
    /tmp/venv-old/bin/pip install numpy==1.26.4 pandas==1.5.3 scipy==1.11.4 scikit-learn==1.3.2
    /tmp/venv-old/bin/python tests/data/legacy_pickles/make.py

Every file is an ordinary ``pickle.dump`` of objects these library versions built; the
file name says which libraries and protocol.  They carry the old module paths
(``numpy.core.multiarray``, ``numpy.core._multiarray_umath`` ufuncs,
``pandas.core.indexes.base._new_Index``, ``sklearn.neighbors._kd_tree.newObj``, ...)
that current libraries no longer write.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import sklearn
from sklearn import datasets, ensemble, linear_model, neighbors

HERE = Path(__file__).resolve().parent


def main() -> None:
    tag = f"numpy{np.__version__}-pandas{pd.__version__}-sklearn{sklearn.__version__}"
    rng = np.random.RandomState(0)
    x, y = rng.rand(30, 3), np.array([0, 1, 2] * 10)
    frame = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [1.5, np.nan, 3.0],
            "s": ["a", "b", None],
            "c": pd.Categorical(["x", "y", "x"]),
            "t": pd.date_range("2020-01-01", periods=3, tz="UTC"),
            "n": pd.array([1, None, 3], dtype="Int64"),
        },
        index=pd.Index(["r1", "r2", "r3"], name="row"),
    )
    numpy_objs = {
        "array": np.arange(6, dtype="f4").reshape(2, 3),
        "structured": np.zeros(2, dtype=[("a", "i4"), ("b", "f8")]),
        "masked": np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
        "random_state": np.random.RandomState(0),
        "ufuncs": [np.add, np.sqrt, np.logaddexp],
        "scalar": np.float64(2.5),
        "sparse": sp.csr_matrix(np.eye(3)),
    }
    models = {
        "knn_kd_tree": neighbors.KNeighborsClassifier(2, algorithm="kd_tree").fit(x, y),
        "ball_tree": neighbors.BallTree(x, metric="manhattan"),
        "gradient_boosting": ensemble.GradientBoostingClassifier(n_estimators=2).fit(x, y),
        "logistic": linear_model.LogisticRegression().fit(x, y),
        "bunch": datasets.load_iris(),
    }
    for proto in (2, 4):
        (HERE / f"pandas-{tag}-p{proto}.pkl").write_bytes(pickle.dumps(frame, protocol=proto))
        (HERE / f"numpy-{tag}-p{proto}.pkl").write_bytes(pickle.dumps(numpy_objs, protocol=proto))
    (HERE / f"sklearn-{tag}-p4.pkl").write_bytes(pickle.dumps(models, protocol=4))


if __name__ == "__main__":
    main()
