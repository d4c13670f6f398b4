"""The HTML report: one self-contained page (inline CSS and one small inline script, no network).

Everything taken from the scan — file names, messages, locations, evidence — is attacker
controlled.  It enters the page only as text: control and bidi characters are spelled out
(:func:`~modelxray.reports.common.visible`) and the result goes through
``html.escape(..., quote=True)``.  No scan data is ever put inside the script, a URL or a style.
A Content-Security-Policy allows only the page's own script (by hash) and no network at all.

Severity filters are checkboxes that hide finding rows through CSS alone, so they work with the
script blocked; the script only keeps a "n of m findings shown" line and the quick buttons.
"""

from __future__ import annotations

import base64
import hashlib
import json
from html import escape
from typing import Any, TextIO

from modelxray import __version__
from modelxray.model import Disposition, FileResult, Finding, Report, Severity, Verdict
from modelxray.reports.common import (
    LABEL_ERROR,
    LABEL_FAIL,
    LABEL_OK,
    LABEL_UNSCANNABLE,
    LABEL_UNSUPPORTED,
    SEVERITIES_DESC,
    VERDICTS,
    file_label,
    gate_text,
    jsonable,
    policy_text,
    sorted_findings,
    verdict_counts,
    visible,
)

# Evidence keys shown first, in this order (decoded calls and pseudo-source before the rest).
_FIRST = ("calls", "source", "pseudo_source", "program", "dangerous_names", "names",
          "unknown_names", "module", "name", "strings", "reasons", "layer_path", "json_path",
          "error", "limit")  # fmt: skip
MAX_VALUE_CHARS = 20_000

LABEL_WORDS = {
    LABEL_FAIL: "blocked by the policy",
    LABEL_ERROR: "error: could not be fully checked (fail closed)",
    LABEL_OK: "allowed",
    LABEL_UNSUPPORTED: "allowed, but in no model format modelxray knows",
    LABEL_UNSCANNABLE: "allowed, but could not be fully checked",
}
VERDICT_WORDS = {
    Verdict.BLOCKED: "blocked (FAIL)",
    Verdict.ERROR: "error (fail closed)",
    Verdict.ALLOWED: "allowed",
}

