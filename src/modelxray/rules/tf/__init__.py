"""MX-TF: TensorFlow graphs (SavedModel ``saved_model.pb`` / ``.pbtxt``, frozen GraphDefs).

1xx: graph ops that reach outside tensor math when the graph runs (restoring a SavedModel
runs its init and restore functions; the signatures run on every call).
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "tf"
_FORMATS = ("tf-savedmodel", "tf-savedmodel-text", "tf-graphdef")

PYTHON_CALLBACK = Rule(
    "MX-TF-101",
    "TensorFlow graph calls back into Python (PyFunc / EagerPyFunc)",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-829",),
    package=__name__,
)
FILE_READ = Rule(
    "MX-TF-102",
    "TensorFlow graph op reads files from the local file system",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-73", "CWE-200"),
    package=__name__,
)
FILE_WRITE = Rule(
    "MX-TF-103",
    "TensorFlow graph op writes or deletes files",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-73", "CWE-552"),
    package=__name__,
)
NETWORK = Rule(
    "MX-TF-104",
    "TensorFlow graph op reaches the network or a remote file system",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-918", "CWE-200"),
    package=__name__,
)
CUSTOM_OP = Rule(
    "MX-TF-105",
    "TensorFlow graph uses an op that is not a standard TensorFlow op",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cwes=("CWE-829",),
    package=__name__,
)

RULES = (PYTHON_CALLBACK, FILE_READ, FILE_WRITE, NETWORK, CUSTOM_OP)
