"""Sniffing cost on a folder (issue 15 §2): in-process CPU of the engine, and of choosing readers.

    PYTHONPATH=src python benchmarks/sniff.py [FOLDER] [-n ROUNDS]

FOLDER defaults to the Keras-heavy mix ``benchmarks/mix.py`` builds (``keras-mix`` under
the benchmark cache).  In one process (no verdict cache, one worker), after a warm-up scan
that imports every reader the folder needs, each round scans the whole folder and records:

* the engine's CPU seconds for the folder;
* the CPU seconds spent in ``formats.base.identify`` (the first bytes read, the candidate
  readers' cheap checks and sniffers), with the number of artifacts it was asked about
  (files and everything found inside them);
* how often an artifact was opened while being identified (``Artifact.open`` calls: the head,
  an end read, a sniffer's probe).

The medians over the rounds are printed with the load average.  Nothing is asserted: run it on
two checkouts (``PYTHONPATH=...``) to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _default_folder() -> Path:
    default = Path.home() / ".cache" / "modelxray-bench"
    cache = Path(os.environ.get("MODELXRAY_BENCH_CACHE", default))
    return cache / "work" / "keras-mix"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", nargs="?", type=Path, default=None)
    ap.add_argument("-n", "--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    folder = args.folder or _default_folder()
    if not folder.is_dir():
        print(f"no folder {folder}: build it with benchmarks/mix.py", file=sys.stderr)
        return 2

    import modelxray
    from modelxray import artifact as artifact_module
    from modelxray.engine import ScanOptions
    from modelxray.formats import base

    options = ScanOptions(jobs=1)
    spent = {"cpu": 0.0, "calls": 0, "opens": 0}
    identifying = [False]
    real_identify = base.identify
    real_open = artifact_module.Artifact.open

    def timed_identify(artifact: Any, exclude: tuple[str, ...] = ()) -> Any:
        started = time.process_time()
        identifying[0] = True
        try:
            return real_identify(artifact, exclude)
        finally:
            identifying[0] = False
            spent["cpu"] += time.process_time() - started
            spent["calls"] += 1

    def counted_open(self: Any) -> Any:
        if identifying[0]:
            spent["opens"] += 1
        return real_open(self)

    import modelxray.formats as formats_package

    formats_package.identify = timed_identify  # the engine calls formats.identify
    base.identify = timed_identify
    artifact_module.Artifact.open = counted_open  # type: ignore[method-assign]

    files = sum(1 for p in folder.iterdir() if p.is_file())
    modelxray.scan(str(folder), options)  # warm-up: readers imported, page cache filled
    rows: list[tuple[float, float, int, int]] = []
    for _ in range(args.rounds):
        spent.update(cpu=0.0, calls=0, opens=0)
        started = time.process_time()
        modelxray.scan(str(folder), options)
        engine = time.process_time() - started
        rows.append((engine, spent["cpu"], int(spent["calls"]), int(spent["opens"])))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    engine = statistics.median(r[0] for r in rows)
    sniff = statistics.median(r[1] for r in rows)
    calls, opens = rows[0][2], rows[0][3]
    print(f"{folder} ({files} files); median of {args.rounds} rounds; load {load}")
    print(f"  engine CPU            {engine:.3f} s")
    print(f"  identify CPU          {sniff:.3f} s ({100 * sniff / engine:.0f} % of the engine) "
          f"for {calls} artifacts, {1e6 * sniff / max(1, calls):.0f} us each")  # fmt: skip
    print(f"  opens while identifying {opens} ({opens / max(1, calls):.2f} per artifact)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
