"""The format-reader interface and the registry that sniffs content to pick one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from modelxray.formats.registry import BY_NAME, READERS, ReaderEntry
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
# Sniffing dispatch: for each first byte (and, last, for an empty file), the readers that can
# claim such a file -- those whose registry row's ``lead`` holds the byte and those without a
# lead.  Rebuilt after any ``register``.
_DISPATCH: list[tuple[FormatReader, ...]] | None = None
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


def _priority(reader: FormatReader) -> int:
    entry = BY_NAME.get(reader.name)
    return entry.priority if entry is not None else 0


def readers() -> tuple[FormatReader, ...]:
    return tuple(_REGISTRY)


def _dispatch() -> list[tuple[FormatReader, ...]]:
    global _DISPATCH, _DISPATCH_FOR
    if _DISPATCH is None or _DISPATCH_FOR != tuple(_REGISTRY):  # (tests swap the registry)
        _DISPATCH_FOR = tuple(_REGISTRY)
        slots: list[list[FormatReader]] = [[] for _ in range(_EMPTY + 1)]
        for reader in _REGISTRY:
            entry = BY_NAME.get(reader.name)
            lead = entry.lead if entry is not None else None
            for byte in range(_EMPTY + 1) if lead is None else lead:
                slots[byte].append(reader)
        _DISPATCH = [tuple(slot) for slot in slots]
    return _DISPATCH


def candidates(head: bytes) -> tuple[FormatReader, ...]:
    """The readers that can claim a file starting with ``head`` (by its first byte)."""
    return _dispatch()[head[0] if head else _EMPTY]


def identify(artifact: Artifact, exclude: tuple[str, ...] = ()) -> FormatReader | None:
    """The reader whose sniffer scores the content highest (a matching extension breaks ties,
    then the registry's explicit priority; never the order readers were registered in).

    Only the :func:`candidates` for the first byte are asked; the rest would score 0.
    ``exclude`` names readers to pass over: another view of the same bytes (e.g. what a loader
    that does not read archives sees from byte 0 of a zip with a prefix).
    """
    head = artifact.head()
    return best_reader(artifact, head, candidates(head), exclude)


def best_reader(
    artifact: Artifact, head: bytes, offered: Iterable[FormatReader], exclude: tuple[str, ...]
) -> FormatReader | None:
    """The best of ``offered`` by sniff score, extension, then registry priority."""
    best: tuple[int, int, int, FormatReader] | None = None
    for reader in offered:
        if reader.name in exclude:
            continue
        entry = BY_NAME.get(reader.name)
        if (
            entry is not None
            and entry.magic is not None
            and not isinstance(reader, LazyReader)  # (a stand-in checks it itself)
            and not entry.magic(artifact, head)
        ):
            continue  # the row's cheap necessary condition fails: the sniffer would say 0
        score = reader.sniff(artifact, head)
        if score <= 0:
            continue
        tie = 1 if artifact.extension in reader.extensions else 0
        key = (score, tie, _priority(reader))
        if best is None or key > best[:3]:
            best = (*key, reader)
    return best[3] if best else None