_CSS = """
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#f6f8fa;
--critical:#8b0000;--high:#cf222e;--medium:#9a6700;--low:#0969da;--info:#59636e;
--ok:#1a7f37;--warn:#9a6700}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
sans-serif;color:var(--fg);background:#fff}
main{max-width:1180px;margin:0 auto;padding:24px 28px 64px}
h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:32px 0 10px;
border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:16px;margin:0}
.muted{color:var(--muted)}
code,pre,.path{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;
font-size:13px}
.path{word-break:break-all}
.gate{margin:16px 0;padding:14px 18px;border-radius:8px;font-size:17px;font-weight:600;
border:1px solid}
.gate.failed{background:#ffebe9;border-color:#ff8182;color:#82071e}
.gate.passed{background:#dafbe1;border-color:#4ac26b;color:#116329}
.gate.report{background:var(--bg);border-color:var(--line)}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}
.card{min-width:118px;padding:10px 14px;border:1px solid var(--line);border-radius:8px;
background:var(--bg)}
.card .n{display:block;font-size:24px;font-weight:700;line-height:1.2}
.card.zero{opacity:.55}
.sev{display:inline-block;min-width:68px;text-align:center;padding:1px 8px;border-radius:12px;
font-size:12px;font-weight:700;text-transform:uppercase;color:#fff}
.sev.critical{background:var(--critical)}.sev.high{background:var(--high)}
.sev.medium{background:var(--medium)}.sev.low{background:var(--low)}.sev.info{background:var(--info)}
.card.critical .n{color:var(--critical)}.card.high .n{color:var(--high)}
.card.medium .n{color:var(--medium)}.card.low .n{color:var(--low)}
.verdict{display:inline-block;min-width:104px;text-align:center;padding:1px 8px;border-radius:6px;
font-size:12px;font-weight:700;border:1px solid}
.verdict.l-blocked,.verdict.v-blocked{color:#82071e;background:#ffebe9;border-color:#ff8182}
.verdict.l-error,.verdict.v-error{color:#fff;background:#82071e;border-color:#82071e}
.verdict.l-allowed,.verdict.v-allowed{color:#116329;background:#dafbe1;border-color:#4ac26b}
.verdict.l-unsupported{color:var(--muted);background:var(--bg);border-color:var(--line)}
.verdict.l-unscannable{color:#7d4e00;background:#fff8c5;border-color:#d4a72c}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-size:13px}
td.num{text-align:right}
.filters{display:flex;flex-wrap:wrap;align-items:center;gap:8px;margin:10px 0 4px;padding:10px 14px;
border:1px solid var(--line);border-radius:8px;background:var(--bg)}
.filters label{cursor:pointer;margin-right:10px;user-select:none}
.filters .box{display:inline-block;width:16px;height:16px;margin-right:5px;vertical-align:-3px;
border:1px solid #8c959f;border-radius:3px;background:#fff;font-size:13px;line-height:14px;
text-align:center;font-weight:700}
input.sev-filter{position:absolute;opacity:0;width:1px;height:1px;margin:0;pointer-events:none}
.filters button{font:inherit;font-size:13px;padding:2px 10px;border:1px solid var(--line);
border-radius:6px;background:#fff;cursor:pointer}
.file{margin:18px 0;border:1px solid var(--line);border-radius:8px;overflow:hidden}
.file>header{padding:10px 14px;background:var(--bg);border-bottom:1px solid var(--line)}
.file>header .meta{margin:4px 0 0;font-size:13px}
.file.l-blocked>header{border-left:6px solid var(--high)}
.file.l-error>header{border-left:6px solid var(--critical)}
.file.l-allowed>header{border-left:6px solid var(--ok)}
.file.l-unscannable>header{border-left:6px solid var(--warn)}
.file.l-unsupported>header{border-left:6px solid var(--line)}
.file .tag{font-size:12px;padding:0 6px;border:1px solid var(--line);border-radius:10px}
details.suppressed{padding:8px 14px;border-top:1px solid var(--line);font-size:14px}
details.suppressed summary{cursor:pointer;color:var(--muted)}
.finding-suppressed{padding:8px 0 0;opacity:.8}
.finding{padding:12px 14px;border-top:1px solid var(--line)}
.finding:first-of-type{border-top:0}
.finding .msg{margin:6px 0}
.finding .where{font-size:13px;margin:0 0 6px}
.finding .where ol{display:inline;list-style:none;margin:0;padding:0}
.finding .where li{display:inline}
.finding .where li+li:before{content:" \\203a  ";color:var(--muted)}
.nofindings{padding:10px 14px;margin:0}
dl.evidence{margin:8px 0 0;display:grid;grid-template-columns:minmax(120px,max-content) 1fr;
gap:4px 12px}
dl.evidence dt{font-weight:600;font-size:13px;color:var(--muted);padding-top:6px}
dl.evidence dd{margin:0;min-width:0}
pre{margin:0;padding:6px 10px;background:var(--bg);border:1px solid var(--line);border-radius:6px;
white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere;max-height:420px;overflow:auto}
details.rule{margin:8px 0;border:1px solid var(--line);border-radius:8px;padding:8px 14px}
details.rule summary{cursor:pointer;font-weight:600}
details.rule pre{margin-top:8px;font-size:12.5px}
footer{margin-top:40px;font-size:13px}
"""

# Hiding findings per unticked severity: pure CSS, so the filters work without the script.
_FILTER_CSS = "".join(
    f"#show-{s}:not(:checked)~#files .finding.sev-{s}{{display:none}}"
    f"#show-{s}:checked~.filters #label-{s} .box:before{{content:'\\2713'}}"
    f"#show-{s}:focus-visible~.filters #label-{s}{{outline:2px solid var(--low)}}"
    for s in SEVERITIES_DESC
)

_SCRIPT = """
(function () {
  "use strict";
  var boxes = Array.prototype.slice.call(document.querySelectorAll("input.sev-filter"));
  var counter = document.getElementById("shown-count");
  function update() {
    var rows = document.querySelectorAll("#files .finding");
    var shown = 0;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getClientRects().length > 0) { shown++; }
    }
    counter.textContent = shown + " of " + rows.length + " findings shown";
  }
  function pick(levels) {
    boxes.forEach(function (b) { b.checked = levels.indexOf(b.value) >= 0; });
    update();
  }
  boxes.forEach(function (b) { b.addEventListener("change", update); });
  var buttons = document.querySelectorAll("button[data-levels]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function (ev) {
      pick(ev.currentTarget.getAttribute("data-levels").split(" "));
    });
  }
  update();
})();
"""


def _t(text: object) -> str:
    """One-line text from the scan, made visible and escaped for HTML text or attributes."""
    return escape(visible(str(text)), quote=True)


