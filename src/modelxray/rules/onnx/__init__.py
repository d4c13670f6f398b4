"""MX-ONNX: ONNX models (external data references, custom operator domains, tensor integrity)."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("onnx",)

FAMILY = RuleFamily("onnx", package=__name__, formats=_FORMATS)
EXTERNAL_DATA_ESCAPE = FAMILY.rule(
    "MX-ONNX-001",
    "External data location leaves the model directory",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2022-25882", "CVE-2024-27318"),
    cwes=("CWE-22", "CWE-59"),
)
EXTERNAL_DATA_RANGE = FAMILY.rule(
    "MX-ONNX-002",
    "External data range does not fit its file",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-125",),
)
CUSTOM_DOMAIN = FAMILY.rule(
    "MX-ONNX-003",
    "Operator from a non-standard domain needs a custom operator library",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-829",),
)
TENSOR_DUAL_DATA = FAMILY.rule(
    "MX-ONNX-004",
    "Tensor stores its values in more than one place",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-436",),
)
EXTERNAL_DATA_KEY = FAMILY.rule(
    "MX-ONNX-005",
    "External data entry uses an unknown key",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-915",),
)
