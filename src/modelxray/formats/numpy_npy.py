"""NumPy ``.npy`` arrays (and, through the zip container, the members of ``.npz`` files).

The header (magic, version, length, a Python dict literal) is parsed the way
``numpy.lib.format`` parses it — with :func:`ast.literal_eval`, which evaluates literals
only — and bounded.  A numeric dtype means the rest is raw array data: it is never read.
An object dtype (``|O``, or a structured/sub-array dtype with an object field) means the
data is a pickle that ``np.load(allow_pickle=True)`` unpickles: it is scanned by the pickle VM.
"""

from __future__ import annotations

import ast
import re
import struct
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.formats.pickle import report_streams, scan_pickle_at, show_program
from modelxray.rules import numpy as rules
from modelxray.rules import scan as scan_rules
from modelxray.scanning import Reading

if TYPE_CHECKING:
    from modelxray.scanning import Sink

MAGIC = b"\x93NUMPY"
# numpy reads headers of any length once allow_pickle=True; beyond this we stop (fail closed).
MAX_HEADER_BYTES = 16 * 1024 * 1024
_MAX_DESCR_DEPTH = 32
_BYTEORDER = "<>|=!"


_SIMPLE_TYPESTR = re.compile(
    r"[<>|=]?[?bBhHiIlLqQpPefdgFDGbiufcSUVMmO]\d{0,5}(\[[0-9a-zA-Z]{1,6}\])?"
)


class NpyHeaderError(ValueError):
    pass


def _str_has_object(descr: str) -> bool:
    for token in descr.split(","):
        t = token.strip()
        if t.startswith("("):  # sub-array shape prefix, e.g. "(2,3)O"
            t = t[t.find(")") + 1 :].strip() if ")" in t else t
        t = t.lstrip(_BYTEORDER)
        if t == "O" or (t.startswith("O") and t[1:].isdigit()) or t in ("object", "object_"):
            return True
    return False


def descr_has_object(descr: Any, depth: int = 0) -> bool:
    """Whether a ``.npy`` ``descr`` contains an object field (statically, no numpy)."""
    if depth > _MAX_DESCR_DEPTH:
        raise NpyHeaderError("dtype description nested too deeply")
    if isinstance(descr, str):
        return _str_has_object(descr)
    if isinstance(descr, list):
        for field in descr:
            if not isinstance(field, tuple) or len(field) not in (2, 3):
                raise NpyHeaderError(f"bad structured dtype field {field!r}"[:200])
            if descr_has_object(field[1], depth + 1):
                return True
        return False
    if isinstance(descr, tuple) and len(descr) == 2:
        return descr_has_object(descr[0], depth + 1)
    if isinstance(descr, dict):
        return any(descr_has_object(v, depth + 1) for v in descr.get("formats", ()) or ())
    raise NpyHeaderError(f"unsupported dtype description of type {type(descr).__name__}")


def _numpy_has_object(descr: Any) -> bool | None:
    """numpy's own reading of the descr (dtype parsing only; nothing is loaded)."""
    try:
        import numpy as np
        from numpy.lib import format as npformat
    except ImportError:  # pragma: no cover - numpy is a runtime dependency
        return None
    try:
        dtype = npformat.descr_to_dtype(descr)
    except Exception:  # noqa: BLE001 - numpy refuses the descr: np.load fails as well
        return None
    return bool(isinstance(dtype, np.dtype) and dtype.hasobject)


def _filter_py2_longs(text: str) -> str:
    """numpy.lib.format._filter_header: remove the ``L`` suffix of Python 2 long literals."""
    import io
    import tokenize

    tokens = []
    last_was_number = False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if last_was_number and tok.type == tokenize.NAME and tok.string == "L":
                continue
            tokens.append(tok)
            last_was_number = tok.type == tokenize.NUMBER
    except (tokenize.TokenError, IndentationError):
        raise SyntaxError("header does not tokenize") from None
    return str(tokenize.untokenize(tokens))


