"""ZIP archives, read the way PyTorch's and Keras's loaders read them.

The central directory is the source of truth (as in PyTorch's miniz-based
reader): a member's data starts after *its local header's* name and extra
field, and CRC values, general-purpose flag bits and local/central name
mismatches are ignored rather than refused — Python's ``zipfile`` refuses them,
loaders do not, and a scanner that refuses them misses what the loader runs.
Members are streamed, never extracted to disk.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Generator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact, BinaryStream, window_opener
from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.model import Severity
from modelxray.rules import archive as archive_rules
from modelxray.rules import scan as scan_rules
from modelxray.scanning import Child, Reading

if TYPE_CHECKING:
    from modelxray.scanning import Sink

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"


class ZipError(ValueError):
    pass


# One central-directory entry's fixed part (46 bytes after its signature check): version
# made by (low byte skipped, high byte = creating system), version needed, flags, method,
# time, date, CRC, sizes, name/extra/comment lengths, disk, internal and external attributes,
# local header offset.
_ENTRY = struct.Struct("<4xxBxxHH4xLLLHHH4xLL").unpack_from


@dataclass(frozen=True, slots=True)
class ZipMember:
    name: str
    method: int
    flags: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int
    external_attr: int
    create_system: int

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def is_symlink(self) -> bool:
        return self.create_system == 3 and (self.external_attr >> 16) & 0o170000 == 0o120000


# The setters of ZipMember's slots, in field order: ``read_directory`` fills one member per
# directory entry (tens of thousands in a large checkpoint) through them, without the frozen
# dataclass's ``object.__setattr__`` per field.
(_SET_NAME, _SET_METHOD, _SET_FLAGS, _SET_CRC, _SET_CSIZE, _SET_SIZE, _SET_OFFSET, _SET_EXT,
 _SET_SYSTEM) = (getattr(ZipMember, f.name).__set__ for f in fields(ZipMember))  # fmt: skip


def _find_eocd(f: BinaryStream, size: int) -> tuple[int, bytes]:
    span = min(size, 22 + 0xFFFF)
    f.seek(size - span)
    tail = f.read(span)
    pos = tail.rfind(_EOCD)
    while pos >= 0:
        if pos + 22 <= len(tail):
            return size - span + pos, tail[pos : pos + 22]
        pos = tail.rfind(_EOCD, 0, pos)
    raise ZipError("no end-of-central-directory record")


@dataclass(frozen=True)
class CentralDirectory:
    """The archive's table of contents, read the way Python's ``zipfile`` reads it.

    ``zipfile`` (hence Keras and ``np.load``) reads entries until it has consumed the directory's
    byte size, ignoring the end record's entry count; miniz (PyTorch's reader) reads as many
    entries as the count says.  ``members`` holds every entry either reads (the union);
    ``declared`` is the end record's count and ``problems`` says where the two views differ.
    ``start`` is where the archive's own bytes begin (its first local header or directory):
    bytes before it are a prefix that only loaders starting at byte 0 read.
    """

    members: list[ZipMember]
    declared: int
    start: int
    problems: tuple[str, ...] = ()


def read_central_directory(f: BinaryStream, size: int, limits: Limits) -> list[ZipMember]:
    return read_directory(f, size, limits).members


def _zip64_end(f: BinaryStream, eocd_at: int, required: bool) -> tuple[int, int, int] | None:
    """(entries, directory size, directory offset) from a zip64 end record, when a zip64
    locator precedes the end record.  zipfile reads the record just before the locator
    (``_EndRecData64``); miniz at the offset the locator gives: the first valid one wins.
    A locator leading nowhere is an error only when the end record ``required`` zip64."""
    f.seek(max(0, eocd_at - 20))
    loc = f.read(20)
    if len(loc) < 20 or loc[:4] != _EOCD64_LOCATOR:
        return None
    (located,) = struct.unpack("<Q", loc[8:16])
    for at in (eocd_at - 20 - 56, located):
        if at < 0:
            continue
        f.seek(at)
        rec = f.read(56)
        if len(rec) == 56 and rec[:4] == _EOCD64:
            count, cd_size, cd_offset = struct.unpack("<QQQ", rec[32:56])
            return int(count), int(cd_size), int(cd_offset)
    if required:
        raise ZipError("bad zip64 end-of-central-directory record")
    return None


def read_directory(f: BinaryStream, size: int, limits: Limits) -> CentralDirectory:
    eocd_at, eocd = _find_eocd(f, size)
    (_, _, _, _, count, cd_size, cd_offset, _) = struct.unpack("<4s4H2LH", eocd)
    problems: list[str] = []
    zip64 = count == 0xFFFF or cd_offset == 0xFFFFFFFF or cd_size == 0xFFFFFFFF
    # zipfile and miniz both take the zip64 record's values whenever a locator leads to one,
    # whatever the 32-bit fields say.
    z64 = _zip64_end(f, eocd_at, required=zip64)
    if z64 is not None:
        fields = zip(
            (count, cd_size, cd_offset), (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF), z64, strict=True
        )
        if any(v != sentinel and v != wide for v, sentinel, wide in fields):
            problems.append(
                f"the end record (entries {count}, directory {cd_size} bytes at {cd_offset}) "
                f"and the zip64 end record (entries {z64[0]}, directory {z64[1]} bytes at "
                f"{z64[2]}) disagree: zipfile and miniz follow the zip64 record"
            )
        count, cd_size, cd_offset = z64
    if count > limits.max_members:
        raise BudgetExceeded("max_members", f"archive declares {count} members")
    # Bytes prepended to the archive (self-extractors, polyglots) shift every offset; zipfile,
    # which Keras uses, corrects for that, so we do too.
    shift = 0 if zip64 else _cd_end(f, eocd_at) - cd_size - cd_offset
    if shift < 0:
        raise ZipError("central directory lies outside the file")
    cd_offset += shift
    if cd_size > size:
        raise ZipError("central directory is larger than the file")
    if cd_size > limits.max_buffered_member_bytes:
        raise BudgetExceeded(
            "max_buffered_member_bytes", f"central directory of {cd_size} bytes is read whole"
        )
    f.seek(cd_offset)
    cd = f.read(cd_size)
    if len(cd) < cd_size:
        raise ZipError("truncated central directory")
    members: list[ZipMember] = []
    append = members.append
    new = object.__new__
    max_members = limits.max_members
    end = len(cd)
    pos = 0
    # As zipfile does: every entry in the directory's bytes, whatever the count says (bounded).
    while pos < end:
        sound = pos + 46 <= end and cd.startswith(_CENTRAL, pos)
        if not sound:
            if len(members) < count and pos + 46 <= end:
                raise ZipError(f"bad central directory entry at offset {cd_offset + pos}")
            # Past the counted entries miniz stops reading; zipfile refuses the archive.
            problems.append(
                f"{end - pos} byte(s) at the end of the central directory are no entry "
                "(zipfile refuses the archive; miniz, which PyTorch uses, ignores them)"
            )
            break
        if len(members) >= max_members:
            raise BudgetExceeded(
                "max_members", f"central directory holds more than {max_members} entries"
            )
        (system, flags, method, crc, csize, usize, nlen, xlen, clen, ext, offset) = _ENTRY(cd, pos)
        name_at = pos + 46
        pos = name_at + nlen + xlen + clen
        if usize == 0xFFFFFFFF or csize == 0xFFFFFFFF or offset == 0xFFFFFFFF:
            extra = cd[name_at + nlen : name_at + nlen + xlen]
            usize, csize, offset = _apply_zip64(extra, usize, csize, offset)
        raw_name = cd[name_at : name_at + nlen]
        if flags & 0x800 or raw_name.isascii():  # cp437 agrees with ASCII on ASCII bytes
            name = raw_name.decode("utf-8", errors="replace")
        else:
            name = raw_name.decode("cp437", errors="replace")
        # ZipMember(name, method, flags, crc, csize, usize, offset + shift, ext, system)
        m = new(ZipMember)
        _SET_NAME(m, name)
        _SET_METHOD(m, method)
        _SET_FLAGS(m, flags)
        _SET_CRC(m, crc)
        _SET_CSIZE(m, csize)
        _SET_SIZE(m, usize)
        _SET_OFFSET(m, offset + shift)
        _SET_EXT(m, ext)
        _SET_SYSTEM(m, system)
        append(m)
    if len(members) != count:
        readers = (
            "zipfile (Keras, np.load) reads all of them; miniz (PyTorch) only the counted ones"
            if len(members) > count
            else "miniz (PyTorch) refuses the archive; zipfile reads the entries there are"
        )
        problems.insert(
            0,
            f"the end record declares {count} entries but the central directory holds "
            f"{len(members)}: {readers}",
        )
    start = min([m.header_offset for m in members] + [cd_offset])
    return CentralDirectory(members, count, start, tuple(problems))


def _cd_end(f: BinaryStream, eocd_at: int) -> int:
    """Where the central directory ends: before a zip64 end record when one precedes the EOCD
    (PyTorch writes zip64 records even for small archives), else at the EOCD."""
    f.seek(max(0, eocd_at - 20))
    loc = f.read(20)
    if len(loc) < 20 or loc[:4] != _EOCD64_LOCATOR:
        return eocd_at
    (eocd64_at,) = struct.unpack("<Q", loc[8:16])
    f.seek(eocd64_at)
    rec = f.read(12)
    if len(rec) == 12 and rec[:4] == _EOCD64:
        (rest,) = struct.unpack("<Q", rec[4:12])
        if eocd64_at + 12 + rest == eocd_at - 20:
            return int(eocd64_at)
    return eocd_at - 20 - 56  # prepended bytes moved the record: assume its usual size


def _apply_zip64(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, ln = struct.unpack("<HH", extra[pos : pos + 4])
        data = extra[pos + 4 : pos + 4 + ln]
        if tag == 1:
            vals = [v[0] for v in struct.iter_unpack("<Q", data[: len(data) // 8 * 8])]
            if usize == 0xFFFFFFFF and vals:
                usize = vals.pop(0)
            if csize == 0xFFFFFFFF and vals:
                csize = vals.pop(0)
            if offset == 0xFFFFFFFF and vals:
                offset = vals.pop(0)
        pos += 4 + ln
    return usize, csize, offset


def member_data_offset(f: BinaryStream, member: ZipMember) -> tuple[int, str]:
    """Where the member's bytes start (after the local header), and the local header's name."""
    f.seek(member.header_offset)
    hdr = f.read(30)
    if len(hdr) < 30 or hdr[:4] != _LOCAL:
        raise ZipError(f"no local header for {member.name!r} at {member.header_offset}")
    nlen, xlen = struct.unpack("<HH", hdr[26:30])
    local_name = f.read(nlen).decode("utf-8", errors="replace")
    return member.header_offset + 30 + nlen + xlen, local_name


_LOCAL_LENGTHS = struct.Struct("<HH").unpack_from
_HEADER_WINDOW = 1 << 16


def member_data_offsets(
    f: BinaryStream, members: list[ZipMember], budget: Budget | None = None
) -> dict[int, int]:
    """:func:`member_data_offset` of every member that is no folder, by index: the same
    offsets and the same error for the first member without a local header, with the local
    headers (which writers put back to back) read a window at a time, not one seek and two
    reads per member.  ``budget``'s clock is looked at every 4096 members."""
    out: dict[int, int] = {}
    window = b""
    start = 0
    for i, m in enumerate(members):
        if m.name.endswith("/"):  # ZipMember.is_dir
            continue
        if budget is not None and not i & 4095:
            budget.check_time()
        at = m.header_offset - start
        if not (0 <= at and at + 30 <= len(window)):
            f.seek(m.header_offset)
            window = f.read(_HEADER_WINDOW)
            start = m.header_offset
            at = 0
        if len(window) < at + 30 or not window.startswith(_LOCAL, at):
            raise ZipError(f"no local header for {m.name!r} at {m.header_offset}")
        nlen, xlen = _LOCAL_LENGTHS(window, at + 26)
        out[i] = m.header_offset + 30 + nlen + xlen
    return out


