"""MX-PICKLE: what unpickling a stream would do (judged by the static pickle VM model).

Verdicts are allow-list first: a known-dangerous global is critical, any other callable
invoked is high, an unknown class only instantiated (or a global only referenced) is
medium.  A stream that cannot be interpreted to its end is itself a finding.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "pickle"
_FORMATS = ("pickle", "pytorch", "torchscript", "joblib", "numpy", "dill", "cloudpickle")
_DESER = ("CWE-502",)

DANGEROUS_CALLABLE = Rule(
    "MX-PICKLE-001",
    "Pickle calls or imports a dangerous callable",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=(*_DESER, "CWE-94"),
    package=__name__,
)
UNKNOWN_CALLABLE = Rule(
    "MX-PICKLE-002",
    "Pickle invokes a callable outside the allow-list",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=_DESER,
    package=__name__,
)
UNKNOWN_CLASS = Rule(
    "MX-PICKLE-003",
    "Pickle instantiates or references a class outside the allow-list",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=_DESER,
    package=__name__,
)
GLOBAL_STATE = Rule(
    "MX-PICKLE-004",
    "Pickle modifies a module-level object",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=(*_DESER, "CWE-915"),
    package=__name__,
)
MALFORMED = Rule(
    "MX-PICKLE-005",
    "Pickle stream is malformed or truncated",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=(*_DESER, "CWE-20"),
    package=__name__,
)
FRAME_DIVERGENCE = Rule(
    "MX-PICKLE-006",
    "Pickle framing is read differently by different Python versions",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=(*_DESER, "CWE-436"),
    package=__name__,
)
TRAILING = Rule(
    "MX-PICKLE-007",
    "Bytes after the last pickle stream",
    FAMILY,
    Severity.LOW,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-436",),
    package=__name__,
)
MARSHAL_CODE = Rule(
    "MX-PICKLE-008",
    "Pickle carries marshalled Python code",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=(*_DESER, "CWE-94"),
    package=__name__,
)
OPAQUE_PAYLOAD = Rule(
    "MX-PICKLE-009",
    "Nested payload could not be analysed",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=_DESER,
    package=__name__,
)
HUGE_ALLOCATION = Rule(
    "MX-PICKLE-011",
    "Pickle allocates a huge object on load",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-400", "CWE-789"),
    package=__name__,
)
PROGRAM = Rule(
    "MX-PICKLE-010",
    "Pickle program",
    FAMILY,
    Severity.INFO,
    Confidence.HIGH,
    formats=_FORMATS,
    package=__name__,
)

RULES = (
    DANGEROUS_CALLABLE,
    UNKNOWN_CALLABLE,
    UNKNOWN_CLASS,
    GLOBAL_STATE,
    MALFORMED,
    FRAME_DIVERGENCE,
    TRAILING,
    MARSHAL_CODE,
    OPAQUE_PAYLOAD,
    HUGE_ALLOCATION,
    PROGRAM,
)
