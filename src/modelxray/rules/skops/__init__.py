"""MX-SKOPS: skops ``.skops`` archives (``schema.json`` object trees).

1xx: types ``skops.io.load`` would import and construct.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("skops",)

FAMILY = RuleFamily("skops", package=__name__, formats=_FORMATS)
DANGEROUS_TYPE = FAMILY.rule(
    "MX-SKOPS-101",
    "skops schema names a type that reaches process, file, network or import machinery",
    Severity.CRITICAL,
    Confidence.HIGH,
    cwes=("CWE-502", "CWE-470"),
)
UNTRUSTED_TYPE = FAMILY.rule(
    "MX-SKOPS-102",
    "skops schema needs types outside skops' trusted defaults",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-502",),
)
INCONSISTENT_NODE = FAMILY.rule(
    "MX-SKOPS-103",
    "skops schema node is inconsistent with its loader",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2025-54412", "CVE-2025-54413"),
    cwes=("CWE-502", "CWE-843"),
)
