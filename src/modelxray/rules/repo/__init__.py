"""MX-REPO: files a model repository ships beside its weights (configs, Python, notebooks).

1xx: code a loader or a reader of the repository would run.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "repo"

AUTO_MAP_LOCAL = Rule(
    "MX-REPO-101",
    "Config maps model classes to custom code in the repository",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("hf-config",),
    cwes=("CWE-94",),
    package=__name__,
)
AUTO_MAP_REMOTE = Rule(
    "MX-REPO-102",
    "Config loads custom code from another repository",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=("hf-config",),
    cwes=("CWE-94", "CWE-829"),
    package=__name__,
)
PYTHON_DANGEROUS_CALL = Rule(
    "MX-REPO-103",
    "Python code calls process, network or code-evaluation APIs",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=("python", "jupyter-notebook"),
    cwes=("CWE-94", "CWE-78"),
    package=__name__,
)
NOTEBOOK_SHELL = Rule(
    "MX-REPO-104",
    "Notebook runs shell commands",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("jupyter-notebook",),
    cwes=("CWE-78",),
    package=__name__,
)
NOTEBOOK_UNPARSEABLE = Rule(
    "MX-REPO-105",
    "Notebook code cell could not be analysed",
    FAMILY,
    Severity.LOW,
    Confidence.MEDIUM,
    formats=("jupyter-notebook",),
    package=__name__,
)
EMBEDDED_POLICY = Rule(
    "MX-REPO-106",
    "Policy file inside the scanned content is ignored",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=("modelxray-policy",),
    cwes=("CWE-15", "CWE-693"),
    package=__name__,
)

RULES = (
    AUTO_MAP_LOCAL,
    AUTO_MAP_REMOTE,
    PYTHON_DANGEROUS_CALL,
    NOTEBOOK_SHELL,
    NOTEBOOK_UNPARSEABLE,
    EMBEDDED_POLICY,
)
