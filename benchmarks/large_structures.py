"""Large structures, whole process (issue 15 §4): many tensors, a big vocabulary, a wide JSON.

    python benchmarks/large_structures.py [-n RUNS] [--python PY ...] [--out FILE]

Builds, with the real libraries, into a temporary folder:

* ``sd20k.pt``: ``torch.save`` of a state dict of 20 000 small tensors (a zip of 20 006 members
  whose ``data.pkl`` runs 600 000 opcodes);
* ``vocab.gguf``: a GGUF (``gguf.GGUFWriter``) with a 250 000-token vocabulary, its scores and
  types, and a chat template;
* ``config.json``: a 62 MiB JSON array of zeros (just under the 64 MiB ``max_json_bytes``);
* ``small.pkl``: a small pickle, the baseline for peak memory.

Each ``--python`` (default: this interpreter) runs ``PY -m modelxray scan --no-cache
--no-policy FILE``; the runs are interleaved and the medians of wall seconds, CPU seconds, peak
RSS (and peak RSS over the small pickle's) and the engine's own ``scanned in`` seconds are
printed, with the load average.  ``--tensors N`` (repeatable) builds checkpoints of other sizes
too (``--tensors 5000 --tensors 20000 --tensors 40000``: is the work linear?).

``--stages`` also times, in this process, the stages of scanning each checkpoint (CPU seconds,
median of the runs): the zip directory, local headers, name checks, raw-storage selection,
overlap check, the pickle VM and the verdict.  Not a test: a record to keep in
``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def _torch_label(n: int) -> str:
    return f"torch {n / 1000:g}k tensors"


def build(folder: Path, tensors: list[int]) -> dict[str, Path]:
    import gguf
    import torch

    files = {_torch_label(n): folder / f"sd{n}.pt" for n in tensors}
    files.update({
        "gguf 250k vocabulary": folder / "vocab.gguf",
        "json 62 MiB zeros": folder / "config.json",
        "small pickle": folder / "small.pkl",
    })  # fmt: skip
    for n in tensors:
        torch.save({f"layer{i}.weight": torch.zeros(2) for i in range(n)}, files[_torch_label(n)])
    w = gguf.GGUFWriter(str(files["gguf 250k vocabulary"]), "llama")
    tokens = [
        f"tok{i}_" + "abcdefghijklmnopqrstuvwxyz0123456789"[: 14 + i % 30] for i in range(250_000)
    ]
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores([0.0] * len(tokens))
    w.add_token_types([1] * len(tokens))
    w.add_chat_template("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(files["json 62 MiB zeros"], "w", encoding="ascii") as f:
        f.write("[" + ",".join(["0"] * (31 * 1024 * 1024)) + "]")
    files["small pickle"].write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=4))
    return files


def run(python: str, target: Path) -> tuple[float, float, int, float]:
    """(wall s, CPU s, peak RSS KiB, engine seconds) of one scan."""
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%e %U %S %M", python, "-m", "modelxray", "scan", "--no-cache",
         "--no-policy", str(target)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    wall, user, system, rss = done.stderr.strip().splitlines()[-1].split()
    engine = re.search(r"scanned in ([\d.]+)s", done.stdout)
    return float(wall), float(user) + float(system), int(rss), float(engine[1]) if engine else -1.0


# (label, module, function): the stages of a checkpoint's scan, timed by --stages (a function
# missing from the modelxray imported is left out, so older versions can be timed too)
_STAGES = (
    ("zip: central directory", "modelxray.containers.zip", "read_directory"),
    ("zip: local headers (bulk)", "modelxray.containers.zip", "member_data_offsets"),
    ("zip: local headers (one by one)", "modelxray.containers.zip", "member_data_offset"),
    ("zip: archive layout", "modelxray.containers.zip", "classify_archive"),
    ("zip: overlap check", "modelxray.containers.zip", "_report_overlaps"),
    ("zip: member-name checks", "modelxray.containers.checks", "MemberChecks.member"),
    ("torch: raw storages", "modelxray.formats.torch", "torch_raw_storages"),
    ("pickle: VM over data.pkl", "modelxray.analysis.pickle.vm", "_interpret"),
    ("pickle: nested-payload search", "modelxray.analysis.pickle.vm", "find_nested"),
    ("pickle: verdict", "modelxray.analysis.pickle", "verdict_items"),
)


def stages(path: Path, runs: int) -> dict[str, float]:
    """Median CPU seconds of each stage (and of the whole in-process scan) over ``runs``
    scans of ``path`` in this process, after one scan that loads what the scan imports.
    The whole scan is timed first, unwrapped; a stage's figure has the timing wrapper's own
    cost (measured on an empty function) taken off once per call."""
    import functools
    import importlib
    import time

    from modelxray.engine import ScanOptions, judge_file
    from modelxray.policy import Policy
    from modelxray.sources import selected_sources

    (source,) = selected_sources([str(path)], Policy())
    judge_file(source, ScanOptions())
    per_run: dict[str, list[float]] = {}
    for _ in range(runs):
        t = time.process_time()
        judge_file(source, ScanOptions())
        per_run.setdefault("whole scan (engine, in-process)", []).append(time.process_time() - t)

    spent: dict[str, float] = {}
    calls: dict[str, int] = {}

    def timed(label: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] = spent.get(label, 0.0) + time.process_time() - t
                calls[label] = calls.get(label, 0) + 1

        return wrapper

    empty = timed("empty", lambda: None)
    for _ in range(100_000):
        empty()
    overhead = spent.pop("empty") / 100_000  # what a call adds inside the timed interval
    for label, module, name in _STAGES:
        owner: Any = importlib.import_module(module)
        *outer, attr = name.split(".")
        for part in outer:
            owner = getattr(owner, part)
        if hasattr(owner, attr):
            setattr(owner, attr, timed(label, getattr(owner, attr)))
    for _ in range(runs):
        spent.clear()
        calls.clear()
        judge_file(source, ScanOptions())
        for label, seconds in spent.items():
            per_run.setdefault(label, []).append(max(0.0, seconds - calls[label] * overhead))
    return {label: statistics.median(v) for label, v in per_run.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--python", action="append", help="interpreter with modelxray (repeatable)")
    ap.add_argument("--out", help="also write the table to this file")
    ap.add_argument(
        "--tensors", type=int, action="append", help="tensors per checkpoint (default 20000)"
    )
    ap.add_argument("--stages", action="store_true", help="also time the checkpoint's stages")
    args = ap.parse_args(argv)
    pythons = args.python or [sys.executable]
    tensors = args.tensors or [20_000]
    staged: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="mx-large-") as tmp:
        files = build(Path(tmp), tensors)
        results: dict[tuple[str, str], list[tuple[float, float, int, float]]] = {}
        for _ in range(args.runs):
            for label, path in files.items():
                for py in pythons:
                    results.setdefault((py, label), []).append(run(py, path))
        if args.stages:
            staged = {_torch_label(n): stages(files[_torch_label(n)], args.runs) for n in tensors}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"median of {args.runs} interleaved runs; load average {load}", "",
             "| interpreter | file | wall s | CPU s | engine s | peak RSS MiB "
             "| over small pickle MiB |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for py in pythons:
        base = statistics.median(r[2] for r in results[(py, "small pickle")])
        for label in files:
            rs = results[(py, label)]
            wall = statistics.median(r[0] for r in rs)
            cpu = statistics.median(r[1] for r in rs)
            rss = statistics.median(r[2] for r in rs)
            engine = statistics.median(r[3] for r in rs)
            lines.append(f"| {py} | {label} | {wall:.2f} | {cpu:.2f} | {engine:.2f} | "
                         f"{rss / 1024:.0f} | {(rss - base) / 1024:.0f} |")  # fmt: skip
    if staged:
        import modelxray

        labels = list(staged)
        where = modelxray.__file__
        lines += ["", f"in-process stages, CPU ms, median of {args.runs} ({where})", "",
                  "| stage | " + " | ".join(labels) + " |",
                  "|---|" + "---|" * len(labels)]  # fmt: skip
        stage_names = list(dict.fromkeys(k for v in staged.values() for k in v))
        for name in stage_names:
            cells = [f"{staged[lab].get(name, 0.0) * 1000:.1f}" for lab in labels]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
