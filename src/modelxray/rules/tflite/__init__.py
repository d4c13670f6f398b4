"""MX-TFLITE: TensorFlow Lite / LiteRT FlatBuffer models.

1xx: operators that need kernels outside the standard builtin set.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "tflite"
_FORMATS = ("tflite",)

CUSTOM_OP = Rule(
    "MX-TFLITE-101",
    "TFLite model needs a custom operator kernel",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-829",),
    package=__name__,
)
FLEX_OP = Rule(
    "MX-TFLITE-102",
    "TFLite model runs TensorFlow ops through the Flex delegate",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-73", "CWE-829"),
    package=__name__,
)

RULES = (CUSTOM_OP, FLEX_OP)
