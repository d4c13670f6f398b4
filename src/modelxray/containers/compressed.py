"""Single-file compression wrappers: gzip, bzip2, xz, legacy lzma, LZ4 frame, Zstandard, zlib.

The wrapper is recognised by its magic bytes (raw zlib, which has no real magic, by a
trial decompression of the first bytes), decompressed once to learn the true size and
ratio (bounded by ``max_decompressed_bytes`` and the time budget), and its content is
handed on as one child artifact whose stream decompresses again on demand — nothing
is written to disk.  joblib's compressed pickles are such wrappers; the child carries
``facts["compressed"]`` naming the codec.

LZ4 and Zstandard need optional extras (``modelxray[lz4]``, ``modelxray[zstd]``);
without them such a file is reported as unscannable, never skipped.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.model import FileStatus
from modelxray.rules import archive as archive_rules
from modelxray.rules import scan as scan_rules

if TYPE_CHECKING:
    from modelxray.engine import ScanContext

# Enough of the end of the content for a zip end-of-central-directory search.
_TAIL_BYTES = 22 + 0xFFFF + 1024
_CHUNK = 1 << 20

_SUFFIXES = {
    "gzip": (".gz", ".gzip", ".z"),
    "bzip2": (".bz2", ".bz", ".bzip2"),
    "xz": (".xz",),
    "lzma": (".lzma",),
    "lz4": (".lz4",),
    "zstd": (".zst", ".zstd"),
    "zlib": (".zz", ".zlib"),
}
_TAR_SHORT = {".tgz": "gzip", ".taz": "gzip", ".tbz": "bzip2", ".tbz2": "bzip2", ".txz": "xz"}


def _trial(data: bytes, wbits: int) -> bool:
    try:
        d = zlib.decompressobj(wbits)
        out = d.decompress(data, 4096)
    except zlib.error:
        return False
    return bool(out) or d.eof


def _trial_lzma_alone(data: bytes) -> bool:
    import lzma

    try:
        out = lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data, 4096)
    except lzma.LZMAError:
        return False
    return bool(out)


def detect_codec(head: bytes) -> str | None:
    """The compression wrapper these first bytes start, if any."""
    if head[:3] == b"\x1f\x8b\x08":
        return "gzip"
    if (
        head[:3] == b"BZh"
        and head[3:4] in tuple(b"123456789"[i : i + 1] for i in range(9))
        and head[4:10] in (b"\x31\x41\x59\x26\x53\x59", b"\x17\x72\x45\x38\x50\x90")
    ):
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    if head[:4] == b"\x04\x22\x4d\x18":
        return "lz4"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "zstd"
    if len(head) >= 2:
        cmf, flg = head[0], head[1]
        if cmf & 0x0F == 8 and cmf >> 4 <= 7 and not flg & 0x20 and (cmf << 8 | flg) % 31 == 0:
            if _trial(head, 15):
                return "zlib"
    if len(head) >= 13 and head[0] == 0x5D:
        size = int.from_bytes(head[5:13], "little")
        if (size == 2**64 - 1 or size < 1 << 48) and _trial_lzma_alone(head):
            return "lzma"
    return None


def _gzip_name(head: bytes) -> str | None:
    """The original file name a gzip header records (FNAME), if any."""
    if len(head) < 10 or not head[3] & 0x08:
        return None
    pos = 10
    if head[3] & 0x04:  # FEXTRA
        if len(head) < 12:
            return None
        pos += 2 + int.from_bytes(head[10:12], "little")
    end = head.find(b"\0", pos)
    if end < 0:
        return None
    name = head[pos:end].decode("latin-1").replace("\\", "/").rsplit("/", 1)[-1]
    return name or None


def inner_name(name: str, codec: str, head: bytes) -> str:
    if codec == "gzip" and (recorded := _gzip_name(head)):
        return recorded
    lower = name.lower()
    for short, short_codec in _TAR_SHORT.items():
        if codec == short_codec and lower.endswith(short):
            return name[: -len(short)] + ".tar"
    for suffix in _SUFFIXES.get(codec, ()):
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


class CompressedReader(FormatReader):
    name = "compressed"
    extensions = (".gz", ".tgz", ".bz2", ".xz", ".lzma", ".lz4", ".zst", ".zstd", ".joblib")

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        codec = detect_codec(head)
        if codec is None:
            return 0
        return 30 if codec in ("zlib", "lzma") else 60

    def scan(self, artifact: Artifact, ctx: ScanContext) -> None:
        from modelxray.containers.checks import report_expansion, scan_member
        from modelxray.containers.stream import (
            DecompressionError,
            MissingCodec,
            check_codec,
            decompressing_opener,
        )

        head = artifact.head()
        codec = detect_codec(head)
        if codec is None:  # pragma: no cover - sniff said otherwise
            raise DecompressionError("not a compressed stream")
        if artifact.depth == 0:
            ctx.add_format(codec)
        try:
            check_codec(codec)
        except MissingCodec as exc:
            ctx.report(
                archive_rules.MISSING_EXTRA,
                artifact.location,
                f"{codec}-compressed content was not scanned: {exc}",
                {"format": codec, "module": exc.module, "extra": exc.extra},
            )
            ctx.result.status = FileStatus.UNSCANNABLE
            return
        size, tail, complete = self._measure(artifact, codec, ctx)
        if not complete:
            limit = ctx.limits.max_decompressed_bytes
            report_expansion(ctx, artifact.location, codec, limit + 1, artifact.size, False)
            ctx.report(
                scan_rules.INCOMPLETE,
                artifact.location,
                f"only the first {size} decompressed bytes were scanned",
                {"limit": "max_decompressed_bytes", "format": codec},
            )
            ctx.result.status = FileStatus.UNSCANNABLE
        else:
            report_expansion(ctx, artifact.location, codec, size, artifact.size, declared=False)
        name = inner_name(artifact.name, codec, head)
        child = Artifact(
            location=artifact.location.child(f"{codec}:{name}"),
            size=size,
            # The child sees exactly the measured bytes: what fitted the limit, or what came
            # before the damage of a corrupt stream (already reported above).
            opener=decompressing_opener(
                artifact.opener,
                codec,
                ctx.limits.max_decompressed_bytes,
                size=size,
                tail=tail,
                end_at_size=True,
            ),
            name=name,
            depth=artifact.depth + 1,
            facts={**artifact.facts, "compressed": codec},
        )
        scan_member(ctx, child)

    @staticmethod
    def _measure(artifact: Artifact, codec: str, ctx: ScanContext) -> tuple[int, bytes, bool]:
        """Decompress once, counting: (size, last bytes, whether it fitted the limit)."""
        from modelxray.containers.stream import DecompressingStream, DecompressionError

        limit = ctx.limits.max_decompressed_bytes
        stream = DecompressingStream(artifact.opener, codec, limit)
        size = 0
        tail = b""
        try:
            while True:
                ctx.budget.check_time()
                chunk = stream.read(_CHUNK)
                if not chunk:
                    return size, tail, True
                size += len(chunk)
                tail = (tail + chunk)[-_TAIL_BYTES:]
        except BudgetExceeded as exc:
            if exc.limit != "max_decompressed_bytes":
                raise
            return size, tail, False
        except DecompressionError as exc:
            # Loaders read (and unpickle) what comes before the damage: scan that prefix.
            ctx.report(
                scan_rules.UNPARSEABLE,
                artifact.location,
                f"{exc}; only the {size} bytes before the damage were scanned",
                {"format": codec, "error": "DecompressionError", "decoded_bytes": size},
            )
            ctx.result.status = FileStatus.UNSCANNABLE
            return size, tail, True
        finally:
            stream.close()


register(CompressedReader())
