"""HDF5 files: Keras 2 / tf.keras / Keras 3 legacy ``.h5`` models and weights files.

Only the structure is read: root attributes (``model_config``,
``training_config``, ``keras_version``, ``backend``) whose size is checked
before reading.  Dataset contents are never read.  h5py is imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelxray.analysis.keras_config import KerasDoc, analyse_config
from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import parse_json_text

if TYPE_CHECKING:
    from modelxray.engine import ScanContext

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
# A user block shifts the superblock to 512, 1024, 2048, … bytes.
_MAX_USERBLOCK_PROBE = 1 << 20

CONFIG_ATTRS = ("model_config", "training_config")


def find_superblock(artifact: Artifact, head: bytes) -> int | None:
    if head[:8] == HDF5_MAGIC:
        return 0
    offset = 512
    while offset < min(artifact.size, _MAX_USERBLOCK_PROBE):
        if offset + 8 <= len(head):
            probe = head[offset : offset + 8]
        else:
            with artifact.open() as f:
                f.seek(offset)
                probe = f.read(8)
        if probe == HDF5_MAGIC:
            return offset
        offset *= 2
    return None


def attr_text(value: Any) -> str | None:
    """h5py returns str, bytes, numpy.bytes_ or small arrays of those."""
    if not isinstance(value, (bytes, str)) and getattr(value, "shape", None) in ((), (1,)):
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return None


class Hdf5Reader(FormatReader):
    name = "hdf5"
    extensions = (".h5", ".hdf5", ".keras")

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 60 if find_superblock(artifact, head) is not None else 0

    def scan(self, artifact: Artifact, ctx: ScanContext) -> None:
        import h5py

        stream = None if artifact.fs_path else artifact.open()
        source: Any = artifact.fs_path or stream
        try:
            texts = self._root_texts(h5py.File(source, "r"), ctx)
        finally:
            if stream is not None:
                stream.close()
        version = texts.get("keras_version") or artifact.facts.get("keras_version")
        configs = [k for k in texts if k in CONFIG_ATTRS or texts[k].lstrip().startswith("{")]
        if artifact.depth == 0 and any(k in CONFIG_ATTRS for k in configs):
            ctx.add_format("keras-h5")
        for key in configs:
            try:
                doc = parse_json_text(texts[key], f"attribute {key}")
            except ValueError:
                if key in CONFIG_ATTRS:
                    raise
                continue  # some other attribute that merely starts with a brace
            loc = artifact.location.child(f"attr:{key}")
            analyse_config(KerasDoc(loc, doc, keras_version=version), ctx)

    @staticmethod
    def _root_texts(f: Any, ctx: ScanContext) -> dict[str, str]:
        with f:
            attrs = f.attrs
            texts: dict[str, str] = {}
            for key in list(attrs.keys())[:1000]:
                size = attrs.get_id(key).get_storage_size()
                if size > ctx.limits.max_attribute_bytes:
                    raise BudgetExceeded(
                        "max_attribute_bytes", f"root attribute {key!r} holds {size} bytes"
                    )
                text = attr_text(attrs[key])
                if text is not None:
                    texts[key] = text
        return texts


register(Hdf5Reader())
