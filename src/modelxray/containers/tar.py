"""TAR archives (V7, ustar, GNU and PAX), walked header by header, never extracted.

Compressed tars (``.tar.gz`` and friends) reach this reader as the decompressed
child of the compression-wrapper reader.  Members are streamed: on a plain file
each member is a window onto the archive; inside a compressed stream, members up
to ``max_buffered_member_bytes`` are read into memory as the walk passes them (so
the stream is decompressed once) and larger ones get a window that decompresses
again on demand.

The walk follows Python's ``tarfile`` (the extractor Python loaders use): GNU long
names/links, PAX ``path``/``linkpath``/``size`` records, data skipped only for
regular (and unknown) member types.  Unlike ``tarfile``'s default it keeps reading
past zero blocks (as ``tar --ignore-zeros`` and ``tarfile(ignore_zeros=True)``
do), so members hidden after an end-of-archive marker are scanned too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelxray.artifact import Artifact, BinaryStream, window_opener
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.rules import scan as scan_rules
from modelxray.scanning import Child, Reading

if TYPE_CHECKING:
    from modelxray.scanning import Sink

BLOCK = 512
_ZERO = bytes(BLOCK)
_LOW_BYTES = bytes(range(128))  # deleted to count the bytes a signed checksum sees negative
# Members up to this size are read as the walk passes them, also from a file on disk (one read
# instead of an open per member).
_SMALL_MEMBER = 64 * 1024
_MAX_LONG_NAME = 1 << 20  # GNU long names/links and PAX headers beyond this are refused
_MAX_PAX = 16 << 20

_REGULAR = {b"0", b"\0", b"7"}
_SPECIAL = {b"3": "character device", b"4": "block device", b"6": "FIFO"}
_DIRECTORY = {b"5", b"D"}
# Types tarfile knows; any other type is extracted as a regular file, so is scanned as one.
_KNOWN = (
    _REGULAR | set(_SPECIAL) | _DIRECTORY | {b"1", b"2", b"L", b"K", b"x", b"g", b"S", b"V", b"M"}
)


class TarError(ValueError):
    pass


def _number(field: bytes) -> int:
    """A numeric header field: octal text, or GNU base-256 when the top bit is set."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:
            value -= 256 ** (len(field) - 1)
        return value
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise TarError(f"bad numeric field {field!r}") from None


