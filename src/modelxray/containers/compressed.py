"""Single-file compression wrappers: gzip, bzip2, xz, legacy lzma, LZ4 frame, Zstandard, zlib,
and joblib's legacy ``ZF`` files (joblib < 0.10, still loaded by ``joblib.load``).

The wrapper is recognised by its magic bytes (raw zlib, which has no real magic, by a
trial decompression of the first bytes), decompressed once to learn the true size and
ratio (bounded by ``max_decompressed_bytes`` and the time budget), and its content is
handed on as one child artifact whose stream decompresses again on demand — nothing
is written to disk.  joblib's compressed pickles are such wrappers; the child carries
``facts["compressed"]`` naming the codec.

A wrapper whose content no reader recognises leaves the file ``unsupported``: decompressing
is not scanning, and ``--fail-on-unsupported`` must still see it.

LZ4 and Zstandard need optional extras (``modelxray[lz4]``, ``modelxray[zstd]``);
without them such a file is reported as unscannable, never skipped.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from modelxray.artifact import Artifact, BinaryStream, window_opener
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.model import Severity
from modelxray.rules import archive as archive_rules
from modelxray.rules import scan as scan_rules
from modelxray.scanning import Child, Reading

if TYPE_CHECKING:
    from modelxray.scanning import Sink

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


# joblib/numpy_pickle_compat.py: b"ZF" + hex(length) left-justified to len(hex(2**64)),
# optionally one more space (joblib <= 0.8.4 on Python 2), then one zlib stream.
ZF_PREFIX = b"ZF"
_ZF_LEN_FIELD = len(f"{2**64:#x}")
ZF_CODEC = "joblib-zf"


def zf_header(head: bytes) -> tuple[int, int] | None:
    """(offset of the zlib data, declared length) of a joblib ``ZF`` file, as ``read_zfile``
    parses it; None when these first bytes are not one."""
    if head[:2] != ZF_PREFIX:
        return None
    end = len(ZF_PREFIX) + _ZF_LEN_FIELD
    try:
        length = int(head[len(ZF_PREFIX) : end], 16)
    except ValueError:
        return None
    start = end + 1 if head[end : end + 1] == b" " else end
    if length < 0 or not _trial(head[start:], 15):
        return None
    return start, length


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
    transparent = True

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if zf_header(head) is not None:
            return 60
        codec = detect_codec(head)
        if codec is None:
            return 0
        return 30 if codec in ("zlib", "lzma") else 60

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.containers.checks import report_expansion
        from modelxray.containers.stream import (
            DecompressionError,
            MissingCodec,
            check_codec,
            decompressing_opener,
        )

        head = artifact.head()
        zf = zf_header(head)
        raw = artifact.opener
        label = codec = detect_codec(head)
        if zf is not None:
            # read_zfile: zlib.decompress of everything after the header (one stream).
            raw = window_opener(artifact.opener, zf[0], artifact.size - zf[0])
            codec, label = "zlib-single", ZF_CODEC
        if codec is None or label is None:  # pragma: no cover - sniff said otherwise
            raise DecompressionError("not a compressed stream")
        if artifact.depth == 0:
            ctx.add_format(label)
        try:
            check_codec(codec)
        except MissingCodec as exc:
            ctx.report(
                archive_rules.MISSING_EXTRA,
                artifact.location,
                f"{codec}-compressed content was not scanned: {exc}",
                {"format": codec, "module": exc.module, "extra": exc.extra},
            )
            return
        size, tail, complete = self._measure(artifact, raw, codec, ctx)
        if not complete:
            limit = ctx.limits.max_decompressed_bytes
            report_expansion(ctx, artifact.location, label, limit + 1, artifact.size, False)
            ctx.report(
                scan_rules.INCOMPLETE,
                artifact.location,
                f"only the first {size} decompressed bytes were scanned",
                {"limit": "max_decompressed_bytes", "format": codec},
            )
        else:
            report_expansion(ctx, artifact.location, label, size, artifact.size, declared=False)
        # A ZF file keeps its name: joblib's sidecars (x.pkl_01.npy.z) hold raw array bytes
        # that no NumPy loader reads.
        name = artifact.name if zf is not None else inner_name(artifact.name, codec, head)
        if zf is not None and zf[1] != size:
            ctx.report(
                scan_rules.UNPARSEABLE,
                artifact.location,
                f"joblib ZF header declares {zf[1]} bytes but the content holds {size} "
                "(joblib refuses it; scanned anyway)",
                {"format": ZF_CODEC, "declared_bytes": zf[1], "decoded_bytes": size},
                severity=Severity.MEDIUM,
                incomplete=False,  # every decoded byte was scanned
            )
        child = Artifact(
            location=artifact.location.child(f"{label}:{name}"),
            size=size,
            # The child sees exactly the measured bytes: what fitted the limit, or what came
            # before the damage of a corrupt stream (already reported above).
            opener=decompressing_opener(
                raw,
                codec,
                ctx.limits.max_decompressed_bytes,
                size=size,
                tail=tail,
                end_at_size=True,
                budget=ctx.budget,
            ),
            name=name,
            depth=artifact.depth + 1,
            facts={
                **artifact.facts,
                "compressed": label,
                # joblib.load opens the wrapper: files it names are next to the wrapper.
                **({"wrapper_fs_path": artifact.fs_path} if artifact.fs_path else {}),
            },
        )
        yield Child(child)

    @staticmethod
    def _measure(
        artifact: Artifact, raw: Callable[[], BinaryStream], codec: str, ctx: Sink
    ) -> tuple[int, bytes, bool]:
        """Decompress once, counting: (size, last bytes, whether it fitted the limit)."""
        from modelxray.containers.stream import DecompressingStream, DecompressionError

        limit = ctx.limits.max_decompressed_bytes
        stream = DecompressingStream(raw, codec, limit, budget=ctx.budget)
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
            return size, tail, True
        finally:
            stream.close()


register(CompressedReader())
