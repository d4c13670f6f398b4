"""One small pickle, start to exit: modelxray against picklescan, runs interleaved (issue 15 §3).

    python benchmarks/one_pickle.py [-n RUNS] [--install]

Both tools run from their own venvs under ``~/.cache/modelxray-bench/venvs`` (``peers.py``):
picklescan as ``picklescan -p FILE``; modelxray as a wheel of this checkout
(``modelxray scan --no-policy FILE``, and ``python -m modelxray``), so neither pays for the
development interpreter's ``.pth`` files or an editable install.  modelxray judges the pickle
once and then finds it in its verdict cache, so ``--no-cache`` (the file judged on every run,
as on first sight) is timed as well.  Each round runs every command
once, in a rotating order; the medians of wall and CPU seconds are printed with the load
average.  ``--install`` (re)installs both venvs first; ``--before PYTHON`` adds an earlier
modelxray (``PYTHON -m modelxray``) to the rounds.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import MODELXRAY_VENV, PICKLESCAN  # noqa: E402
from startup import _run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=15)
    ap.add_argument("--install", action="store_true")
    ap.add_argument("--before", metavar="PYTHON", help="also run PYTHON -m modelxray (a venv "
                    "holding an earlier modelxray, to compare)")  # fmt: skip
    args = ap.parse_args(argv)
    if args.install or not MODELXRAY_VENV.installed():
        MODELXRAY_VENV.install()
    if args.install or not PICKLESCAN.installed():
        PICKLESCAN.install()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with tempfile.TemporaryDirectory(prefix="mx-one-pickle-") as tmp:
        pkl = Path(tmp) / "small.pkl"
        pkl.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "small"}, protocol=4))
        python = str(MODELXRAY_VENV.venv / "bin" / "python")
        commands = {
            "picklescan -p": [PICKLESCAN.exe(), "-p", str(pkl)],
            "modelxray scan": [MODELXRAY_VENV.exe(), "scan", "--no-policy", str(pkl)],
            # No verdict cache: the pickle is judged on every run (a first sight of a file).
            "modelxray scan --no-cache": [MODELXRAY_VENV.exe(), "scan", "--no-policy",
                                          "--no-cache", str(pkl)],
            "python -m modelxray scan": [python, "-m", "modelxray", "scan", "--no-policy",
                                         str(pkl)],
        }  # fmt: skip
        if args.before:
            commands["before: python -m modelxray"] = [args.before, "-m", "modelxray", "scan",
                                                       "--no-policy", str(pkl)]  # fmt: skip
            commands["before: --no-cache"] = [args.before, "-m", "modelxray", "scan",
                                              "--no-policy", "--no-cache", str(pkl)]  # fmt: skip
        for cmd in commands.values():  # warm the caches (bytecode is compiled at install)
            _run(cmd, env)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
        names = list(commands)
        for i in range(args.runs):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                times[name].append(_run(commands[name], env))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"one small pickle, start to exit; median of {args.runs} interleaved runs; load {load}")
    base_wall = statistics.median(w for w, _ in times["picklescan -p"])
    base_cpu = statistics.median(c for _, c in times["picklescan -p"])
    for name, runs in times.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"  {name:<26} wall {wall:.3f} s ({wall / base_wall:.2f}x)   "
              f"CPU {cpu:.3f} s ({cpu / base_cpu:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
