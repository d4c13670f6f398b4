"""MX-SAFETENSORS: structural integrity of SafeTensors files.

SafeTensors cannot carry code; what these rules guard is the promise that makes it the
safe baseline: one unambiguous header, and tensor bytes that tile the data region exactly.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "safetensors"
_FORMATS = ("safetensors",)

HEADER_MALFORMED = Rule(
    "MX-SAFETENSORS-001",
    "SafeTensors header is malformed",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-20", "CWE-436"),
    package=__name__,
)
RANGES_INCONSISTENT = Rule(
    "MX-SAFETENSORS-002",
    "SafeTensors tensor byte ranges are inconsistent",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-125", "CWE-20"),
    package=__name__,
)
UNACCOUNTED_BYTES = Rule(
    "MX-SAFETENSORS-003",
    "SafeTensors file holds bytes no tensor accounts for",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-506",),
    package=__name__,
)
METADATA_NOT_STRINGS = Rule(
    "MX-SAFETENSORS-004",
    "SafeTensors metadata is not a map of strings",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-20",),
    package=__name__,
)

RULES = (HEADER_MALFORMED, RANGES_INCONSISTENT, UNACCOUNTED_BYTES, METADATA_NOT_STRINGS)
