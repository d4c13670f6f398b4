"""MX-FLAX: Flax ``flax.serialization`` msgpack checkpoints.

1xx: records the Flax restorer does not expect.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("flax-msgpack",)

FAMILY = RuleFamily("flax", package=__name__, formats=_FORMATS)
UNKNOWN_EXT = FAMILY.rule(
    "MX-FLAX-101",
    "Msgpack checkpoint holds an unexpected extension type",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-20",),
)
BAD_ARRAY = FAMILY.rule(
    "MX-FLAX-102",
    "Msgpack array record is inconsistent or oversized",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-20", "CWE-400"),
)
