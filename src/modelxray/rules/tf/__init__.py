"""MX-TF: TensorFlow graphs (SavedModel ``saved_model.pb`` / ``.pbtxt``, frozen GraphDefs).

1xx: graph ops that reach outside tensor math when the graph runs (restoring a SavedModel
runs its init and restore functions; the signatures run on every call).
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("tf-savedmodel", "tf-savedmodel-text", "tf-graphdef")

FAMILY = RuleFamily("tf", package=__name__, formats=_FORMATS)
PYTHON_CALLBACK = FAMILY.rule(
    "MX-TF-101",
    "TensorFlow graph calls back into Python (PyFunc / EagerPyFunc)",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-829",),
)
FILE_READ = FAMILY.rule(
    "MX-TF-102",
    "TensorFlow graph op reads files from the local file system",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-73", "CWE-200"),
)
FILE_WRITE = FAMILY.rule(
    "MX-TF-103",
    "TensorFlow graph op writes or deletes files",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-73", "CWE-552"),
)
NETWORK = FAMILY.rule(
    "MX-TF-104",
    "TensorFlow graph op reaches the network or a remote file system",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-918", "CWE-200"),
)
CUSTOM_OP = FAMILY.rule(
    "MX-TF-105",
    "TensorFlow graph uses an op that is not a standard TensorFlow op",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-829",),
)

# What analysis/tf_graph.py concludes -> the rule a reader reports it as.
BY_KIND = {
    "python-callback": PYTHON_CALLBACK,
    "file-read": FILE_READ,
    "file-write": FILE_WRITE,
    "network": NETWORK,
    "custom-op": CUSTOM_OP,
}
