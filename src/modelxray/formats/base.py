"""The format-reader interface and the registry that sniffs content to pick one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.engine import ScanContext


class FormatReader(ABC):
    """Reads one format: finds what can carry a threat and hands it to analysers.

    ``sniff`` looks at content only (the first bytes, and where needed the end of
    the artifact) and returns a score: 0 means "not mine"; the highest score wins.
    The extension may only break ties, through ``extensions``.
    """

    name: str = ""
    extensions: tuple[str, ...] = ()

    @abstractmethod
    def sniff(self, artifact: Artifact, head: bytes) -> int: ...

    @abstractmethod
    def scan(self, artifact: Artifact, ctx: ScanContext) -> None: ...


_REGISTRY: list[FormatReader] = []


def register(reader: FormatReader) -> FormatReader:
    _REGISTRY.append(reader)
    return reader


def readers() -> tuple[FormatReader, ...]:
    return tuple(_REGISTRY)


def identify(artifact: Artifact) -> FormatReader | None:
    """The reader whose sniffer scores the content highest (extension breaks ties)."""
    head = artifact.head()
    best: tuple[int, int, FormatReader] | None = None
    for reader in _REGISTRY:
        score = reader.sniff(artifact, head)
        if score <= 0:
            continue
        tie = 1 if artifact.extension in reader.extensions else 0
        if best is None or (score, tie) > best[:2]:
            best = (score, tie, reader)
    return best[2] if best else None
