"""MX-TEMPLATE: Jinja chat templates (GGUF metadata, tokenizer_config.json).

Templates are parsed with Jinja's own parser and judged from the syntax tree; they are
never rendered.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import Rule

FAMILY = "template"
_FORMATS = ("gguf", "hf-tokenizer-config", "safetensors", "jinja-template")

INTERNALS = Rule(
    "MX-TEMPLATE-001",
    "Template reaches Python internals",
    FAMILY,
    Severity.CRITICAL,
    Confidence.HIGH,
    formats=_FORMATS,
    cves=("CVE-2024-34359",),
    cwes=("CWE-1336", "CWE-94"),
    package=__name__,
)
UNUSUAL = Rule(
    "MX-TEMPLATE-002",
    "Template uses constructs outside the chat-template vocabulary",
    FAMILY,
    Severity.MEDIUM,
    Confidence.MEDIUM,
    formats=_FORMATS,
    cves=("CVE-2024-34359",),
    cwes=("CWE-1336",),
    package=__name__,
)
UNPARSEABLE = Rule(
    "MX-TEMPLATE-003",
    "Chat template could not be analysed",
    FAMILY,
    Severity.HIGH,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-1336",),
    package=__name__,
)

EXHAUSTION = Rule(
    "MX-TEMPLATE-004",
    "Template drives huge loops or allocations",
    FAMILY,
    Severity.MEDIUM,
    Confidence.HIGH,
    formats=_FORMATS,
    cwes=("CWE-400", "CWE-1336"),
    package=__name__,
)

RULES = (INTERNALS, UNUSUAL, UNPARSEABLE, EXHAUSTION)
