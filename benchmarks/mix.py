"""The Keras-heavy real mix: modelxray against the peers on the files a model gate sees.

Builds (once, cached) a folder of distinct benign model files made by the real libraries, at
least 30 % of them Keras (``.keras`` and legacy ``.h5``), plus PyTorch zip and legacy
checkpoints, TorchScript, pickles, joblib, NumPy, SafeTensors, ONNX and GGUF
(``corpus.keras_mix_folder``).  Every tool scans the whole folder as one process, in
interleaved rounds (the order rotates each round), and the medians of wall and CPU seconds are
reported with the number of files each tool says it judged.  Then, in this process, the
per-format cost of modelxray's engine: milliseconds per file for a typical small file of each
format.

    python benchmarks/mix.py                      # build if needed, 5 rounds, all peers
    python benchmarks/mix.py --rounds 7 --tools modelxray,modelscan
    python benchmarks/mix.py --modelxray current  # this checkout's environment, no venv

Results go to ``benchmarks/results/mix-<date>.{md,json}`` with the load average around the
runs.  Nothing here is a timed assertion.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for p in (str(HERE), str(REPO)):
    if p not in sys.path:
        sys.path.insert(0, p)

import corpus  # noqa: E402
import peers  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "torch")

KERAS_EXTS = ("keras", "h5")


def build(root: Path, n: int, log: Any = print) -> dict[str, Any]:
    stamp = root.with_name(root.name + ".json")  # beside the folder: not scanned with it
    if stamp.exists():
        meta = json.loads(stamp.read_text())
        if meta.get("n") == n:
            return dict(meta)
    log(f"building the Keras-heavy mix ({n} files) in {root} …")
    counts = corpus.keras_mix_folder(root, n)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir() if p.is_file()}
    files = sum(counts.values())
    meta = {"n": n, "files": files, "distinct": len(digests), "counts": counts}
    stamp.write_text(json.dumps(meta, indent=1))
    return meta


def _judged_by_modelxray(report: Path) -> int | None:
    try:
        doc = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return sum(1 for f in doc.get("files", []) if f.get("status") == "scanned")


def run_tools(
    tools: list[peers.Tool],
    folder: Path,
    work: Path,
    rounds: int,
    log: Any = print,
    once: frozenset[str] = frozenset(),
) -> dict[str, dict[str, Any]]:
    """Interleaved rounds; a tool in ``once`` (one that takes minutes per run) runs only in
    the first round, with no warm-up run."""
    out: dict[str, dict[str, Any]] = {
        t.name: {"wall": [], "cpu": [], "rss": [], "judged": None, "outcome": None} for t in tools
    }
    for t in tools:  # warm-up: bytecode caches, page cache
        if t.name not in once:
            t.run(folder, work / "warmup" / t.name, timeout=1800)
    for r in range(rounds):
        order = tools[r % len(tools) :] + tools[: r % len(tools)]
        for t in order:
            if r > 0 and t.name in once:
                continue
            wd = work / "mix" / t.name
            run, outcome = t.run(folder, wd, timeout=1800)
            res = out[t.name]
            res["wall"].append(run.wall)
            res["cpu"].append(run.cpu)
            res["rss"].append(run.maxrss_mb)
            res["outcome"] = outcome.kind
            judged = outcome.judged
            if t.name == "modelxray":
                judged = _judged_by_modelxray(wd / "report.json")
            res["judged"] = judged
            log(f"round {r + 1}/{rounds} {t.name:<11} {run.wall:7.2f}s wall {run.cpu:7.2f}s cpu "
                f"judged {judged} ({outcome.kind})")  # fmt: skip
    return out


def per_format(folder: Path, per_ext: int = 20) -> dict[str, dict[str, float]]:
    """In-process engine milliseconds per file, by format (median over ``per_ext`` files)."""
    import modelxray
    from modelxray.engine import ScanOptions

    options = ScanOptions()
    by_ext: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file():
            ext = p.name.split(".", 1)[1]
            by_ext.setdefault(ext, []).append(p)
    out: dict[str, dict[str, float]] = {}
    for ext, paths in sorted(by_ext.items()):
        sample = paths[:per_ext]
        modelxray.scan(str(sample[0]), options)  # warm: lazy readers imported
        times = []
        for p in sample:
            t0 = time.perf_counter()
            modelxray.scan(str(p), options)
            times.append((time.perf_counter() - t0) * 1000)
        out[ext] = {"median_ms": statistics.median(times), "max_ms": max(times), "n": len(sample)}
    return out


def render(meta: dict[str, Any], res: dict[str, dict[str, Any]], fmt: dict[str, Any],
           info: dict[str, Any]) -> str:  # fmt: skip
    n = meta["files"]
    keras = sum(meta["counts"].get(e, 0) for e in KERAS_EXTS)
    lines = [
        f"# Keras-heavy real mix — {info['date']}",
        "",
        f"modelxray {info['rev']}; {n} distinct files ({meta['distinct']} distinct SHA-256), "
        f"{keras} of them Keras ({100 * keras / n:.0f} %: "
        + ", ".join(f"{k} {v}" for k, v in sorted(meta["counts"].items()))
        + f"); {info['rounds']} interleaved rounds, medians"
        + (f" ({', '.join(sorted(info['once']))}: one round)" if info.get("once") else "")
        + f"; {os.cpu_count()} CPUs; "
        f"1-min load average {info['load'][0]:.2f} before, {info['load'][1]:.2f} after.",
        "",
        "| tool | wall s | CPU s | files/s | peak MB | files judged | outcome |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in res.items():
        if not r["wall"]:
            continue
        wall, cpu = statistics.median(r["wall"]), statistics.median(r["cpu"])
        judged = r["judged"] if r["judged"] is not None else "?"
        lines.append(
            f"| {name} | {wall:.2f} | {cpu:.2f} | {n / wall:.0f} | {max(r['rss']):.0f} | "
            f"{judged} | {r['outcome']} |"
        )
    mx = res.get("modelxray")
    if mx and mx["wall"]:
        lines += ["", "## Targets", ""]
        mw, mc = statistics.median(mx["wall"]), statistics.median(mx["cpu"])
        for peer, factor, also_cpu in (("modelscan", 2.0, True), ("modelaudit", 10.0, False)):
            r = res.get(peer)
            if not r or not r["wall"]:
                continue
            pw, pc = statistics.median(r["wall"]), statistics.median(r["cpu"])
            ok = pw / mw >= factor and (not also_cpu or mc <= pc)
            cpu_part = f", CPU {mc:.2f} s vs {pc:.2f} s" if also_cpu else ""
            cpu_goal = " and ≤ its CPU" if also_cpu else ""
            verdict = "met" if ok else "not met"
            lines.append(
                f"- ≥ {factor:g} × {peer}'s files/s{cpu_goal}: {pw / mw:.1f} ×{cpu_part} "
                f"— **{verdict}**"
            )
        judged = mx["judged"]
        lines.append(
            f"- every file judged: {judged} of {n} — **{'met' if judged == n else 'not met'}**"
        )
    if fmt:
        lines += ["", "## In-process engine time per file, by format", "",
                  "| format | median ms | max ms | files |", "|---|---:|---:|---:|"]  # fmt: skip
        for ext, f in fmt.items():
            lines.append(f"| .{ext} | {f['median_ms']:.2f} | {f['max_ms']:.2f} | {f['n']:.0f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=720, help="files in the mix (default 720)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--tools", default="modelxray,modelscan,picklescan,modelaudit")
    ap.add_argument("--modelxray", choices=("venv", "current"), default="venv")
    ap.add_argument("--no-install", action="store_true")
    ap.add_argument(
        "--once",
        default="modelaudit",
        help="tools timed in one round only (minutes per run); '' for none (default modelaudit)",
    )
    ap.add_argument("--no-formats", action="store_true", help="skip the in-process rows")
    ap.add_argument("--work", type=Path, default=peers.CACHE / "work")
    ap.add_argument(
        "--out", type=Path, default=HERE / "results" / f"mix-{time.strftime('%Y-%m-%d')}.md"
    )
    args = ap.parse_args(argv)

    folder = args.work / "keras-mix"
    meta = build(folder, args.n)
    names = [x.strip() for x in args.tools.split(",") if x.strip()]
    tools: list[peers.Tool] = []
    for name in names:
        if name == "modelxray":
            t = peers.MODELXRAY_VENV if args.modelxray == "venv" else peers.MODELXRAY
        else:
            t = next(p for p in peers.PEERS if p.name == name)
        if not args.no_install and (name == "modelxray" or not t.installed()):
            t.install()
        tools.append(t)
    load = [os.getloadavg()[0]]
    once = frozenset(x.strip() for x in args.once.split(",") if x.strip())
    res = run_tools(tools, folder, args.work, args.rounds, once=once)
    load.append(os.getloadavg()[0])
    fmt = {} if args.no_formats else per_format(folder)
    rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    info = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rev": rev,
            "rounds": args.rounds, "load": load, "once": sorted(once & set(names)),
            "versions": {t.name: t.version() for t in tools}}  # fmt: skip
    text = render(meta, res, fmt, info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "info": info, "tools": res, "formats": fmt}, indent=1) + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
