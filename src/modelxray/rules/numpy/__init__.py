"""MX-NUMPY: NumPy ``.npy`` / ``.npz`` arrays whose loading unpickles."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

FAMILY = RuleFamily("numpy", package=__name__)
OBJECT_ARRAY = FAMILY.rule(
    "MX-NUMPY-001",
    "Object-dtype array is stored as a pickle",
    Severity.LOW,
    Confidence.HIGH,
    formats=("numpy",),
    cves=("CVE-2019-6446",),
    cwes=("CWE-502",),
)
MALFORMED_HEADER = FAMILY.rule(
    "MX-NUMPY-002",
    "NumPy array header is malformed",
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=("numpy",),
    cwes=("CWE-20",),
    incomplete=True,
)

SIDECAR = FAMILY.rule(
    "MX-NUMPY-003",
    "Array data is read from another file (joblib < 0.10 layout)",
    Severity.LOW,
    Confidence.HIGH,
    formats=("numpy", "pickle"),
    cwes=("CWE-502", "CWE-73"),
)