# Zip compression methods this reader streams, and the codec that decodes each.
_METHODS = {8: "deflate", 12: "bzip2", 93: "zstd", 95: "xz"}


def member_opener(
    archive: Artifact,
    member: ZipMember,
    data_offset: int,
    limits: Limits,
    budget: Budget | None = None,
) -> Callable[[], BinaryStream]:
    raw = window_opener(archive.opener, data_offset, member.compressed_size)
    if member.method == 0:
        return raw
    codec = _METHODS.get(member.method)
    if codec is not None:
        limit = min(member.size, limits.max_decompressed_bytes)
        # Loaders stop at the declared size and do not insist on a clean end of stream.
        from modelxray.containers.stream import decompressing_opener

        return decompressing_opener(
            raw, codec, limit, strict_end=False, size=member.size, budget=budget
        )
    raise ZipError(f"{member.name}: unsupported compression method {member.method}")


def classify_archive(names: list[str]) -> str:
    """What kind of model archive this is, from its member layout."""
    top = set(names)
    if "config.json" in top and (
        "metadata.json" in top or any(n.startswith("model.weights") for n in top)
    ):
        return "keras-v3"
    # every name, NUL-separated: one substring search instead of one test per name (a name
    # holding a NUL only makes a hit that the exact test then rejects)
    joined = "\0".join(names) + "\0"
    if "data.pkl\0" in joined and any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        if "/code/" in joined or (
            "/constants.pkl\0" in joined and any(n.endswith("/constants.pkl") for n in names)
        ):
            return "torchscript"
        return "pytorch-zip"
    base = {n.split("/", 1)[-1] if "/" in n else n for n in names}
    if {".data/version", ".data/extern_modules"} <= base:
        return "torch-package"  # torch.package.PackageExporter (read by PackageImporter)
    if "schema.json" in top and all(
        n == "schema.json" or n.endswith((".npy", ".npz")) for n in top
    ):
        return "skops"
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return "numpy-npz"
    if "MAR-INF/MANIFEST.json" in top | base:  # at the top (torch-model-archiver) or one down
        return "torchserve-mar"
    return "zip"


