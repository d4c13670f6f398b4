"""Per-format microbenchmark: in-process milliseconds per file for each reader on a typical
small file (issue 15).  No timed assertions anywhere: this only prints / writes numbers.

    python benchmarks/formats.py                      # the files, 200 scans each, a table
    python benchmarks/formats.py --repeat 50 --json out.json
    PYTHONPATH=/path/to/other/src python benchmarks/formats.py   # compare another checkout

The files are made once by the real libraries (Keras 3 on the torch backend, h5py) under
``--work`` (default ``~/.cache/modelxray-bench/formats``).  Each file is scanned once to warm
the imports, then ``--repeat`` times with ``modelxray.scan``; the table gives the median and the
10th / 90th percentiles in milliseconds, and the process's CPU time per scan (which includes
any child process the scan starts and waits for).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.factories builds the Keras files


def _keras_model() -> object:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    from tests.factories.keras_models import import_keras, quiet_keras

    keras = import_keras()
    with quiet_keras():
        keras.utils.set_random_seed(1)
        return keras.Sequential(
            [
                keras.Input(shape=(16,), name="input"),
                keras.layers.Dense(32, activation="relu", name="dense_1"),
                keras.layers.Dense(32, activation="relu", name="dense_2"),
                keras.layers.Dense(4, name="out"),
            ],
            name="small_mlp",
        )


def _save(path: Path) -> None:
    from tests.factories.keras_models import quiet_keras

    model = _keras_model()
    with quiet_keras():
        if path.name.endswith(".weights.h5"):
            model.save_weights(str(path))  # type: ignore[attr-defined]
        else:
            model.save(str(path))  # type: ignore[attr-defined]


def _plain_h5(path: Path) -> None:
    import h5py
    import numpy as np

    with h5py.File(path, "w") as f:
        for i in range(8):
            f.create_dataset(f"layer_{i}/kernel", data=np.zeros((32, 32), "f4"))
            f.create_dataset(f"layer_{i}/bias", data=np.zeros(32, "f4"))
        f.attrs["note"] = "plain data file"


# name -> (file name, builder)
FILES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "keras (.keras, 3 Dense layers)": ("small.keras", _save),
    "keras-h5 (legacy .h5 model)": ("small.h5", _save),
    "keras weights (.weights.h5)": ("small.weights.h5", _save),
    "hdf5 data (.h5, 16 datasets)": ("plain.h5", _plain_h5),
}


def build(work: Path) -> dict[str, Path]:
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for label, (name, builder) in FILES.items():
        path = work / name
        if not path.exists():
            builder(path)
        out[label] = path
    return out


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(path: Path, repeat: int) -> dict[str, float | str]:
    import modelxray

    first = modelxray.scan(str(path))  # warm: imports, caches
    times = []
    cpu0 = _cpu()
    for _ in range(repeat):
        t = time.perf_counter()
        modelxray.scan(str(path))
        times.append((time.perf_counter() - t) * 1000)
    cpu = (_cpu() - cpu0) * 1000 / repeat
    q = statistics.quantiles(times, n=10)
    return {
        "verdict": first.verdict,
        "median_ms": statistics.median(times),
        "p10_ms": q[0],
        "p90_ms": q[-1],
        "cpu_ms": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument(
        "--work", type=Path, default=Path.home() / ".cache" / "modelxray-bench" / "formats"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    files = build(args.work)
    import modelxray

    rows = {label: measure(path, args.repeat) for label, path in files.items()}
    print(f"modelxray from {Path(modelxray.__file__).parent}; load {os.getloadavg()[0]:.2f}")
    print("| file | bytes | verdict | median ms | p10-p90 ms | CPU ms/scan |")
    print("|---|---:|---|---:|---:|---:|")
    for label, r in rows.items():
        size = files[label].stat().st_size
        print(
            f"| {label} | {size} | {r['verdict']} | {r['median_ms']:.2f} | "
            f"{r['p10_ms']:.2f}-{r['p90_ms']:.2f} | {r['cpu_ms']:.2f} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
