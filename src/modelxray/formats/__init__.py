"""Format sniffing and the readers registered for each format.

Importing this package registers every reader; readers import heavy libraries
(h5py, numpy) only inside ``scan``, so start-up stays cheap.
"""

from modelxray.formats.base import FormatReader, identify, readers, register

# Registration order does not matter: the sniff score decides.
from modelxray.containers import zip as _zip  # noqa: E402,F401
from modelxray.formats import hdf5 as _hdf5  # noqa: E402,F401
from modelxray.formats import json_doc as _json_doc  # noqa: E402,F401
from modelxray.formats import savedmodel as _savedmodel  # noqa: E402,F401
from modelxray.formats import tflite as _tflite  # noqa: E402,F401
from modelxray.formats import python_source as _python_source  # noqa: E402,F401
from modelxray.formats import notebook as _notebook  # noqa: E402,F401
from modelxray.analysis import hf_config as _hf_config  # noqa: E402,F401
from modelxray.formats import msgpack_flax as _msgpack_flax  # noqa: E402,F401
from modelxray.formats import skops as _skops  # noqa: E402,F401
from modelxray.formats import mlflow as _mlflow  # noqa: E402,F401
from modelxray.formats import xgboost as _xgboost  # noqa: E402,F401
from modelxray.containers import tar as _tar  # noqa: E402,F401
from modelxray.containers import compressed as _compressed  # noqa: E402,F401
from modelxray.containers import sevenzip as _sevenzip  # noqa: E402,F401
from modelxray.formats import safetensors as _safetensors  # noqa: E402,F401
from modelxray.formats import gguf as _gguf  # noqa: E402,F401
from modelxray.formats import onnx as _onnx  # noqa: E402,F401
from modelxray.analysis import hf_tokenizer as _hf_tokenizer  # noqa: E402,F401
from modelxray.formats import pickle as _pickle  # noqa: E402,F401
from modelxray.formats import numpy_npy as _numpy_npy  # noqa: E402,F401
from modelxray.formats import torch as _torch  # noqa: E402,F401

__all__ = ["FormatReader", "identify", "readers", "register"]
