"""Scan the real-world corpus with modelxray's library API at the default gate and report.

    python benchmarks/realworld/run.py                    # fetch (cached) + scan everything
    python benchmarks/realworld/run.py joblib numpy       # some packages
    python benchmarks/realworld/run.py --jobs 1 --out-dir /tmp/rw

Writes ``benchmarks/results/realworld-<date>.md`` and ``.json``: per package and per rule the
files blocked, errored (not fully parsed), unsupported and with medium findings, and every
blocked/errored file with the findings that decided its verdict.  Every file in the corpus is a
legitimate file published by a third party, so every blocked or errored file is a false alarm.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import fetch  # noqa: E402

# Severities as modelxray prints them, lowest first.
MEDIUM = "medium"
BLOCKING = ("high", "critical")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return out.stdout.strip() + ("+dirty-src" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def _finding(f: Any) -> dict[str, Any]:
    return {
        "rule": f.rule_id,
        "severity": str(f.severity),
        "disposition": f.disposition,
        "location": " › ".join(f.location.inner),
        "message": f.message,
        "evidence": _short(f.evidence),
    }


def _short(evidence: Any, limit: int = 300) -> str:
    """The finding's evidence as compact JSON, cut to ``limit`` characters."""
    try:
        text = json.dumps(evidence, ensure_ascii=False, default=str, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(evidence)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def deciding_findings(result: Any) -> list[Any]:
    """The findings that made a file blocked (or, for an error, the ones reported with it)."""
    import modelxray
    from modelxray.policy import Policy

    threshold = Policy().fail_on
    blocking = [
        f
        for f in result.findings
        if f.disposition == "block" and threshold is not None and f.severity >= threshold
    ]
    if result.verdict == "blocked" or blocking:
        return blocking
    # An error: not fully parsed.  Every finding at medium or above says why.
    return [f for f in result.findings if f.severity >= modelxray.Severity.MEDIUM] or list(
        result.findings
    )


def scan_package(root: Path, jobs: int) -> tuple[list[Any], float]:
    import modelxray
    from modelxray.policy import Policy

    options = modelxray.ScanOptions(policy=Policy(), jobs=jobs)
    started = time.perf_counter()
    report = modelxray.scan(str(root), options)
    return report.files, time.perf_counter() - started


def run(names: list[str] | None, jobs: int) -> dict[str, Any]:
    import modelxray

    load_before = os.getloadavg()
    started = time.perf_counter()
    cache = fetch.cache_dir()
    pkgs = fetch.load_packages()
    if names:
        pkgs = [p for p in pkgs if p.name in names]
    packages: list[dict[str, Any]] = []
    medium_messages: Counter[tuple[str, str]] = Counter()
    files: list[dict[str, Any]] = []
    for pkg in pkgs:
        root = fetch.extract(pkg, cache)
        results, seconds = scan_package(root, jobs)
        corpus = {str(p) for p in fetch.files_of(root)}
        counts: Counter[str] = Counter()
        for r in results:
            if os.path.abspath(r.path) not in corpus:
                continue  # bookkeeping files of the cache
            counts["files"] += 1
            counts[r.verdict] += 1
            if r.status == "unsupported":
                counts["unsupported"] += 1
            mediums = [f for f in r.findings if str(f.severity) == MEDIUM]
            if mediums:
                counts["files_with_medium"] += 1
                counts["medium_findings"] += len(mediums)
            rel = os.path.relpath(r.path, cache)
            entry = {
                "path": rel,
                "size": r.size,
                "formats": r.formats,
                "status": r.status,
                "verdict": r.verdict,
            }
            noted = [f for f in r.findings if str(f.severity) != "info"]
            for f in mediums:
                medium_messages[(f.rule_id, _md_escape(f.message, 160))] += 1
            if r.verdict != "allowed":
                entry["findings"] = [_finding(f) for f in noted]
                entry["deciding"] = [_finding(f) for f in deciding_findings(r)]
            else:
                # Allowed files: rule and severity only (the messages are aggregated below).
                if noted:
                    entry["findings"] = [
                        {"rule": f.rule_id, "severity": str(f.severity)} for f in noted
                    ]
            files.append(entry)
        packages.append(
            {
                "package": pkg.key,
                "dist": pkg.filename,
                "sha256": pkg.sha256,
                "seconds": round(seconds, 2),
                "files": counts["files"],
                "allowed": counts["allowed"],
                "blocked": counts["blocked"],
                "error": counts["error"],
                "unsupported": counts["unsupported"],
                "files_with_medium": counts["files_with_medium"],
                "medium_findings": counts["medium_findings"],
            }
        )
        print(
            f"{pkg.key:32s} {counts['files']:5d} files  blocked {counts['blocked']:3d}  "
            f"error {counts['error']:3d}  unsupported {counts['unsupported']:4d}  "
            f"medium {counts['medium_findings']:4d}  {seconds:6.1f}s",
            flush=True,
        )
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "modelxray": modelxray.__version__,
        "modelxray_module": os.path.dirname(modelxray.__file__),
        "commit": _git_commit(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "jobs": jobs,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.perf_counter() - started, 1),
        "gate": "default policy: fail_on=high, fail_on_unscannable=true, fail_on_unsupported=false",
        "packages": packages,
        "medium_messages": [
            {"rule": rule, "message": msg, "count": n}
            for (rule, msg), n in medium_messages.most_common()
        ],
        "files": files,
    }


