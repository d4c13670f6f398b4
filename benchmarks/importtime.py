"""The ``-X importtime`` profile of a one-file scan (issue 15 §3).

    python benchmarks/importtime.py [-n RUNS] [--entry module|script] [--no-cache] [--out F] [FILE]

Runs ``python -X importtime -m modelxray scan --no-policy FILE`` (or the ``modelxray`` console
script with ``--entry script``) ``-n`` times with a private bytecode cache (warmed first) and
prints, per imported module, the minimum self and cumulative microseconds over the runs: the
slowest modules by self time, every ``modelxray`` module, and the totals.  FILE defaults to a
small pickle made here; after the warm-up run its verdict is in the verdict cache, so
``--no-cache`` profiles the scan that judges it.  ``-X importtime`` lists only imports made by
``import`` statements: a module loaded with ``importlib.import_module`` (a registry row's
reader, a rule family) is counted in its importer's self time.  Nothing is asserted: this is a
profile to read (and to keep in ``benchmarks/results/``), not a test.
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _profile(cmd: list[str], env: dict[str, str]) -> dict[str, tuple[int, int, int]]:
    """module -> (self us, cumulative us, nesting level) of one run."""
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    out: dict[str, tuple[int, int, int]] = {}
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        level = (len(name) - len(name.lstrip(" "))) // 2
        out[name.strip()] = (int(own), int(cumulative), level)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?")
    ap.add_argument("-n", "--runs", type=int, default=7)
    ap.add_argument("--entry", choices=("module", "script"), default="module")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--out", help="also write the profile to this file")
    ap.add_argument("--no-cache", action="store_true", help="scan with --no-cache")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mx-importtime-"))
    try:
        target = args.file
        if target is None:
            target = str(work / "x.pkl")
            Path(target).write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "x"}, 4))
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        if args.entry == "script":
            beside = Path(sys.executable).with_name("modelxray")
            script = str(beside) if beside.exists() else shutil.which("modelxray")
            if script is None:
                print("no modelxray console script on PATH", file=sys.stderr)
                return 2
            base = [sys.executable, "-X", "importtime", script]
        else:
            base = [sys.executable, "-X", "importtime", "-m", "modelxray"]
        cmd = [*base, "scan", "--no-policy", *(["--no-cache"] if args.no_cache else []), target]
        _profile(cmd, env)  # warm the bytecode cache
        runs = [_profile(cmd, env) for _ in range(args.runs)]
        names = set(runs[0]).intersection(*runs[1:])
        best = {
            n: (min(r[n][0] for r in runs), min(r[n][1] for r in runs), runs[0][n][2])
            for n in names
        }
        lines = [f"$ {' '.join(Path(c).name if i < 2 else c for i, c in enumerate(cmd))}",
                 f"minimum over {args.runs} runs, microseconds; load average "
                 f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}", ""]  # fmt: skip
        top_level = sum(c for _, c, lvl in best.values() if lvl == 0)
        ours = sorted(
            (n for n in best if n.split(".")[0] == "modelxray"), key=lambda n: -best[n][0]
        )
        lines.append(f"modules imported: {len(best)} ({len(ours)} of modelxray)")
        lines.append(f"sum of top-level cumulative times: {top_level} us")
        lines.append(f"modelxray self time: {sum(best[n][0] for n in ours)} us")
        lines.append("")
        lines.append(f"slowest {args.top} by self time:     self   cumulative")
        for n in sorted(best, key=lambda n: -best[n][0])[: args.top]:
            lines.append(f"  {n:<44} {best[n][0]:>7} {best[n][1]:>10}")
        lines.append("")
        lines.append("modelxray modules:                           self   cumulative")
        for n in ours:
            lines.append(f"  {n:<44} {best[n][0]:>7} {best[n][1]:>10}")
        text = "\n".join(lines) + "\n"
        print(text, end="")
        if args.out:
            Path(args.out).write_text(text, encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
