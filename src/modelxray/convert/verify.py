"""Check a written SafeTensors file against the source, without executing the source.

Two things are independent of the conversion it checks:

* the written file is parsed by a minimal SafeTensors reader of its own (not the
  writer's module): header length, JSON without duplicate keys, entries that tile the
  data region exactly;
* every tensor's expected bytes are recomputed from the *source structure* -- the storage
  member, byte range, dtype, shape and strides the source declares -- with other readers
  than the conversion used: Python's :mod:`zipfile` for archive members (refusing a name
  it finds twice), NumPy's own ``.npy`` reader (``allow_pickle=False``), h5py for HDF5,
  and a NumPy ``as_strided`` gather with its own bounds check instead of the converter's
  block gather.

Names, dtypes, shapes, metadata and the SHA-256 of every tensor's bytes must match.  The
pickle program itself is not read twice: what it declares (names, storage keys, offsets,
sizes, strides) is the structure the check holds the bytes to.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from .common import CHUNK, Extraction, SourceBytes, SourceTensor

# SafeTensors dtype → element size, as the format specification lists them.
_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E5M2FNUZ": 1,
    "F8_E4M3FNUZ": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "C64": 8, "F64": 8, "I64": 8, "U64": 8,
}  # fmt: skip
_MAX_HEADER = 100_000_000


class _Bad(Exception):
    pass


@dataclass
class Verification:
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Entry:
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int


def _parse(f: IO[bytes], size: int) -> tuple[dict[str, _Entry], dict[str, str], int]:
    f.seek(0)
    head = f.read(8)
    if len(head) != 8:
        raise _Bad("file shorter than its header length")
    n = int.from_bytes(head, "little")
    if n > _MAX_HEADER or 8 + n > size:
        raise _Bad(f"header length {n} out of bounds")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(items)
        if len(d) != len(items):
            raise _Bad("duplicate key in header")
        return d

    try:
        doc = json.loads(f.read(n).decode("utf-8"), object_pairs_hook=pairs)
    except (UnicodeDecodeError, ValueError) as exc:
        raise _Bad(f"header is not JSON: {exc}") from None
    if type(doc) is not dict:
        raise _Bad("header is not an object")
    meta = doc.pop("__metadata__", {})
    if type(meta) is not dict or any(type(v) is not str for v in meta.values()):
        raise _Bad("__metadata__ is not a map of strings")
    entries: dict[str, _Entry] = {}
    for name, e in doc.items():
        if type(e) is not dict or sorted(e) != ["data_offsets", "dtype", "shape"]:
            raise _Bad(f"{name}: malformed entry")
        dtype, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dtype not in _SIZES or type(shape) is not list or type(offs) is not list:
            raise _Bad(f"{name}: malformed entry")
        if any(type(d) is not int or d < 0 for d in shape) or len(offs) != 2:
            raise _Bad(f"{name}: malformed shape or offsets")
        if any(type(o) is not int for o in offs):
            raise _Bad(f"{name}: malformed offsets")
        want = _SIZES[dtype]
        for d in shape:
            want *= d
        if offs[1] - offs[0] != want:
            raise _Bad(f"{name}: offsets do not hold dtype x shape")
        entries[name] = _Entry(dtype, tuple(shape), offs[0], offs[1])
    pos = 0
    for e in sorted(entries.values(), key=lambda x: (x.begin, x.end)):
        if e.begin != pos:
            raise _Bad("tensor data overlaps or leaves gaps")
        pos = e.end
    if 8 + n + pos != size:
        raise _Bad("data region does not end at the end of the file")
    return entries, meta, 8 + n


def _out_bytes(f: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    f.seek(start)
    while length > 0:
        chunk = f.read(min(CHUNK, length))
        if not chunk:
            raise _Bad("output truncated")
        length -= len(chunk)
        yield chunk


class _Source:
    """The source file, read with readers other than the conversion's."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._names: list[str] = []

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def member(self, name: str) -> bytes:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
            self._names = self._zip.namelist()
        if self._names.count(name) != 1:
            raise _Bad(f"archive member {name!r} appears {self._names.count(name)} times")
        return self._zip.read(name)

    def file_range(self, start: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(start)
            data = f.read(length)
        if len(data) != length:
            raise _Bad("source truncated")
        return data


def _strided(data: bytes, sb: SourceBytes, shape: tuple[int, ...]) -> bytes:
    import numpy as np

    n = 1
    for d in shape:
        n *= d
    if n == 0:
        return b""
    first = sb.offset * sb.itemsize
    last = first + sum((d - 1) * s for d, s in zip(shape, sb.stride, strict=True)) * sb.itemsize
    if len(shape) != len(sb.stride) or first < 0 or last + sb.itemsize > len(data):
        raise _Bad("view reaches outside its storage")
    raw = np.frombuffer(data, dtype=np.uint8)
    view = np.lib.stride_tricks.as_strided(
        raw[first:],
        shape=(*shape, sb.itemsize),
        strides=(*(s * sb.itemsize for s in sb.stride), 1),
        writeable=False,
    )
    out = np.ascontiguousarray(view)
    if sb.swap > 1:
        out = out.reshape(-1, sb.swap)[:, ::-1]
    return bytes(np.ascontiguousarray(out).tobytes())


def _expected(src: _Source, t: SourceTensor) -> tuple[str, tuple[int, ...], bytes]:
    """(dtype, shape, bytes) of ``t`` as the source holds them."""
    import numpy as np

    sb = t.source
    if sb is None:
        raise _Bad("no source location recorded")
    if sb.kind == "zip-storage":
        data = src.member(sb.member)
        if len(data) != sb.nbytes:
            raise _Bad(f"storage {sb.member} holds {len(data)} bytes, declared {sb.nbytes}")
        return t.dtype, t.shape, _strided(data, sb, t.shape)
    if sb.kind == "file-storage":
        (numel,) = struct.unpack("<q", src.file_range(sb.start - 8, 8))
        if numel * sb.storage_itemsize != sb.nbytes:
            raise _Bad("storage size in the file differs from its record")
        data = src.file_range(sb.start, sb.nbytes)
        end = sb.view_offset + (sb.nbytes if sb.view_nbytes is None else sb.view_nbytes)
        return t.dtype, t.shape, _strided(data[sb.view_offset : end], sb, t.shape)
    if sb.kind == "npy":
        from .numpy_arrays import NUMPY_DTYPES

        fp: IO[bytes] = io.BytesIO(src.member(sb.member)) if sb.member else open(src.path, "rb")
        with fp:
            arr = np.lib.format.read_array(fp, allow_pickle=False)
        dt = arr.dtype
        name = NUMPY_DTYPES.get((dt.kind, dt.itemsize), "?")
        le = np.ascontiguousarray(arr).astype(dt.newbyteorder("<"), copy=False)
        return name, tuple(arr.shape), bytes(le.tobytes())
    if sb.kind == "hdf5":
        import h5py

        from .numpy_arrays import NUMPY_DTYPES

        target: Any = io.BytesIO(src.member(sb.container)) if sb.container else src.path
        with h5py.File(target, "r") as h:
            ds = h[sb.member]
            arr = np.asarray(ds[()])
        dt = arr.dtype
        name = NUMPY_DTYPES.get((dt.kind, dt.itemsize), "?")
        le = np.ascontiguousarray(arr).astype(dt.newbyteorder("<"), copy=False)
        return name, tuple(arr.shape), bytes(le.tobytes())
    raise _Bad(f"unknown source kind {sb.kind}")


def verify(
    expected: Extraction, metadata: dict[str, str], out: IO[bytes], size: int, source: str
) -> Verification:
    """Compare the written file ``out`` (``size`` bytes) with the source file ``source``."""
    result = Verification(ok=False)
    src = _Source(source)
    try:
        entries, meta, data_start = _parse(out, size)
        want = {t.name: t for t in expected.tensors}
        result.problems += [
            f"{n}: missing from the output" for n in sorted(set(want) - set(entries))
        ]
        result.problems += [
            f"{n}: in the output but not in the source" for n in sorted(set(entries) - set(want))
        ]
        if meta != metadata:
            result.problems.append("metadata differs from the source's plain values")
        for name, t in want.items():
            e = entries.get(name)
            if e is None:
                continue
            try:
                dtype, shape, data = _expected(src, t)
            except (_Bad, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                result.problems.append(f"{name}: source unreadable: {exc}")
                continue
            if (e.dtype, e.shape) != (dtype, shape):
                result.problems.append(
                    f"{name}: {e.dtype}{list(e.shape)} written, {dtype}{list(shape)} in the source"
                )
                continue
            h = hashlib.sha256()
            for chunk in _out_bytes(out, data_start + e.begin, e.end - e.begin):
                h.update(chunk)
            if h.digest() != hashlib.sha256(data).digest():
                result.problems.append(f"{name}: bytes differ from the source")
            result.checked += 1
    except (_Bad, OSError) as exc:
        result.problems.append(f"output unreadable: {exc}")
    finally:
        src.close()
    result.ok = not result.problems
    return result