def per_rule(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows: dict[str, Counter[str]] = defaultdict(Counter)
    for f in data["files"]:
        seen: set[tuple[str, str]] = set()
        for d in f.get("deciding", []):
            key = (d["rule"], f["verdict"])
            if key not in seen:
                rows[d["rule"]][f["verdict"]] += 1
                seen.add(key)
        rules_medium = Counter(x["rule"] for x in f.get("findings", []) if x["severity"] == MEDIUM)
        for rule, n in rules_medium.items():
            rows[rule]["medium_findings"] += n
            rows[rule]["files_with_medium"] += 1
        if f["status"] == "unsupported":
            for rule in {x["rule"] for x in f.get("findings", [])}:
                rows[rule]["unsupported"] += 1
    out = []
    for rule, c in sorted(rows.items(), key=lambda kv: (-kv[1]["blocked"] - kv[1]["error"], kv[0])):
        out.append({"rule": rule, **{k: c[k] for k in _RULE_COLS}})
    return out


MAX_ROWS_PER_FILE = 3
_RULE_COLS = ("blocked", "error", "unsupported", "files_with_medium", "medium_findings")


def _md_escape(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def causes(bad: list[dict[str, Any]]) -> list[tuple[tuple[str, str, str], list[str]]]:
    """Blocked/errored files grouped by deciding rule and message (offsets elided)."""
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for f in bad:
        keys = {
            (f["verdict"], d["rule"], re.sub(r"\boffset \d+", "offset N", d["message"]))
            for d in f["deciding"]
        } or {(f["verdict"], "", "(no finding)")}
        for key in sorted(keys):
            groups[key].append(f["path"])
    return sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))


def _evidence(d: dict[str, Any]) -> str:
    ev = d.get("evidence")
    if not ev or ev == "{}":
        return ""
    return " — evidence: `" + _md_escape(ev, 160).replace("`", "'") + "`"


