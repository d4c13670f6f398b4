"""A battery of hostile inputs built from public techniques, and a harness that times them.

Every input must end in a finding within 10 s and 256 MB (issue 15 §6).  Inputs:

* ``nested.zip``      -- 42.zip-style: 16 copies per level, five levels, deflated zeros at the
                         bottom (1 GiB each: 1.1 PB in all; zlib's deflate of its own output
                         compresses less than PKZIP's did, so the file is 60 KB, not 42).
* ``keys.gguf``       -- a GGUF whose header declares 10 M metadata keys and holds them (each a
                         distinct short key with a UINT8 value; about 200 MB).
* ``overlap.zip``     -- David Fifield's overlapping-entry zip bomb ("A better zip bomb",
                         2019): every central-directory entry's data runs through the local
                         headers of the entries after it into one shared deflate kernel.
* ``members.tar``     -- a tar with 1 M empty members (512 MB on disk; sparse where possible).
* ``nodes.onnx``      -- an ONNX model whose graph holds 10 M (empty) nodes, protobuf written
                         by hand (20 MB).
* ``fifo``            -- a FIFO named on the command line (no writer ever appears).
* ``sigkill-worker``  -- a scanner process SIGKILLed while its folder-scan worker
                         (``pool.ordered_map``) spins: the worker must not outlive it.  (HDF5 is
                         read in-process since the pure-Python structure reader: the forked
                         libhdf5 child and standing worker measured in the first run are gone.)

``python benchmarks/hostile.py --out benchmarks/results/hostile-DATE.md`` builds the battery in a
temporary folder, runs ``modelxray scan -f json`` on each input (one process each, wall time and
peak RSS from ``wait4``, killed after ``--timeout`` seconds) and writes a Markdown table with the
load average.  ``build(folder, small=True)`` makes the small versions the tests use.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

# ------------------------------------------------------------------------------ zip writer


def _local(name: bytes, method: int, crc: int, csize: int, usize: int) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHLLLHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, csize, usize, len(name), 0
        )
        + name
    )


def _central(name: bytes, method: int, crc: int, csize: int, usize: int, offset: int) -> bytes:
    return (
        struct.pack(
            "<4sBBHHHHHLLLHHHHHLL",
            b"PK\x01\x02",
            20,
            3,
            20,
            0,
            method,
            0,
            0x21,
            crc,
            csize,
            usize,
            len(name),
            0,
            0,
            0,
            0,
            0o100644 << 16,
            offset,
        )
        + name
    )


def _end(count: int, cd_size: int, cd_offset: int) -> bytes:
    return struct.pack("<4sHHHHLLH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset, 0)


def _zip_of_copies(names: list[bytes], data: bytes, crc: int, usize: int) -> bytes:
    """A zip whose members all hold the same deflated ``data`` (written once per member)."""
    out = bytearray()
    central = bytearray()
    for name in names:
        offset = len(out)
        out += _local(name, 8, crc, len(data), usize & 0xFFFFFFFF) + data
        central += _central(name, 8, crc, len(data), usize & 0xFFFFFFFF, offset)
    cd_offset = len(out)
    return bytes(out + central + _end(len(names), len(central), cd_offset))


def _deflate_zeros(n: int) -> tuple[bytes, int]:
    """Raw deflate of ``n`` zero bytes (streamed) and their CRC-32."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = []
    crc = 0
    left = n
    while left:
        k = min(left, len(chunk))
        parts.append(c.compress(chunk[:k]))
        crc = zlib.crc32(chunk[:k], crc)
        left -= k
    parts.append(c.flush())
    return b"".join(parts), crc


