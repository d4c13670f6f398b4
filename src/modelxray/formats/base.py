"""The format-reader interface and the registry that sniffs content to pick one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from modelxray.formats.registry import BY_NAME, READERS, Magic, ReaderEntry
from modelxray.scanning import FormatReader, Reading

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.scanning import Sink

__all__ = [
    "FormatReader",
    "LazyReader",
    "best_reader",
    "candidates",
    "identify",
    "readers",
    "register",
]


# Each lead as the set of one-byte strings it holds (``head[:1]`` is b"" for an empty file).
_LEAD_BYTES: dict[bytes, frozenset[bytes]] = {
    e.lead: frozenset(bytes([b]) for b in e.lead) for e in READERS if e.lead is not None
}


class LazyReader(FormatReader):
    """Stands in for a reader whose module is imported only when a file may be its format.

    ``entry.magic`` and ``entry.lead`` are cheap necessary conditions for the real sniffer to
    score above 0 (a magic number, a container fact, the first byte); only when they hold is
    ``entry.module`` imported, and its
    ``register`` call then puts the real reader in this stand-in's place in the registry.
    """

    def __init__(self, entry: ReaderEntry) -> None:
        if entry.magic is None and entry.lead is None:
            raise ValueError(f"reader {entry.name!r} has no magic or lead to load it lazily")
        self.entry = entry
        self.module = entry.module
        self.name = entry.name
        self.extensions = entry.extensions
        self._real: FormatReader | None = None

    def may_match(self, artifact: Artifact, head: bytes) -> bool:
        """The row's cheap necessary conditions: its first byte (``lead``) and ``magic``."""
        lead, magic = self.entry.lead, self.entry.magic
        if lead is not None and head[:1] not in _LEAD_BYTES[lead]:
            return False
        return magic is None or magic(artifact, head)

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
# A candidate as the sniffing loop wants it: the reader, the row's cheap check to run first
# (None: none, or a stand-in that runs it itself) and the row's priority.
_Row = tuple[FormatReader, "Magic | None", int]
# Sniffing dispatch: for each first byte (and, last, for an empty file), the readers that can
# claim such a file -- those whose registry row's ``lead`` holds the byte and those without a
# lead -- as rows.  Rebuilt after any ``register``.
_DISPATCH: list[tuple[_Row, ...]] | None = None
_DISPATCH_FOR: tuple[FormatReader, ...] = ()  # the registry it was built from
_EMPTY = 256


def register(reader: FormatReader) -> FormatReader:
    """Add a reader; a real reader takes the place of its :class:`LazyReader` stand-in.

    A reader named in ``formats.registry`` takes its extensions from its row there.
    """
    global _DISPATCH
    _DISPATCH = None
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


def readers() -> tuple[FormatReader, ...]:
    return tuple(_REGISTRY)


def _row(reader: FormatReader) -> _Row:
    entry = BY_NAME.get(reader.name)
    if entry is None:
        return (reader, None, 0)
    return (reader, None if isinstance(reader, LazyReader) else entry.magic, entry.priority)


def _dispatch() -> list[tuple[_Row, ...]]:
    global _DISPATCH, _DISPATCH_FOR
    if _DISPATCH is None or _DISPATCH_FOR != tuple(_REGISTRY):  # (tests swap the registry)
        _DISPATCH_FOR = tuple(_REGISTRY)
        slots: list[list[_Row]] = [[] for _ in range(_EMPTY + 1)]
        for reader in _REGISTRY:
            row = _row(reader)
            entry = BY_NAME.get(reader.name)
            lead = entry.lead if entry is not None else None
            for byte in range(_EMPTY + 1) if lead is None else lead:
                slots[byte].append(row)
        _DISPATCH = [tuple(slot) for slot in slots]
    return _DISPATCH


def candidates(head: bytes) -> tuple[FormatReader, ...]:
    """The readers that can claim a file starting with ``head`` (by its first byte)."""
    return tuple(row[0] for row in _dispatch()[head[0] if head else _EMPTY])


def identify(artifact: Artifact, exclude: tuple[str, ...] = ()) -> FormatReader | None:
    """The reader whose sniffer scores the content highest (a matching extension breaks ties,
    then the registry's explicit priority; never the order readers were registered in).

    Only the :func:`candidates` for the first byte are asked; the rest would score 0.
    ``exclude`` names readers to pass over: another view of the same bytes (e.g. what a loader
    that does not read archives sees from byte 0 of a zip with a prefix).
    """
    head = artifact.head()
    return _best(artifact, head, _dispatch()[head[0] if head else _EMPTY], exclude)


def best_reader(
    artifact: Artifact, head: bytes, offered: Iterable[FormatReader], exclude: tuple[str, ...]
) -> FormatReader | None:
    """The best of ``offered`` by sniff score, extension, then registry priority."""
    return _best(artifact, head, [_row(reader) for reader in offered], exclude)


def _best(
    artifact: Artifact, head: bytes, rows: Iterable[_Row], exclude: tuple[str, ...]
) -> FormatReader | None:
    best: tuple[tuple[int, int, int], FormatReader] | None = None
    extension: str | None = None
    for reader, magic, priority in rows:
        if exclude and reader.name in exclude:
            continue
        if magic is not None and not magic(artifact, head):
            continue  # the row's cheap necessary condition fails: the sniffer would say 0
        score = reader.sniff(artifact, head)
        if score <= 0:
            continue
        if extension is None:
            extension = artifact.extension
        key = (score, 1 if extension in reader.extensions else 0, priority)
        if best is None or key > best[0]:
            best = (key, reader)
    return best[1] if best else None