def markdown(data: dict[str, Any]) -> str:
    pk = data["packages"]
    tot = Counter()
    for p in pk:
        for k in ("files", "allowed", "blocked", "error", "unsupported", "medium_findings"):
            tot[k] += p[k]
        tot["files_with_medium"] += p["files_with_medium"]
    lines = [
        f"# Real-world corpus: modelxray {data['modelxray']} ({data['commit']})",
        "",
        f"- date: {data['date']}; Python {data['python']}; {data['cpus']} CPUs, "
        f"{data['jobs']} scan jobs; load average before {data['loadavg_before']}, "
        f"after {data['loadavg_after']}; {data['seconds']} s in all (fetch + scan)",
        f"- gate: {data['gate']}",
        f"- corpus: {len(pk)} pinned dists of {len({p['package'].rsplit('-', 1)[0] for p in pk})} "
        f"packages, {tot['files']} files (`benchmarks/realworld/packages.toml`)",
        f"- **{tot['blocked']} blocked, {tot['error']} error** (every one a false alarm: "
        f"all files are legitimate), {tot['unsupported']} unsupported, "
        f"{tot['medium_findings']} medium findings on {tot['files_with_medium']} files",
        "",
        "## Per package",
        "",
        "| package | files | blocked | error | unsupported | files with medium | medium findings |"
        " seconds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in pk:
        lines.append(
            f"| {p['package']} | {p['files']} | {p['blocked']} | {p['error']} | "
            f"{p['unsupported']} | {p['files_with_medium']} | {p['medium_findings']} | "
            f"{p['seconds']} |"
        )
    lines.append(
        f"| **total** | {tot['files']} | {tot['blocked']} | {tot['error']} | "
        f"{tot['unsupported']} | {tot['files_with_medium']} | {tot['medium_findings']} | |"
    )
    lines += [
        "",
        "## Per rule",
        "",
        "`blocked`/`error`: files whose verdict this rule's finding decided; `unsupported`: "
        "unsupported files carrying a finding of this rule.",
        "",
        "| rule | blocked | error | unsupported | files with medium | medium findings |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in per_rule(data):
        lines.append(
            f"| {r['rule']} | {r['blocked']} | {r['error']} | {r['unsupported']} | "
            f"{r['files_with_medium']} | {r['medium_findings']} |"
        )
    bad = [f for f in data["files"] if f["verdict"] != "allowed"]
    lines += [
        "",
        "## Blocked and errored files by cause",
        "",
        "A file appears once per distinct deciding finding (rule + message, offsets elided).",
        "",
        "| verdict | rule | files | packages | message | example |",
        "|---|---|---:|---|---|---|",
    ]
    for (verdict, rule, msg), paths in causes(bad):
        pkgs = sorted({p.split("/", 1)[0] for p in paths})
        lines.append(
            f"| {verdict} | {rule} | {len(paths)} | {', '.join(pkgs)} | {_md_escape(msg, 160)} | "
            f"`{paths[0]}` |"
        )
    lines += ["", f"## Every blocked or errored file ({len(bad)})", ""]
    if not bad:
        lines.append("None.")
    else:
        lines += [
            "| file | verdict | rule | severity | where | message |",
            "|---|---|---|---|---|---|",
        ]
        for f in bad:
            deciding = f["deciding"] or [{}]
            shown = deciding[:MAX_ROWS_PER_FILE]
            if len(deciding) > len(shown):
                more = len(deciding) - len(shown)
                shown.append({"message": f"(+{more} more findings like these, see the .json)"})
            for i, d in enumerate(shown):
                lines.append(
                    f"| {'`' + f['path'] + '`' if i == 0 else '〃'} | {f['verdict']} | "
                    f"{d.get('rule', '')} | {d.get('severity', '')} | "
                    f"{_md_escape(d.get('location', ''), 80)} | "
                    f"{_md_escape(d.get('message', ''))}{_evidence(d)} |"
                )
    lines += [
        "",
        "## Medium findings, most frequent messages",
        "",
        "| rule | count | message |",
        "|---|---:|---|",
    ]
    for m in data["medium_messages"][:60]:
        lines.append(f"| {m['rule']} | {m['count']} | {_md_escape(m['message'], 160)} |")
    lines.append("")
    return "\n".join(lines)


def dump_json(data: dict[str, Any]) -> str:
    """Indented JSON with one line per file, so that runs diff line by line."""
    head = json.dumps({k: v for k, v in data.items() if k != "files"}, indent=1, ensure_ascii=False)
    rows = ",\n".join(
        "  " + json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in data["files"]
    )
    return head[:-2] + ',\n "files": [\n' + rows + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("names", nargs="*", help="package names (default: all)")
    ap.add_argument("--jobs", type=int, default=0, help="scan processes (0: one per core)")
    ap.add_argument("--out-dir", default=str(REPO / "benchmarks" / "results"))
    ap.add_argument("--stem", default=None, help="output name (default realworld-<date>)")
    args = ap.parse_args(argv)
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    data = run(args.names or None, jobs)
    stem = args.stem or f"realworld-{dt.date.today().isoformat()}"
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(dump_json(data))
    (out / f"{stem}.md").write_text(markdown(data))
    print(f"wrote {out / (stem + '.md')} and .json", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
