"""MX-GGUF: structural integrity of GGUF files (llama.cpp, Ollama, llama-cpp-python).

Chat templates found in GGUF metadata are judged by the MX-TEMPLATE rules.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "gguf"
_FORMATS = ("gguf",)

HEADER_MALFORMED = Rule(
    "MX-GGUF-001",
    "GGUF header or metadata is malformed",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2025-53630",),
    cwes=("CWE-190", "CWE-125", "CWE-20"),
    package=__name__,
)
TENSORS_INCONSISTENT = Rule(
    "MX-GGUF-002",
    "GGUF tensor table is inconsistent",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-190", "CWE-125"),
    package=__name__,
)

RULES = (HEADER_MALFORMED, TENSORS_INCONSISTENT)