def _pre(text: str) -> str:
    if len(text) > MAX_VALUE_CHARS:
        more = len(text) - MAX_VALUE_CHARS
        text = f"{text[:MAX_VALUE_CHARS]}\n… {more} more characters (full text in the JSON report)"
    return f"<pre>{escape(visible(text, multiline=True), quote=True)}</pre>"


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        return "\n".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    return json.dumps(value, indent=2, ensure_ascii=False)


def _evidence(f: Finding) -> str:
    ev = jsonable(f.evidence)
    if not isinstance(ev, dict) or not ev:
        return ""
    keys = [k for k in _FIRST if k in ev] + [k for k in ev if k not in _FIRST]
    rows = [f"<dt>{_t(k)}</dt><dd>{_pre(_value_text(ev[k]))}</dd>" for k in keys]
    return '<dl class="evidence">' + "".join(rows) + "</dl>"


def _finding(f: Finding, titles: dict[str, str], css: str = "finding") -> str:
    sev = str(f.severity)
    tag = ""
    if f.disposition == Disposition.WARN:
        tag = ' <span class="tag">warn only: never blocks</span>'
    elif f.disposition == Disposition.SUPPRESSED:
        tag = ' <span class="tag">suppressed by the policy</span>'
    inner = "".join(f"<li><code>{_t(p)}</code></li>" for p in f.location.inner)
    where = f"<ol>{inner}</ol>" if inner else "the file itself"
    title = titles.get(f.rule_id, "")
    return (
        f'<article class="{css} sev-{sev}">'
        f'<div><span class="sev {sev}">{sev}</span> '
        f'<a href="#rule-{_t(f.rule_id)}"><code>{_t(f.rule_id)}</code></a> '
        f'<span class="muted">{_t(title)}</span> '
        f'<span class="muted">· confidence {_t(f.confidence)}</span>{tag}</div>'
        f'<p class="msg">{_t(f.message)}</p>'
        f'<div class="where muted">at {where}</div>'
        f"{_evidence(f)}</article>"
    )


def _file(index: int, r: FileResult, titles: dict[str, str]) -> str:
    label = file_label(r)
    meta = [", ".join(r.formats) or "no known format", f"{r.size:,} bytes", r.status]
    if r.bytes_fetched is not None:  # a remote file: what judging it cost
        meta.append(
            f"{r.bytes_fetched:,} bytes fetched" + (f" at {r.revision}" if r.revision else "")
        )
    if r.sha256:
        meta.append(f"sha256 {r.sha256}")
    findings = "".join(_finding(f, titles) for f in sorted_findings(r.findings))
    if not r.findings:
        findings = '<p class="nofindings muted">No findings.</p>'
    if r.suppressed:
        hidden = "".join(
            _finding(f, titles, "finding-suppressed") for f in sorted_findings(r.suppressed)
        )
        findings += (
            f'<details class="suppressed"><summary>{len(r.suppressed)} finding(s) suppressed by '
            f"the policy</summary>{hidden}</details>"
        )
    return (
        f'<section class="file l-{label}" id="file-{index}">'
        f'<header><h3><span class="verdict l-{label}">{_t(label)}</span> '
        f'<span class="path">{_t(r.path)}</span></h3>'
        f'<p class="meta muted">{_t(LABEL_WORDS[label])} · '
        f"{_t(' · '.join(meta))}</p></header>"
        f"{findings}</section>"
    )


def _overview_row(index: int, r: FileResult) -> str:
    label = file_label(r)
    worst = r.max_severity
    worst_cell = f'<span class="sev {worst}">{worst}</span>' if worst is not None else "–"
    return (
        f'<tr class="file-row l-{label}"><td><span class="verdict l-{label}">'
        f"{_t(label)}</span></td>"
        f'<td><a class="path" href="#file-{index}">{_t(r.path)}</a></td>'
        f"<td>{_t(', '.join(r.formats) or '–')}</td>"
        f'<td class="num">{len(r.findings)}</td><td>{worst_cell}</td></tr>'
    )


