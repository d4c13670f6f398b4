"""An Artifact is some bytes and where they came from.

Readers never care whether the bytes live in a file on disk, a zip member or a
decompressed stream: they call :meth:`Artifact.open` for a seekable binary
stream, :meth:`Artifact.head` for the first bytes, or :meth:`Artifact.read` for
the whole content under an explicit size bound.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from modelxray.budget import BudgetExceeded
from modelxray.model import Location
from modelxray.sources.local import open_regular

BinaryStream = IO[bytes]

HEAD_BYTES = 4096
# The end of a file is read once, at least this many bytes, for every sniffer that looks there
# (a zip's end record, a TensorFlow table footer).
TAIL_BYTES = 64


@dataclass
class Artifact:
    """Bytes to scan: a file, an archive member or a payload, opened on demand."""

    location: Location
    size: int
    opener: Callable[[], BinaryStream]
    name: str
    depth: int = 0
    # Facts a container learned that its members' readers may use
    # (e.g. the keras_version from a .keras archive's metadata.json).
    facts: dict[str, Any] = field(default_factory=dict)
    # Set for artifacts that are plain files on disk (readers that need a real path, e.g. HDF5).
    fs_path: str | None = None
    _head: bytes | None = field(default=None, repr=False)
    _tail: bytes | None = field(default=None, repr=False)  # the last TAIL_BYTES (or more)

    def open(self) -> BinaryStream:
        return self.opener()

    def head(self, n: int = HEAD_BYTES) -> bytes:
        if self._head is None or (len(self._head) < n and len(self._head) < self.size):
            with self.open() as f:
                self._head = f.read(max(n, HEAD_BYTES))
        return self._head[:n]

    def tail(self, n: int) -> bytes:
        # Served from the cached head when it holds those bytes (or the whole content): a
        # small file is then opened once however many sniffers look at its end.  A larger
        # one's end is read once (at least TAIL_BYTES) and kept for the next sniffer.
        head, start = self._head, max(0, self.size - n)
        if head is not None and (start + n <= len(head) or len(head) < HEAD_BYTES):
            return head[start : start + n]
        kept = self._tail
        if kept is None or (len(kept) < n and len(kept) < self.size):
            want = max(n, TAIL_BYTES)
            with self.open() as f:
                f.seek(max(0, self.size - want))
                data = f.read(want)
            if len(data) != min(want, self.size):  # the declared size lies: read as asked
                return data[start - max(0, self.size - want) :][:n]
            kept = self._tail = data
        # ``kept`` is the content's last len(kept) bytes.
        return kept[len(kept) - min(n, self.size, len(kept)) :] if n > 0 else b""

    def read(self, limit: int, what: str = "content") -> bytes:
        """Read the whole artifact, refusing (BudgetExceeded) if it is larger than ``limit``."""
        if self.size > limit:
            raise BudgetExceeded("size", f"{what} is {self.size} bytes; the limit is {limit}")
        head = self._head
        if head is not None and len(head) < HEAD_BYTES:  # the head read reached the end
            if len(head) > limit:
                raise BudgetExceeded("size", f"{what} exceeds {limit} bytes")
            return head
        with self.open() as f:
            # Ask for what the artifact says it holds: read(n) allocates n bytes up front, so
            # never ask for the limit itself.  A declared size can lie (a zip directory entry),
            # so keep reading in chunks until the real end or the limit.
            parts = [f.read(self.size)]
            total = len(parts[0])
            while total <= limit:
                chunk = f.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
            data = b"".join(parts) if len(parts) > 1 else parts[0]
        if len(data) > limit:
            raise BudgetExceeded("size", f"{what} exceeds {limit} bytes")
        return data

    @property
    def extension(self) -> str:
        base = self.name.lower()
        return os.path.splitext(base)[1]

    @classmethod
    def from_file(cls, path: str, display: str | None = None) -> Artifact:
        size = os.path.getsize(path)
        return cls(
            location=Location(display or path),
            size=size,
            opener=lambda: open_regular(path),  # never blocks on, never reads, a FIFO
            # The name a loader opens: a link's own name (a Hugging Face snapshot's
            # config.json), not its target's (a blob named by its hash).
            name=os.path.basename(display or path),
            fs_path=path,
        )

    @classmethod
    def from_bytes(cls, data: bytes, location: Location, name: str, depth: int = 0) -> Artifact:
        return cls(
            location=location,
            size=len(data),
            opener=lambda: io.BytesIO(data),
            name=name,
            depth=depth,
        )


# The sibling files readers looked up beside the file being judged (``Folder.file``), per
# judgement (set by ``cache``): a verdict that looked beside its file is not a verdict on
# that file's bytes alone.
siblings_looked_up: ContextVar[list[str] | None] = ContextVar("siblings_looked_up", default=None)


def note_sibling(name: str) -> None:
    """Record that the judgement in progress looked up ``name`` beside its file."""
    seen = siblings_looked_up.get()
    if seen is not None:
        seen.append(name)


class Folder(Protocol):
    """The folder a loader opens a file from, for the sibling files it reads by name
    (joblib sidecars, a SavedModel's variables index): on disk or in a remote store."""

    def file(self, name: str) -> Artifact | None:
        """The regular file ``name`` in this folder, or None when there is none."""
        ...

    def reference(self, name: str) -> str:
        """How the scan names that file (``Sink.add_reference``)."""
        ...


@dataclass(frozen=True)
class LocalFolder:
    path: str

    def file(self, name: str) -> Artifact | None:
        note_sibling(name)
        path = os.path.join(self.path, name)
        return Artifact.from_file(path) if os.path.isfile(path) else None

    def reference(self, name: str) -> str:
        return os.path.join(self.path, name)


def loader_folder(artifact: Artifact, through_wrapper: bool = True) -> Folder | None:
    """The folder of the file a loader opens for this artifact: the file itself or (with
    ``through_wrapper``) the compression wrapper around it, on disk (``fs_path``) or in a
    remote store (the ``loader_folder`` fact the engine sets on a remote file, which a
    compression wrapper passes on with its other facts).  None inside an archive."""
    path = artifact.fs_path or (artifact.facts.get("wrapper_fs_path") if through_wrapper else None)
    if isinstance(path, str):
        return LocalFolder(os.path.dirname(path))
    folder = artifact.facts.get("loader_folder")
    if folder is None or (not through_wrapper and artifact.depth > 0):
        return None
    return folder  # type: ignore[no-any-return]


class PositionalReader(io.RawIOBase):
    """A read-only, seekable raw stream over ``size`` bytes that a subclass reads by position
    (:meth:`read_at`): a slice of an open file (:class:`Window`), a remote object read by range
    requests (``sources.remote``).  Meant to be buffered by ``io.BufferedReader``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._pos = 0

    def read_at(self, pos: int, n: int) -> bytes:
        """Up to ``n`` bytes at ``pos`` (``0 < n <= size - pos``)."""
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            new = pos
        elif whence == 1:
            new = self._pos + pos
        else:
            new = self._size + pos
        self._pos = max(0, new)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        data = self.read_at(self._pos, n)
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)


class Window(PositionalReader):
    """A read-only, seekable view of ``length`` bytes at ``offset`` in an open file."""

    def __init__(self, opener: Callable[[], BinaryStream], offset: int, length: int) -> None:
        super().__init__(length)
        self._f = opener()
        self._offset = offset

    def read_at(self, pos: int, n: int) -> bytes:
        self._f.seek(self._offset + pos)
        return self._f.read(n)

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


def window_opener(
    opener: Callable[[], BinaryStream], offset: int, length: int
) -> Callable[[], BinaryStream]:
    """An opener for a buffered, seekable slice of another artifact's bytes."""

    def _open() -> BinaryStream:
        return io.BufferedReader(Window(opener, offset, length), buffer_size=64 * 1024)

    return _open
