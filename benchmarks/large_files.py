"""Timings for files whose payload is huge but whose structure is small (sparse files).

Builds, in a temporary folder:

* ``payload_1g.pkl``: a protocol-4 pickle holding one 1 GiB ``BINBYTES8`` (sparse), then a
  harmless ``posix.system`` call after it — the VM must seek over the payload and still see it;
* ``checkpoint_4g.pt``: a PyTorch-style zip (stored members, zip64) with a small
  ``archive/data.pkl`` and four 1 GiB storage members (sparse);

and prints the scan time of each.  Run: ``python benchmarks/large_files.py``.
"""

from __future__ import annotations

import os
import struct
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's tests package

from tests.factories.zip64 import write_zip64_directory  # noqa: E402

from modelxray.engine import scan  # noqa: E402

GIB = 1 << 30


def _payload_pickle(path: str) -> None:
    call = b"\x8c\x05posix\x8c\x06system\x93\x8c\x04true\x85R"
    with open(path, "wb") as f:
        f.write(b"\x80\x04\x8e" + struct.pack("<Q", GIB))
        f.seek(GIB, os.SEEK_CUR)
        f.write(b"0" + call + b".")  # POP the bytes, then the call, STOP


def _zip_checkpoint(path: str, n_storages: int = 4) -> None:
    """A stored zip64 archive written by hand so the 1 GiB members stay sparse."""
    pkl = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."
    members: list[tuple[bytes, int, int, int]] = []  # name, size, crc, offset
    with open(path, "wb") as f:

        def member(name: bytes, size: int, data: bytes | None) -> None:
            offset = f.tell()
            crc = zlib.crc32(data) if data is not None else 0
            extra = struct.pack("<HHQQ", 1, 16, size, size)
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, 0, 0, 0, crc,
                                0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra)))  # fmt: skip
            f.write(name + extra)
            if data is not None:
                f.write(data)
            else:
                f.seek(size, os.SEEK_CUR)
            members.append((name, size, crc, offset))

        member(b"archive/data.pkl", len(pkl), pkl)
        for i in range(n_storages):
            member(f"archive/data/{i}".encode(), GIB, None)
        member(b"archive/version", 2, b"3\n")
        write_zip64_directory(f, members)


def _time(path: str) -> None:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        r = scan(path).files[0]
        best = min(best, time.perf_counter() - t)
    worst = str(r.max_severity) if r.max_severity is not None else "none"
    ids = sorted({f.rule_id for f in r.findings})
    size = os.path.getsize(path)
    print(f"{os.path.basename(path):22} {size / GIB:6.2f} GiB  {best * 1000:8.1f} ms  "
          f"formats={r.formats} findings={ids} ({worst})")  # fmt: skip


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        p1 = os.path.join(d, "payload_1g.pkl")
        _payload_pickle(p1)
        p2 = os.path.join(d, "checkpoint_4g.pt")
        _zip_checkpoint(p2)
        _time(p1)
        _time(p2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
