"""Every reader, registered in one table (data only; like bandit's entry points).

One :class:`ReaderEntry` per reader: its name, the module that defines it, cheap necessary
conditions for its sniffer to claim a file (``magic``; ``lead``, the first bytes it can claim),
the file extensions that break ties between equal sniff scores, the extensions whose name
promises a model of this format, and an explicit ``priority`` for ties that remain.
``formats/__init__.py`` reads the table: a reader with ``magic`` or ``lead`` is registered as a
:class:`~modelxray.formats.base.LazyReader` whose module loads only when a file passes the
checks; one without is imported with the package.  ``formats.base.identify`` offers a file
only to the readers whose ``lead`` holds its first byte, and to those without a lead.

A reader module defines its reader class and ends with ``register(Reader())``; it declares
neither its extensions nor its place among the others -- both live here.  Adding a format
is its own files plus one row (see CONTRIBUTING.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelxray.analysis._generated.pickle_opcodes import OPCODES
from modelxray.model import FormatName

if TYPE_CHECKING:
    from modelxray.artifact import Artifact

Magic = Callable[["Artifact", bytes], bool]


@dataclass(frozen=True)
class ReaderEntry:
    """One reader's row: where it lives and how sniffing reaches it."""

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
    # The first bytes the sniffer can claim a file with (another first byte, or an empty file,
    # scores 0); None: any (a signature further in, at the end, in a name or a fact).  Sniffing
    # dispatches on it: a file is offered only to the rows whose lead holds its first byte and
    # to those without one (tests/test_sniff_dispatch.py checks each lead against its sniffer).
    lead: bytes | None = None


def _in_torchscript(artifact: Artifact, head: bytes) -> bool:
    return artifact.facts.get("container") == "torchscript"


def _in_torch_package(artifact: Artifact, head: bytes) -> bool:
    return artifact.facts.get("container") == "torch-package"


def _legacy_tar_member(artifact: Artifact, head: bytes) -> bool:
    return artifact.facts.get("container") == "tar" and artifact.name in ("storages", "tensors")


# C0 control bytes no text document holds (tab, line feed, vertical tab, form feed, carriage
# return and escape excepted): PyYAML refuses them, pip fails on a requirement line with one.
_NOT_TEXT = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")


def _text(artifact: Artifact, head: bytes) -> bool:
    return _NOT_TEXT.search(head) is None


# What an unnamed requirements file must hold to be claimed (formats.manifest): a pinned
# (``==``) or direct (``@``) requirement, an option, or a URL.
_REQUIREMENT_MARKS = (b"==", b"@", b"-", b"://")


def _requirements_text(artifact: Artifact, head: bytes) -> bool:
    """Text whose first character can start a requirements line (not a JSON document), named
    like a requirements file, longer than its head, or holding what a requirements file must."""
    if not _text(artifact, head) or head.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] in (b"{", b"["):
        return False
    named = artifact.name.lower().rstrip("\n").endswith((".txt", ".in", ".pip"))
    if named or artifact.size > len(head):
        return True
    return any(mark in head for mark in _REQUIREMENT_MARKS)


# Literals every code-bearing marker of a YAML config holds (``target`` covers ``_target_``;
# formats.yaml_config searches for the markers only in text holding one).
YAML_MARKER_LITERALS = (b"target", b"cls", b"python/", b"${")


def _yaml_text(artifact: Artifact, head: bytes) -> bool:
    """Text holding a marker literal (or longer than its head, where one may follow)."""
    if not _text(artifact, head):
        return False
    return artifact.size > len(head) or any(lit in head for lit in YAML_MARKER_LITERALS)


def _yaml_dependencies(artifact: Artifact, head: bytes) -> bool:
    return b"dependencies:" in head


def _toml_table(artifact: Artifact, head: bytes) -> bool:
    return b"[" in head and b"\x00" not in head


# Cheap necessary conditions (``magic``) of readers whose files have no fixed first byte, from
# each sniffer's own first checks: the reader's module loads only for a file that passes.
_ZIP_LOCAL, _ZIP_END = b"PK\x03\x04", b"PK\x05\x06"


