"""MX-MLFLOW: MLflow ``MLmodel`` files and the artefacts their flavours load.

1xx: what ``mlflow.<flavour>.load_model`` deserialises or imports.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "mlflow"
_FORMATS = ("mlflow-mlmodel",)

UNPICKLES = Rule(
    "MX-MLFLOW-101",
    "MLflow loader deserialises a pickle artefact",
    FAMILY,
    Severity.INFO,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2024-37052", "CVE-2024-37056"),
    cwes=("CWE-502",),
    package=__name__,
)
IMPORTS_CODE = Rule(
    "MX-MLFLOW-102",
    "MLflow model imports Python code it ships",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-94",),
    package=__name__,
)
PATH_ESCAPE = Rule(
    "MX-MLFLOW-103",
    "MLflow artefact path leaves the model directory",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-22",),
    package=__name__,
)

RULES = (UNPICKLES, IMPORTS_CODE, PATH_ESCAPE)
