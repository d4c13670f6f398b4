"""MX-SCAN: what happened to the scan itself (fail-closed findings)."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

FAMILY = RuleFamily("scan", package=__name__)
UNPARSEABLE = FAMILY.rule(
    "MX-SCAN-001",
    "File could not be parsed",
    Severity.HIGH,
    Confidence.HIGH,
    incomplete=True,
)
INCOMPLETE = FAMILY.rule(
    "MX-SCAN-002",
    "Scan stopped at a safety limit",
    Severity.HIGH,
    Confidence.HIGH,
    incomplete=True,
)
UNRECOGNISED_MODEL = FAMILY.rule(
    "MX-SCAN-003",
    "Model file extension but unrecognised content",
    Severity.MEDIUM,
    Confidence.MEDIUM,
)
UNREADABLE = FAMILY.rule(
    "MX-SCAN-004",
    "File could not be read",
    Severity.HIGH,
    Confidence.HIGH,
    incomplete=True,
)

SYMLINK_ESCAPE = FAMILY.rule(
    "MX-SCAN-005",
    "Symbolic link leaves the scanned folder",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-59",),
)

SUPPRESSION_EXPIRED = FAMILY.rule(
    "MX-SCAN-006",
    "A policy suppression has expired",
    Severity.HIGH,
    Confidence.HIGH,
)
FORMAT_NOT_APPROVED = FAMILY.rule(
    "MX-SCAN-007",
    "Format not in the policy's approved formats",
    Severity.HIGH,
    Confidence.HIGH,
)

ISOLATED_FAILURE = FAMILY.rule(
    "MX-SCAN-008",
    "Parser crashed or exceeded limits in a child process",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-400",),
    incomplete=True,
)
MODEL_DATA = FAMILY.rule(
    "MX-SCAN-011",
    "File is data read by a model in the same scan",
    Severity.INFO,
    Confidence.HIGH,
)

NOTHING_SCANNED = FAMILY.rule(
    "MX-SCAN-009",
    "Nothing was scanned",
    Severity.HIGH,
    Confidence.HIGH,
)

SPECIAL_FILE = FAMILY.rule(
    "MX-SCAN-010",
    "Not a regular file (FIFO, socket or device)",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-67",),
)

REMOTE_READ_FAILED = FAMILY.rule(
    "MX-SCAN-012",
    "Remote source could not be read",
    Severity.HIGH,
    Confidence.HIGH,
    incomplete=True,
)
