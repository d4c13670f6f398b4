"""Real Keras 3 files for the tensor vocabulary, output_shape, TorchModuleWrapper and
resource-exhaustion cases (torch backend; builds on ``keras_models``).

* Benign models are built and saved by Keras 3 itself.  Lambdas naming TensorFlow / PyTorch
  functions cannot be traced on the torch backend's symbolic tensors, so their code is
  compiled (never run) and swapped into a real saved model, exactly like the malicious samples.
* Malicious ``TorchModuleWrapper`` payloads are a real ``torch.save`` archive of a benign
  module whose ``data.pkl`` is replaced by a hand-written pickle calling ``posix.system(echo
  marker)``; nothing here loads or unpickles it.
* Huge-constant lambdas are only compiled, never called (calling them would exhaust memory).
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from tests.factories.keras_cves import harmless_pickle
from tests.factories.keras_models import (
    Blob,
    benign_function,
    derive_h5,
    derive_json,
    derive_keras_zip,
    foreign_blob,
    host_blob,
    import_keras,
    quiet_keras,
    save_json,
    save_model,
    swap_lambda,
    walk_dicts,
)

# Lambdas built by Keras with ops the hand-written vocabulary lacked (issue 11, class 4).
KERAS_OPS_SOURCES = {
    "nan_to_num": "lambda x: keras.ops.nan_to_num(x)",
    "logaddexp": "lambda x: keras.ops.logaddexp(x, x)",
    "hstack": "lambda x: keras.ops.hstack([x, x])",
    "median": "lambda x: x - keras.ops.median(x, axis=-1, keepdims=True)",
    "columns": "lambda x: keras.ops.stack([x[:, i] * 2.0 for i in range(4)], axis=-1)",
}
# Benign code for other frameworks' names, compiled only and swapped into a saved model.
FOREIGN_API_SOURCES = {
    "tf_math": "lambda x: tf.math.reduce_logsumexp(tf.math.log1p(tf.nn.relu(x)), axis=-1)",
    "tf_signal": "lambda x: tf.linalg.normalize(tf.image.flip_left_right(x))[0]",
    "torch_ops": "lambda x: torch.nan_to_num(x).permute(0, 1).contiguous().clamp(min=0.0)",
    "torch_functional": "lambda x: F.gelu(torch.logaddexp(x, x)) + torch.median(x)",
    "keras_backend": "lambda x: K.batch_flatten(K.permute_dimensions(x, (0, 1)))",
}
# Methods of the layer's input value with constant arguments: ``x.fill(v)`` sets values, it
# allocates nothing (unlike ``tf.fill(dims, v)``).  Built and saved by Keras itself: with an
# ``output_shape`` Keras never calls the function, so numpy-style methods need not trace.
VALUE_METHOD_SOURCES = {
    "fill": "lambda x: x.fill(0) or x",
    "fill_sentinel": "lambda x: keras.ops.convert_to_numpy(x).copy().fill(10**9) or x",
    "fill_arguments": "lambda x, big=10**9: x.fill(big) or x * 10**9",
}
# Lambdas whose constants make loading exhaust memory or time (issue 11, miss 4).
HUGE_SOURCES = {
    "list_repeat": "lambda x: x + len([0] * 10**10)",
    "bytearray": "lambda x: x + len(bytearray(10**10))",
    "str_repeat": "lambda x: x + len('a' * 10**10)",
    "range_sum": "lambda x: x + sum(range(10**12))",
    "nested_loops": "lambda x: x + sum(i * j for i in range(10**6) for j in range(10**6))",
    "big_power": "lambda x: x + (2 ** 10**10 > 0)",
    "tensor_alloc": "lambda x: x + keras.ops.sum(keras.ops.zeros((100000, 100000)))",
    "np_zeros": "lambda x: x + np.zeros((10**5, 10**5)).sum()",
    "range_loop": "lambda x: x + sum(1 for _ in range(10**10))",
}
OUTPUT_SHAPES: dict[str, Any] = {
    "dim": (4,),
    "batch_dim": (None, 4),
    "matrix": (2, 2),
}
FOREIGN_PYTHONS = ("3.8", "3.12", "2.7")
# Python 2.7's peephole optimiser folds constant operands by computing them first (then
# discards large results): compiling these there would allocate the 10 GB string / int.
NOT_ON_27 = frozenset({"str_repeat", "big_power"})


def _lambda_model(name: str, fn: Any, **kwargs: Any) -> Any:
    keras = import_keras()
    inp = keras.Input(shape=(4,), name="input")
    x = keras.layers.Lambda(fn, name=name, **kwargs)(inp)
    return keras.Model(inp, x, name=f"lambda_{name}")


def _save_all(model: Any, base: Path) -> dict[str, Path]:
    paths = {ext: base.with_name(f"{base.name}.{ext}") for ext in ("keras", "h5", "json")}
    save_model(model, paths["keras"])
    save_model(model, paths["h5"])
    save_json(model, paths["json"])
    return paths


def _derive_all(src: dict[str, Path], base: Path, edit: Any) -> dict[str, Path]:
    out = {ext: base.with_name(f"{base.name}.{ext}") for ext in ("keras", "h5", "json")}
    derive_keras_zip(src["keras"], out["keras"], edit)
    derive_h5(src["h5"], out["h5"], edit)
    derive_json(src["json"], out["json"], edit)
    return out


def _blob(source: str, python: str | None) -> Blob | None:
    return host_blob(source) if python is None else foreign_blob(python, source)


def torch_wrapper_model() -> Any:
    import torch

    keras = import_keras()
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.LayerNorm(3))
    inp = keras.Input(shape=(4,), name="input")
    wrapper = keras.layers.TorchModuleWrapper(module, name="torch_wrapper", output_shape=(None, 3))
    return keras.Model(inp, wrapper(inp), name="torch_wrapper_model")


def replace_data_pkl(archive: bytes, pickle_bytes: bytes) -> bytes:
    """A copy of a ``torch.save`` zip with its ``*/data.pkl`` replaced (same members, order)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/data.pkl"):
                data = pickle_bytes
            zout.writestr(info, data)
    return out.getvalue()


