"""Every reader, registered in one table (data only; like bandit's entry points).

One :class:`ReaderEntry` per reader: its name, the module that defines it, a cheap necessary
condition for its sniffer to claim a file (``magic``), the file extensions that break ties
between equal sniff scores, the extensions whose name promises a model of this format, and
an explicit ``priority`` for ties that remain.  ``formats/__init__.py`` reads the table:
a reader with ``magic`` is registered as a :class:`~modelxray.formats.base.LazyReader` whose
module loads only when a file passes the check; one without is imported with the package.

A reader module defines its reader class and ends with ``register(Reader())``; it declares
neither its extensions nor its place among the others -- both live here.  Adding a format
is its own files plus one row (see CONTRIBUTING.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelxray.model import FormatName

if TYPE_CHECKING:
    from modelxray.artifact import Artifact

Magic = Callable[["Artifact", bytes], bool]


@dataclass(frozen=True)
class ReaderEntry:
    name: FormatName
    module: str
    # Breaks exact ties (same sniff score, same extension match): the higher wins.
    priority: int
    # Cheap necessary condition for the reader's sniffer to score above 0; None: no such check,
    # the module is imported with the package (tests/test_startup_imports holds the lazy ones).
    magic: Magic | None = None
    # A matching extension breaks ties between equal sniff scores (content decides first).
    extensions: tuple[str, ...] = ()
    # Extensions whose name promises a model of this format, to the loader people point at it
    # (``formats.loaders.PROMISES`` says what such a name invites when no reader claims it);
    # not necessarily tie-breakers (``.model`` is XGBoost's to break ties, pickle's to promise).
    promises: tuple[str, ...] = ()


def _in_torchscript(artifact: Artifact, head: bytes) -> bool:
    return artifact.facts.get("container") == "torchscript"


def _legacy_tar_member(artifact: Artifact, head: bytes) -> bool:
    return artifact.facts.get("container") == "tar" and artifact.name in ("storages", "tensors")


# A msgpack map: fixmap with 1-15 entries, map16, map32.
_MSGPACK_MAPS = frozenset(bytes([b]) for b in (*range(0x81, 0x90), 0xDE, 0xDF))

_F = FormatName
_TF = "modelxray.formats.savedmodel"
_PICKLE_EXTENSIONS = (
    ".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".sav", ".dat",
    ".data", ".cloudpickle", ".pkl3",
)  # fmt: skip

# fmt: off
READERS: tuple[ReaderEntry, ...] = (
    ReaderEntry(_F.ZIP, "modelxray.containers.zip", 270,
                extensions=(".zip", ".keras", ".pt", ".pth", ".npz", ".bin", ".ckpt", ".mar"),
                promises=(".keras", ".mar")),
    ReaderEntry(_F.HDF5, "modelxray.formats.hdf5", 260,
                extensions=(".h5", ".hdf5", ".keras"), promises=(".h5", ".hdf5")),
    ReaderEntry(_F.JSON, "modelxray.formats.json_doc", 250, extensions=(".json",)),
    ReaderEntry(_F.KERAS_METADATA_PB, _TF, 240, extensions=(".pb",)),
    ReaderEntry(_F.TF_SAVEDMODEL, _TF, 239, extensions=(".pb",), promises=(".pb",)),
    ReaderEntry(_F.TF_SAVEDMODEL_TEXT, _TF, 238, extensions=(".pbtxt",), promises=(".pbtxt",)),
    ReaderEntry(_F.TF_GRAPHDEF, _TF, 237, extensions=(".pb",)),
    ReaderEntry(_F.TF_SAVEDMODEL_FINGERPRINT, _TF, 236, extensions=(".pb",)),
    ReaderEntry(_F.TF_VARIABLES_INDEX, _TF, 235, extensions=(".index",)),
    ReaderEntry(_F.TF_VARIABLES, _TF, 234),
    ReaderEntry(_F.TFLITE, "modelxray.formats.tflite", 230, lambda a, h: h[4:8] == b"TFL3",
                extensions=(".tflite", ".lite"), promises=(".tflite",)),
    ReaderEntry(_F.PYTHON, "modelxray.formats.python_source", 220, extensions=(".py", ".pyw")),
    ReaderEntry(_F.FLAX_MSGPACK, "modelxray.formats.msgpack_flax", 210,
                lambda a, h: h[:1] in _MSGPACK_MAPS,
                extensions=(".msgpack", ".flax"), promises=(".msgpack",)),
    ReaderEntry(_F.MLFLOW_MLMODEL, "modelxray.formats.mlflow", 200, lambda a, h: b"flavors:" in h,
                extensions=("",)),
    ReaderEntry(_F.XGBOOST, "modelxray.formats.xgboost", 190,
                extensions=(".ubj", ".bst", ".model", ".xgb", ".txt")),
    ReaderEntry(_F.TAR, "modelxray.containers.tar", 180, extensions=(".tar",)),
    ReaderEntry(_F.COMPRESSED, "modelxray.containers.compressed", 170,
                extensions=(".gz", ".tgz", ".bz2", ".xz", ".lzma", ".lz4", ".zst", ".zstd",
                            ".joblib")),
    ReaderEntry(_F.SEVENZIP, "modelxray.containers.sevenzip", 160,
                lambda a, h: h[:6] == b"7z\xbc\xaf\x27\x1c", extensions=(".7z",)),
    ReaderEntry(_F.SAFETENSORS, "modelxray.formats.safetensors", 150,
                extensions=(".safetensors",), promises=(".safetensors",)),
    ReaderEntry(_F.GGUF, "modelxray.formats.gguf", 140, lambda a, h: h[:4] == b"GGUF",
                extensions=(".gguf",), promises=(".gguf",)),
    ReaderEntry(_F.ONNX, "modelxray.formats.onnx", 130, extensions=(".onnx",),
                promises=(".onnx",)),
    ReaderEntry(_F.ONNX_TENSOR, "modelxray.formats.onnx", 129, extensions=(".pb", ".tensor")),
    ReaderEntry(_F.JINJA_TEMPLATE, "modelxray.formats.chat_template", 120,
                extensions=(".jinja", ".jinja2", ".j2")),
    ReaderEntry(_F.YAML_CONFIG, "modelxray.formats.yaml_config", 125,
                extensions=(".yaml", ".yml")),
    ReaderEntry(_F.PICKLE, "modelxray.formats.pickle", 110, extensions=_PICKLE_EXTENSIONS,
                promises=(".pkl", ".pickle", ".dill", ".joblib", ".pt", ".pth", ".bin", ".ckpt",
                          ".sav", ".model")),
    ReaderEntry(_F.NUMPY, "modelxray.formats.numpy_npy", 100, lambda a, h: h[:6] == b"\x93NUMPY",
                extensions=(".npy",), promises=(".npy", ".npz")),
    ReaderEntry(_F.TORCHSCRIPT_CODE, "modelxray.formats.torch", 90, _in_torchscript),
    ReaderEntry(_F.PYTORCH_LEGACY_TAR_MEMBER, "modelxray.formats.torch", 89,
                _legacy_tar_member),
)
# fmt: on

# Modules that add analysers to the JSON reader (``register_json_analyser``), in the order the
# analysers run (after the Keras, HF config and tokenizer-config walks that ``formats.json_doc``
# itself registers).
JSON_ANALYSERS: tuple[str, ...] = (
    "modelxray.formats.notebook",
    "modelxray.formats.skops",
    "modelxray.formats.xgboost",
    "modelxray.formats.yaml_config",
)

BY_NAME: dict[str, ReaderEntry] = {entry.name: entry for entry in READERS}

# Extensions whose name promises a model (of the formats above).
MODEL_EXTENSIONS: frozenset[str] = frozenset(ext for e in READERS for ext in e.promises)
