"""MX-SAFETENSORS: structural integrity of SafeTensors files.

SafeTensors cannot carry code; what these rules guard is the promise that makes it the
safe baseline: one unambiguous header, and tensor bytes that tile the data region exactly.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("safetensors",)

FAMILY = RuleFamily("safetensors", package=__name__, formats=_FORMATS)
HEADER_MALFORMED = FAMILY.rule(
    "MX-SAFETENSORS-001",
    "SafeTensors header is malformed",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-20", "CWE-436"),
)
RANGES_INCONSISTENT = FAMILY.rule(
    "MX-SAFETENSORS-002",
    "SafeTensors tensor byte ranges are inconsistent",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-125", "CWE-20"),
)
UNACCOUNTED_BYTES = FAMILY.rule(
    "MX-SAFETENSORS-003",
    "SafeTensors file holds bytes no tensor accounts for",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-506",),
)
METADATA_NOT_STRINGS = FAMILY.rule(
    "MX-SAFETENSORS-004",
    "SafeTensors metadata is not a map of strings",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-20",),
)