def swap_torch_module(payload: str | int) -> Any:
    """Replace every TorchModuleWrapper's ``module`` value."""

    def edit(tree: Any) -> int:
        count = 0
        for _, node in list(walk_dicts(tree)):
            if node.get("class_name") == "TorchModuleWrapper":
                node["config"]["module"] = payload
                count += 1
        return count

    return edit


def torch_module_b64(path: Path) -> str:
    with zipfile.ZipFile(path) as zf:
        config = json.loads(zf.read("config.json"))
    for _, node in walk_dicts(config):
        if node.get("class_name") == "TorchModuleWrapper":
            return str(node["config"]["module"])
    raise RuntimeError("no TorchModuleWrapper in the saved model")


def build_layer_corpus(outdir: Path) -> dict[str, dict[str, Path]]:
    """``{case: {ext or python: path}}``; case names start with clean_, benign_, bad_ or huge_."""
    out: dict[str, dict[str, Path]] = {}
    with quiet_keras():
        for name, source in KERAS_OPS_SOURCES.items():
            model = _lambda_model(name, benign_function(source))
            out[f"benign_ops_{name}"] = _save_all(model, outdir / f"benign_ops_{name}")
        template = out["benign_ops_nan_to_num"]
        for name, source in FOREIGN_API_SOURCES.items():
            blob = host_blob(source)
            out[f"benign_api_{name}"] = _derive_all(
                template, outdir / f"benign_api_{name}", swap_lambda(blob)
            )
        for name, source in VALUE_METHOD_SOURCES.items():
            model = _lambda_model(name, benign_function(source), output_shape=(4,))
            out[f"benign_value_{name}"] = _save_all(model, outdir / f"benign_value_{name}")
        for name, shape in OUTPUT_SHAPES.items():
            model = _lambda_model(
                f"shape_{name}", benign_function("lambda x: x"), output_shape=shape
            )
            out[f"benign_shape_{name}"] = _save_all(model, outdir / f"benign_shape_{name}")
        keras = import_keras()
        inp = keras.Input(shape=(4,), name="input")
        pair = keras.layers.Lambda(
            benign_function("lambda x: [x, x * 2.0]"), output_shape=[(4,), (4,)], name="pair"
        )(inp)
        multi = keras.Model(inp, pair, name="lambda_multi_shape")
        out["benign_shape_multi"] = _save_all(multi, outdir / "benign_shape_multi")

        wrapper = _save_all(torch_wrapper_model(), outdir / "clean_torch_wrapper")
        out["clean_torch_wrapper"] = wrapper
        archive = base64.b64decode(torch_module_b64(wrapper["keras"]))
        bad = replace_data_pkl(archive, harmless_pickle("torch_wrapper_zip"))
        out["bad_torch_wrapper_zip"] = _derive_all(
            wrapper,
            outdir / "bad_torch_wrapper_zip",
            swap_torch_module(base64.b64encode(bad).decode("ascii")),
        )
        out["bad_torch_wrapper_garbage"] = _derive_all(
            wrapper,
            outdir / "bad_torch_wrapper_garbage",
            swap_torch_module("bm90IGEgdG9yY2ggZmlsZQ=="),
        )
        out["bad_torch_wrapper_number"] = _derive_all(
            wrapper, outdir / "bad_torch_wrapper_number", swap_torch_module(12345)
        )

        for name, source in HUGE_SOURCES.items():
            cases: dict[str, Path] = {}
            for python in (None, *FOREIGN_PYTHONS):
                if python == "2.7" and name in NOT_ON_27:
                    continue
                blob = _blob(source, python)
                if blob is None:
                    continue
                dst = outdir / f"huge_{name}_{blob.python}.keras"
                derive_keras_zip(template["keras"], dst, swap_lambda(blob))
                cases[blob.python] = dst
            h5 = outdir / f"huge_{name}.h5"
            derive_h5(template["h5"], h5, swap_lambda(host_blob(source)))
            cases["h5"] = h5
            out[f"huge_{name}"] = cases
    return out