def _zip_signature(artifact: Artifact, head: bytes) -> bool:
    """A local header at byte 0, or an end record at the end (a prefixed archive)."""
    return head[:4] in (_ZIP_LOCAL, _ZIP_END) or artifact.tail(22)[:4] == _ZIP_END


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_MAX_USERBLOCK_PROBE = 1 << 20  # a user block is 512, 1024, 2048, … bytes


def find_hdf5_superblock(artifact: Artifact, head: bytes) -> int | None:
    """Where the HDF5 signature is: byte 0 or after a user block (the probes beyond the head
    read through one open stream).  Here, not in ``formats.hdf5``: sniffing must not import
    the reader; the reader and ``convert`` use it from here."""
    if head[:8] == HDF5_SIGNATURE:
        return 0
    end = min(artifact.size, HDF5_MAX_USERBLOCK_PROBE)
    offset = 512
    while offset < end and offset + 8 <= len(head):
        if head[offset : offset + 8] == HDF5_SIGNATURE:
            return offset
        offset *= 2
    if offset >= end:
        return None
    with artifact.open() as f:
        while offset < end:
            f.seek(offset)
            if f.read(8) == HDF5_SIGNATURE:
                return offset
            offset *= 2
    return None


def _hdf5_signature(artifact: Artifact, head: bytes) -> bool:
    return find_hdf5_superblock(artifact, head) is not None


def _tar_header(artifact: Artifact, head: bytes) -> bool:
    return len(head) >= 512 and head[:512].count(0) < 512  # a header block, not an end block


def _safetensors_header(artifact: Artifact, head: bytes) -> bool:
    """An 8-byte header length, then the JSON header's brace (after spaces)."""
    return len(head) >= 10 and head[8:72].lstrip(b" ")[:1] == b"{"


_TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")  # a TensorFlow table's footer


def _table_footer(artifact: Artifact, head: bytes) -> bool:
    return artifact.size >= 48 and artifact.tail(8) == _TABLE_MAGIC


def _data_shard_name(artifact: Artifact, head: bytes) -> bool:
    return ".data-" in artifact.name  # <prefix>.data-NNNNN-of-NNNNN, beside <prefix>.index


def _saved_model_text(artifact: Artifact, head: bytes) -> bool:
    return b"saved_model_schema_version" in head or b"meta_graphs" in head


# Words one of which a Python file's telling line holds (formats.python_source).
_PYTHON_WORDS = (b"import", b"def", b"class", b"__name__", b"python")


def _python_source(artifact: Artifact, head: bytes) -> bool:
    if artifact.facts.get("container") == "torch-package":
        return True  # its bundled modules are Python whatever they look like
    return b"\x00" not in head and any(word in head for word in _PYTHON_WORDS)


_XGBOOST_PARAMETERS = 136  # a legacy binary's parameter block (formats.xgboost)


def _xgboost_model(artifact: Artifact, head: bytes) -> bool:
    """UBJSON with a learner, LightGBM text, or a legacy binary: after its parameters (and an
    optional ``binf``), the length of its objective's name, 1 to 64 bytes, in the head."""
    if head[:1] == b"{" and b"learner" in head[:64]:
        return True
    if head[:5] == b"tree\n":
        return True
    pos = (4 if head[:4] == b"binf" else 0) + _XGBOOST_PARAMETERS
    n = int.from_bytes(head[pos : pos + 8], "little")
    return len(head) >= pos + 8 and 0 < n <= 64 and len(head) >= pos + 8 + n


_TEMPLATE_SUFFIXES = (".jinja", ".jinja2", ".j2")


def _template(artifact: Artifact, head: bytes) -> bool:
    """Text named like a template (``chat_template.jinja``, ``*.j2``) or opening with a tag."""
    if b"\x00" in head:
        return False
    name = artifact.name.lower()
    if name.startswith("chat_template") or name.endswith(_TEMPLATE_SUFFIXES):
        return True
    start = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    return start.lstrip()[:1] == b"{"


