"""The format-reader interface and the registry that sniffs content to pick one."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modelxray.scanning import FormatReader

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.scanning import Sink

__all__ = ["FormatReader", "LazyReader", "identify", "readers", "register"]


class LazyReader(FormatReader):
    """Stands in for a reader whose module is imported only when a file may be its format.

    ``may_match`` is a cheap necessary condition for the real sniffer to score above 0 (a magic
    number, a container fact); only when it holds is ``module`` imported, and its ``register``
    call then puts the real reader in this stand-in's place in the registry.  ``extensions``
    (for ties) are the real reader's, taken when it loads, which is before any tie is needed.
    """

    def __init__(
        self, module: str, name: str, may_match: Callable[[Artifact, bytes], bool]
    ) -> None:
        self.module = module
        self.name = name
        self.extensions = ()
        self.may_match = may_match
        self._real: FormatReader | None = None

    def load(self) -> FormatReader:
        if self._real is None:
            import importlib

            importlib.import_module(self.module)
            real = next((r for r in _REGISTRY if r.name == self.name), None)
            if real is None or isinstance(real, LazyReader):
                raise RuntimeError(f"{self.module} registers no reader named {self.name!r}")
            self._real = real
            self.extensions = real.extensions
            self.transparent = real.transparent
        return self._real

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if not self.may_match(artifact, head):
            return 0
        return self.load().sniff(artifact, head)

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        self.load().scan(artifact, ctx)


_REGISTRY: list[FormatReader] = []


def register(reader: FormatReader) -> FormatReader:
    """Add a reader; a real reader takes the place of its :class:`LazyReader` stand-in."""
    if not isinstance(reader, LazyReader):
        for i, known in enumerate(_REGISTRY):
            if isinstance(known, LazyReader) and known.name == reader.name:
                _REGISTRY[i] = reader
                return reader
    _REGISTRY.append(reader)
    return reader


def readers() -> tuple[FormatReader, ...]:
    return tuple(_REGISTRY)


def identify(artifact: Artifact, exclude: tuple[str, ...] = ()) -> FormatReader | None:
    """The reader whose sniffer scores the content highest (extension breaks ties).

    ``exclude`` names readers to pass over: another view of the same bytes (e.g. what a loader
    that does not read archives sees from byte 0 of a zip with a prefix).
    """
    head = artifact.head()
    best: tuple[int, int, FormatReader] | None = None
    for reader in _REGISTRY:
        if reader.name in exclude:
            continue
        score = reader.sniff(artifact, head)
        if score <= 0:
            continue
        tie = 1 if artifact.extension in reader.extensions else 0
        if best is None or (score, tie) > best[:2]:
            best = (score, tie, reader)
    return best[2] if best else None
