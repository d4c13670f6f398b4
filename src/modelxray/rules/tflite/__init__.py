"""MX-TFLITE: TensorFlow Lite / LiteRT FlatBuffer models.

1xx: operators that need kernels outside the standard builtin set.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("tflite",)

FAMILY = RuleFamily("tflite", package=__name__, formats=_FORMATS)
CUSTOM_OP = FAMILY.rule(
    "MX-TFLITE-101",
    "TFLite model needs a custom operator kernel",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-829",),
)
FLEX_OP = FAMILY.rule(
    "MX-TFLITE-102",
    "TFLite model runs TensorFlow ops through the Flex delegate",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-73", "CWE-829"),
)
STOCK_FLEX_OP = FAMILY.rule(
    "MX-TFLITE-103",
    "TFLite model runs a stock TensorFlow op through the Flex delegate",
    Severity.INFO,
    Confidence.HIGH,
    cwes=("CWE-829",),
)
