"""MX-REPO: files a model repository ships beside its weights (configs, Python, notebooks).

1xx: code a loader or a reader of the repository would run.
2xx: notebooks: files their cells write, code they run from elsewhere, script their outputs carry.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

FAMILY = RuleFamily("repo", package=__name__)
AUTO_MAP_LOCAL = FAMILY.rule(
    "MX-REPO-101",
    "Config maps model classes to custom code in the repository",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("hf-config",),
    cwes=("CWE-94",),
)
AUTO_MAP_REMOTE = FAMILY.rule(
    "MX-REPO-102",
    "Config loads custom code from another repository",
    Severity.HIGH,
    Confidence.HIGH,
    formats=("hf-config",),
    cwes=("CWE-94", "CWE-829"),
)
PYTHON_DANGEROUS_CALL = FAMILY.rule(
    "MX-REPO-103",
    "Python code calls process, network or code-evaluation APIs",
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=("python", "jupyter-notebook"),
    cwes=("CWE-94", "CWE-78"),
)
NOTEBOOK_SHELL = FAMILY.rule(
    "MX-REPO-104",
    "Notebook runs shell commands",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("jupyter-notebook",),
    cwes=("CWE-78",),
)
NOTEBOOK_UNPARSEABLE = FAMILY.rule(
    "MX-REPO-105",
    "Notebook code cell could not be analysed",
    Severity.LOW,
    Confidence.MEDIUM,
    formats=("jupyter-notebook",),
)
EMBEDDED_POLICY = FAMILY.rule(
    "MX-REPO-106",
    "Policy file inside the scanned content is ignored",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-15", "CWE-693"),
)
NOTEBOOK_WRITES_FILE = FAMILY.rule(
    "MX-REPO-201",
    "Notebook cell writes a file",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("jupyter-notebook",),
    cwes=("CWE-73", "CWE-94"),
)
NOTEBOOK_RUNS_OTHER_CODE = FAMILY.rule(
    "MX-REPO-202",
    "Notebook runs code from another file, interpreter or URL",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("jupyter-notebook",),
    cwes=("CWE-94", "CWE-829"),
)
NOTEBOOK_FRONT_END_SCRIPT = FAMILY.rule(
    "MX-REPO-203",
    "Notebook output, markdown or widget state carries script for the front end",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=("jupyter-notebook",),
    cwes=("CWE-79", "CWE-94"),
)

# 12x: Hub configs (diffusers, PEFT, sentence-transformers, processors) naming what to import.
CONFIG_IMPORT_DANGEROUS = FAMILY.rule(
    "MX-REPO-121",
    "Config makes the loader import a dangerous module or callable",
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=("hf-config",),
    cwes=("CWE-94", "CWE-829"),
)
CONFIG_IMPORT_EXTERNAL = FAMILY.rule(
    "MX-REPO-122",
    "Config makes the loader import a module outside its libraries",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=("hf-config",),
    cwes=("CWE-829",),
)
CONFIG_UNKNOWN_CLASS = FAMILY.rule(
    "MX-REPO-123",
    "Config names a class its library does not define",
    Severity.INFO,
    Confidence.MEDIUM,
    formats=("hf-config",),
)

# What analysis/hf_config.py concludes -> the rule a reader reports it as.
BY_KIND = {
    "auto-map-local": AUTO_MAP_LOCAL,
    "auto-map-remote": AUTO_MAP_REMOTE,
    "config-import-dangerous": CONFIG_IMPORT_DANGEROUS,
    "config-import-external": CONFIG_IMPORT_EXTERNAL,
    "config-unknown-class": CONFIG_UNKNOWN_CLASS,
}