# Loaders that decide what a file is from its first bytes, and read a zip only when those are
# a zip header (torch/serialization.py ``_is_zipfile``; numpy ``load`` checks for a zip or
# ``\x93NUMPY`` magic, then unpickles; joblib checks for compression magics, then unpickles).
BYTE_ZERO_LOADERS = (
    "torch.load",
    "numpy.load(allow_pickle=True)",
    "pickle.load",
    "joblib.load",
)


def judge_from_byte_zero(artifact: Artifact, ctx: Sink) -> Generator[Child, bool, str | None]:
    """Judge a zip that does not start with a zip header as the byte-0 loaders read it;
    returns the name of the reader that recognised those bytes, if any."""
    from dataclasses import replace

    from modelxray.formats.base import identify
    from modelxray.formats.pickle import judge_as_unpickled

    view = replace(artifact, location=artifact.location.child("from byte 0"), _head=None)
    reader = identify(view, exclude=(ZipReader.name,))
    evidence: dict[str, Any] = {
        "head": artifact.head(16).hex(),
        "loaders": list(BYTE_ZERO_LOADERS),
        "read_as": reader.name if reader is not None else None,
    }
    if reader is not None:
        what = f"are read by them as {reader.name} (judged below)"
    else:
        what = "are no format modelxray recognises"
    ctx.report(
        archive_rules.PREFIX,
        artifact.location,
        f"the file does not start with a zip header: {', '.join(BYTE_ZERO_LOADERS)} read it "
        f"from byte 0, and those bytes {what}",
        evidence,
    )
    if reader is not None:
        yield Child(view, exclude=(ZipReader.name,))
        return reader.name
    yield from judge_as_unpickled(view, ctx, BYTE_ZERO_LOADERS, "bytes before the zip archive")
    return None


