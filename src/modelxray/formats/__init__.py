"""Format sniffing and the readers registered for each format.

Importing this package registers every reader; readers import heavy libraries
(h5py, numpy) and their analysers only inside ``scan``, so start-up stays cheap.  Readers
whose format starts with a fixed signature are registered as :class:`LazyReader` stand-ins:
their module loads only when a file carries that signature.
"""

from __future__ import annotations

# ruff: noqa: I001 - registration order is kept as it was (it breaks exact ties)
from collections.abc import Callable
from typing import TYPE_CHECKING

from modelxray.formats.base import FormatReader, LazyReader, identify, readers, register

if TYPE_CHECKING:
    from modelxray.artifact import Artifact


def _lazy(module: str, name: str, may_match: Callable[[Artifact, bytes], bool]) -> None:
    register(LazyReader(module, name, may_match))


def _in_torchscript(artifact: Artifact, head: bytes) -> bool:
    return artifact.facts.get("container") == "torchscript"


# A msgpack map: fixmap with 1-15 entries, map16, map32.
_MSGPACK_MAPS = frozenset(bytes([b]) for b in (*range(0x81, 0x90), 0xDE, 0xDF))

# The sniff score decides; registration order only breaks exact ties.  ``_lazy`` readers: the
# condition is necessary for the reader's sniffer to claim a file (tests/test_startup_imports).
from modelxray.containers import zip as _zip  # noqa: E402,F401
from modelxray.formats import hdf5 as _hdf5  # noqa: E402,F401
from modelxray.formats import json_doc as _json_doc  # noqa: E402,F401
from modelxray.formats import savedmodel as _savedmodel  # noqa: E402,F401

_lazy("modelxray.formats.tflite", "tflite", lambda a, h: h[4:8] == b"TFL3")
from modelxray.formats import python_source as _python_source  # noqa: E402,F401
from modelxray.formats import notebook as _notebook  # noqa: E402,F401

_lazy("modelxray.formats.msgpack_flax", "flax-msgpack", lambda a, h: h[:1] in _MSGPACK_MAPS)
from modelxray.formats import skops as _skops  # noqa: E402,F401

_lazy("modelxray.formats.mlflow", "mlflow-mlmodel", lambda a, h: b"flavors:" in h)
from modelxray.formats import xgboost as _xgboost  # noqa: E402,F401
from modelxray.containers import tar as _tar  # noqa: E402,F401
from modelxray.containers import compressed as _compressed  # noqa: E402,F401

_lazy("modelxray.containers.sevenzip", "7z", lambda a, h: h[:6] == b"7z\xbc\xaf\x27\x1c")
from modelxray.formats import safetensors as _safetensors  # noqa: E402,F401

_lazy("modelxray.formats.gguf", "gguf", lambda a, h: h[:4] == b"GGUF")
from modelxray.formats import onnx as _onnx  # noqa: E402,F401
from modelxray.formats import template_file as _template_file  # noqa: E402,F401
from modelxray.formats import pickle as _pickle  # noqa: E402,F401

_lazy("modelxray.formats.numpy_npy", "numpy", lambda a, h: h[:6] == b"\x93NUMPY")
_lazy("modelxray.formats.torch", "torchscript-code", _in_torchscript)
_lazy(
    "modelxray.formats.torch",
    "pytorch-legacy-tar-member",
    lambda a, h: a.facts.get("container") == "tar" and a.name in ("storages", "tensors"),
)

__all__ = ["FormatReader", "LazyReader", "identify", "readers", "register"]