def _rules_section(report: Report) -> tuple[str, dict[str, str]]:
    from modelxray.rules import ALL_RULES

    used = sorted({f.rule_id for r in report.files for f in (*r.findings, *r.suppressed)})
    titles: dict[str, str] = {}
    parts = []
    for rule_id in used:
        rule = ALL_RULES.get(rule_id)
        if rule is None:
            parts.append(
                f'<details class="rule" id="rule-{_t(rule_id)}"><summary><code>{_t(rule_id)}'
                "</code> (not in this version's rule catalogue)</summary></details>"
            )
            continue
        titles[rule_id] = rule.title
        parts.append(
            f'<details class="rule" id="rule-{_t(rule.id)}"><summary><code>{_t(rule.id)}</code> '
            f'{_t(rule.title)} <span class="sev {rule.severity}">{rule.severity}</span>'
            f"</summary><p>{_t(rule.summary())}</p>{_pre(rule.page())}</details>"
        )
    if not parts:
        return "", titles
    return "<h2>Rules that fired</h2>" + "".join(parts), titles


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def to_html(report: Report) -> str:
    counts = report.counts()
    verdicts = verdict_counts(report)
    blocked, error, allowed = (
        verdicts[v] for v in (Verdict.BLOCKED, Verdict.ERROR, Verdict.ALLOWED)
    )
    rules_html, titles = _rules_section(report)
    gate_class = "report" if report.report_only else ("failed" if report.failed else "passed")
    gate_line = (
        f"Gate: {gate_text(report)} — {blocked} blocked, {error} error, "
        f"{allowed} allowed of {len(report.files)} file(s); "
        f"policy: {policy_text(report)}"
    )
    total = sum(counts.values())
    n_suppressed = sum(len(r.suppressed) for r in report.files)
    suppressed_note = f" ({n_suppressed} more suppressed by the policy)" if n_suppressed else ""
    state = "report only" if report.report_only else ("FAILED" if report.failed else "passed")

    sev_cards = "".join(
        f'<div class="card {s}{" zero" if counts[str(s)] == 0 else ""}">'
        f'<span class="n">{counts[str(s)]}</span>{s}</div>'
        for s in SEVERITIES_DESC
    )
    verdict_cards = "".join(
        f'<div class="card{" zero" if verdicts[v] == 0 else ""}"><span class="n">{verdicts[v]}'
        f'</span><span class="verdict v-{v}">{_t(VERDICT_WORDS[v])}</span></div>'
        for v in VERDICTS
    )
    # The boxes sit before the filter bar and the findings, as their siblings, so that CSS
    # alone can hide rows and mark the labels; the labels in the bar are what one clicks.
    inputs = "".join(
        f'<input type="checkbox" class="sev-filter" id="show-{s}" value="{s}" checked>'
        for s in SEVERITIES_DESC
    )
    labels = "".join(
        f'<label for="show-{s}" id="label-{s}"><span class="box"></span>'
        f'<span class="sev {s}">{s}</span> ({counts[str(s)]})</label>'
        for s in SEVERITIES_DESC
    )
    high_up = " ".join(str(s) for s in SEVERITIES_DESC if s >= Severity.HIGH)
    all_levels = " ".join(str(s) for s in SEVERITIES_DESC)
    overview = "".join(_overview_row(i, r) for i, r in enumerate(report.files))
    files = "".join(_file(i, r, titles) for i, r in enumerate(report.files))
    if not report.files:
        files = '<p class="muted">No files were scanned.</p>'

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_csp(_SCRIPT)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="modelxray {_t(__version__)}">
<title>modelxray report: {state}</title>
<style>{_CSS}{_FILTER_CSS}</style>
</head>
<body>
<main>
<header id="summary">
<h1>modelxray report</h1>
<p class="muted">{len(report.files)} file(s), {total} finding(s){suppressed_note}, scanned in \
{report.seconds:.2f}s by modelxray {_t(__version__)}. Nothing was loaded or executed: \
files were read as data.</p>
<div class="gate {gate_class}" id="gate">{_t(gate_line)}</div>
<h2>Findings by severity</h2>
<div class="cards" id="severity-counts">{sev_cards}</div>
<h2>Files by verdict</h2>
<div class="cards" id="verdict-counts">{verdict_cards}</div>
</header>
<h2>Files</h2>
<table id="overview">
<thead><tr><th>Verdict</th><th>File</th><th>Formats</th><th>Findings</th><th>Worst</th></tr>
</thead>
<tbody>{overview}</tbody>
</table>
<h2>Findings</h2>
{inputs}<div class="filters" id="filters"><strong>Show:</strong>{labels}
<button type="button" data-levels="{high_up}" hidden>high and above</button>
<button type="button" data-levels="{all_levels}" hidden>all</button>
<span id="shown-count" class="muted"></span></div>
<div id="files">{files}</div>
{rules_html}
<footer class="muted">File names, messages and evidence come from the scanned files and are \
shown as text only. Control and direction-changing characters are spelled out \
(<code>\\x1b</code>, <code>\\u202e</code>).</footer>
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def write(report: Report, out: TextIO) -> None:
    out.write(to_html(report))