def _deflate(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def nested_zip(path: Path, levels: int = 5, fanout: int = 16, bottom: int = 1 << 30) -> None:
    """42.zip's construction: ``fanout`` copies of the level below at every level."""
    data, crc = _deflate_zeros(bottom)
    usize = bottom
    names = [f"{i:x}.dat".encode() for i in range(fanout)]
    blob = _zip_of_copies(names, data, crc, usize)
    for level in range(levels - 1):
        names = [f"lib {level} {i:x}.zip".encode() for i in range(fanout)]
        blob = _zip_of_copies(names, _deflate(blob), zlib.crc32(blob), len(blob))
    path.write_bytes(blob)


def overlap_zip(path: Path, files: int = 2000, kernel_bytes: int = 2_000_000) -> None:
    """Fifield's overlapping-entry bomb: file i's deflate stream is a non-final stored block
    that quotes local header i+1, then file i+1's stream; all end in one shared kernel."""
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    kdata = kernel.compress(bytes(kernel_bytes)) + kernel.flush()
    names = [f"{i:07d}".encode() for i in range(files)]
    header_len = 30 + len(names[0])
    # Sizes, from the last file back: the last file's data is the kernel alone.
    csize = [0] * files
    usize = [0] * files
    csize[-1], usize[-1] = len(kdata), kernel_bytes
    for i in range(files - 2, -1, -1):
        csize[i] = 5 + header_len + csize[i + 1]
        usize[i] = header_len + usize[i + 1]
    out = bytearray()
    offsets = []
    for i, name in enumerate(names):
        offsets.append(len(out))
        out += _local(name, 8, 0, csize[i], usize[i])
        if i + 1 < files:
            out += struct.pack("<BHH", 0, header_len, header_len ^ 0xFFFF)
    out += kdata
    central = bytearray()
    for i, name in enumerate(names):
        central += _central(name, 8, 0, csize[i], usize[i], offsets[i])
    cd_offset = len(out)
    out += central + _end(files, len(central), cd_offset)
    path.write_bytes(bytes(out))


# ------------------------------------------------------------------------------ GGUF


def _key(i: int) -> bytes:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        i, r = divmod(i, 36)
        s = digits[r] + s
        if not i:
            break
    return s.rjust(5, "0").encode()


def gguf_keys(path: Path, keys: int = 10_000_000) -> None:
    """A GGUF v3 header declaring ``keys`` key/value pairs, each present (key, UINT8 value)."""
    with open(path, "wb") as f:
        f.write(b"GGUF" + struct.pack("<IQQ", 3, 0, keys))
        batch = []
        for i in range(keys):
            k = _key(i)
            batch.append(struct.pack("<Q", len(k)) + k + b"\x00\x00\x00\x00\x01")
            if len(batch) >= 100_000:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch))


# ------------------------------------------------------------------------------ tar


def _tar_header(name: bytes) -> bytes:
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = b"00000000000\0"
    block[136:148] = b"00000000000\0"
    block[156:157] = b"0"
    block[257:263] = b"ustar\0"
    block[263:265] = b"00"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def tar_members(path: Path, members: int = 1_000_000) -> None:
    """``members`` empty regular files named like pickles (alike but for a counter): each is a
    model name with no model in it, the same finding a million times over."""
    with open(path, "wb") as f:
        batch = []
        for i in range(members):
            batch.append(_tar_header(b"m%07d.pkl" % i))
            if len(batch) >= 10_000:
                f.write(b"".join(batch))
                batch.clear()
        f.write(b"".join(batch) + bytes(1024))


# ------------------------------------------------------------------------------ ONNX


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def onnx_nodes(path: Path, nodes: int = 10_000_000) -> None:
    """ModelProto{ir_version 8, opset_import{"" 17}, graph{node{} x nodes}} by hand."""
    node = b"\x0a\x00"  # GraphProto.node (field 1), an empty NodeProto
    graph_len = len(node) * nodes
    opset = b"\x0a\x00\x10\x11"  # OperatorSetIdProto{domain "", version 17}
    with open(path, "wb") as f:
        f.write(b"\x08\x08" + b"\x42" + _varint(len(opset)) + opset)
        f.write(b"\x3a" + _varint(graph_len))
        block = node * 1_000_000
        left = nodes
        while left:
            k = min(left, 1_000_000)
            f.write(block if k == 1_000_000 else node * k)
            left -= k


# ------------------------------------------------------------------------------ the battery

# name -> (file name, builder, full-size kwargs, small kwargs)
INPUTS: dict[str, tuple[str, Callable[..., None], dict[str, int], dict[str, int]]] = {
    "42.zip-style nested zip": (
        "nested.zip",
        nested_zip,
        {},
        {"levels": 3, "fanout": 4, "bottom": 64 << 20},
    ),
    "GGUF declaring 10 M keys": ("keys.gguf", gguf_keys, {}, {"keys": 3_000}),
    "overlapping-entry zip bomb": ("overlap.zip", overlap_zip, {}, {"files": 50}),
    "tar with 1 M members": ("members.tar", tar_members, {}, {"members": 3_000}),
    "ONNX with 10 M nodes": ("nodes.onnx", onnx_nodes, {}, {"nodes": 3_000}),
}


def build(folder: Path, small: bool = False) -> dict[str, Path]:
    """Build the battery's files in ``folder``; returns name -> path (FIFO included)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (file, builder, full, little) in INPUTS.items():
        path = folder / file
        if not path.exists():
            part = path.with_name(path.name + ".part")
            builder(part, **(little if small else full))
            part.rename(path)
        out[name] = path
    fifo = folder / "fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    out["FIFO named on the command line"] = fifo
    return out


# ------------------------------------------------------------------------------ children

_SPIN = r"""
import os, sys
from modelxray import pool

pidfile, how = sys.argv[1], sys.argv[2]

