"""Atheris harness -- HDF5 reader (formats/hdf5.py, pure-Python structure reader); inputs
capped at 1 MiB.

Run: python fuzz/fuzz_hdf5.py CORPUS_DIR -timeout=30 -rss_limit_mb=2048
(see fuzz/README.md; fuzz/run.py runs them all).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fuzz._harness import main  # noqa: E402

if __name__ == "__main__":
    main("hdf5")
