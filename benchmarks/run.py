"""Benchmark modelxray against picklescan, fickling, modelscan and modelaudit: one command.

    python benchmarks/run.py [--quick] [--out benchmarks/results/latest.md]

Builds the corpus (benchmarks/corpus.py), installs each peer from PyPI into its own venv under
``~/.cache/modelxray-bench/venvs/`` (and modelxray from this checkout into one too), runs every
tool as a subprocess on the same inputs, and writes a Markdown table: detection per technique
family, false positives on the benign set, wall time and peak memory per input class, and the
performance targets with whether each is met.  See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus as corpus_mod  # noqa: E402
import peers  # noqa: E402
from corpus import BENIGN, BENIGN_LAMBDA, FAMILIES, MALICIOUS, Corpus, Item  # noqa: E402
from peers import CLEAN, DETECT, ERROR, NA, SKIP, Outcome, Run, Tool  # noqa: E402

PERF_CLASSES = {
    "small-pickle": "one small malicious pickle (59 B), start to exit",
    "folder": "folder of {n} distinct small files (mixed formats)",
    "opcode-pickle": "10 MB opcode-heavy pickle (2 M-int list)",
    "big-pickle": "pickle with a 1 GiB bytes payload (sparse), gadget after it",
    "big-checkpoint": "3 GiB `torch.save` ZIP checkpoint (sparse stored record)",
}
SMALL_PEAK_MB = 64.0  # target: the 10 MB opcode-heavy pickle within this peak RSS
FLAT_MB = 32.0  # "flat memory": peak RSS within this of the same tool's small-pickle run


@dataclass
class PerfResult:
    tool: str
    klass: str
    walls: list[float] = field(default_factory=list)
    rss: list[float] = field(default_factory=list)
    outcome: Outcome | None = None
    report: dict[str, Any] | None = None  # modelxray's JSON report (for the overhead split)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def peak(self) -> float:
        return max(self.rss) if self.rss else float("nan")


@dataclass
class Results:
    tools: list[Tool]
    versions: dict[str, str]
    detection: dict[tuple[str, str], Outcome] = field(default_factory=dict)  # (item, tool)
    perf: dict[tuple[str, str], PerfResult] = field(default_factory=dict)  # (class, tool)
    started: str = ""
    seconds: float = 0.0
    markers: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # 1-min load average around the timing runs


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------- running


def run_detection(c: Corpus, tools: Sequence[Tool], work: Path, jobs: int) -> dict:
    """Every tool once on every benign and malicious item (deterministic: one run each)."""
    out: dict[tuple[str, str], Outcome] = {}
    tasks = [(item, t) for item in c.items for t in tools]

    def one(task: tuple[Item, Tool]) -> tuple[tuple[str, str], Outcome]:
        item, t = task
        if item.path.is_dir() and not t.supports_dir:
            return (item.name, t.name), Outcome(NA, -1, "no directory mode")
        wd = work / "det" / t.name / item.name.replace("/", "_")
        _, outcome = t.run(item.path, wd, timeout=300)
        return (item.name, t.name), outcome

    done = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for key, outcome in pool.map(one, tasks):
            out[key] = outcome
            done += 1
            if done % 100 == 0:
                log(f"detection: {done}/{len(tasks)} runs")
    return out


def run_perf(c: Corpus, tools: Sequence[Tool], work: Path, quick: bool) -> dict:
    out: dict[tuple[str, str], PerfResult] = {}
    for klass, path in c.perf.items():
        n = (3 if quick else 7) if klass == "small-pickle" else (1 if quick else 3)
        for t in tools:
            res = PerfResult(t.name, klass)
            out[(klass, t.name)] = res
            if path.is_dir() and not t.supports_dir:
                res.outcome = Outcome(NA, -1, "no directory mode")
                continue
            for _ in range(n):
                wd = work / "perf" / t.name / klass
                r, outcome = t.run(path, wd, timeout=900)
                res.walls.append(r.wall)
                res.rss.append(r.maxrss_mb)
                res.outcome = outcome
                if t.name == "modelxray":
                    res.report = corpus_json(wd / "report.json")
                if r.timed_out:
                    break
            log(f"perf {klass:<15} {t.name:<11} {res.wall:8.3f}s {res.peak:8.1f} MB "
                f"{res.outcome.kind if res.outcome else ''}")  # fmt: skip
    return out


def corpus_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def measure(c: Corpus, results: Results, work: Path, *, quick: bool, jobs: int = 2) -> None:
    """Warm every tool up, then the detection runs, then the (sequential) timing runs."""
    tools = results.tools
    log("warm-up: one run per tool (bytecode caches)")
    for t in tools:
        t.run(c.perf["small-pickle"], work / "warmup" / t.name)
    log("detection runs …")
    results.detection = run_detection(c, tools, work, jobs)
    log("performance runs (sequential) …")
    results.load.append(os.getloadavg()[0])
    results.perf = run_perf(c, tools, work, quick)
    results.load.append(os.getloadavg()[0])
    results.markers = sorted(glob.glob("/tmp/modelxray_marker*"))


# --------------------------------------------------------------------------- rendering


def _cell(outcomes: list[Outcome], good: str) -> str:
    """``detected/total`` (or ``flagged/total`` on the benign set) + error/skip counts."""
    applicable = [o for o in outcomes if o.kind != NA]
    if not applicable:
        return "n/a"
    hit = sum(o.kind == good for o in applicable)
    extra = []
    errors = sum(o.kind == ERROR for o in applicable)
    skips = sum(o.kind == SKIP for o in applicable)
    if errors:
        extra.append(f"{errors} err")
    if skips:
        extra.append(f"{skips} skip")
    na = len(outcomes) - len(applicable)
    if na:
        extra.append(f"{na} n/a")
    text = f"{hit}/{len(applicable)}"
    if good == DETECT and hit == len(applicable):
        text = f"**{text}**"
    return text + (f" ({', '.join(extra)})" if extra else "")


def _fmt_s(x: float) -> str:
    if x != x:  # nan
        return "–"
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def _files_per_s(res: PerfResult, n: int) -> float:
    return n / res.wall if res.walls and res.wall > 0 else float("nan")


def render(c: Corpus, r: Results, quick: bool) -> str:
    names = [t.name for t in r.tools]
    L: list[str] = []
    add = L.append
    add("# modelxray vs. peer scanners: benchmark results")
    add("")
    cmd = "python benchmarks/run.py" + (" --quick" if quick else "")
    add(f"Generated by `{cmd}` on {r.started} in {r.seconds / 60:.1f} min.  Machine: "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}.")  # fmt: skip
    add("")
    add("| tool | version | how it was run |")
    add("|---|---|---|")
    how = {
        "modelxray": "`modelxray scan --no-policy -f json -o F PATH` "
        "(file verdict `blocked`; `error` = unscannable, fails the gate)",
        "picklescan": "`picklescan -p PATH` (exit 1 = dangerous global, 2 = scan error)",
        "fickling": "`fickling --check-safety --json-output F PATH` (exit 1 = above LIKELY_SAFE)",
        "modelscan": "`modelscan -p PATH -r json -o F --show-skipped -l ERROR` "
        "(`issues[]`; exit 2 = errors, 3 = nothing scanned)",
        "modelaudit": "`modelaudit scan --no-cache -f json -o F PATH` "
        "(CRITICAL/WARNING issues, exit 1; exit 2 = error or incomplete coverage)",
    }
    for t in r.tools:
        add(f"| {t.name} | {r.versions.get(t.name, '?')} | {how.get(t.name, '')} |")
    add("")
    add("Cells: **detect** = the tool's own report flags the input (its documented exit code / "
        "JSON semantics); `err` = it failed or declared its scan incomplete *without* a finding; "
        "`skip` = it did not look at the input (unsupported, filtered by extension); `n/a` = no "
        "mode for this input (fickling has no directory mode).  Every tool ran with telemetry "
        "disabled (`PROMPTFOO_DISABLE_TELEMETRY=1 NO_ANALYTICS=1 DO_NOT_TRACK=1`).")  # fmt: skip
    add("")

    # ---- targets
    add("## Performance targets")
    add("")
    add("| target | measured | met? |")
    add("|---|---|---|")
    rows = targets(c, r)
    for row in rows:
        add("| " + " | ".join(row) + " |")
    add("")
    missed = [row[0] for row in rows if row[2].startswith("not met")]
    if missed:
        add("Why a target is not met:")
        add("")
        for label in missed:
            key = "small" if label.startswith("small") else "folder" if "folder" in label else ""
            add(f"- *{label}*: {_WHY_MISSED.get(key, _WHY_DEFAULT)}")
        add("")

    # ---- performance table
    add("## Wall time and peak memory per input class")
    add("")
    add("Whole process, spawn to exit (median of "
        f"{'3' if quick else '7'} runs for the small pickle, {'1' if quick else '3'} for the "
        "others; every tool warmed once first so its bytecode cache exists).  Peak RSS is the "
        "process's own `ru_maxrss` from `wait4`.  *ratio* = modelxray time / peer time "
        "(below 1: modelxray is faster).")  # fmt: skip
    if r.load:
        add("")
        add(f"1-minute load average before / after the timing runs: "
            f"{' / '.join(f'{x:.1f}' for x in r.load)} on {os.cpu_count()} CPUs (other work on "
            "the machine slows every tool alike; compare ratios, not absolute times).")  # fmt: skip
    add("")
    add("| input class | " + " | ".join(names) + " |")
    add("|---|" + "---|" * len(names))
    for klass in c.perf:
        label = PERF_CLASSES[klass].format(n=c.folder_files)
        cells = []
        mx = r.perf.get((klass, "modelxray"))
        for t in names:
            res = r.perf.get((klass, t))
            if res is None or not res.walls:
                cells.append("n/a")
                continue
            text = f"{_fmt_s(res.wall)}"
            if len(res.walls) > 1:
                text += f" (min {_fmt_s(min(res.walls))})"
            text += f", {res.peak:.0f} MB"
            if klass == "folder":
                text += f", {_files_per_s(res, c.folder_files):.0f} files/s"
            if res.outcome:
                text += f", {res.outcome.kind}"
            if t != "modelxray" and mx and mx.walls and res.wall > 0:
                text += f"; ratio {mx.wall / res.wall:.2f}"
            cells.append(text)
        add(f"| {label} | " + " | ".join(cells) + " |")
    add("")
    folder = r.perf.get(("folder", "modelxray"))
    if folder and folder.report:
        add(overhead_note(folder, c.folder_files))
        add("")
    fol = [(t, r.perf.get(("folder", t))) for t in names]
    judged = [
        f"{t}: judged {res.outcome.judged if res.outcome.judged is not None else '?'}, "
        f"flagged {len(res.outcome.flagged & c.folder_planted)}/{len(c.folder_planted)} planted"
        for t, res in fol
        if res and res.outcome and res.outcome.kind != NA
    ]
    if judged:
        add(f"Folder ({c.folder_files} files, {len(c.folder_planted)} of them planted malicious "
            f"pickles): " + "; ".join(judged) + ".")  # fmt: skip
        add("")

    # ---- detection per family
    mal = c.of(MALICIOUS)
    add(f"## Detection per technique family ({len(mal)} harmless malicious samples)")
    add("")
    add("| family | technique | n | " + " | ".join(names) + " |")
    add("|---|---|---|" + "---|" * len(names))
    order = {k: i for i, k in enumerate(FAMILIES)}
    fams = sorted({i.family for i in mal}, key=lambda f: order.get(f, 999))
    for fam in fams:
        items = [i for i in mal if i.family == fam]
        cells = [_cell([r.detection[(i.name, t)] for i in items], DETECT) for t in names]
        add(f"| {fam} | {FAMILIES.get(fam, '')} | {len(items)} | " + " | ".join(cells) + " |")
    totals = [_cell([r.detection[(i.name, t)] for i in mal], DETECT) for t in names]
    add("| **all** | | " + str(len(mal)) + " | " + " | ".join(totals) + " |")
    add("")

    # ---- false positives
    add("## False positives on the benign set")
    add("")
    add("Cells: files the tool flagged / files it could judge (a flag on a benign file is a false "
        "positive).  Benign Keras models with a `Lambda` layer are listed apart: loading them "
        "does run (harmless) code, so flagging them is defensible.")  # fmt: skip
    add("")
    add("| benign set | n | " + " | ".join(names) + " |")
    add("|---|---|" + "---|" * len(names))
    for group, label in ((BENIGN, "benign models"), (BENIGN_LAMBDA, "benign Keras Lambda")):
        items = c.of(group)
        if not items:
            continue
        by_kind: dict[str, list[Item]] = {}
        for i in items:
            by_kind.setdefault(i.family, []).append(i)
        for kind, its in sorted(by_kind.items()):
            cells = [_cell([r.detection[(i.name, t)] for i in its], DETECT) for t in names]
            cells = [x.replace("**", "") for x in cells]
            add(f"| {label}: {kind} | {len(its)} | " + " | ".join(cells) + " |")
        cells = [_cell([r.detection[(i.name, t)] for i in items], DETECT).replace("**", "")
                 for t in names]  # fmt: skip
        add(f"| **{label}, all** | {len(items)} | " + " | ".join(cells) + " |")
    add("")
    add(f"Payload tripwire: {'no' if not r.markers else len(r.markers)} "
        "`/tmp/modelxray_marker*` file appeared during the run"
        + (f" ({', '.join(r.markers)})" if r.markers else "") + ".")  # fmt: skip
    add("")

    # ---- per-sample appendix
    add("<details><summary>Per-sample outcomes</summary>")
    add("")
    add("| sample | group | family | " + " | ".join(names) + " |")
    add("|---|---|---|" + "---|" * len(names))
    for i in c.items:
        cells = []
        for t in names:
            o = r.detection[(i.name, t)]
            detail = o.detail.replace("|", "/")[:60]
            cells.append(f"{o.kind} ({o.rc}){': ' + detail if detail else ''}")
        add(f"| {i.name} | {i.group} | {i.family} | " + " | ".join(cells) + " |")
    add("")
    add("</details>")
    add("")
    return "\n".join(L)


def overhead_note(res: PerfResult, n: int) -> str:
    rep = res.report or {}
    files = rep.get("files", [])
    engine = float(rep.get("seconds", 0.0))
    per_file = sum(float(f.get("seconds", 0.0)) for f in files)
    status: dict[str, int] = {}
    for f in files:
        status[str(f.get("status"))] = status.get(str(f.get("status")), 0) + 1
    return (
        f"modelxray on the folder: process wall {res.wall:.2f} s, of which the engine reports "
        f"{engine:.2f} s scanning ({per_file:.2f} s summed over files, "
        f"{1000 * per_file / max(1, len(files)):.2f} ms/file) — the rest "
        f"({max(0.0, res.wall - engine):.2f} s) is interpreter start, imports and report "
        f"writing.  File statuses: "
        + ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
        + "."
    )


# Known causes, measured with benchmarks/startup.py and a profile of the folder run.
_WHY_MISSED = {
    "small": "for one tiny file the whole-process time is interpreter start-up plus imports "
    "(CLI, engine, sniffers, the pickle VM and its allow-list tables); the scan itself takes about "
    "a millisecond. `python benchmarks/startup.py` prints the import profile.",
    "folder": "modelxray sniffs every file by content with every reader's check and judges "
    "all of them (no routing by extension), and runs libhdf5 in a separate worker; the peers "
    "judge only the files whose extension they route (see the folder line below the timing "
    "table).",
}
_WHY_DEFAULT = "see the timing table and benchmarks/README.md."


def targets(c: Corpus, r: Results) -> list[list[str]]:
    rows: list[list[str]] = []

    def p(klass: str, tool: str) -> PerfResult | None:
        res = r.perf.get((klass, tool))
        return res if res and res.walls else None

    def parsed(res: PerfResult) -> str | None:
        """Why modelxray's number does not count (it did not really scan), or None."""
        if res.outcome is None or res.outcome.kind in (SKIP, ERROR):
            kind = res.outcome.kind if res.outcome else "?"
            detail = res.outcome.detail if res.outcome else ""
            return f"modelxray did not judge it ({kind}: {detail})"
        return None

    mx = p("small-pickle", "modelxray")
    peer_small = [(t.name, p("small-pickle", t.name)) for t in r.tools if t.name != "modelxray"]
    peer_small = [(n, x) for n, x in peer_small if x]
    if mx and peer_small:
        fastest, fres = min(peer_small, key=lambda x: x[1].wall)  # type: ignore[union-attr]
        assert fres is not None
        ok = mx.wall <= fres.wall
        why = parsed(mx)
        rows.append([
            "small pickle start-to-exit no slower than the fastest peer",
            f"modelxray {_fmt_s(mx.wall)} vs {fastest} {_fmt_s(fres.wall)} "
            f"(ratio {mx.wall / fres.wall:.2f})",
            ("**met**" if ok and not why else "not met") + (f" — {why}" if why else ""),
        ])  # fmt: skip
    mx = p("folder", "modelxray")
    if mx:
        rate = _files_per_s(mx, c.folder_files)
        parts, ok = [f"modelxray {rate:.0f} files/s"], True
        for peer, factor in (("modelscan", 2.0), ("modelaudit", 10.0)):
            pr = p("folder", peer)
            if pr:
                prate = _files_per_s(pr, c.folder_files)
                parts.append(
                    f"{peer} {prate:.0f} files/s ({rate / prate:.1f}×, need {factor:.0f}×)"
                )
                ok = ok and rate >= factor * prate
        judged = mx.outcome.judged if mx.outcome else None
        unsupported = 0
        if mx.report:
            unsupported = sum(f.get("status") == "unsupported" for f in mx.report.get("files", []))
        every = judged == c.folder_files and unsupported == 0
        parts.append(f"judged {judged}/{c.folder_files}, {unsupported} unsupported")
        rows.append([
            f"{c.folder_files}-file folder ≥ 2× modelscan and ≥ 10× modelaudit files/s, "
            "every file judged",
            "; ".join(parts),
            "**met**" if ok and every else "not met" + ("" if every else " (not all judged)"),
        ])  # fmt: skip
    base = p("small-pickle", "modelxray")
    for klass, label in (
        ("big-checkpoint", "3 GiB checkpoint"),
        ("big-pickle", "1 GiB-payload pickle"),
    ):
        res = p(klass, "modelxray")
        if not res:
            continue
        flat = base is not None and res.peak - base.peak <= FLAT_MB
        why = parsed(res)
        if res.outcome and res.outcome.kind == CLEAN and klass == "big-pickle":
            why = "the gadget after the payload was not found"
        ok = res.wall < 1.0 and flat and not why
        rows.append([
            f"{label}: well under 1 s, flat memory (≤ +{FLAT_MB:.0f} MB over the small pickle)",
            f"{_fmt_s(res.wall)}, {res.peak:.0f} MB (small pickle: "
            f"{base.peak if base else float('nan'):.0f} MB), "
            f"{res.outcome.kind if res.outcome else '?'}",
            ("**met**" if ok else "not met") + (f" — {why}" if why else ""),
        ])  # fmt: skip
    res = p("opcode-pickle", "modelxray")
    ms = p("opcode-pickle", "modelscan")
    if res:
        why = parsed(res)
        ratio = ms.wall / res.wall if ms else float("nan")
        ok = bool(ms) and ratio >= 3.0 and res.peak <= SMALL_PEAK_MB and not why
        rows.append([
            f"10 MB opcode-heavy pickle ≥ 3× faster than modelscan, ≤ {SMALL_PEAK_MB:.0f} MB peak",
            f"modelxray {_fmt_s(res.wall)}, {res.peak:.0f} MB; modelscan "
            f"{_fmt_s(ms.wall) if ms else '–'} ({ratio:.1f}× faster)",
            ("**met**" if ok else "not met") + (f" — {why}" if why else ""),
        ])  # fmt: skip
    return rows


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer timing runs")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "latest.md")
    ap.add_argument("--json", type=Path, help="also write raw results here (default: OUT .json)")
    ap.add_argument("--work", type=Path, default=peers.CACHE / "work", help="corpus + reports")
    ap.add_argument("--tools", default="modelxray,picklescan,fickling,modelscan,modelaudit",
                    help="comma-separated subset")  # fmt: skip
    ap.add_argument("--modelxray", choices=("venv", "current"), default="venv",
                    help="venv: install this checkout into its own venv like a user would "
                    "(default); current: the modelxray next to this Python")  # fmt: skip
    ap.add_argument("--no-install", action="store_true", help="use only tools already installed")
    ap.add_argument("--no-keras", action="store_true", help="skip the Keras corpus (faster)")
    ap.add_argument("--no-big", action="store_true", help="skip the large inputs")
    ap.add_argument("--folder-files", type=int, default=1200)
    ap.add_argument("--jobs", type=int, default=2, help="parallel detection runs")
    args = ap.parse_args(argv)

    started = time.time()
    wanted = [x.strip() for x in args.tools.split(",") if x.strip()]
    mx = peers.MODELXRAY_VENV if args.modelxray == "venv" else peers.MODELXRAY
    catalogue = {t.name: t for t in (mx, *peers.PEERS)}
    unknown = set(wanted) - set(catalogue)
    if unknown:
        ap.error(f"unknown tools: {', '.join(sorted(unknown))}")
    tools: list[Tool] = []
    for name in wanted:
        t = catalogue[name]
        if not args.no_install:
            try:
                t.install(log)
            except Exception as exc:  # noqa: BLE001 - a failed peer install drops the peer
                log(f"{name}: install failed ({exc}); left out")
                continue
        if t.installed():
            tools.append(t)
        else:
            log(f"{name}: not installed; left out")
    if not tools:
        log("no tool to run")
        return 2
    versions = {t.name: t.version() for t in tools}
    log("tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    for stale in glob.glob("/tmp/modelxray_marker*"):
        os.remove(stale)
    work = args.work.resolve()
    c = corpus_mod.build(
        work / "corpus",
        with_keras=not args.no_keras,
        big=not args.no_big,
        folder_files=args.folder_files,
        log=log,
    )
    log(f"corpus: {len(c.of(BENIGN))} benign, {len(c.of(BENIGN_LAMBDA))} benign-lambda, "
        f"{len(c.of(MALICIOUS))} malicious, perf inputs: {', '.join(c.perf)}")  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results = Results(tools, versions, started=stamp)

    measure(c, results, work, quick=args.quick, jobs=args.jobs)
    results.seconds = time.time() - started

    text = render(c, results, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    raw = args.json or args.out.with_suffix(".json")
    raw.write_text(json.dumps(to_json(c, results), indent=1), encoding="utf-8")
    log(f"wrote {args.out} and {raw}")
    print()
    print(text.split("<details>")[0])
    return 0


def to_json(c: Corpus, r: Results) -> dict[str, Any]:
    def oc(o: Outcome | None) -> dict[str, Any] | None:
        if o is None:
            return None
        return {"kind": o.kind, "rc": o.rc, "detail": o.detail, "judged": o.judged,
                "flagged": sorted(o.flagged)}  # fmt: skip

    return {
        "started": r.started,
        "seconds": r.seconds,
        "versions": r.versions,
        "items": [
            {
                "name": i.name,
                "group": i.group,
                "family": i.family,
                "note": i.note,
                "outcomes": {t.name: oc(r.detection.get((i.name, t.name))) for t in r.tools},
            }
            for i in c.items
        ],  # fmt: skip
        "perf": [
            {"class": k, "tool": t, "walls": v.walls, "rss_mb": v.rss, "outcome": oc(v.outcome)}
            for (k, t), v in r.perf.items()
        ],
        "folder_files": c.folder_files,
        "markers": r.markers,
    }


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Run", "main"]
