"""Write the real TensorFlow SavedModel fixtures under tests/data/savedmodel/.

TensorFlow is NOT a modelxray dependency.  Run this in a throwaway venv::

    python3.11 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install tensorflow-cpu==2.19.1 tf-keras==2.19.0
    /tmp/tfvenv/bin/python scripts/make_tf_fixtures.py

Every model is only *saved* here, never loaded.  Nothing the fixtures contain is run while
tracing: ``tf.function`` tracing builds graph nodes, it does not execute file or Python ops.

Fixtures (one folder each):

* ``keras_lambda``  - tf-keras Sequential(Input(4), Lambda(x * 2.0), Dense(2)) saved with
  ``save_format="tf"``: saved_model.pb + keras_metadata.pb (Lambda code as base64 marshal).
* ``file_io``       - tf.Module whose ``serve`` reads ``/tmp/modelxray_dummy.txt`` (ReadFile on
  a Const path) and writes ``/tmp/modelxray_marker`` (WriteFile).  Also written as
  ``saved_model.pbtxt`` in text format for the text reader.
* ``py_function``   - tf.Module whose ``serve`` calls ``tf.py_function`` (EagerPyFunc).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "savedmodel"
MAX_TOTAL = 500 * 1024


def _fresh(name: str) -> Path:
    path = OUT / name
    if path.exists():
        shutil.rmtree(path)
    return path


def keras_lambda() -> None:
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential(
        [
            tf_keras.Input(shape=(4,), name="x"),
            tf_keras.layers.Lambda(lambda x: x * 2.0, name="double"),
            tf_keras.layers.Dense(2, name="dense"),
        ]
    )
    model.save(str(_fresh("keras_lambda")), save_format="tf")


class FileIO(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def serve(self, content: tf.Tensor) -> tf.Tensor:
        data = tf.io.read_file("/tmp/modelxray_dummy.txt")
        tf.io.write_file("/tmp/modelxray_marker", content)
        return data


def _double(x: tf.Tensor) -> tf.Tensor:
    return x * 2.0


class PyFunction(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def serve(self, x: tf.Tensor) -> tf.Tensor:
        return tf.py_function(func=_double, inp=[x], Tout=tf.float32)


def save_module(name: str, module: tf.Module) -> Path:
    path = _fresh(name)
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def write_text_copy(path: Path) -> None:
    """Write ``saved_model.pbtxt`` (text format) beside a binary SavedModel we just wrote."""
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    (path / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))


def prune(path: Path) -> None:
    """Drop empty folders (``assets/``) so git keeps the tree as written."""
    for sub in sorted(path.rglob("*"), reverse=True):
        if sub.is_dir() and not any(sub.iterdir()):
            sub.rmdir()


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    keras_lambda()
    save_module("py_function", PyFunction())
    write_text_copy(save_module("file_io", FileIO()))
    for name in ("keras_lambda", "file_io", "py_function"):
        prune(OUT / name)
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            print(f"{p.stat().st_size:8d}  {p.relative_to(OUT)}")
    print(f"total {total} bytes (tf {tf.__version__}, tf_keras {tf_keras.__version__})")
    return 0 if total <= MAX_TOTAL else 1


if __name__ == "__main__":
    sys.exit(main())
