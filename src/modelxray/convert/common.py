"""What every converter hands back: tensors to write, metadata, and what was left out."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

CHUNK = 1 << 20


class ConvertError(Exception):
    """The source cannot be converted (malformed, unsupported, or refused)."""


@dataclass
class SourceTensor:
    """A tensor found in the source, with a producer of its bytes (C order, little-endian)."""

    name: str
    dtype: str  # SafeTensors dtype name
    shape: tuple[int, ...]
    chunks: Callable[[], Iterable[bytes]]
    origin: str = ""  # where the bytes come from inside the source (for messages)


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

    def add(self, tensor: SourceTensor) -> None:
        if any(t.name == tensor.name for t in self.tensors) or tensor.name in self.metadata:
            self.dropped.append((tensor.name, "duplicate name"))
            return
        self.tensors.append(tensor)


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
