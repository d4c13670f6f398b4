"""What a file's name invites, for content no reader recognises: the per-extension table
(judged by ``engine.judge_unrecognised``).

modelxray picks readers by content.  When no sniffer claims a file, its name still decides
which loader people point at it, and two questions remain (answered here, as data):

* ``unpickled_by``: loaders that read such content from byte 0 as a pickle anyway
  (``pickle.load``/``joblib.load`` always; ``torch.load`` when there is no zip magic;
  ``np.load(allow_pickle=True)`` when there is neither a zip nor a NumPy magic).  The pickle
  VM then runs from byte 0, and whatever the unpickler would import or call before it fails
  is reported -- the content decides, not the name.
* ``mismatch``: whether unrecognised content behind the name is itself a finding (MX-SCAN-003).
  Only where the name promises one format family whose loader can run code *and* whose
  sniffer is strict (a magic number, a fixed header): a real file of that kind always matches,
  so a mismatch is a damaged or crafted file.  Names shared with plain data (``.bin`` word
  vectors and ONNX external data, ``.pb`` TensorProto test vectors, ``.sav`` IDL/SPSS files,
  ``.model`` SentencePiece/gensim files, ``.ckpt`` TensorFlow checkpoint shards) are not: every
  format whose loader executes code has a sniffer, so content none recognises is data.

``PROMISES`` names exactly the extensions that ``formats.registry`` says promise a model
(``registry.MODEL_EXTENSIONS``; tests/test_reader_registry.py).

Either way the file's status stays ``unsupported`` (``--fail-on-unsupported`` still fails it).
"""

from __future__ import annotations

from dataclasses import dataclass

_PICKLE = ("pickle.load",)
_JOBLIB = ("joblib.load", "pickle.load")
_TORCH = ("torch.load", "pickle.load")
_NUMPY = ("numpy.load(allow_pickle=True)",)


@dataclass(frozen=True)
class NamePromise:
    unpickled_by: tuple[str, ...]
    mismatch: bool
    why: str


# fmt: off
PROMISES: dict[str, NamePromise] = {
    ".pkl": NamePromise(_JOBLIB, True, "pickle: real pickles always sniff as one"),
    ".pickle": NamePromise(_PICKLE, True, "pickle: real pickles always sniff as one"),
    ".dill": NamePromise(("dill.load", "pickle.load"), True, "pickle (dill)"),
    ".joblib": NamePromise(_JOBLIB, True, "joblib: pickle or a compressed pickle"),
    ".pt": NamePromise(_TORCH, True, "torch.load: zip, tar or pickle, all recognised"),
    ".pth": NamePromise(_TORCH, False, "also Python's site-packages path files (text)"),
    ".bin": NamePromise(_TORCH, False, "also word vectors, ONNX external data, raw tensors"),
    ".ckpt": NamePromise(_TORCH, False, "also TensorFlow checkpoint index/data shards"),
    ".sav": NamePromise(_JOBLIB, False, "also IDL and SPSS save files"),
    ".model": NamePromise(_PICKLE, False, "also SentencePiece/fastText/other tools' models"),
    ".npy": NamePromise(_NUMPY, True, "NumPy: fixed magic; np.load unpickles anything else"),
    ".npz": NamePromise(_NUMPY, True, "NumPy: a zip; np.load unpickles anything else"),
    ".h5": NamePromise((), True, "Keras HDF5: fixed signature, Lambda layers run code"),
    ".hdf5": NamePromise((), True, "Keras HDF5: fixed signature, Lambda layers run code"),
    ".keras": NamePromise((), True, "Keras v3: a zip (or legacy HDF5), Lambda layers run code"),
    ".mar": NamePromise((), True, "TorchServe archive: a zip whose handler code runs"),
    ".safetensors": NamePromise((), True, "SafeTensors: fixed header shape"),
    ".gguf": NamePromise((), True, "GGUF: fixed magic; chat templates are rendered"),
    ".tflite": NamePromise((), True, "TFLite: fixed magic"),
    ".onnx": NamePromise((), True, "ONNX ModelProto"),
    ".pb": NamePromise((), False, "also TensorProto test vectors and any protobuf data"),
    ".pbtxt": NamePromise((), False, "any protobuf text"),
    ".msgpack": NamePromise((), False, "any msgpack data"),
}
# Whole file names a loader opens by that name (tensorflow/python/saved_model/constants.py:
# SAVED_MODEL_FILENAME_PB/_PBTXT; keras/.../saved_model/constants.py: SAVED_METADATA_PATH):
# tf.saved_model.load parses them strictly, so content no reader recognises is damaged or
# crafted, whatever the extension says of other ``.pb`` files.
FILE_PROMISES: dict[str, NamePromise] = {
    "saved_model.pb": NamePromise((), True, "TensorFlow SavedModel: tf.saved_model.load reads it"),
    "saved_model.pbtxt": NamePromise((), True, "TensorFlow SavedModel (text)"),
    "keras_metadata.pb": NamePromise((), True, "tf.keras SavedModel metadata (Keras configs)"),
}
# fmt: on
