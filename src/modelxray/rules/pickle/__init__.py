"""MX-PICKLE: what unpickling a stream would do (judged by the static pickle VM model).

Verdicts are allow-list first: a known-dangerous global is critical, any other callable
invoked is high, an unknown class only instantiated (or a global only referenced) is
medium.  A stream that cannot be interpreted to its end is itself a finding.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

# Every format whose loader unpickles (joblib, dill and cloudpickle files are read as "pickle").
_FORMATS = (
    "pickle",
    "pytorch-zip",
    "pytorch-legacy",
    "torchscript",
    "joblib-zf",
    "numpy",
    "numpy-npz",
)
_DESER = ("CWE-502",)

FAMILY = RuleFamily("pickle", package=__name__, formats=_FORMATS)
DANGEROUS_CALLABLE = FAMILY.rule(
    "MX-PICKLE-001",
    "Pickle calls or imports a dangerous callable",
    Severity.CRITICAL,
    Confidence.HIGH,
    cwes=(*_DESER, "CWE-94"),
)
UNKNOWN_CALLABLE = FAMILY.rule(
    "MX-PICKLE-002",
    "Pickle invokes a callable outside the allow-list",
    Severity.HIGH,
    Confidence.MEDIUM,
    cwes=_DESER,
)
UNKNOWN_CLASS = FAMILY.rule(
    "MX-PICKLE-003",
    "Pickle instantiates or references a class outside the allow-list",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=_DESER,
)
GLOBAL_STATE = FAMILY.rule(
    "MX-PICKLE-004",
    "Pickle modifies a module-level object",
    Severity.CRITICAL,
    Confidence.HIGH,
    cwes=(*_DESER, "CWE-915"),
)
MALFORMED = FAMILY.rule(
    "MX-PICKLE-005",
    "Pickle stream is malformed or truncated",
    Severity.HIGH,
    Confidence.MEDIUM,
    cwes=(*_DESER, "CWE-20"),
)
FRAME_DIVERGENCE = FAMILY.rule(
    "MX-PICKLE-006",
    "Pickle framing is read differently by different Python versions",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=(*_DESER, "CWE-436"),
)
TRAILING = FAMILY.rule(
    "MX-PICKLE-007",
    "Bytes after the last pickle stream",
    Severity.LOW,
    Confidence.MEDIUM,
    cwes=("CWE-436",),
)
MARSHAL_CODE = FAMILY.rule(
    "MX-PICKLE-008",
    "Pickle carries marshalled Python code",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=(*_DESER, "CWE-94"),
)
OPAQUE_PAYLOAD = FAMILY.rule(
    "MX-PICKLE-009",
    "Nested payload could not be analysed",
    Severity.HIGH,
    Confidence.MEDIUM,
    cwes=_DESER,
)
HUGE_ALLOCATION = FAMILY.rule(
    "MX-PICKLE-011",
    "Pickle allocates a huge object on load",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-400", "CWE-789"),
)
PROGRAM = FAMILY.rule(
    "MX-PICKLE-010",
    "Pickle program",
    Severity.INFO,
    Confidence.HIGH,
)