_MAX_EXTERN_LIST = 1 << 20  # a torch.package's .data/extern_modules, read for its layout
# Overlapping pairs listed in the finding's evidence.
_MAX_OVERLAPS_SHOWN = 10


def _report_overlaps(
    artifact: Artifact, members: list[ZipMember], offsets: dict[int, int], ctx: Sink
) -> set[int]:
    """Entries whose bytes (local header through compressed data) overlap another's: no zip
    writer makes them; an overlapping-entry bomb (Fifield, 2019) does, so that one small file
    decompresses to the shared bytes once per entry.  Returns the entries that start inside
    an earlier one's bytes."""
    spans = sorted(
        (m.header_offset, offsets[i] + m.compressed_size, i)
        for i, m in enumerate(members)
        if i in offsets
    )
    pairs: list[list[str]] = []
    overlapping: set[int] = set()
    reach, reach_i = -1, -1
    for start, end, i in spans:
        if start < reach:
            overlapping.add(i)
            if len(pairs) < _MAX_OVERLAPS_SHOWN:
                pairs.append([members[reach_i].name, members[i].name])
        if end > reach:
            reach, reach_i = end, i
    if overlapping:
        ctx.report(
            archive_rules.OVERLAP,
            artifact.location,
            f"{len(overlapping)} of the archive's {len(spans)} entries start inside another "
            "entry's bytes: each is decompressed from shared data (an overlapping-entry zip bomb)",
            {"overlapping_entries": len(overlapping), "entries": len(spans), "pairs": pairs},
        )
    return overlapping


