"""MX-TEMPLATE: Jinja chat templates (GGUF metadata, tokenizer_config.json).

Templates are parsed with Jinja's own parser and judged from the syntax tree; they are
never rendered.
"""

from modelxray.model import Confidence, Severity
from modelxray.rules.base import RuleFamily

_FORMATS = ("gguf", "hf-tokenizer-config", "safetensors", "jinja-template")

FAMILY = RuleFamily("template", package=__name__, formats=_FORMATS)
INTERNALS = FAMILY.rule(
    "MX-TEMPLATE-001",
    "Template reaches Python internals",
    Severity.CRITICAL,
    Confidence.HIGH,
    cves=("CVE-2024-34359",),
    cwes=("CWE-1336", "CWE-94"),
)
UNUSUAL = FAMILY.rule(
    "MX-TEMPLATE-002",
    "Template uses constructs outside the chat-template vocabulary",
    Severity.MEDIUM,
    Confidence.MEDIUM,
    cves=("CVE-2024-34359",),
    cwes=("CWE-1336",),
)
UNPARSEABLE = FAMILY.rule(
    "MX-TEMPLATE-003",
    "Chat template could not be analysed",
    Severity.HIGH,
    Confidence.HIGH,
    cwes=("CWE-1336",),
)

EXHAUSTION = FAMILY.rule(
    "MX-TEMPLATE-004",
    "Template drives huge loops or allocations",
    Severity.MEDIUM,
    Confidence.HIGH,
    cwes=("CWE-400", "CWE-1336"),
)

# What analysis/jinja_template.py concludes -> the rule a reader reports it as.
BY_KIND = {
    "internals": INTERNALS,
    "unusual": UNUSUAL,
    "unparseable": UNPARSEABLE,
    "exhaustion": EXHAUSTION,
}
