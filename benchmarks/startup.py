"""Start-up time and per-file overhead of the ``modelxray`` command (issue 8).

    python benchmarks/startup.py [-n RUNS] [--picklescan PATH] [--keep-env]

Prints, for whole processes from start to exit (median of ``-n`` runs, wall and CPU seconds):

* ``python -c pass`` (the floor) and ``modelxray --version``;
* ``modelxray scan`` of one small pickle and of one small ``.keras`` file;
* ``modelxray scan -q -j 1`` of a folder of 1000 distinct small files (pickles, JSON, ``.npy``,
  SafeTensors) and the same folder with the default worker count;
* picklescan on the same small pickle, when ``--picklescan`` (or ``picklescan`` on PATH) is given;
* the ``-X importtime`` top 10 (self time, minimum over the runs) for the small-pickle scan, and
  which ``modelxray`` modules that scan imported.

The machine may be busy: CPU time is steadier than wall time, and importtime figures are minima.
Unless ``--keep-env``, runs use a private bytecode cache (``PYTHONPYCACHEPREFIX``) even when
``PYTHONDONTWRITEBYTECODE`` is set, as an installed package has compiled bytecode.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

FOLDER_FILES = 1000


def _env(keep: bool, cache: str) -> dict[str, str]:
    env = dict(os.environ)
    if not keep:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    env.setdefault("KERAS_BACKEND", "torch")
    return env


def _run(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _measure(label: str, cmd: Sequence[str], env: dict[str, str], runs: int) -> None:
    _run(cmd, env)  # warm-up: fills the bytecode cache and the page cache
    samples = [_run(cmd, env) for _ in range(runs)]
    wall = statistics.median(s[0] for s in samples)
    cpu = statistics.median(s[1] for s in samples)
    print(f"  {label:<38} wall {wall:7.3f} s   cpu {cpu:7.3f} s")


def _small_pickle(folder: Path) -> Path:
    path = folder / "small.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0, 3.0], "name": "small"}, protocol=4))
    return path


def _small_keras(folder: Path, env: dict[str, str]) -> Path | None:
    """A small ``.keras`` saved by Keras itself (in a subprocess); None without Keras."""
    path = folder / "small.keras"
    code = (
        "import sys, keras\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
        "m.save(sys.argv[1])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], env=env, capture_output=True, check=False
    )
    return path if done.returncode == 0 and path.exists() else None


def _safetensors(tensors: dict[str, list[float]]) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    data = b""
    for name, values in tensors.items():
        raw = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": [len(values)],
                        "data_offsets": [len(data), len(data) + len(raw)]}  # fmt: skip
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def _folder(root: Path) -> Path:
    """1000 distinct small files: pickles, JSON documents, .npy arrays and SafeTensors."""
    import numpy as np

    folder = root / "many"
    folder.mkdir()
    for i in range(FOLDER_FILES):
        kind = i % 4
        if kind == 0:
            obj = {"id": i, "values": list(range(i % 17)), "tag": f"item-{i}"}
            (folder / f"f{i:04d}.pkl").write_bytes(pickle.dumps(obj, protocol=2 + i % 4))
        elif kind == 1:
            doc = {"id": i, "layers": [{"units": i % 64, "name": f"dense_{i}"}]}
            (folder / f"f{i:04d}.json").write_text(json.dumps(doc))
        elif kind == 2:
            np.save(folder / f"f{i:04d}.npy", np.arange(i % 50 + 1, dtype=np.float32))
        else:
            blob = _safetensors({"w": [float(i), float(i % 7)], "b": [float(i % 3)]})
            (folder / f"f{i:04d}.safetensors").write_bytes(blob)
    return folder


def _importtime(cmd: Sequence[str], env: dict[str, str], runs: int) -> None:
    selfs: dict[str, list[int]] = {}
    for _ in range(runs):
        err = subprocess.run(
            [*cmd[:1], "-X", "importtime", *cmd[1:]], env=env, capture_output=True, text=True,
            check=False,
        ).stderr  # fmt: skip
        for line in err.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            own, _, name = line.split(":", 1)[1].split("|")
            selfs.setdefault(name.strip(), []).append(int(own))
    rows = sorted(((min(v), k) for k, v in selfs.items()), reverse=True)
    total = sum(us for us, _ in rows)
    print(f"  {len(rows)} modules imported, self time {total / 1000:.1f} ms (sum of minima)")
    for us, name in rows[:10]:
        print(f"  {us / 1000:7.2f} ms  {name}")
    ours = sorted(k for k in selfs if k == "modelxray" or k.startswith("modelxray."))
    print(f"  modelxray modules ({len(ours)}): {' '.join(ours)}")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=11)
    ap.add_argument("--picklescan", metavar="PATH", default=shutil.which("picklescan"))
    ap.add_argument("--keep-env", action="store_true", help="do not set a bytecode cache")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="mx-startup-") as tmp:
        root = Path(tmp)
        env = _env(args.keep_env, str(root / "pycache"))
        mx = [sys.executable, "-m", "modelxray"]
        pkl = _small_pickle(root)
        keras_file = _small_keras(root, env)
        folder = _folder(root)
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.1f}, median of {args.runs} runs")  # fmt: skip
        _measure("python -c pass", [sys.executable, "-c", "pass"], env, args.runs)
        _measure("modelxray --version", [*mx, "--version"], env, args.runs)
        _measure("modelxray scan small.pkl", [*mx, "scan", str(pkl)], env, args.runs)
        if args.picklescan:
            _measure("picklescan -p small.pkl", [args.picklescan, "-p", str(pkl)], env, args.runs)
        if keras_file is not None:
            _measure("modelxray scan small.keras", [*mx, "scan", str(keras_file)], env, args.runs)
        else:
            print("  (no Keras here: small.keras skipped)")
        folder_runs = max(3, args.runs // 3)
        _measure(f"scan -q -j 1 ({FOLDER_FILES} files)", [*mx, "scan", "-q", "-j", "1",
                 str(folder)], env, folder_runs)  # fmt: skip
        _measure(f"scan -q ({FOLDER_FILES} files, default -j)", [*mx, "scan", "-q", str(folder)],
                 env, folder_runs)  # fmt: skip
        print("-X importtime, modelxray scan small.pkl:")
        _importtime([*mx, "scan", str(pkl)], env, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
