"""Every rule has a complete page, and docs/rules/ is what the pages render to."""

from __future__ import annotations

import re
from pathlib import Path

from modelxray.rules import ALL_RULES
from modelxray.rules.docs import expected_files

DOCS = Path(__file__).parent.parent / "docs" / "rules"
SECTIONS = ("## Why it is dangerous", "## Example", "## Remediation", "## References")


def test_rule_ids_are_stable_shape():
    for rule_id in ALL_RULES:
        assert re.fullmatch(r"MX-[A-Z0-9]+-\d{3}", rule_id), rule_id


def test_every_rule_has_a_full_page():
    for rule in ALL_RULES.values():
        page = rule.page()
        assert page.startswith(f"# {rule.id}: {rule.title}\n"), rule.id
        for section in SECTIONS:
            assert section in page, (rule.id, section)
        assert len(rule.summary()) > 40, rule.id


def test_generated_docs_are_up_to_date():
    """Regenerate with: modelxray rules --write-docs docs/rules"""
    expected = expected_files()
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    assert on_disk == expected
