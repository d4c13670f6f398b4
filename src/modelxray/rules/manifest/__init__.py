"""MX-MANIFEST: dependency manifests a model repository ships (what pip or conda installs).

Requirements files, conda environments, MLflow ``python_env.yaml``, ``pyproject.toml`` and
TorchServe archive manifests.  0xx: what the install fetches and from where (judged by
``analysis/requirements.py``, the judge a notebook's ``%pip install`` shares); 1xx: code a
serving tool or a package build runs from the repository.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("pip-requirements", "conda-env", "mlflow-python-env", "pyproject")

FAMILY = RuleFamily("manifest", package=__name__, formats=_FORMATS)
PACKAGE_INDEX = FAMILY.rule(
    "MX-MANIFEST-001",
    "Install takes packages from an index or source other than the default",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-427", "CWE-829"),
)
REMOTE_REQUIREMENT = FAMILY.rule(
    "MX-MANIFEST-002",
    "Requirement installs code from a URL or version control",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-494", "CWE-829"),
)
LOCAL_REQUIREMENT = FAMILY.rule(
    "MX-MANIFEST-003",
    "Requirement builds and installs a local path",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-94",),
)
TYPOSQUAT = FAMILY.rule(
    "MX-MANIFEST-004",
    "Requirement name imitates a popular package",
    Severity.HIGH,
    Confidence.MEDIUM,
    cwes=("CWE-829",),
)
INCLUDE = FAMILY.rule(
    "MX-MANIFEST-005",
    "Requirements read another requirements or constraints file",
    Severity.INFO,
    Confidence.HIGH,
)
BUILD_OPTIONS = FAMILY.rule(
    "MX-MANIFEST-006",
    "Requirement passes options to the package's build",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cwes=("CWE-88",),
)
UNPARSED = FAMILY.rule(
    "MX-MANIFEST-007",
    "Manifest entry not understood",
    Severity.MEDIUM,
    Confidence.MEDIUM,
)
CONDA_CHANNEL = FAMILY.rule(
    "MX-MANIFEST-008",
    "Conda environment uses a channel outside the standard ones",
    Severity.LOW,
    Confidence.MEDIUM,
    cwes=("CWE-427", "CWE-829"),
)
SERVING_CODE = FAMILY.rule(
    "MX-MANIFEST-101",
    "TorchServe archive runs custom handler or model code",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("torchserve-mar", "torchserve-manifest"),
    cwes=("CWE-94",),
)
INSTALLS_ON_LOAD = FAMILY.rule(
    "MX-MANIFEST-102",
    "Model archive installs its own requirements when served",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("torchserve-mar", "torchserve-manifest"),
    cwes=("CWE-829",),
)
BUILD_CODE = FAMILY.rule(
    "MX-MANIFEST-103",
    "Package build runs the repository's own code",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("pyproject", "python"),
    cwes=("CWE-94",),
)

# What analysis/requirements.py concludes -> the rule a reader reports it as.
BY_KIND = {
    "index": PACKAGE_INDEX,
    "remote": REMOTE_REQUIREMENT,
    "local": LOCAL_REQUIREMENT,
    "typosquat": TYPOSQUAT,
    "include": INCLUDE,
    "build-options": BUILD_OPTIONS,
    "unparsed": UNPARSED,
    "channel": CONDA_CHANNEL,
    "build-code": BUILD_CODE,
}