def spin(_item):
    with open(pidfile + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(pidfile + ".tmp", pidfile)
    while True:
        pass

# A folder-scan worker (the only child a plain scan has) spinning on its file.
for _ in pool.ordered_map([0], spin, 1, lambda item, code: None, cpu_seconds=600):
    pass
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def sigkill_orphan(how: str, folder: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    """SIGKILL a scanner whose pool worker spins; does the worker live on?"""
    pidfile = folder / f"spin-{how}.pid"
    pidfile.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", _SPIN, str(pidfile), how], env=env)
    deadline = time.monotonic() + 30
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    while _alive(child) and time.monotonic() - killed < 5:
        time.sleep(0.05)
    survived = _alive(child)
    if survived:
        os.kill(child, signal.SIGKILL)
    return {"child_survived": survived, "seconds_to_exit": round(time.monotonic() - killed, 2)}


# ------------------------------------------------------------------------------ harness


def _run(argv: list[str], timeout: float) -> dict[str, object]:
    """Run ``argv``; wall seconds, peak RSS (MB), exit code and stdout; killed at ``timeout``."""
    out = tempfile.TemporaryFile()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.setpgid(0, 0)
            os.dup2(out.fileno(), 1)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    timed_out = False
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.perf_counter() - start > timeout:
            os.killpg(pid, signal.SIGKILL)
            timed_out = True
            _, status, usage = os.wait4(pid, 0)
            break
        time.sleep(0.02)
    wall = time.perf_counter() - start
    out.seek(0)
    return {
        "wall": round(wall, 2),
        "cpu": round(usage.ru_utime + usage.ru_stime, 2),
        "rss_mb": round(usage.ru_maxrss / 1024, 1),
        "rc": os.waitstatus_to_exitcode(status),
        "timed_out": timed_out,
        "stdout": out.read().decode("utf-8", "replace"),
    }


def _summary(stdout: str) -> tuple[str, str, int]:
    """(verdict, rule ids with counts, report bytes) from a JSON report."""
    try:
        report = json.loads(stdout)
        f = report["files"][0]
    except (ValueError, KeyError, IndexError):
        return "-", "-", len(stdout)
    counts: dict[str, int] = {}
    places: dict[str, int] = {}  # repeats counted on a finding (evidence "occurrences")
    for finding in f.get("findings", []):
        rule = finding["rule_id"]
        counts[rule] = counts.get(rule, 0) + 1
        seen = int(finding.get("evidence", {}).get("occurrences", 0))
        places[rule] = max(places.get(rule, 0), seen)
    rules = ", ".join(
        (f"{k}×{v}" if v > 1 else k) + (f" ({places[k]:,} places)" if places.get(k) else "")
        for k, v in sorted(counts.items())
    )
    return str(f.get("verdict")), rules, len(stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mx-hostile")
    ap.add_argument("--out", type=Path, default=None, help="Markdown table (default: stdout)")
    ap.add_argument("--small", action="store_true", help="the small versions the tests use")
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--label", default="", help="a column label (e.g. before/after)")
    ap.add_argument("--only", default="", help="comma-separated substrings of input names")
    args = ap.parse_args()
    inputs = build(args.work, small=args.small)
    rows = []
    exe = [sys.executable, "-m", "modelxray", "scan", "-f", "json", "--no-policy"]
    for name, path in inputs.items():
        if args.only and not any(s in name for s in args.only.split(",")):
            continue
        r = _run([*exe, str(path)], args.timeout)
        verdict, rules, nbytes = _summary(str(r["stdout"]))
        size = path.stat().st_size if path.is_file() else 0
        rows.append(
            f"| {name} | {size:,} | {r['wall']} | {r['cpu']} | {r['rss_mb']} | {r['rc']}"
            f"{' (killed at timeout)' if r['timed_out'] else ''} | {verdict} | {rules} "
            f"| {nbytes:,} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    for how in ("worker",):
        if args.only and not any(s in f"sigkill-{how}" for s in args.only.split(",")):
            continue
        r2 = sigkill_orphan(how, args.work)
        fate = (
            "child still running 5 s later (killed by the harness)"
            if r2["child_survived"]
            else f"child gone {r2['seconds_to_exit']} s after the scanner"
        )
        rows.append(
            f"| scanner SIGKILLed while its pool {how} spins | - | - | - | - | - | {fate} | - | - |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = "\n".join(
        [
            f"### {args.label or 'run'}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"load average {load}, {os.cpu_count()} CPUs, timeout {args.timeout:g} s",
            "",
            "| input | bytes on disk | wall s | CPU s | peak RSS MB | exit | verdict | findings "
            "| report bytes |",
            "|---|---:|---:|---:|---:|---|---|---|---:|",
            *rows,
            "",
        ]
    )
    if args.out:
        with open(args.out, "a", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
