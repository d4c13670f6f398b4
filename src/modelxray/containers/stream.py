"""Restartable, bounded, seekable views of compressed bytes — never written to disk.

A :class:`DecompressingStream` turns an opener of compressed bytes into a
forward-reading stream of the decompressed bytes.  Seeking forward decompresses
and discards; seeking backwards starts again from the beginning (so every child
reader can treat it as an ordinary seekable file).  Output beyond ``limit``
raises :class:`BudgetExceeded`; a corrupt stream raises :class:`DecompressionError`
(an ``OSError``, so the engine reports it as unreadable instead of stopping the
walk of the other members).

Codecs: raw deflate (zip), zlib, gzip (multi-member), bzip2 (multi-stream),
xz and legacy lzma (stdlib, always present), LZ4 frame and Zstandard (optional
extras, imported only when such a stream is met).
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from modelxray.artifact import BinaryStream
from modelxray.budget import Budget, BudgetExceeded


class DecompressionError(OSError):
    """The compressed bytes are corrupt, truncated or followed by garbage."""


class MissingCodec(OSError):
    """The codec needs an optional extra that is not installed."""

    def __init__(self, codec: str, module: str, extra: str) -> None:
        super().__init__(
            f"{codec} support needs the {module!r} module (pip install modelxray[{extra}])"
        )
        self.codec = codec
        self.module = module
        self.extra = extra


class _Decoder(Protocol):
    """The incremental-decompressor shape shared by bz2, lzma and lz4.frame."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _ZlibDecoder:
    """zlib's decompressobj in the bz2/lzma shape (``max_length`` + ``needs_input``)."""

    def __init__(self, wbits: int) -> None:
        self._z = zlib.decompressobj(wbits)
        self._tail = b""
        self._more = False

    @property
    def eof(self) -> bool:
        return bool(self._z.eof)

    @property
    def needs_input(self) -> bool:
        return not self._tail and not self._more

    @property
    def unused_data(self) -> bytes:
        return bytes(self._z.unused_data)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        out = self._z.decompress(self._tail + data, max(0, max_length))
        self._tail = bytes(self._z.unconsumed_tail)
        # A full output buffer may leave output pending inside zlib with no input left.
        self._more = max_length > 0 and len(out) >= max_length and not self._z.eof
        return out


_READ = 64 * 1024


class _FeedReader:
    """``read(n)`` over an incremental decoder, restarting it for concatenated streams."""

    def __init__(
        self,
        src: BinaryStream,
        new_decoder: Callable[[], _Decoder],
        multi_stream: bool,
        strict_end: bool,
    ) -> None:
        self._src = src
        self._new = new_decoder
        self._d = new_decoder()
        self._multi = multi_stream
        self._strict = strict_end
        self._pending = b""  # input not yet given to the decoder
        self._done = False

    def read(self, n: int) -> bytes:
        while not self._done:
            if self._d.eof:
                rest = (self._d.unused_data or b"") + self._pending
                self._pending = b""
                if not self._multi:
                    self._done = True
                    break
                if not rest:
                    rest = self._src.read(_READ)
                # Zero padding between or after members is tolerated, as gzip does.
                rest = rest.lstrip(b"\0")
                while not rest:
                    more = self._src.read(_READ)
                    if not more:
                        break
                    rest = more.lstrip(b"\0")
                if not rest:
                    self._done = True
                    break
                self._d = self._new()
                self._pending = rest
            data = b""
            if self._d.needs_input:
                data = self._pending or self._src.read(_READ)
                self._pending = b""
                if not data:
                    if self._strict:
                        raise DecompressionError("compressed stream is truncated")
                    self._done = True
                    break
            out = self._d.decompress(data, n)
            if out:
                return out
        return b""


class _ZstdReader:
    def __init__(self, src: BinaryStream) -> None:
        try:
            import zstandard
        except ImportError as exc:
            raise MissingCodec("zstd", "zstandard", "zstd") from exc
        self._r = zstandard.ZstdDecompressor().stream_reader(
            src, read_across_frames=True, closefd=False
        )

    def read(self, n: int) -> bytes:
        return bytes(self._r.read(n))


def _bz2() -> _Decoder:
    import bz2

    return bz2.BZ2Decompressor()


def _lzma(fmt: int) -> Callable[[], _Decoder]:
    def make() -> _Decoder:
        import lzma

        return lzma.LZMADecompressor(fmt)

    return make


def _lz4() -> _Decoder:
    try:
        import lz4.frame
    except ImportError as exc:
        raise MissingCodec("lz4", "lz4", "lz4") from exc
    decoder: _Decoder = lz4.frame.LZ4FrameDecompressor()
    return decoder


# codec -> (decoder factory, multi-stream?)
_CODECS: dict[str, tuple[Callable[[], _Decoder], bool]] = {
    "deflate": (lambda: _ZlibDecoder(-15), False),
    "zlib": (lambda: _ZlibDecoder(15), True),
    "zlib-single": (lambda: _ZlibDecoder(15), False),  # zlib.decompress: one stream
    "gzip": (lambda: _ZlibDecoder(31), True),
    "bzip2": (_bz2, True),
    "xz": (_lzma(1), True),  # lzma.FORMAT_XZ
    "lzma": (_lzma(2), False),  # lzma.FORMAT_ALONE (joblib's "lzma")
    "lz4": (_lz4, True),
}
CODECS = (*_CODECS, "zstd")


def check_codec(codec: str) -> None:
    """Raise :class:`MissingCodec` now if the codec's optional module is not installed."""
    if codec == "lz4":
        _lz4()
    elif codec == "zstd":
        _ZstdReader(io.BytesIO())


