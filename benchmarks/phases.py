"""Where a folder scan's wall time goes, phase by phase, in the CLI process (issue 15).

    python benchmarks/phases.py [FOLDER] [-n ROUNDS] [-j JOBS] [--skip-preload]

FOLDER defaults to the Keras-heavy mix ``benchmarks/mix.py`` builds.  Each round runs
``modelxray scan -f json -o … --no-policy --no-cache -j JOBS FOLDER`` in a fresh interpreter
(this script re-run as a child) and stamps, from the moment that interpreter starts running
this script: modelxray imported; the reader preload before the workers fork (start, end); the
first and last results; the report written.  ``--skip-preload`` replaces
``engine.preload_readers`` with nothing, to weigh it.  Medians over the rounds are printed with
the child's CPU seconds and the load average.  Nothing is asserted.
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
from pathlib import Path
from typing import Any


def _default_folder() -> Path:
    default = Path.home() / ".cache" / "modelxray-bench"
    cache = Path(os.environ.get("MODELXRAY_BENCH_CACHE", default))
    return cache / "work" / "keras-mix"


def _child(folder: str, jobs: int, skip_preload: bool, out: str) -> None:
    """One timed scan in this process; the stamps go to stderr as one JSON line."""
    start = time.perf_counter()
    stamps: dict[str, float] = {}

    def stamp(name: str) -> None:
        stamps.setdefault(name, time.perf_counter() - start)

    import modelxray.cli as cli
    import modelxray.engine as engine
    import modelxray.reports as reports

    stamp("imported")
    preload = engine.preload_readers

    def timed_preload() -> None:
        stamp("preload start")
        if not skip_preload:
            preload()
        stamp("preload end")

    engine.preload_readers = timed_preload
    iterate = engine.iter_results

    def timed_results(*args: Any, **kwargs: Any) -> Any:
        for result in iterate(*args, **kwargs):
            stamp("first result")
            yield result
        stamp("last result")

    engine.iter_results = timed_results  # cli imports it from the engine when it runs
    render = reports.render

    def timed_render(*args: Any, **kwargs: Any) -> Any:
        stamp("report start")
        try:
            return render(*args, **kwargs)
        finally:
            stamp("report end")

    reports.render = timed_render
    cli.main(["scan", "-f", "json", "-o", out, "--no-policy", "--no-cache", "-j", str(jobs),
              folder])  # fmt: skip
    stamp("end")
    print(json.dumps(stamps), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=_default_folder())
    ap.add_argument("-n", "--rounds", type=int, default=7)
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--skip-preload", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mx-phases-") as tmp:
        out = str(Path(tmp) / "report.json")
        if args.child:
            _child(str(args.folder), args.jobs, args.skip_preload, out)
            return 0
        rounds: list[dict[str, float]] = []
        cmd = [sys.executable, __file__, "--child", str(args.folder), "-j", str(args.jobs)]
        cmd += ["--skip-preload"] if args.skip_preload else []
        before = os.getloadavg()
        for _ in range(args.rounds):
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            wall = time.perf_counter() - began
            now = resource.getrusage(resource.RUSAGE_CHILDREN)
            stamps = json.loads(proc.stderr.strip().splitlines()[-1])
            stamps["process wall"] = wall
            stamps["process CPU"] = (now.ru_utime - used.ru_utime) + (now.ru_stime - used.ru_stime)
            rounds.append(stamps)
    after = os.getloadavg()
    variant = " --skip-preload" if args.skip_preload else ""
    print(f"{args.folder}: -j {args.jobs}{variant}; median of {args.rounds} rounds; "
          f"load {before[0]:.2f} before, {after[0]:.2f} after")  # fmt: skip
    print("seconds from the script's start (process wall and CPU: the whole child)")
    for name in rounds[0]:
        values = [r[name] for r in rounds if name in r]
        print(f"  {name:<15} {statistics.median(values):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
