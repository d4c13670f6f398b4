"""Writes the pandas 2 DataFrame pickles beside this file (benign fixtures for the guard).

Run with pandas 2 (a throwaway virtual environment):
    python -m venv /tmp/pd2 && /tmp/pd2/bin/pip install "pandas==2.2.3"
    /tmp/pd2/bin/python tests/data/pandas/make.py
The tests only read these files through the guard; pandas 3 frames are made by the tests.
"""

import os

import numpy as np
import pandas as pd

here = os.path.dirname(os.path.abspath(__file__))
df = pd.DataFrame(
    {
        "i": np.arange(3, dtype="int64"),
        "f": [0.5, 1.5, np.nan],
        "s": ["a", None, "c"],
        "c": pd.Categorical(["x", "y", "x"]),
        "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        "td": pd.to_timedelta([1, 2, 3], unit="s"),
        "b": pd.array([True, None, False], dtype="boolean"),
        "n": pd.array([1, None, 3], dtype="Int64"),
    },
    index=pd.Index(["r1", "r2", "r3"], name="row"),
)
for proto in (2, 5):
    df.to_pickle(os.path.join(here, f"frame-pandas{pd.__version__}-p{proto}.pkl"), protocol=proto)
multi = df.set_index(["i", "c"])
multi.to_pickle(os.path.join(here, f"multiindex-pandas{pd.__version__}.pkl"))
