"""MX-SKOPS: skops ``.skops`` archives (``schema.json`` object trees).

1xx: types ``skops.io.load`` would import and construct.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "skops"
_FORMATS = ("skops",)

DANGEROUS_TYPE = Rule(
    "MX-SKOPS-101",
    "skops schema names a type that reaches process, file, network or import machinery",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-502", "CWE-470"),
    package=__name__,
)
UNTRUSTED_TYPE = Rule(
    "MX-SKOPS-102",
    "skops schema needs types outside skops' trusted defaults",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-502",),
    package=__name__,
)
INCONSISTENT_NODE = Rule(
    "MX-SKOPS-103",
    "skops schema node is inconsistent with its loader",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-54412", "CVE-2025-54413"),
    cwes=("CWE-502", "CWE-843"),
    package=__name__,
)

RULES = (DANGEROUS_TYPE, UNTRUSTED_TYPE, INCONSISTENT_NODE)