# The end of a stream kept once it has been decoded to the end: sniffers look at the end of
# every artifact (a zip's end record, 64 KiB back), which would otherwise mean decoding it all
# again on every open.
_TAIL_KEPT = 22 + 0xFFFF + 1024


class _EndMemo:
    """What one pass learnt about a stream's end (its size and last bytes), shared by every
    stream an opener makes."""

    def __init__(self) -> None:
        self.size: int | None = None
        self.tail = b""


class DecompressingStream(io.RawIOBase):
    """A forward-reading, restartable stream of decompressed bytes, bounded in output.

    ``size`` (when known) allows seeking from the end; ``tail`` (the last bytes of the
    output, when a previous pass kept them) serves reads near the end without
    decompressing everything again — sniffers look at the end of every artifact.
    """

    costly_seek = True

    def __init__(
        self,
        opener: Callable[[], BinaryStream],
        codec: str,
        limit: int,
        *,
        strict_end: bool = True,
        size: int | None = None,
        tail: bytes = b"",
        end_at_size: bool = False,
        budget: Budget | None = None,
        memo: _EndMemo | None = None,
    ) -> None:
        super().__init__()
        # The top-level file's budget: every byte decoded (again after a restart, too) counts.
        self._budget = budget
        self._memo = memo
        self._recent = b""  # the last bytes decoded, for ``memo``
        if codec not in CODECS:
            raise DecompressionError(f"unknown codec {codec!r}")
        self._opener = opener
        self._codec = codec
        self._limit = limit
        self._strict = strict_end
        self._size = size
        self._tail = tail if size is not None else b""
        # Stop at ``size`` (a previous pass measured it) instead of decoding on past it.
        self._end = size if end_at_size and size is not None else None
        self._src: BinaryStream | None = None
        self._restart()

    def _restart(self) -> None:
        if self._src is not None:
            self._src.close()
        self._src = self._opener()
        self._reader: Any
        if self._codec == "zstd":
            self._reader = _ZstdReader(self._src)
        else:
            new, multi = _CODECS[self._codec]
            self._reader = _FeedReader(self._src, new, multi, self._strict)
        self._buf = b""
        self._pos = 0  # position of the decoder (bytes produced so far)
        self._tail_pos: int | None = None  # position while serving from ``tail``

    @property
    def _tail_start(self) -> int:
        return (self._size or 0) - len(self._tail)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._tail_pos if self._tail_pos is not None else self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            target = pos
        elif whence == 1:
            target = self.tell() + pos
        elif self._size is not None:
            target = self._size + pos
        else:
            raise io.UnsupportedOperation("seek from the end of a stream of unknown size")
        target = max(0, target)
        if self._tail and target >= self._tail_start and target >= self._pos:
            self._tail_pos = target
            return target
        self._tail_pos = None
        if target < self._pos:
            self._restart()
        while self._pos < target:
            if not self._produce(min(target - self._pos, 1 << 20), discard=True):
                break
        return self._pos

    def _produce(self, n: int, discard: bool = False) -> int:
        """Decode up to ``n`` bytes into the buffer (or past them, when discarding)."""
        if not self._buf:
            try:
                self._buf = self._reader.read(max(n, _READ))
            except (MissingCodec, BudgetExceeded, DecompressionError):
                raise
            except Exception as exc:  # noqa: BLE001 - zlib.error, LZMAError, zstd/lz4 errors
                raise DecompressionError(f"corrupt {self._codec} stream: {exc}") from exc
            if self._memo is not None:
                self._remember(self._buf)
        k = min(n, len(self._buf))
        if self._pos + k > self._limit:
            raise BudgetExceeded(
                "max_decompressed_bytes", f"{self._codec} stream expands beyond {self._limit} bytes"
            )
        if self._budget is not None:
            self._budget.charge_decompressed(k)
        if discard:
            self._buf = self._buf[k:]
            self._pos += k
        return k

    def _remember(self, chunk: bytes) -> None:
        """Keep the last bytes decoded; at the end, tell the memo the size and the tail."""
        assert self._memo is not None
        if chunk:
            if len(chunk) >= _TAIL_KEPT:
                self._recent = chunk[-_TAIL_KEPT:]
            else:
                self._recent = (self._recent + chunk)[-_TAIL_KEPT:]
            return
        if self._memo.size is None and (self._size is None or self._size == self._pos):
            self._memo.size, self._memo.tail = self._pos, self._recent

    def readinto(self, b: Any) -> int:
        if self._tail_pos is not None:
            off = self._tail_pos - self._tail_start
            chunk = self._tail[off : off + len(b)]
            b[: len(chunk)] = chunk
            self._tail_pos += len(chunk)
            return len(chunk)
        want = len(b) if self._end is None else min(len(b), self._end - self._pos)
        if want <= 0:
            return 0
        n = self._produce(want)
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        self._pos += n
        return n

    def close(self) -> None:
        if not self.closed and self._src is not None:
            self._src.close()
        super().close()


def decompressing_opener(
    raw: Callable[[], BinaryStream],
    codec: str,
    limit: int,
    *,
    strict_end: bool = True,
    size: int | None = None,
    tail: bytes = b"",
    end_at_size: bool = False,
    budget: Budget | None = None,
) -> Callable[[], BinaryStream]:
    """An opener for a buffered :class:`DecompressingStream` over ``raw``; ``budget`` (the
    top-level file's) is charged every decompressed byte."""

    memo = _EndMemo()

    def _open() -> BinaryStream:
        known = memo.size is not None and not tail
        stream = DecompressingStream(
            raw,
            codec,
            limit,
            strict_end=strict_end,
            size=memo.size if known else size,
            tail=memo.tail if known else tail,
            end_at_size=end_at_size,
            budget=budget,
            memo=None if tail else memo,
        )
        return io.BufferedReader(stream, buffer_size=_READ)

    return _open
