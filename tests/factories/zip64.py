"""The zip64 central directory of a hand-written sparse archive (members already written)."""

from __future__ import annotations

import struct
from typing import BinaryIO


def write_zip64_directory(f: BinaryIO, members: list[tuple[bytes, int, int, int]]) -> None:
    """Write the central directory, zip64 end record, locator and end record for ``members``
    (name, size, CRC-32, local header offset), all stored, at ``f``'s position."""
    cd_start = f.tell()
    for name, size, crc, offset in members:
        extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
        f.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, 0, 0, 0, crc,
                            0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra), 0, 0, 0, 0,
                            0xFFFFFFFF))  # fmt: skip
        f.write(name + extra)
    cd_end = f.tell()
    n = len(members)
    f.write(struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, n, n,
                        cd_end - cd_start, cd_start))  # fmt: skip
    f.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, cd_end, 1))
    f.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                        0xFFFFFFFF, 0))  # fmt: skip
