"""Format sniffing and the readers registered for each format.

Importing this package registers every reader listed in :mod:`modelxray.formats.registry`.
Readers import heavy libraries (h5py, numpy) and their analysers only inside ``scan``, so
start-up stays cheap.  A reader whose row has a cheap ``magic`` check or a ``lead`` (the first
bytes it can claim) is registered as a :class:`LazyReader` stand-in: its module loads only when
a file passes that check.  Ties
between equal sniff scores are broken by the extension, then the row's explicit priority.
"""

from __future__ import annotations

import importlib

from modelxray.formats import registry
from modelxray.formats.base import FormatReader, LazyReader, identify, readers, register


def _register_all() -> None:
    for entry in registry.READERS:
        if entry.magic is None and entry.lead is None:
            importlib.import_module(entry.module)
        else:
            register(LazyReader(entry))


_register_all()

__all__ = ["FormatReader", "LazyReader", "identify", "readers", "register"]
