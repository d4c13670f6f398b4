"""MX-SCAN: what happened to the scan itself (fail-closed findings)."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "scan"

UNPARSEABLE = Rule(
    "MX-SCAN-001",
    "File could not be parsed",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    package=__name__,
    incomplete=True,
)
INCOMPLETE = Rule(
    "MX-SCAN-002",
    "Scan stopped at a safety limit",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    package=__name__,
    incomplete=True,
)
UNRECOGNISED_MODEL = Rule(
    "MX-SCAN-003",
    "Model file extension but unrecognised content",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    package=__name__,
)
UNREADABLE = Rule(
    "MX-SCAN-004",
    "File could not be read",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    package=__name__,
    incomplete=True,
)

SYMLINK_ESCAPE = Rule(
    "MX-SCAN-005",
    "Symbolic link leaves the scanned folder",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-59",),
    package=__name__,
)

SUPPRESSION_EXPIRED = Rule(
    "MX-SCAN-006",
    "A policy suppression has expired",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    package=__name__,
)
FORMAT_NOT_APPROVED = Rule(
    "MX-SCAN-007",
    "Format not in the policy's approved formats",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    package=__name__,
)

ISOLATED_FAILURE = Rule(
    "MX-SCAN-008",
    "Parser crashed or exceeded limits in isolation",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-400",),
    package=__name__,
    incomplete=True,
)
MODEL_DATA = Rule(
    "MX-SCAN-011",
    "File is data read by a model in the same scan",
    FAMILY,
    Severity.INFO,
    Confidence.HIGH,
    package=__name__,
)

NOTHING_SCANNED = Rule(
    "MX-SCAN-009",
    "Nothing was scanned",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    package=__name__,
)

SPECIAL_FILE = Rule(
    "MX-SCAN-010",
    "Not a regular file (FIFO, socket or device)",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-67",),
    package=__name__,
)

RULES = (
    UNPARSEABLE,
    INCOMPLETE,
    UNRECOGNISED_MODEL,
    UNREADABLE,
    SYMLINK_ESCAPE,
    SUPPRESSION_EXPIRED,
    FORMAT_NOT_APPROVED,
    ISOLATED_FAILURE,
    NOTHING_SCANNED,
    SPECIAL_FILE,
    MODEL_DATA,
)
