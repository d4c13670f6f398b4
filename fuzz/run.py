"""Run every fuzz harness for N seconds, each from a seed corpus built from the test fixtures.

    python fuzz/run.py --seconds 300                 # all harnesses, atheris
    python fuzz/run.py --seconds 60 --only pickle zip
    python fuzz/run.py --keras-corpus --seconds 600  # also seed from the Keras fixture corpus
    python fuzz/run.py --mutate --iterations 5000    # no atheris: the random-mutation loop

Corpora grow under ``fuzz/corpus/<harness>/``; crashes, timeouts and out-of-memory inputs
land in ``fuzz/crashes/`` as ``<harness>-crash-<sha1>`` etc.  Turn each one into a
regression test by copying it to ``tests/fuzz_regressions/<harness>/`` (see README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from fuzz import mutate, seeds, targets  # noqa: E402


def write_corpus(name: str, corpus_root: Path, keras_files: list[Path]) -> Path:
    out = corpus_root / name
    out.mkdir(parents=True, exist_ok=True)
    for data in seeds.seeds(targets.HARNESSES[name][1], keras_files).values():
        (out / hashlib.sha1(data).hexdigest()).write_bytes(data)
    return out


def run_atheris(name: str, corpus: Path, crashes: Path, args: argparse.Namespace) -> dict[str, str]:
    crashes.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        str(HERE / f"fuzz_{name}.py"),
        str(corpus),
        f"-max_total_time={args.seconds}",
        f"-timeout={args.timeout}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-max_len={args.max_len}",
        f"-artifact_prefix={crashes}/{name}-",
        "-print_final_stats=1",
    ]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    log = proc.stdout + proc.stderr
    (crashes.parent / "logs").mkdir(exist_ok=True)
    (crashes.parent / "logs" / f"{name}.log").write_text(log)
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    cov = re.findall(r"cov: (\d+)", log)
    found = re.findall(r"Test unit written to (\S+)", log)
    return {
        "harness": name,
        "exit": str(proc.returncode),
        "seconds": f"{time.monotonic() - started:.0f}",
        "execs": execs[-1] if execs else "?",
        "cov": cov[-1] if cov else "?",
        "artifacts": " ".join(found) or "-",
    }


def run_mutation(
    name: str, corpus: Path, crashes: Path, args: argparse.Namespace
) -> dict[str, str]:
    target = targets.HARNESSES[name][0]
    pool = [p.read_bytes() for p in sorted(corpus.iterdir())]
    started = time.monotonic()
    failures = mutate.run(target, pool, args.iterations, seed=args.seed)
    found = []
    crashes.mkdir(parents=True, exist_ok=True)
    for _, data, _exc in failures:
        p = crashes / f"{name}-crash-{hashlib.sha1(data).hexdigest()}"
        p.write_bytes(data)
        found.append(str(p))
    return {
        "harness": name,
        "exit": "1" if failures else "0",
        "seconds": f"{time.monotonic() - started:.0f}",
        "execs": str(len(pool) + args.iterations),
        "cov": "-",
        "artifacts": " ".join(found[:5]) or "-",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seconds", type=int, default=60, help="per harness (atheris)")
    ap.add_argument("--only", nargs="*", default=None, help="harness names")
    ap.add_argument("--timeout", type=int, default=30, help="seconds per input before a hang")
    ap.add_argument("--rss-limit-mb", type=int, default=2048)
    ap.add_argument("--max-len", type=int, default=1 << 20)
    ap.add_argument("--corpus", type=Path, default=HERE / "corpus")
    ap.add_argument("--crashes", type=Path, default=HERE / "crashes")
    ap.add_argument("--keras-corpus", action="store_true", help="seed from the Keras corpus too")
    ap.add_argument("--mutate", action="store_true", help="random-mutation loop, no atheris")
    ap.add_argument("--iterations", type=int, default=2000, help="per harness with --mutate")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    names = args.only or list(targets.HARNESSES)
    unknown = [n for n in names if n not in targets.HARNESSES]
    if unknown:
        ap.error(f"unknown harness: {', '.join(unknown)}; have {', '.join(targets.HARNESSES)}")
    use_atheris = not args.mutate and importlib.util.find_spec("atheris") is not None
    if not args.mutate and not use_atheris:
        print("atheris is not installed (pip install '.[fuzz]'): using the mutation loop")

    keras_files: list[Path] = []
    if args.keras_corpus:
        keras_files = seeds.keras_corpus_files(Path(tempfile.mkdtemp(prefix="mx-keras-")))

    rows = []
    for name in names:
        if not targets.available(name):
            rows.append({"harness": name, "exit": "skipped (reader missing)"})
            continue
        corpus = write_corpus(name, args.corpus, keras_files)
        runner = run_atheris if use_atheris else run_mutation
        row = runner(name, corpus, args.crashes, args)
        rows.append(row)
        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    failed = [r for r in rows if r.get("exit") not in ("0", "skipped (reader missing)")]
    print(f"\n{len(rows)} harnesses, {len(failed)} with findings")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("KERAS_BACKEND", "torch")
    sys.exit(main())
