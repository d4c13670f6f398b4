"""MX-MLFLOW: MLflow ``MLmodel`` files and the artefacts their flavours load.

1xx: what ``mlflow.<flavour>.load_model`` deserialises or imports.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("mlflow-mlmodel",)

FAMILY = RuleFamily("mlflow", package=__name__, formats=_FORMATS)
UNPICKLES = FAMILY.rule(
    "MX-MLFLOW-101",
    "MLflow loader deserialises a pickle artefact",
    Severity.INFO,
    Confidence.HIGH,
    cves=("CVE-2024-37052", "CVE-2024-37056"),
    cwes=("CWE-502",),
)
IMPORTS_CODE = FAMILY.rule(
    "MX-MLFLOW-102",
    "MLflow model imports Python code it ships",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-94",),
)
PATH_ESCAPE = FAMILY.rule(
    "MX-MLFLOW-103",
    "MLflow artefact path leaves the model directory",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-22",),
)
