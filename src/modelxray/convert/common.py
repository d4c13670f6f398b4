"""What every converter hands back: tensors to write, metadata, and what was left out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

# Bytes per element of every dtype the converters emit (a subset of the spec's list).
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E5M2FNUZ": 1,
    "F8_E4M3FNUZ": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4,
    "C64": 8, "F64": 8, "I64": 8, "U64": 8,
}  # fmt: skip


def nbytes(dtype: str, shape: tuple[int, ...]) -> int:
    """Bytes a tensor of this SafeTensors dtype and shape holds."""
    n = DTYPE_SIZES[dtype]
    for d in shape:
        n *= d
    return n


CHUNK = 1 << 20

# Output bounds.  A view can show its storage's bytes many times (stride 0, ``expand``,
# several tensors over one storage), and SafeTensors holds each tensor as its own
# contiguous copy: the bytes written may exceed the bytes the source really holds at most
# ``MAX_AMPLIFICATION`` times, plus ``AMPLIFICATION_ALLOWANCE`` (small expanded buffers).
MAX_AMPLIFICATION = 4.0
AMPLIFICATION_ALLOWANCE = 16 << 20

# Names SafeTensors gives a meaning of its own: a tensor may not take them.
RESERVED_NAMES = frozenset({"__metadata__"})


class ConvertError(Exception):
    """The source cannot be converted (malformed, unsupported, or refused)."""


@dataclass(frozen=True)
class SourceBytes:
    """Where a tensor's bytes are in the source, as the real loader reads them.

    ``--verify`` recomputes the tensor from these with its own readers (Python's
    :mod:`zipfile`, NumPy's ``.npy`` reader, h5py) instead of the extraction's code.

    ``kind``: ``"zip-storage"`` (``member`` of a zip archive holds the storage),
    ``"file-storage"`` (the storage is ``nbytes`` at byte ``start`` of the file, after its
    8-byte element count), ``"npy"`` (a ``.npy`` file, or ``member`` of an ``.npz``),
    ``"hdf5"`` (dataset ``member`` of an HDF5 file, or of ``container`` inside a zip).
    For storages: ``itemsize``/``offset``/``stride`` in elements of the tensor's dtype,
    ``swap`` the byte-swap word size (1: none).
    """

    kind: str
    member: str = ""
    container: str = ""
    start: int = 0
    nbytes: int = 0
    storage_itemsize: int = 1
    itemsize: int = 1
    offset: int = 0
    stride: tuple[int, ...] = ()
    swap: int = 1
    view_offset: int = 0  # bytes into the storage where a legacy storage view starts
    view_nbytes: int | None = None  # the view's length (None: the whole storage)


@dataclass
class SourceTensor:
    """A tensor found in the source, with a producer of its bytes (C order, little-endian)."""

    name: str
    dtype: str  # SafeTensors dtype name
    shape: tuple[int, ...]
    chunks: Callable[[], Iterable[bytes]]
    origin: str = ""  # where the bytes come from inside the source (for messages)
    source: SourceBytes | None = None

    @property
    def nbytes(self) -> int:
        return nbytes(self.dtype, self.shape)


@dataclass
class Extraction:
    format: str
    tensors: list[SourceTensor] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    # Problems the converter's own static checks saw (e.g. the pickle VM's critical items).
    findings: list[str] = field(default_factory=list)
    # Keras: the model config with Lambdas/unsafe references removed or flagged.
    sidecar: dict[str, Any] | None = None
    # Bytes the source really holds for the tensors (distinct storages, counted once).
    source_bytes: int = 0

    def _claim(self, name: str, what: str) -> None:
        if any(t.name == name for t in self.tensors) or name in self.metadata:
            raise ConvertError(
                f"colliding names: two values of the source would both be written as "
                f"{name!r} ({what}); not converted"
            )

    def add(self, tensor: SourceTensor) -> None:
        if tensor.name in RESERVED_NAMES:
            raise ConvertError(
                f"a tensor is named {tensor.name!r}, a name SafeTensors reserves; not converted"
            )
        self._claim(tensor.name, "a tensor")
        self.tensors.append(tensor)

    def set_metadata(self, name: str, value: str) -> None:
        self._claim(name, "a metadata value")
        self.metadata[name] = value


def check_output_size(ext: Extraction, max_amplification: float) -> None:
    """Refuse an output more than ``max_amplification`` times the source's real bytes."""
    total = sum(t.nbytes for t in ext.tensors)
    allowed = ext.source_bytes * max_amplification + AMPLIFICATION_ALLOWANCE
    if total > allowed:
        raise ConvertError(
            f"the tensors would take {total} bytes written out, from {ext.source_bytes} bytes "
            f"of storage in the source (views repeat their storage's bytes); more than "
            f"{max_amplification:g}x + {AMPLIFICATION_ALLOWANCE >> 20} MiB: not converted"
        )


def read_range(opener: Callable[[], IO[bytes]], start: int, length: int) -> Iterator[bytes]:
    """Yield ``length`` bytes at ``start`` of the stream ``opener`` gives, in chunks."""
    with opener() as f:
        try:
            f.seek(start)
        except (OSError, ValueError):
            skip = start
            while skip > 0:
                got = f.read(min(CHUNK, skip))
                if not got:
                    raise ConvertError("stream ended before the tensor data") from None
                skip -= len(got)
        left = length
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise ConvertError(f"truncated tensor data ({left} bytes missing)")
            left -= len(chunk)
            yield chunk


def byteswapped(chunks: Iterable[bytes], component: int) -> Iterator[bytes]:
    """Swap each ``component``-byte word (big-endian source → little-endian output)."""
    import numpy as np

    carry = b""
    for chunk in chunks:
        data = carry + chunk
        cut = len(data) - len(data) % component
        carry = data[cut:]
        if cut:
            yield (
                np.frombuffer(data[:cut], dtype=f">u{component}").astype(f"<u{component}").tobytes()
            )
    if carry:
        raise ConvertError("tensor data is not a whole number of elements")
