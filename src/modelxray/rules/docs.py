"""Render the rule pages into a Markdown tree (``docs/rules/``) with an index."""

from __future__ import annotations

import os

from modelxray.rules import ALL_RULES
from modelxray.rules.base import Rule


def _header(rule: Rule) -> str:
    rows = [
        f"| Rule ID | `{rule.id}` |",
        f"| Family | {rule.family} |",
        f"| Default severity | {rule.severity} |",
        f"| Confidence | {rule.confidence} |",
    ]
    if rule.formats:
        rows.append(f"| Formats | {', '.join(rule.formats)} |")
    if rule.cves:
        rows.append(f"| CVE | {', '.join(rule.cves)} |")
    if rule.cwes:
        rows.append(f"| CWE | {', '.join(rule.cwes)} |")
    return "| | |\n|---|---|\n" + "\n".join(rows) + "\n"


def render_page(rule: Rule) -> str:
    page = rule.page().rstrip() + "\n"
    title, _, body = page.partition("\n")
    return f"{title}\n\n{_header(rule)}{body}"


def render_index() -> str:
    lines = ["# modelxray rules", "", "| Rule | Severity | Title | CVE |", "|---|---|---|---|"]
    for r in ALL_RULES.values():
        lines.append(f"| [{r.id}]({r.id}.md) | {r.severity} | {r.title} | {', '.join(r.cves)} |")
    return "\n".join(lines) + "\n"


def expected_files() -> dict[str, str]:
    files = {f"{r.id}.md": render_page(r) for r in ALL_RULES.values()}
    files["README.md"] = render_index()
    return files


def write_docs(outdir: str) -> list[str]:
    os.makedirs(outdir, exist_ok=True)
    written = []
    for name, text in expected_files().items():
        path = os.path.join(outdir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    return written
