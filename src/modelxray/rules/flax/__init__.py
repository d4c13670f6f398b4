"""MX-FLAX: Flax ``flax.serialization`` msgpack checkpoints.

1xx: records the Flax restorer does not expect.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "flax"
_FORMATS = ("flax-msgpack",)

UNKNOWN_EXT = Rule(
    "MX-FLAX-101",
    "Msgpack checkpoint holds an unexpected extension type",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-20",),
    package=__name__,
)
BAD_ARRAY = Rule(
    "MX-FLAX-102",
    "Msgpack array record is inconsistent or oversized",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-20", "CWE-400"),
    package=__name__,
)

RULES = (UNKNOWN_EXT, BAD_ARRAY)
