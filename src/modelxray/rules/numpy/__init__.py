"""MX-NUMPY: NumPy ``.npy`` / ``.npz`` arrays whose loading unpickles."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "numpy"

OBJECT_ARRAY = Rule(
    "MX-NUMPY-001",
    "Object-dtype array is stored as a pickle",
    FAMILY,
    Severity.LOW,
    Confidence.HIGH,
    formats=("numpy",),
    cves=("CVE-2019-6446",),
    cwes=("CWE-502",),
    package=__name__,
)
MALFORMED_HEADER = Rule(
    "MX-NUMPY-002",
    "NumPy array header is malformed",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=("numpy",),
    cwes=("CWE-20",),
    package=__name__,
    incomplete=True,
)

SIDECAR = Rule(
    "MX-NUMPY-003",
    "Array data is read from another file (joblib < 0.10 layout)",
    FAMILY,
    Severity.LOW,
    Confidence.HIGH,
    formats=("numpy", "pickle"),
    cwes=("CWE-502", "CWE-73"),
    package=__name__,
)

RULES = (OBJECT_ARRAY, MALFORMED_HEADER, SIDECAR)
