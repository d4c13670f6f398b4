"""The human-readable console report (rich when writing to a terminal, plain text otherwise)."""

from __future__ import annotations

import json
from typing import TextIO

from modelxray.model import FileResult, Finding, Report, Severity

_STYLE = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}

# Evidence keys shown inline, in this order; the rest is in the JSON report.
_SHOWN = ("calls", "dangerous_names", "unknown_names", "module", "name", "layer_path",
          "python_layout", "python_versions", "strings", "defaults", "closure", "reasons",
          "keras_version", "error", "limit")  # fmt: skip


def _evidence_lines(f: Finding) -> list[str]:
    lines = []
    for key in _SHOWN:
        if key in f.evidence:
            value = f.evidence[key]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            if len(text) > 300:
                text = text[:297] + "..."
            lines.append(f"{key}: {text}")
    return lines


def _file_verdict(r: FileResult, fail_on: Severity | None) -> str:
    worst = r.max_severity
    if worst is not None and fail_on is not None and worst >= fail_on:
        return "FAIL"
    if r.status != "scanned":
        return r.status.upper()
    return "ok"


def write(report: Report, out: TextIO, *, color: bool = False) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=out, force_terminal=color, no_color=not color, highlight=False,
                      width=120 if not color else None, soft_wrap=not color)  # fmt: skip
    for r in report.files:
        verdict = _file_verdict(r, report.fail_on)
        fmt = ", ".join(r.formats) or "-"
        style = "bold red" if verdict == "FAIL" else ("green" if verdict == "ok" else "yellow")
        console.print(f"[{style}]{verdict:>11}[/] {escape(r.path)}  [dim]({escape(fmt)})[/]")
        for f in sorted(r.findings, key=lambda f: -f.severity):
            sev = str(f.severity).upper()
            console.print(
                f"    [{_STYLE[f.severity]}]{sev:<8}[/] {f.rule_id}  {escape(f.message)}"
            )
            console.print(f"             [dim]at {escape(str(f.location))}[/]")
            for line in _evidence_lines(f):
                console.print(f"             [dim]{escape(line)}[/]")
    counts = report.counts()
    parts = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    if report.fail_on is None:
        gate = "report only"
    else:
        gate = f"{'FAILED' if report.failed else 'passed'} (fails on {report.fail_on} and above)"
    console.print(
        f"\n{len(report.files)} file(s) scanned in {report.seconds:.2f}s; "
        f"findings: {parts or 'none'}; gate: {gate}"
    )
