"""MX-TORCH: PyTorch-specific risks beyond the pickles (which the MX-PICKLE rules judge)."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "torch"

TORCHSCRIPT_ARCHIVE = Rule(
    "MX-TORCH-001",
    "TorchScript archive runs code even under torch.load(weights_only=True) before torch 2.6",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("torchscript",),
    cves=("CVE-2025-32434",),
    cwes=("CWE-502", "CWE-94"),
    package=__name__,
)
TORCHSCRIPT_CODE = Rule(
    "MX-TORCH-002",
    "TorchScript code member",
    FAMILY,
    Severity.INFO,
    Confidence.HIGH,
    formats=("torchscript",),
    cwes=("CWE-94",),
    package=__name__,
)
TORCHSCRIPT_RISKY_CALL = Rule(
    "MX-TORCH-003",
    "TorchScript code calls a risky operation",
    FAMILY,
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=("torchscript",),
    cwes=("CWE-94", "CWE-73"),
    package=__name__,
)

RULES = (TORCHSCRIPT_ARCHIVE, TORCHSCRIPT_CODE, TORCHSCRIPT_RISKY_CALL)
