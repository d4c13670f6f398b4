"""Write the small example models bundled in examples/.

Uses the Keras fixture factory (tests/factories/keras_models.py), so it needs the test extras
(keras + torch), not an installed modelxray::

    python scripts/make_examples.py            # writes examples/*.keras, examples/*.h5
    python scripts/make_examples.py --check    # rebuilds in a temp dir, compares configs

Written files:

* ``clean_dense.keras``        - Sequential Dense(2) on 4 inputs, no code.
* ``tensor_math_lambda.keras`` - Input(4) -> Lambda(lambda x: x * 2.0) -> Dense(2).
* ``malicious_lambda.h5``      - the same model saved as Keras 3 legacy .h5, then its
  ``model_config`` edited so the Lambda's marshalled code runs
  ``os.system("echo MODELXRAY_MARKER > /tmp/modelxray_marker_malicious_lambda")``.
  The payload is compiled, never called; nothing here loads the file.

Reproducibility: fixed seeds and layer names, renumbered ``shared_object_id`` values (Keras
writes ``id(obj)``), a fixed ``date_saved`` and fixed zip timestamps.  With the same Keras,
torch and h5py versions the output is byte-identical from run to run.  ``--check`` compares
only the JSON configs and attributes, so it tolerates HDF5 library differences.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.factories import keras_models  # noqa: E402  (sets KERAS_BACKEND=torch)

EXAMPLES = ROOT / "examples"


def _configs(path: Path) -> object:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read("config.json")), json.loads(zf.read("metadata.json"))
    import h5py

    with h5py.File(path, "r") as f:
        return {key: str(f.attrs[key]) for key in sorted(f.attrs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=EXAMPLES, help="output directory")
    parser.add_argument(
        "--check", action="store_true", help="rebuild into a temp dir and compare with --out"
    )
    args = parser.parse_args(argv)

    if not args.check:
        for name, path in keras_models.write_examples(args.out).items():
            print(f"{name:20s} {path.stat().st_size:6d} B  {path}")
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        fresh = keras_models.write_examples(Path(tmp))
        stale = [p.name for p in fresh.values() if _configs(p) != _configs(args.out / p.name)]
    if stale:
        print("out of date: " + ", ".join(stale))
        return 1
    print("examples are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
