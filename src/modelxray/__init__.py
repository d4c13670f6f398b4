"""modelxray: say whether loading a model file would run code, before anyone loads it.

>>> import modelxray
>>> report = modelxray.scan("model.h5")
>>> report.failed, [f.rule_id for f in report.findings]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from modelxray.model import (  # noqa: E402
    Confidence,
    FileResult,
    Finding,
    Location,
    Report,
    Severity,
)

if TYPE_CHECKING:
    from modelxray.engine import ScanOptions, scan


def __getattr__(name: str) -> Any:
    # The engine (and with it every format reader) loads on first use, so that importing the
    # package, or running ``modelxray --version``, stays cheap.
    if name in ("ScanOptions", "scan"):
        from modelxray import engine

        value = getattr(engine, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelxray' has no attribute {name!r}")


__all__ = [
    "Confidence",
    "FileResult",
    "Finding",
    "Location",
    "Report",
    "ScanOptions",
    "Severity",
    "__version__",
    "scan",
]