def _text(field: bytes) -> str:
    return field.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def checksum_ok(block: bytes) -> bool:
    try:
        stored = _number(block[148:156])
    except TarError:
        return False
    rest = block[:148] + block[156:]
    unsigned = 256 + sum(rest)
    signed = unsigned - 256 * len(rest.translate(None, _LOW_BYTES))
    return stored in (unsigned, signed)


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        if not data[pos:].strip(b"\0"):
            break
        space = data.find(b" ", pos, pos + 20)
        if space < 0:
            raise TarError("malformed PAX record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarError("malformed PAX record length") from None
        record = data[pos : pos + length]
        if length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise TarError("malformed PAX record")
        key, _, value = record[space - pos + 1 : -1].partition(b"=")
        records[key.decode("utf-8", "replace")] = value.decode("utf-8", "replace")
        pos += length
    return records


@dataclass
class TarMember:
    name: str
    type: bytes
    size: int
    linkname: str
    offset: int  # of the data
    sparse: bool


class TarReader(FormatReader):
    name = "tar"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        block = head[:BLOCK]
        if len(block) < BLOCK or block == _ZERO or not checksum_ok(block):
            return 0
        if block[257:262] == b"ustar":
            # Above HDF5 (60): h5py also opens a tar whose first member is an HDF5 file at
            # offset 512 (a "user block"); as a tar, that member is scanned all the same.
            return 65
        return 25 if block[0] != 0 else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.containers.checks import MemberChecks

        checks = MemberChecks(ctx, artifact, "tar")
        in_memory_ok = artifact.fs_path is None
        with artifact.open() as f:
            for member in _iter_members(f, artifact, ctx):
                copy = checks.member(member.name)
                if member.type == b"1":
                    checks.link(member.name, member.linkname, hard=True)
                    continue
                if member.type == b"2":
                    checks.link(member.name, member.linkname, hard=False)
                    continue
                if member.type in _SPECIAL:
                    checks.special(member.name, _SPECIAL[member.type])
                    continue
                if member.type in _DIRECTORY or member.type in (b"V",):
                    continue
                loc = checks.location(member.name, copy)
                if member.sparse or member.type == b"M":
                    what = "sparse" if member.sparse else "multi-volume continuation"
                    ctx.report(
                        scan_rules.UNPARSEABLE,
                        loc,
                        f"{what} tar member: its stored bytes were scanned, but the file an "
                        "extractor rebuilds from them was not",
                        {"format": "tar", "member_type": member.type.decode("latin-1")},
                    )
                small = member.size <= _SMALL_MEMBER
                if small or (in_memory_ok and member.size <= ctx.limits.max_buffered_member_bytes):
                    f.seek(member.offset)
                    data = f.read(member.size)
                    if len(data) < member.size:
                        raise TarError(f"member {member.name!r} is truncated")
                    child = Artifact.from_bytes(
                        data, loc, member.name.rsplit("/", 1)[-1], artifact.depth + 1
                    )
                else:
                    child = Artifact(
                        location=loc,
                        size=member.size,
                        opener=window_opener(artifact.opener, member.offset, member.size),
                        name=member.name.rsplit("/", 1)[-1],
                        depth=artifact.depth + 1,
                    )
                child.facts["container"] = "tar"
                yield Child(child)


def _read_exact(f: BinaryStream, offset: int, size: int, what: str) -> bytes:
    f.seek(offset)
    data = f.read(size)
    if len(data) < size:
        raise TarError(f"{what} at offset {offset} is truncated")
    return data


def _iter_members(f: BinaryStream, artifact: Artifact, ctx: Sink) -> Iterator[TarMember]:
    offset = 0
    count = 0
    after_end = False
    long_name: str | None = None
    long_link: str | None = None
    pax: dict[str, str] = {}
    pax_global: dict[str, str] = {}
    total = artifact.size
    while offset < total:
        ctx.budget.tick()
        f.seek(offset)
        block = f.read(BLOCK)
        if len(block) < BLOCK:
            if block.strip(b"\0"):
                raise TarError(f"truncated header at offset {offset}")
            return
        if block == _ZERO:
            after_end = True
            offset += BLOCK
            continue
        if not checksum_ok(block):
            where = " after the end-of-archive marker" if after_end else ""
            raise TarError(f"bad header checksum at offset {offset}{where}")
        kind = block[156:157]
        size = _number(block[124:136])
        if size < 0:
            raise TarError(f"negative member size at offset {offset}")
        data_at = offset + BLOCK
        if kind in (b"L", b"K", b"x", b"g"):
            cap = _MAX_LONG_NAME if kind in (b"L", b"K") else _MAX_PAX
            if size > cap:
                raise BudgetExceeded("tar_header", f"extended header of {size} bytes at {offset}")
            data = _read_exact(f, data_at, size, "extended header")
            if kind == b"L":
                long_name = _text(data)
            elif kind == b"K":
                long_link = _text(data)
            elif kind == b"x":
                pax.update(_pax_records(data))
            else:
                pax_global.update(_pax_records(data))
            offset = data_at + -(-size // BLOCK) * BLOCK
            continue
        fields = {**pax_global, **pax}
        name = _text(block[0:100])
        if block[257:263] == b"ustar\x00" and block[345:346] != b"\0":
            name = _text(block[345:500]) + "/" + name
        name = fields.get("path", long_name if long_name is not None else name)
        linkname = fields.get(
            "linkpath", long_link if long_link is not None else _text(block[157:257])
        )
        if "size" in fields:
            try:
                size = int(fields["size"])
            except ValueError:
                raise TarError(f"bad PAX size {fields['size']!r}") from None
        sparse = kind == b"S" or any(k.startswith("GNU.sparse.") for k in fields)
        long_name = long_link = None
        pax = {}
        count += 1
        if count > ctx.limits.max_members:
            raise BudgetExceeded(
                "max_members", f"archive holds more than {ctx.limits.max_members} members"
            )
        has_data = kind in _REGULAR or kind in (b"S", b"M") or kind not in _KNOWN
        if has_data and data_at + size > total:
            raise TarError(f"member {name!r} is truncated (needs {size} bytes at {data_at})")
        yield TarMember(name, kind, size if has_data else 0, linkname, data_at, sparse)
        if has_data:
            offset = data_at + -(-size // BLOCK) * BLOCK
        else:
            offset = data_at


register(TarReader())
