"""MX-ONNX: ONNX models (external data references, custom operator domains, tensor integrity)."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "onnx"
_FORMATS = ("onnx",)

EXTERNAL_DATA_ESCAPE = Rule(
    "MX-ONNX-001",
    "External data location leaves the model directory",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2022-25882", "CVE-2024-27318"),
    cwes=("CWE-22", "CWE-59"),
    package=__name__,
)
EXTERNAL_DATA_RANGE = Rule(
    "MX-ONNX-002",
    "External data range does not fit its file",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-125",),
    package=__name__,
)
CUSTOM_DOMAIN = Rule(
    "MX-ONNX-003",
    "Operator from a non-standard domain needs a custom operator library",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-829",),
    package=__name__,
)
TENSOR_DUAL_DATA = Rule(
    "MX-ONNX-004",
    "Tensor stores its values in more than one place",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-436",),
    package=__name__,
)
EXTERNAL_DATA_KEY = Rule(
    "MX-ONNX-005",
    "External data entry uses an unknown key",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-915",),
    package=__name__,
)

RULES = (
    EXTERNAL_DATA_ESCAPE,
    EXTERNAL_DATA_RANGE,
    CUSTOM_DOMAIN,
    TENSOR_DUAL_DATA,
    EXTERNAL_DATA_KEY,
)
