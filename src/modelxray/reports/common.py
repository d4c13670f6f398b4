"""What every renderer needs: verdicts, JSON-safe evidence, text that cannot trick a reader.

File names, messages and evidence come from the scanned files, so they are attacker-controlled.
Two helpers keep them harmless wherever a report shows them:

* :func:`clean_text` makes a string encodable as UTF-8 (names from ``os.walk`` can hold lone
  surrogates from undecodable bytes; a report must never crash on writing them).
* :func:`visible` also spells out control and bidirectional-formatting characters as ``\\xNN`` /
  ``\\uNNNN`` so a terminal escape sequence or a right-to-left override cannot hide or disguise
  anything in a console or HTML report.
"""

from __future__ import annotations

import math
import re
from typing import Any

from modelxray.model import FileResult, FileStatus, Finding, Gate, Report, Severity, Verdict

# Per-file verdicts (set by the policy) in the order reports list them, and the short labels
# the console and HTML show: the verdicts' own words (an allowed file is "allowed", never "ok":
# under --fail-on none a file with a critical finding is allowed, not fine).
VERDICTS = (Verdict.BLOCKED, Verdict.ERROR, Verdict.ALLOWED)
LABEL_FAIL, LABEL_ERROR, LABEL_OK = str(Verdict.BLOCKED), str(Verdict.ERROR), str(Verdict.ALLOWED)
LABEL_UNSUPPORTED, LABEL_UNSCANNABLE = str(FileStatus.UNSUPPORTED), str(FileStatus.UNSCANNABLE)

# Bounds for converting evidence: a hostile file cannot make a report explode.
MAX_EVIDENCE_DEPTH = 12
MAX_EVIDENCE_ITEMS = 2000

# C0/C1 controls (tab and newline handled by the caller) and the bidi / invisible formatting
# characters used in "Trojan Source" style disguises.
# Every one of them is non-printable to ``str.isprintable`` (categories Cc, Cf, Zl, Zp), so
# printable text skips the search (and the patterns compile when first needed).
_UNSAFE = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
_UNSAFE_WITH_WS = "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"


class ReportUnavailable(RuntimeError):
    """A report format needs a library that is not installed (a usage error, exit 2)."""


def clean_text(text: str) -> str:
    """``text`` made safe to encode as UTF-8; undecodable bytes become ``\\xNN``."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _spell(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, multiline: bool = False) -> str:
    """``text`` with every control / bidi character spelled out (``\\x1b``, ``\\u202e``).

    With ``multiline`` newlines and tabs are kept (for ``<pre>`` blocks); otherwise they are
    spelled out too, so one value is always one line.
    """
    text = clean_text(text)
    if text.isprintable():
        return text
    return re.sub(_UNSAFE if multiline else _UNSAFE_WITH_WS, _spell, text)


def jsonable(value: Any, _depth: int = 0) -> Any:
    """Evidence as plain JSON values: str, int, float, bool, None, list, dict with str keys.

    Bytes become hex, tuples and sets lists, non-finite floats strings, anything else its
    ``repr``.  Depth and item counts are bounded; strings are made UTF-8 encodable.
    """
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalar -> Python scalar
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return clean_text(value)
    if _depth >= MAX_EVIDENCE_DEPTH:
        return clean_text(repr(value)[:200])
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value[:4096]).hex()
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_EVIDENCE_ITEMS:
                out["…"] = f"{len(value) - i} more entries left out"
                break
            out[clean_text(k if isinstance(k, str) else repr(k))] = jsonable(v, _depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
        converted = [jsonable(v, _depth + 1) for v in items[:MAX_EVIDENCE_ITEMS]]
        if len(items) > MAX_EVIDENCE_ITEMS:
            converted.append(f"… {len(items) - MAX_EVIDENCE_ITEMS} more items left out")
        return converted
    return clean_text(repr(value))


def file_verdict(result: FileResult) -> Verdict:
    """allowed, blocked or error, as the policy decided (anything unknown counts as error)."""
    verdict = str(result.verdict)
    return Verdict(verdict) if verdict in Verdict.values() else Verdict.ERROR


def file_label(result: FileResult) -> str:
    """Short label: blocked, error, or for allowed files allowed / unsupported / unscannable."""
    verdict = file_verdict(result)
    if verdict == Verdict.BLOCKED:
        return LABEL_FAIL
    if verdict == Verdict.ERROR:
        return LABEL_ERROR
    if result.status == FileStatus.UNSUPPORTED:
        return LABEL_UNSUPPORTED
    if result.status == FileStatus.UNSCANNABLE:
        return LABEL_UNSCANNABLE
    return LABEL_OK


def verdict_counts(report: Report) -> dict[Verdict, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for r in report.files:
        counts[file_verdict(r)] += 1
    return counts


def policy_of(report: Report) -> Gate:
    """What decided the run (the built-in defaults when the report does not say)."""
    if report.gate is not None:
        return report.gate
    from modelxray.policy import Policy

    return Policy().gate()


def policy_text(report: Report) -> str:
    """Which policy decided: its file (or the built-in defaults) and its fingerprint."""
    policy = policy_of(report)
    where = clean_text(policy.source) if policy.source else "built-in defaults"
    return f"{where} (sha256 {policy.fingerprint})"


def interrupted_text(report: Report) -> str:
    """One line for a run that stopped early: how many files were judged, and why it stopped."""
    total = "?" if report.total is None else str(report.total)
    return f"interrupted: {len(report.files)} of {total} files judged ({report.interrupted})"


def gate_text(report: Report) -> str:
    """One line: did the gate pass, and what it blocks."""
    policy = policy_of(report)
    rules = []
    if report.fail_on is not None:
        rules.append(f"blocks findings at {report.fail_on} and above")
    else:
        rules.append("blocks no finding by severity")
    if policy.fail_on_unscannable:
        rules.append("unscannable files are errors")
    if policy.fail_on_unsupported:
        rules.append("unsupported files are blocked")
    why = "; ".join(rules)
    if not report.complete:
        return f"FAILED: incomplete, {interrupted_text(report)} ({why})"
    if report.report_only:
        would = "would have failed" if report.verdict != Verdict.ALLOWED else "would have passed"
        return f"report only, never fails ({would}: {why})"
    return f"{'FAILED' if report.failed else 'passed'} ({why})"


def rule_title(rule_id: str) -> str:
    from modelxray.rules import ALL_RULES

    rule = ALL_RULES.get(rule_id)
    return rule.title if rule is not None else ""


def sorted_findings(findings: list[Finding]) -> list[Finding]:
    """Worst first; ties keep the order the scanner found them in."""
    return sorted(findings, key=lambda f: -int(f.severity))


SEVERITIES_DESC = tuple(reversed(Severity))