# A msgpack map: fixmap with 1-15 entries, map16, map32.
_MSGPACK_MAP_BYTES = bytes((*range(0x81, 0x90), 0xDE, 0xDF))
_MSGPACK_MAPS = frozenset(bytes([b]) for b in _MSGPACK_MAP_BYTES)

# First bytes (``lead``), from each sniffer's own first check.
_JSON_LEAD = b"{[ \t\r\n\xef\xbb\xbf"  # a bracket after whitespace or a UTF-8 BOM
_PICKLE_LEAD = bytes(sorted(OPCODES))  # a pickle starts with an opcode
# ONNX ModelProto fields / TensorProto fields a model or tensor starts with.
_ONNX_LEAD = bytes((0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA, 0xD2))
_ONNX_TENSOR_LEAD = bytes((0x08, 0x0A, 0x10, 0x42))
# gzip, bzip2, xz, lz4, zstd, lzma-alone, joblib ZF, and a zlib header (CM 8, CINFO <= 7).
_COMPRESSED_LEAD = b"\x1fB\xfd\x04\x28\x5dZ" + bytes(0x08 | k << 4 for k in range(8))

_F = FormatName
_TF = "modelxray.formats.savedmodel"
_PICKLE_EXTENSIONS = (
    ".pkl", ".pickle", ".pt", ".pth", ".bin", ".ckpt", ".joblib", ".dill", ".sav", ".dat",
    ".data", ".cloudpickle", ".pkl3",
)  # fmt: skip

