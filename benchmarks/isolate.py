"""Plain scan against ``scan --isolate`` on the same folders (issue 16, item 7).

    python benchmarks/isolate.py [-n RUNS] [--realworld DIR] [--out FILE.md]

Times whole ``modelxray scan -q --no-policy --report-only`` processes, plain and ``--isolate``,
alternating the two so both see the same machine load, on:

* 1000 distinct small files (pickles, JSON, ``.npy``, SafeTensors; ``startup.py``'s folder):
  the worst case for isolation, whose cost is per file;
* the model files of a few packages from the real-world corpus
  (``benchmarks/realworld/run.py`` caches it in ``~/.cache/modelxray-realworld``), when present.

Reports the median wall and CPU seconds of ``-n`` runs (after one warm-up each), the ratio, and
the 1-minute load average before and after, and checks that both modes gave the same verdicts.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from startup import FOLDER_FILES, _folder  # noqa: E402

REALWORLD_PACKAGES = (
    "gensim-4.4.0",
    "scikit-learn-1.9.1",
    "joblib-1.6.0",
    "tables-3.11.1",
    "scipy-1.17.1",
    "musicnn-0.1.0",
    "ethnicolr-0.9.6",
    "mediapipe-0.10.14",
)


def _run(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the process and its children, JSON report)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([*cmd, "-f", "json", "-o", out.name], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        report = Path(out.name).read_text()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, report


def _verdicts(report: str) -> list[tuple[str, str, list[str]]]:
    files = json.loads(report)["files"]
    return [(f["path"], f["verdict"], sorted(x["rule_id"] for x in f["findings"])) for f in files]


def _compare(label: str, paths: Sequence[str], env: dict[str, str], runs: int) -> str:
    base = [sys.executable, "-m", "modelxray", "scan", "-q", "--no-policy", "--report-only"]
    modes = {"plain": [*base, *paths], "--isolate": [*base, "--isolate", *paths]}
    samples: dict[str, list[tuple[float, float]]] = {m: [] for m in modes}
    reports = {m: _run(cmd, env)[2] for m, cmd in modes.items()}  # warm-up
    same = _verdicts(reports["plain"]) == _verdicts(reports["--isolate"])
    load_before = os.getloadavg()[0]
    for _ in range(runs):
        for mode, cmd in modes.items():
            wall, cpu, _ = _run(cmd, env)
            samples[mode].append((wall, cpu))
    load_after = os.getloadavg()[0]
    wall = {m: statistics.median(s[0] for s in v) for m, v in samples.items()}
    cpu = {m: statistics.median(s[1] for s in v) for m, v in samples.items()}
    n = len(json.loads(reports["plain"])["files"])
    lines = [f"### {label} ({n} files)", ""]
    lines += ["| mode | median wall s | median CPU s | all wall s |", "|---|---:|---:|---|"]
    for m in modes:
        runs_text = " ".join(f"{s[0]:.2f}" for s in samples[m])
        lines.append(f"| `{m}` | {wall[m]:.2f} | {cpu[m]:.2f} | {runs_text} |")
    ratio = wall["--isolate"] / wall["plain"]
    lines += [
        "",
        f"- `--isolate` / plain (median wall): **{ratio:.2f}×**",
        f"- same verdicts and rule IDs per file in both modes: {'yes' if same else 'NO'}",
        f"- 1-minute load average: {load_before:.2f} before, {load_after:.2f} after",
        "",
    ]
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--realworld", default=str(Path.home() / ".cache/modelxray-realworld"))
    ap.add_argument("--out", help="also write the Markdown here")
    args = ap.parse_args(argv)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent / "src"))
    header = [
        "# `scan --isolate` against the plain scan "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"`python benchmarks/isolate.py -n {args.runs}`: whole processes, median of {args.runs} "
        f"alternating runs after a warm-up; {os.cpu_count()} CPUs, Python "
        f"{sys.version.split()[0]}, default `-j` (one worker per core) in both modes.",
        "",
    ]  # fmt: skip
    parts = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = _folder(Path(tmp))
        parts.append(_compare(f"{FOLDER_FILES} small files", [str(folder)], env, args.runs))
    real = [str(Path(args.realworld) / p) for p in REALWORLD_PACKAGES]
    real = [p for p in real if os.path.isdir(p)]
    if real:
        parts.append(_compare("real-world model files: " + ", ".join(Path(p).name for p in real),
                              real, env, args.runs))  # fmt: skip
    if args.out:
        Path(args.out).write_text("\n".join(header + parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
