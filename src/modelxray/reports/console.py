"""The human-readable console report: one block per file, then a compact summary table.

Plain text unless ``color`` (the CLI's ``--color``: by default only on a terminal, and never
with ``NO_COLOR`` set).  Every string that comes from a scanned file goes through
:func:`~modelxray.reports.common.visible`, so a file name or evidence string cannot smuggle
terminal escape sequences or bidi overrides.
"""

from __future__ import annotations

import json
from typing import TextIO

from modelxray.model import FileResult, FileStatus, Finding, Report, Severity, Verdict
from modelxray.reports.common import (
    LABEL_ERROR,
    LABEL_FAIL,
    LABEL_OK,
    SEVERITIES_DESC,
    VERDICTS,
    file_label,
    file_verdict,
    gate_text,
    jsonable,
    policy_text,
    sorted_findings,
    verdict_counts,
    visible,
)

_RESET = "\x1b[0m"
_SEV_STYLE = {
    Severity.CRITICAL: "\x1b[1;97;41m",
    Severity.HIGH: "\x1b[1;31m",
    Severity.MEDIUM: "\x1b[33m",
    Severity.LOW: "\x1b[36m",
    Severity.INFO: "\x1b[2m",
}
_DIM = "\x1b[2m"
_BOLD = "\x1b[1m"
_LABEL_STYLE = {LABEL_FAIL: "\x1b[1;31m", LABEL_ERROR: "\x1b[1;97;41m", LABEL_OK: "\x1b[32m"}
_VERDICT_STYLE = {
    Verdict.BLOCKED: "\x1b[1;31m",
    Verdict.ERROR: "\x1b[1;97;41m",
    Verdict.ALLOWED: "\x1b[32m",
}
_OTHER_LABEL = "\x1b[33m"

# Evidence keys shown inline, in this order; the rest is in the JSON report.
_SHOWN = ("calls", "source", "pseudo_source", "dangerous_names", "unknown_names", "module", "name",
          "layer_path", "python_layout", "python_versions", "strings", "defaults", "closure",
          "reasons", "keras_version", "error", "limit")  # fmt: skip
_MAX_VALUE = 300
_INDENT = " " * 13


class _Painter:
    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        return f"{style}{text}{_RESET}" if self.color and style else text


def _evidence_lines(f: Finding) -> list[str]:
    evidence = jsonable(f.evidence)
    lines = []
    for key in _SHOWN:
        if key in evidence:
            value = evidence[key]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            text = visible(text)
            if len(text) > _MAX_VALUE:
                text = text[: _MAX_VALUE - 3] + "..."
            lines.append(f"{key}: {text}")
    return lines


def _file_block(r: FileResult, paint: _Painter) -> list[str]:
    label = file_label(r)
    style = _LABEL_STYLE.get(label, _OTHER_LABEL)
    fmt = visible(", ".join(r.formats) or "-")
    if r.status != FileStatus.SCANNED and label != str(r.status):
        fmt += f"; {r.status}"  # why a file in no known format is blocked, say
    worst = max((f.severity for f in r.findings), default=None)
    note = ""
    if label == LABEL_OK and worst is not None and worst >= Severity.HIGH:
        # "allowed" only means this gate did not block it: never shown green beside a
        # high or critical finding (a report-only run, --fail-on none, a raised threshold).
        style = _OTHER_LABEL
        note = f"  not blocked by this gate; worst finding {str(worst).upper()}"
    lines = [
        f"{paint(style, f'{label:>11}')} {visible(r.path)}  {paint(_DIM, f'({fmt})')}"
        + paint(_OTHER_LABEL, note)
    ]
    if r.bytes_fetched is not None:  # a remote file: what judging it cost
        at = f" at {r.revision}" if r.revision else ""
        lines.append(paint(_DIM, f"{_INDENT}fetched {r.bytes_fetched:,} of {r.size:,} bytes{at}"))
    for f in sorted_findings(r.findings):
        sev = str(f.severity).upper()
        lines.append(
            f"    {paint(_SEV_STYLE[f.severity], f'{sev:<8}')} {f.rule_id}  {visible(f.message)}"
        )
        lines.append(paint(_DIM, f"{_INDENT}at {visible(str(f.location))}"))
        lines.extend(paint(_DIM, f"{_INDENT}{line}") for line in _evidence_lines(f))
        program = f.evidence.get("program")
        if isinstance(program, str):  # --show-code: reconstructed pickle program, in full
            lines.extend(f"{_INDENT}| {visible(line)}" for line in program.splitlines())
    if r.suppressed:
        ids = ", ".join(sorted({f.rule_id for f in r.suppressed}))
        lines.append(paint(_DIM, f"{_INDENT}{len(r.suppressed)} suppressed by the policy: {ids}"))
    return lines


def _summary(report: Report, paint: _Painter) -> list[str]:
    counts = report.counts()
    verdicts = verdict_counts(report)
    left = [(v, verdicts[v]) for v in VERDICTS]
    right = [(s, counts[str(s)]) for s in SEVERITIES_DESC]
    rows = [f"  {'verdict':<12}{'files':>6}    {'severity':<10}{'findings':>9}"]
    for i in range(max(len(left), len(right))):
        cell_l = " " * 18
        if i < len(left):
            v, n = left[i]
            style = _VERDICT_STYLE.get(v, _OTHER_LABEL) if n else _DIM
            cell_l = paint(style, f"{v:<12}{n:>6}")
        cell_r = ""
        if i < len(right):
            s, n = right[i]
            cell_r = paint(_SEV_STYLE[s] if n else _DIM, f"{s!s:<10}{n:>9}")
        rows.append(f"  {cell_l}    {cell_r}".rstrip())
    gate = gate_text(report)
    gate_style = "" if report.report_only else ("\x1b[1;31m" if report.failed else "\x1b[32m")
    rows.append(
        f"  {len(report.files)} file(s) scanned in {report.seconds:.2f}s; "
        f"gate: {paint(gate_style, gate)}"
    )
    rows.append(f"  policy: {policy_text(report)}")
    return ["", paint(_BOLD, "Summary"), *rows]


def write(report: Report, out: TextIO, *, color: bool = False, quiet: bool = False) -> None:
    """The console report; ``quiet`` shows only blocked / error files and the summary."""
    paint = _Painter(color)
    lines: list[str] = []
    for r in report.files:
        if quiet and file_verdict(r) == Verdict.ALLOWED:
            continue
        lines.extend(_file_block(r, paint))
    lines.extend(_summary(report, paint))
    out.write("\n".join(lines).lstrip("\n") + "\n")
