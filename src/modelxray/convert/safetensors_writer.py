"""Write and read SafeTensors files without the ``safetensors`` package.

The format: an 8-byte little-endian header length N, N bytes of JSON (UTF-8, padded
with spaces to a multiple of 8 so the data region is aligned), then the raw
little-endian tensor bytes.  Each header entry is ``{"dtype", "shape",
"data_offsets": [begin, end]}`` relative to the data region; ``__metadata__`` is a
string-to-string map.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .common import DTYPE_SIZES, RESERVED_NAMES, ConvertError, nbytes

CHUNK = 1 << 20
MAX_HEADER_BYTES = 100 * 1000 * 1000


class SafetensorsError(ValueError):
    """The SafeTensors file is malformed (our reader is strict)."""


@dataclass
class TensorData:
    """One tensor to write: its name, dtype, shape, and a producer of its bytes (C order)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    chunks: Callable[[], Iterable[bytes]]

    @property
    def nbytes(self) -> int:
        return nbytes(self.dtype, self.shape)


@dataclass
class HeaderEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass
class SafetensorsHeader:
    tensors: dict[str, HeaderEntry]
    metadata: dict[str, str]
    data_start: int
    file_size: int = 0
    raw: dict[str, Any] = field(default_factory=dict)


def write_safetensors(
    out: IO[bytes], tensors: list[TensorData], metadata: dict[str, str] | None = None
) -> dict[str, str]:
    """Write ``tensors`` to the open file ``out``; returns each tensor's SHA-256 of its bytes."""
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for t in tensors:
        if t.dtype not in DTYPE_SIZES:
            raise ConvertError(f"{t.name}: dtype {t.dtype} has no SafeTensors equivalent")
        if t.name in RESERVED_NAMES:
            raise ConvertError(f"a tensor is named {t.name!r}, a name SafeTensors reserves")
        if t.name in header:
            raise ConvertError(f"colliding names: two tensors named {t.name!r}")
        header[t.name] = {
            "dtype": t.dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    try:
        blob = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ConvertError("a tensor name or metadata value is not valid Unicode text") from None
    blob += b" " * (-len(blob) % 8)
    digests: dict[str, str] = {}
    out.write(struct.pack("<Q", len(blob)))
    out.write(blob)
    for t in tensors:
        h = hashlib.sha256()
        written = 0
        for chunk in t.chunks():
            out.write(chunk)
            h.update(chunk)
            written += len(chunk)
        if written != t.nbytes:
            raise ConvertError(f"{t.name}: produced {written} bytes, expected {t.nbytes}")
        digests[t.name] = h.hexdigest()
    out.flush()
    return digests


def read_header(f: IO[bytes], size: int) -> SafetensorsHeader:
    """Parse and validate a SafeTensors header (strict: duplicate keys, gaps, overlaps)."""
    raw_len = f.read(8)
    if len(raw_len) < 8:
        raise SafetensorsError("shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw_len)
    if n > MAX_HEADER_BYTES or n > size - 8:
        raise SafetensorsError(f"header length {n} is out of bounds")
    text = f.read(n)

    def no_dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise SafetensorsError(f"duplicate key {k!r} in header")
            out[k] = v
        return out

    try:
        doc = json.loads(text.decode("utf-8"), object_pairs_hook=no_dupes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsError(f"header is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise SafetensorsError("header is not a JSON object")
    meta = doc.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise SafetensorsError("__metadata__ is not a string map")
    data_start = 8 + n
    entries: dict[str, HeaderEntry] = {}
    for name, e in doc.items():
        if name == "__metadata__":
            continue
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{name}: malformed entry")
        dtype, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise SafetensorsError(f"{name}: unknown dtype {dtype!r}")
        ok_shape = isinstance(shape, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        )
        ok_offs = (
            isinstance(offs, list)
            and len(offs) == 2
            and all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
        )
        if not ok_shape or not ok_offs:
            raise SafetensorsError(f"{name}: malformed shape or data_offsets")
        begin, end = offs
        want = DTYPE_SIZES[dtype]
        for d in shape:
            want *= d
        if not 0 <= begin <= end or end - begin != want:
            raise SafetensorsError(f"{name}: data_offsets do not match dtype x shape")
        if data_start + end > size:
            raise SafetensorsError(f"{name}: data lies past the end of the file")
        entries[name] = HeaderEntry(name, dtype, tuple(shape), begin, end)
    spans = sorted((e.begin, e.end) for e in entries.values())
    pos = 0
    for b, e_ in spans:
        if b != pos:
            raise SafetensorsError("tensor data has gaps or overlaps")
        pos = e_
    if data_start + pos != size:
        raise SafetensorsError("bytes after the last tensor")
    return SafetensorsHeader(entries, dict(meta), data_start, size, doc)


def read_file_header(path: str) -> SafetensorsHeader:
    with open(path, "rb") as f:
        return read_header(f, os.path.getsize(path))


def iter_tensor_bytes(f: IO[bytes], header: SafetensorsHeader, name: str) -> Iterator[bytes]:
    e = header.tensors[name]
    f.seek(header.data_start + e.begin)
    left = e.end - e.begin
    while left > 0:
        chunk = f.read(min(CHUNK, left))
        if not chunk:
            raise SafetensorsError(f"{name}: truncated data")
        left -= len(chunk)
        yield chunk
