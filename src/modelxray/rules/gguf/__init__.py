"""MX-GGUF: structural integrity of GGUF files (llama.cpp, Ollama, llama-cpp-python).

Chat templates found in GGUF metadata are judged by the MX-TEMPLATE rules.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("gguf",)

FAMILY = RuleFamily("gguf", package=__name__, formats=_FORMATS)
HEADER_MALFORMED = FAMILY.rule(
    "MX-GGUF-001",
    "GGUF header or metadata is malformed",
    Severity.HIGH,
    Confidence.HIGH,
    cves=("CVE-2025-53630",),
    cwes=("CWE-190", "CWE-125", "CWE-20"),
)
TENSORS_INCONSISTENT = FAMILY.rule(
    "MX-GGUF-002",
    "GGUF tensor table is inconsistent",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-190", "CWE-125"),
)
