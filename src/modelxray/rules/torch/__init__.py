"""MX-TORCH: PyTorch-specific risks beyond the pickles (which the MX-PICKLE rules judge)."""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

FAMILY = RuleFamily("torch", package=__name__)
TORCHSCRIPT_ARCHIVE = FAMILY.rule(
    "MX-TORCH-001",
    "TorchScript archive runs code even under torch.load(weights_only=True) before torch 2.6",
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=("torchscript",),
    cves=("CVE-2025-32434",),
    cwes=("CWE-502", "CWE-94"),
)
TORCHSCRIPT_CODE = FAMILY.rule(
    "MX-TORCH-002",
    "TorchScript code member",
    Severity.INFO,
    Confidence.HIGH,
    formats=("torchscript",),
    cwes=("CWE-94",),
)
TORCHSCRIPT_RISKY_CALL = FAMILY.rule(
    "MX-TORCH-003",
    "TorchScript code calls a risky operation",
    Severity.HIGH,
    Confidence.MEDIUM,
    formats=("torchscript",),
    cwes=("CWE-94", "CWE-73"),
)
PACKAGE_EXTERN = FAMILY.rule(
    "MX-TORCH-004",
    "torch.package archive imports a catalogued module from the host",
    Severity.LOW,
    Confidence.MEDIUM,
    formats=("torch-package",),
    cwes=("CWE-829",),
)
PACKAGE_BUNDLED_CLASS = FAMILY.rule(
    "MX-TORCH-005",
    "torch.package pickle uses code bundled in the archive",
    Severity.INFO,
    Confidence.HIGH,
    formats=("torch-package",),
    cwes=("CWE-94",),
)
