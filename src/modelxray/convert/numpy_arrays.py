"""NumPy ``.npy`` and ``.npz`` (numeric arrays) → tensors.

The ``.npy`` header is a Python dict literal, read with :func:`ast.literal_eval`
(what NumPy itself uses); arrays whose dtype holds Python objects (stored as a
pickle) are never read, only listed as dropped.  ``.npz`` archives are walked
with modelxray's own zip reader, so the members converted are the ones the
scan saw.
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from modelxray.artifact import Artifact
from modelxray.budget import Limits

from .common import (
    CHUNK,
    ConvertError,
    Extraction,
    SourceBytes,
    SourceTensor,
    byteswapped,
    read_range,
)

MAGIC = b"\x93NUMPY"
MAX_NDIM = 64  # NumPy's NPY_MAXDIMS
# ``np.load``'s ``max_header_size`` default (``allow_pickle=False``): a longer header is
# refused by the real loader, so by convert too.
MAX_HEADER = 10_000

# NumPy dtype kind + itemsize → SafeTensors dtype.
NUMPY_DTYPES: dict[tuple[str, int], str] = {
    ("f", 8): "F64", ("f", 4): "F32", ("f", 2): "F16", ("i", 8): "I64", ("i", 4): "I32",
    ("i", 2): "I16", ("i", 1): "I8", ("u", 8): "U64", ("u", 4): "U32", ("u", 2): "U16",
    ("u", 1): "U8", ("b", 1): "BOOL", ("c", 8): "C64",
}  # fmt: skip


class NpyHeader:
    def __init__(self, dtype: Any, fortran: bool, shape: tuple[int, ...], data_offset: int):
        self.dtype = dtype
        self.fortran = fortran
        self.shape = shape
        self.data_offset = data_offset


def read_npy_header(f: IO[bytes]) -> NpyHeader:
    import numpy as np

    head = f.read(10)
    if head[:6] != MAGIC or len(head) < 10:
        raise ConvertError("not a .npy array (bad magic)")
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        rest = f.read(2)
        (hlen,) = struct.unpack("<I", head[8:10] + rest)
        start = 12
    else:
        raise ConvertError(f"unknown .npy version {major}")
    if hlen > MAX_HEADER:
        raise ConvertError(f".npy header of {hlen} bytes is too large (np.load rejects it)")
    raw = f.read(hlen)
    try:
        text = raw.decode("utf-8" if major == 3 else "latin1")
        d = ast.literal_eval(text)
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError) as e:
        raise ConvertError(f".npy header is not a literal: {e}") from None
    if not isinstance(d, dict) or set(d) != {"descr", "fortran_order", "shape"}:
        raise ConvertError(".npy header has unexpected keys")
    shape = d["shape"]
    if not isinstance(shape, tuple) or not all(type(x) is int and x >= 0 for x in shape):
        raise ConvertError(".npy shape is malformed")
    if len(shape) > MAX_NDIM:
        raise ConvertError(f".npy shape has {len(shape)} dimensions (np.load rejects over 64)")
    if type(d["fortran_order"]) is not bool:
        raise ConvertError(".npy fortran_order is not a bool (np.load rejects it)")
    try:  # NumPy's own descriptor reader (structured dtypes included: they are dropped)
        dtype = np.lib.format.descr_to_dtype(d["descr"])
    except (TypeError, ValueError, KeyError, RecursionError) as e:
        raise ConvertError(f".npy dtype {d['descr']!r}: {e}") from None
    return NpyHeader(dtype, d["fortran_order"], shape, start + hlen)


def _array_tensor(
    name: str, opener: Callable[[], IO[bytes]], size: int, ext: Extraction, member: str = ""
) -> SourceTensor | None:
    with opener() as f:
        h = read_npy_header(f)
    dt = h.dtype
    if dt.hasobject:
        ext.dropped.append((name, "array of Python objects (a pickle): never loaded"))
        return None
    st = NUMPY_DTYPES.get((dt.kind, dt.itemsize))
    if st is None:
        ext.dropped.append((name, f"dtype {dt.str} has no SafeTensors equivalent"))
        return None
    numel = 1
    for d in h.shape:
        numel *= d
    nbytes = numel * dt.itemsize
    if h.data_offset + nbytes > size:
        raise ConvertError(f"{name}: array data is truncated")
    big = dt.byteorder == ">"
    component = dt.itemsize // 2 if dt.kind == "c" else dt.itemsize

    def produce() -> Iterator[bytes]:
        import numpy as np

        chunks: Iterable[bytes]
        if h.fortran and len(h.shape) > 1:
            data = b"".join(read_range(opener, h.data_offset, nbytes))
            arr = np.frombuffer(data, dtype=dt).reshape(h.shape, order="F")
            out = np.ascontiguousarray(arr).tobytes()
            chunks = (out[i : i + CHUNK] for i in range(0, len(out), CHUNK))
        else:
            chunks = read_range(opener, h.data_offset, nbytes)
        if big and component > 1:
            chunks = byteswapped(chunks, component)
        yield from chunks

    ext.source_bytes += nbytes
    return SourceTensor(
        name,
        st,
        h.shape,
        produce,
        f"{name} @ byte {h.data_offset}",
        SourceBytes("npy", member=member, start=h.data_offset, nbytes=nbytes),
    )


def extract_npy(artifact: Artifact, name: str = "array") -> Extraction:
    ext = Extraction("numpy")
    t = _array_tensor(name, artifact.opener, artifact.size, ext)
    if t is not None:
        ext.add(t)
    return ext


def extract_npz(artifact: Artifact, limits: Limits) -> Extraction:
    from modelxray.containers.zip import member_data_offset, member_opener, read_central_directory

    ext = Extraction("numpy-npz")
    with artifact.open() as f:
        members = [m for m in read_central_directory(f, artifact.size, limits) if not m.is_dir]
        offsets = [member_data_offset(f, m)[0] for m in members]
    # ``np.load`` reads a member by name through ``zipfile`` (the last of two equal names)
    # and finds an array's name with ``.npy`` removed (the first of two that match): two
    # members that give one name are ambiguous.
    keys: dict[str, str] = {}
    for m in members:
        key = m.name.split("\0", 1)[0]  # zipfile cuts a name at its first NUL
        key = key[:-4] if key.endswith(".npy") else key
        if key in keys:
            raise ConvertError(
                f"duplicate archive members {keys[key]!r} and {m.name!r} (np.load reads one of "
                "them, not necessarily the one converted); not converted"
            )
        keys[key] = m.name
    for m, off in zip(members, offsets, strict=True):
        if "\0" in m.name or "\ufffd" in m.name:
            # zipfile cuts a name at NUL (and refuses a UTF-8 flagged name that does not
            # decode): np.load would give this array another name, or none
            raise ConvertError(
                f"archive member name {m.name!r} is not the name np.load reads; not converted"
            )
        name = m.name[:-4] if m.name.endswith(".npy") else m.name
        if not m.name.endswith(".npy"):
            ext.dropped.append((name, "archive member is not a .npy array"))
            continue
        opener = member_opener(artifact, m, off, limits)
        t = _array_tensor(name, opener, m.size, ext, m.name)
        if t is not None:
            ext.add(t)
    return ext
