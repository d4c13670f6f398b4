"""modelxray: say whether loading a model file would run code, before anyone loads it.

>>> import modelxray
>>> report = modelxray.scan("model.h5")
>>> report.failed, [f.rule_id for f in report.findings]
"""

from __future__ import annotations

__version__ = "0.1.0"

from modelxray.engine import ScanOptions, scan  # noqa: E402
from modelxray.model import (  # noqa: E402
    Confidence,
    FileResult,
    Finding,
    Location,
    Report,
    Severity,
)

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