# fmt: off
READERS: tuple[ReaderEntry, ...] = (
    ReaderEntry(_F.ZIP, "modelxray.containers.zip", 270, _zip_signature,
                extensions=(".zip", ".keras", ".pt", ".pth", ".npz", ".bin", ".ckpt", ".mar"),
                promises=(".keras", ".mar")),
    ReaderEntry(_F.HDF5, "modelxray.formats.hdf5", 260, _hdf5_signature,
                extensions=(".h5", ".hdf5", ".keras"), promises=(".h5", ".hdf5")),
    ReaderEntry(_F.JSON, "modelxray.formats.json_doc", 250, extensions=(".json",),
                lead=_JSON_LEAD),
    ReaderEntry(_F.KERAS_METADATA_PB, _TF, 240, extensions=(".pb",), lead=b"\x0a"),
    ReaderEntry(_F.TF_SAVEDMODEL, _TF, 239, extensions=(".pb",), promises=(".pb",),
                lead=b"\x08\x12"),
    ReaderEntry(_F.TF_SAVEDMODEL_TEXT, _TF, 238, _saved_model_text, extensions=(".pbtxt",),
                promises=(".pbtxt",)),
    ReaderEntry(_F.TF_GRAPHDEF, _TF, 237, extensions=(".pb",), lead=b"\x0a\x12\x18\x22\x2a"),
    ReaderEntry(_F.TF_SAVEDMODEL_FINGERPRINT, _TF, 236, extensions=(".pb",),
                lead=b"\x08\x10\x18\x20\x28\x32\x3a"),
    ReaderEntry(_F.TF_VARIABLES_INDEX, _TF, 235, _table_footer, extensions=(".index",)),
    ReaderEntry(_F.TF_VARIABLES, _TF, 234, _data_shard_name),
    ReaderEntry(_F.TFLITE, "modelxray.formats.tflite", 230, lambda a, h: h[4:8] == b"TFL3",
                extensions=(".tflite", ".lite"), promises=(".tflite",)),
    ReaderEntry(_F.PYTHON, "modelxray.formats.python_source", 220, _python_source,
                extensions=(".py", ".pyw")),
    ReaderEntry(_F.FLAX_MSGPACK, "modelxray.formats.msgpack_flax", 210,
                lambda a, h: h[:1] in _MSGPACK_MAPS,
                extensions=(".msgpack", ".flax"), promises=(".msgpack",), lead=_MSGPACK_MAP_BYTES),
    ReaderEntry(_F.MLFLOW_MLMODEL, "modelxray.formats.mlflow", 200, lambda a, h: b"flavors:" in h,
                extensions=("",)),
    ReaderEntry(_F.XGBOOST, "modelxray.formats.xgboost", 190, _xgboost_model,
                extensions=(".ubj", ".bst", ".model", ".xgb", ".txt")),
    ReaderEntry(_F.TAR, "modelxray.containers.tar", 180, _tar_header, extensions=(".tar",)),
    ReaderEntry(_F.COMPRESSED, "modelxray.containers.compressed", 170,
                extensions=(".gz", ".tgz", ".bz2", ".xz", ".lzma", ".lz4", ".zst", ".zstd",
                            ".joblib"), lead=_COMPRESSED_LEAD),
    ReaderEntry(_F.SEVENZIP, "modelxray.containers.sevenzip", 160,
                lambda a, h: h[:6] == b"7z\xbc\xaf\x27\x1c", extensions=(".7z",), lead=b"7"),
    ReaderEntry(_F.SAFETENSORS, "modelxray.formats.safetensors", 150, _safetensors_header,
                extensions=(".safetensors",), promises=(".safetensors",)),
    ReaderEntry(_F.GGUF, "modelxray.formats.gguf", 140, lambda a, h: h[:4] == b"GGUF",
                extensions=(".gguf",), promises=(".gguf",), lead=b"G"),
    ReaderEntry(_F.ONNX, "modelxray.formats.onnx", 130, extensions=(".onnx",),
                promises=(".onnx",), lead=_ONNX_LEAD),
    ReaderEntry(_F.ONNX_TENSOR, "modelxray.formats.onnx", 129, extensions=(".pb", ".tensor"),
                lead=_ONNX_TENSOR_LEAD),
    ReaderEntry(_F.CONDA_ENV, "modelxray.formats.manifest", 125, _yaml_dependencies,
                extensions=(".yaml", ".yml")),
    ReaderEntry(_F.PYPROJECT, "modelxray.formats.manifest", 124, _toml_table,
                extensions=(".toml",)),
    ReaderEntry(_F.PIP_REQUIREMENTS, "modelxray.formats.manifest", 123, _requirements_text,
                extensions=(".txt", ".in")),
    ReaderEntry(_F.JINJA_TEMPLATE, "modelxray.formats.chat_template", 120, _template,
                extensions=(".jinja", ".jinja2", ".j2")),
    ReaderEntry(_F.YAML_CONFIG, "modelxray.formats.yaml_config", 122, _yaml_text,
                extensions=(".yaml", ".yml")),
    ReaderEntry(_F.PICKLE, "modelxray.formats.pickle", 110, extensions=_PICKLE_EXTENSIONS,
                promises=(".pkl", ".pickle", ".dill", ".joblib", ".pt", ".pth", ".bin", ".ckpt",
                          ".sav", ".model"), lead=_PICKLE_LEAD),
    ReaderEntry(_F.NUMPY, "modelxray.formats.numpy_npy", 100, lambda a, h: h[:6] == b"\x93NUMPY",
                extensions=(".npy",), promises=(".npy", ".npz"), lead=b"\x93"),
    ReaderEntry(_F.TORCHSCRIPT_CODE, "modelxray.formats.torch", 90, _in_torchscript),
    ReaderEntry(_F.PYTORCH_LEGACY_TAR_MEMBER, "modelxray.formats.torch", 89,
                _legacy_tar_member),
    ReaderEntry(_F.TORCH_PACKAGE_EXTERN, "modelxray.formats.torch", 88, _in_torch_package),
)
# fmt: on

# Modules that add analysers to the JSON reader (``register_json_analyser``; imported when the
# first JSON document is read, ``formats.json_doc.json_analysers``), in the order the
# analysers run (after the Keras, HF config and tokenizer-config walks that ``formats.json_doc``
# itself registers).
JSON_ANALYSERS: tuple[str, ...] = (
    "modelxray.formats.notebook",
    "modelxray.formats.skops",
    "modelxray.formats.xgboost",
    "modelxray.formats.torchserve",
    "modelxray.formats.yaml_config",
)

BY_NAME: dict[str, ReaderEntry] = {entry.name: entry for entry in READERS}

# Extensions whose name promises a model (of the formats above).
MODEL_EXTENSIONS: frozenset[str] = frozenset(ext for e in READERS for ext in e.promises)
