"""MX-KERAS: Keras model configs (HDF5, .keras, SavedModel metadata, JSON).

1xx: code that runs while ``load_model`` rebuilds the model.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "keras"
_FORMATS = ("keras-h5", "keras-v3", "keras-json", "tf-savedmodel")

LAMBDA_MALICIOUS = Rule(
    "MX-KERAS-101",
    "Lambda code reaches process, file, network or import machinery",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2024-3660",),
    cwes=("CWE-502", "CWE-94"),
    package=__name__,
)
LAMBDA_UNKNOWN = Rule(
    "MX-KERAS-102",
    "Lambda code uses names outside tensor math",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2024-3660",),
    cwes=("CWE-502", "CWE-94"),
    package=__name__,
)
LAMBDA_UNREADABLE = Rule(
    "MX-KERAS-103",
    "Lambda code blob could not be decoded",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-502",),
    package=__name__,
)
LAMBDA_TENSOR_MATH = Rule(
    "MX-KERAS-104",
    "Lambda code runs on load (tensor math only)",
    FAMILY,
    Severity.LOW,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2024-3660",),
    cwes=("CWE-94",),
    package=__name__,
)
FUNCTION_REFERENCE = Rule(
    "MX-KERAS-105",
    "Lambda refers to a dangerous module function",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-470", "CWE-94"),
    package=__name__,
)
FUNCTION_REFERENCE_UNKNOWN = Rule(
    "MX-KERAS-106",
    "Lambda refers to a function outside the Keras family",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-470",),
    package=__name__,
)

RULES = (
    LAMBDA_MALICIOUS,
    LAMBDA_UNKNOWN,
    LAMBDA_UNREADABLE,
    LAMBDA_TENSOR_MATH,
    FUNCTION_REFERENCE,
    FUNCTION_REFERENCE_UNKNOWN,
)
