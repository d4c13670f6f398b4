"""The format-reader interface and the registry that sniffs content to pick one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelxray.formats.registry import BY_NAME, ReaderEntry
from modelxray.scanning import FormatReader, Reading

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.scanning import Sink

__all__ = ["FormatReader", "LazyReader", "identify", "readers", "register"]


class LazyReader(FormatReader):
    """Stands in for a reader whose module is imported only when a file may be its format.

    ``entry.magic`` is a cheap necessary condition for the real sniffer to score above 0 (a
    magic number, a container fact); only when it holds is ``entry.module`` imported, and its
    ``register`` call then puts the real reader in this stand-in's place in the registry.
    """

    def __init__(self, entry: ReaderEntry) -> None:
        if entry.magic is None:
            raise ValueError(f"reader {entry.name!r} has no magic to load it lazily")
        self.entry = entry
        self.module = entry.module
        self.name = entry.name
        self.extensions = entry.extensions
        self.may_match = entry.magic
        self._real: FormatReader | None = None

    def load(self) -> FormatReader:
        if self._real is None:
            import importlib

            importlib.import_module(self.module)
            real = next((r for r in _REGISTRY if r.name == self.name), None)
            if real is None or isinstance(real, LazyReader):
                raise RuntimeError(f"{self.module} registers no reader named {self.name!r}")
            self._real = real
            self.transparent = real.transparent
        return self._real

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if not self.may_match(artifact, head):
            return 0
        return self.load().sniff(artifact, head)

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading | None:
        return self.load().scan(artifact, ctx)


_REGISTRY: list[FormatReader] = []


def register(reader: FormatReader) -> FormatReader:
    """Add a reader; a real reader takes the place of its :class:`LazyReader` stand-in.

    A reader named in ``formats.registry`` takes its extensions from its row there.
    """
    entry = BY_NAME.get(reader.name)
    if entry is not None and not isinstance(reader, LazyReader):
        reader.extensions = entry.extensions
    if isinstance(reader, LazyReader):
        if any(known.name == reader.name for known in _REGISTRY):
            return reader  # its module was imported already (by another module)
    else:
        for i, known in enumerate(_REGISTRY):
            if isinstance(known, LazyReader) and known.name == reader.name:
                _REGISTRY[i] = reader
                return reader
    _REGISTRY.append(reader)
    return reader


def _priority(reader: FormatReader) -> int:
    entry = BY_NAME.get(reader.name)
    return entry.priority if entry is not None else 0


def readers() -> tuple[FormatReader, ...]:
    return tuple(_REGISTRY)


def identify(artifact: Artifact, exclude: tuple[str, ...] = ()) -> FormatReader | None:
    """The reader whose sniffer scores the content highest (a matching extension breaks ties,
    then the registry's explicit priority; never the order readers were registered in).

    ``exclude`` names readers to pass over: another view of the same bytes (e.g. what a loader
    that does not read archives sees from byte 0 of a zip with a prefix).
    """
    head = artifact.head()
    best: tuple[int, int, int, FormatReader] | None = None
    for reader in _REGISTRY:
        if reader.name in exclude:
            continue
        score = reader.sniff(artifact, head)
        if score <= 0:
            continue
        tie = 1 if artifact.extension in reader.extensions else 0
        key = (score, tie, _priority(reader))
        if best is None or key > best[:3]:
            best = (*key, reader)
    return best[3] if best else None