def read_header(artifact: Artifact) -> tuple[dict[str, Any], int, tuple[int, int]]:
    """(header dict, data offset, version) of a ``.npy``; raises NpyHeaderError."""
    head = artifact.head(12)
    if head[:6] != MAGIC or len(head) < 10:
        raise NpyHeaderError("not a .npy file")
    version = (head[6], head[7])
    if version == (1, 0):
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif version in ((2, 0), (3, 0)):
        if len(head) < 12:
            raise NpyHeaderError("truncated header length")
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        raise NpyHeaderError(f"unknown .npy format version {version[0]}.{version[1]}")
    if start + hlen > artifact.size:
        raise NpyHeaderError(f"header length {hlen} runs past the end of the file")
    if hlen > MAX_HEADER_BYTES:
        raise NpyHeaderError(f"header of {hlen} bytes exceeds the {MAX_HEADER_BYTES}-byte limit")
    with artifact.open() as f:
        f.seek(start)
        raw = f.read(hlen)
    if len(raw) < hlen:
        raise NpyHeaderError("truncated header")
    try:
        text = raw.decode("utf-8" if version == (3, 0) else "latin-1")
        try:
            header = ast.literal_eval(text)
        except SyntaxError:
            # numpy's _read_array_header: version <= 2.0 headers written by Python 2 may hold
            # long literals (``(2L, 3L)``); it drops the ``L`` tokens and tries again.
            if version > (2, 0):
                raise
            header = ast.literal_eval(_filter_py2_longs(text))
    except (UnicodeDecodeError, ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise NpyHeaderError("header is not a Python literal") from None
    if not isinstance(header, dict):
        raise NpyHeaderError("header is not a dictionary")
    if set(header) != {"descr", "fortran_order", "shape"}:
        raise NpyHeaderError(f"header keys {sorted(map(str, header))} are not the .npy keys")
    shape = header["shape"]
    if not isinstance(shape, tuple) or not all(type(d) is int and d >= 0 for d in shape):
        raise NpyHeaderError(f"bad shape {shape!r}"[:200])
    if not isinstance(header["fortran_order"], bool):
        raise NpyHeaderError("fortran_order is not a bool")
    return header, start + hlen, version


class NpyReader(FormatReader):
    name = "numpy"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 70 if head[:6] == MAGIC else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        try:
            header, offset, version = read_header(artifact)
            descr = header["descr"]
            mine = descr_has_object(descr)
        except NpyHeaderError as exc:
            ctx.report(
                rules.MALFORMED_HEADER,
                artifact.location,
                f".npy header cannot be parsed: {exc}"[:500],
                {"format": "numpy", "error": str(exc)[:300], "head": artifact.head(16).hex()},
            )
            return
        # A plain type string ('<f4', '|u1', '<M8[ns]', …) needs no second opinion; importing
        # numpy for one costs more than the whole scan.
        simple = isinstance(descr, str) and _SIMPLE_TYPESTR.fullmatch(descr) is not None
        theirs = mine if simple else _numpy_has_object(descr)
        if theirs is None and not mine:
            ctx.report(
                rules.MALFORMED_HEADER,
                artifact.location,
                f".npy dtype description {descr!r} is not one numpy accepts"[:500],
                {"format": "numpy", "descr": repr(descr)[:300]},
                incomplete=False,  # the header was read; numpy refuses the file
            )
            return
        if not (mine or theirs):
            return  # numeric data: never read
        evidence = {
            "descr": repr(descr)[:300],
            "shape": list(header["shape"])[:32],
            "version": f"{version[0]}.{version[1]}",
            "data_offset": offset,
        }
        ctx.report(
            rules.OBJECT_ARRAY,
            artifact.location,
            "object-dtype array: its data is a pickle that np.load(allow_pickle=True) unpickles "
            "(scanned)",
            evidence,
        )
        if offset >= artifact.size:
            ctx.report(
                scan_rules.UNPARSEABLE,
                artifact.location,
                "object-dtype array has no pickle data after its header",
                {"format": "numpy", "data_offset": offset},
                incomplete=False,  # nothing follows the header: nothing left unread
            )
            return
        streams = scan_pickle_at(artifact, ctx, offset)
        yield from report_streams(ctx, artifact, streams, what="npy-pickle")
        show_program(ctx, artifact, streams)


register(NpyReader())