class ZipReader(FormatReader):
    name = "zip"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if head[:4] in (_LOCAL, _EOCD) or artifact.tail(22)[:4] == _EOCD:
            return 50
        return 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.containers.checks import MemberChecks
        from modelxray.containers.stream import MissingCodec, check_codec
        from modelxray.formats.torch import torch_raw_storages

        byte_zero = None
        if artifact.head(4) not in (_LOCAL, _EOCD):
            byte_zero = yield from judge_from_byte_zero(artifact, ctx)
        with artifact.open() as f:
            try:
                directory = read_directory(f, artifact.size, ctx.limits)
            except ZipError as exc:
                if byte_zero is None:
                    raise
                # No zip reader opens it (zipfile and miniz fail alike), so the only view is
                # the byte-0 one, judged above: an end record alone is a stray byte pattern.
                ctx.report(
                    scan_rules.UNPARSEABLE,
                    artifact.location,
                    f"ends like a zip archive but is none ({exc}); read from byte 0 as {byte_zero}",
                    {"format": "zip", "error": str(exc)[:300], "read_as": byte_zero},
                    severity=Severity.MEDIUM,
                    incomplete=False,  # read whole, from byte 0
                )
                return
            members = directory.members
            offsets = member_data_offsets(f, members, ctx.budget)
            kind = classify_archive([m.name for m in members])
            raw_storages = torch_raw_storages(f, kind, members, offsets)
        if artifact.depth == 0:
            ctx.add_format(kind)
        facts: dict[str, Any] = {"container": kind, "members": [m.name for m in members]}
        if kind == "keras-v3":
            facts.update(self._keras_metadata(artifact, members, offsets, ctx))
        elif kind == "torch-package":
            facts.update(self._torch_package_layout(artifact, members, offsets, ctx))
        overlapping = _report_overlaps(artifact, members, offsets, ctx)
        for problem in directory.problems:
            ctx.report(
                archive_rules.DIRECTORY_MISMATCH,
                artifact.location,
                problem,
                {"declared_entries": directory.declared, "directory_entries": len(members)},
            )
        checks = MemberChecks(ctx, artifact, "zip")
        check_name = checks.member
        for i, m in enumerate(members):
            copy = check_name(m.name)
            if i in raw_storages and not m.is_symlink:
                # torch reads these as raw tensor bytes, never as a format: stored (method 0,
                # so nothing below could fail or be expanded), no folder, their names checked
                # above, their bytes in the overlap check; nothing else to build for them but
                # the check that those bytes are there (torch would fail on a short storage)
                if offsets[i] + m.compressed_size > artifact.size:
                    ctx.report(
                        scan_rules.UNPARSEABLE,
                        checks.location(m.name, copy),
                        f"{m.name}: its {m.compressed_size} bytes of tensor data run past the "
                        f"end of the archive (they start at byte {offsets[i]} of {artifact.size})",
                    )
                if not i & 4095:
                    ctx.budget.check_time()
                continue
            if m.is_dir:
                continue
            ctx.budget.check_time()
            loc = checks.location(m.name, copy)
            try:
                opener = member_opener(artifact, m, offsets[i], ctx.limits, ctx.budget)
            except ZipError as exc:
                # the member is not read: the file is not fully scanned
                ctx.report(scan_rules.UNPARSEABLE, loc, str(exc))
                continue
            if i in overlapping:
                continue  # not decompressed again (reported below: the file is not fully read)
            if m.method != 0:
                checks.expansion(m.name, m.size, m.compressed_size, declared=True)
                try:
                    check_codec(_METHODS[m.method])
                except MissingCodec as exc:
                    ctx.report(archive_rules.MISSING_EXTRA, loc, f"member not scanned: {exc}")
                    continue
            if m.is_symlink:
                checks.link(m.name, self._link_target(opener, m), hard=False)
                continue
            child = Artifact(
                location=loc,
                size=m.size,
                opener=opener,
                name=m.name.rsplit("/", 1)[-1],
                depth=artifact.depth + 1,
                facts=facts,
            )
            yield Child(child)
        if overlapping:
            ctx.report(
                scan_rules.INCOMPLETE,
                artifact.location,
                f"{len(overlapping)} entries that start inside another entry's bytes were not "
                "scanned (each would decompress the shared bytes again)",
                {"limit": "overlapping_entries", "entries": len(overlapping)},
            )

    @staticmethod
    def _link_target(opener: Callable[[], BinaryStream], member: ZipMember) -> str:
        """A zip symlink's target is its (small) content."""
        try:
            with opener() as f:
                return f.read(4096).decode("utf-8", errors="replace")
        except (OSError, BudgetExceeded):
            return "<unreadable>"

    @staticmethod
    def _torch_package_layout(
        artifact: Artifact, members: list[ZipMember], offsets: dict[int, int], ctx: Sink
    ) -> dict[str, Any]:
        """What a torch.package importer resolves names through: the bundled sources and
        ``.data/extern_modules`` (``analysis.pickle.torch_package``), as facts for the members."""
        from modelxray.analysis.pickle.torch_package import PackageLayout

        names = [m.name for m in members if not m.is_dir]
        root = names[0].split("/", 1)[0] if names else ""
        extern: list[str] = []
        for i, m in enumerate(members):
            if m.name == f"{root}/.data/extern_modules" and i in offsets:
                try:
                    with member_opener(artifact, m, offsets[i], ctx.limits)() as f:
                        text = f.read(_MAX_EXTERN_LIST).decode("utf-8", "replace")
                except (ZipError, BudgetExceeded, OSError):
                    break  # the member itself is reported when the walk reaches it
                extern = [line.strip() for line in text.splitlines() if line.strip()]
                break
        return PackageLayout.from_members(names, extern).facts()

    @staticmethod
    def _keras_metadata(
        artifact: Artifact, members: list[ZipMember], offsets: dict[int, int], ctx: Sink
    ) -> dict[str, Any]:
        for i, m in enumerate(members):
            if m.name == "metadata.json" and m.size < 1 << 20:
                try:
                    with member_opener(artifact, m, offsets[i], ctx.limits, ctx.budget)() as f:
                        meta = json.loads(f.read(1 << 20))
                except (ValueError, ZipError, BudgetExceeded, OSError):
                    return {}
                if isinstance(meta, dict) and isinstance(meta.get("keras_version"), str):
                    return {"keras_version": meta["keras_version"]}
        return {}


register(ZipReader())
