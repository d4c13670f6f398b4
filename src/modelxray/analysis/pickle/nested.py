"""Payloads a pickle hands to another loader: decode them statically and look inside.

``pickle.loads(b'...')``, ``torch.load(io.BytesIO(b'...'))``, ``marshal.loads(...)``,
``exec(zlib.decompress(base64.b64decode('...')))``: the outer pickle only names
the loader, the real payload is a constant argument.  The decode chain
(base64/hex/zlib/gzip/bz2/lzma/codecs/latin-1) is evaluated here on constants
with bounded, known-pure decoders of our own choosing -- nothing the pickle
names is ever called.  Decoded pickles are scanned recursively (depth bounded by
``Limits.max_nested_payload_depth``); marshalled code, Python source, archives
and ``.npy`` images are recorded with their bytes for the matching reader.
"""

from __future__ import annotations

import binascii
import lzma
import zlib
from collections.abc import Callable
from typing import Protocol, TypeVar

from modelxray.budget import Budget

from .globals_policy import DEFAULT_POLICY, Policy
from .resolve import effective_callee, global_path, value_path
from .values import Blob, Call, Global, NestedPayload, PickleStream


class _Reads(Protocol):
    def read_at(self, pos: int, n: int) -> bytes: ...


class VmState(Protocol):
    """What nested-payload decoding uses of the VM's per-scan state (``vm.VmState``)."""

    @property
    def src(self) -> _Reads: ...
    @property
    def budget(self) -> Budget: ...
    @property
    def policy(self) -> Policy | None: ...

    nested_bytes: int
    nested_scans: int


NESTED_MAX = 64 * 1024 * 1024  # largest decoded payload kept/scanned
MAX_PER_STREAM = 64  # nested payloads examined per stream
_CHAIN_DEPTH = 12

# loader dotted path -> (argument form, argument index)
#   "bytes": the payload itself; "file": a file object (io.BytesIO(payload)) or a path.
# fmt: off
LOADERS: dict[str, tuple[str, int]] = {
    "pickle.loads": ("bytes", 0), "pickle._loads": ("bytes", 0), "_pickle.loads": ("bytes", 0),
    "cPickle.loads": ("bytes", 0), "dill.loads": ("bytes", 0), "dill._dill.loads": ("bytes", 0),
    "cloudpickle.loads": ("bytes", 0), "cloudpickle.cloudpickle.loads": ("bytes", 0),
    "numpy.loads": ("bytes", 0), "torch.storage._load_from_bytes": ("bytes", 0),
    "pickle.load": ("file", 0), "pickle._load": ("file", 0), "_pickle.load": ("file", 0),
    "pickle.Unpickler": ("file", 0), "pickle._Unpickler": ("file", 0),
    "_pickle.Unpickler": ("file", 0), "dill.load": ("file", 0), "dill._dill.load": ("file", 0),
    "dill.Unpickler": ("file", 0), "dill._dill.Unpickler": ("file", 0),
    "cloudpickle.load": ("file", 0), "torch.load": ("file", 0),
    "torch.serialization.load": ("file", 0), "joblib.load": ("file", 0),
    "joblib.numpy_pickle.load": ("file", 0), "numpy.load": ("file", 0),
    "pandas.read_pickle": ("file", 0), "marshal.loads": ("bytes", 0),
    "marshal.load": ("file", 0), "builtins.exec": ("bytes", 0), "builtins.eval": ("bytes", 0),
    "builtins.compile": ("bytes", 0),
}
# fmt: on
# Loaders that real serializers name for nested content: their call is judged by what the
# decoded bytes contain (the verdict drops the call itself when the payload was decoded and
# scanned).  torch pickles every storage of a tensor as ``_load_from_bytes(torch.save(...))``
# (``Tensor.__reduce_ex__`` without a persistent id, i.e. plain ``pickle.dumps``).
CONTENT_JUDGED_LOADERS = frozenset({"torch.storage._load_from_bytes"})
# What those loaders run, for the evidence (torch/storage.py: ``_load_from_bytes(b)`` is
# ``torch.load(io.BytesIO(b), weights_only=False)`` -- the full unpickler, whatever the
# ``weights_only`` default of the installed torch).
LOADER_RUNS: dict[str, str] = {
    "torch.storage._load_from_bytes": (
        "torch.load(io.BytesIO(b), weights_only=False) via torch.storage._load_from_bytes"
    ),
}
# Loaders that read a torch.save file.  A zip goes to the container readers ("archive"); a
# legacy file is what torch.serialization._legacy_load reads: up to five pickles (magic
# number, protocol, sys_info, the object, storage keys) and then raw storage bytes it never
# unpickles.  A first pickle that is not the magic number still runs (torch raises after it).
_TORCH_FILE_LOADERS = frozenset(
    {"torch.storage._load_from_bytes", "torch.load", "torch.serialization.load"}
)
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
TORCH_LEGACY_PICKLES = 5
MAX_CONTENT_JUDGED = 4096  # nested payloads of CONTENT_JUDGED_LOADERS examined per stream
_MARSHAL = frozenset({"marshal.loads", "marshal.load"})
_SOURCE = frozenset({"builtins.exec", "builtins.eval", "builtins.compile"})
_FILE_WRAPPERS = frozenset({"io.BytesIO", "_io.BytesIO", "io.BufferedReader", "_io.BufferedReader"})

C = TypeVar("C", bound=VmState)
ScanFn = Callable[[C, bytes, tuple[str, ...], int, int], list[PickleStream]]


class _TooLarge(Exception):
    pass


def _limit(ctx: VmState) -> int:
    left = ctx.budget.limits.max_decompressed_bytes - ctx.nested_bytes
    return max(0, min(NESTED_MAX, left))


def _decompress(kind: str, data: bytes, limit: int) -> bytes:
    import bz2  # (bz2 and base64 load with the first payload that needs them)

    if kind == "bz2":
        d: bz2.BZ2Decompressor | lzma.LZMADecompressor = bz2.BZ2Decompressor()
        out = d.decompress(data, max_length=limit + 1)
    elif kind == "lzma":
        d = lzma.LZMADecompressor()
        out = d.decompress(data, max_length=limit + 1)
    else:
        wbits = {"zlib": 15, "gzip": 31, "auto": 47}.get(kind, 47)
        z = zlib.decompressobj(wbits)
        out = z.decompress(data, limit + 1)
    if len(out) > limit:
        raise _TooLarge
    return out


# Codec names the decoder understands (normalised: lower case, "-" and " " -> "_").  A fixed
# table on purpose: looking a name up in the codec registry could run third-party code.
_CODECS: dict[str, str] = {
    "utf_8": "utf-8", "utf8": "utf-8", "u8": "utf-8", "latin_1": "latin-1", "latin1": "latin-1",
    "iso_8859_1": "latin-1", "iso8859_1": "latin-1", "l1": "latin-1", "ascii": "ascii",
    "us_ascii": "ascii", "utf_16": "utf-16", "utf_32": "utf-32", "base64": "base64",
    "base_64": "base64", "base64_codec": "base64", "hex": "hex", "hex_codec": "hex",
    "zlib": "zlib", "zip": "zlib", "zlib_codec": "zlib", "bz2": "bz2", "bz2_codec": "bz2",
    "rot13": "rot13", "rot_13": "rot13",
}  # fmt: skip
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ROT13 = str.maketrans(
    _LOWER + _LOWER.upper(), _LOWER[13:] + _LOWER[:13] + (_LOWER[13:] + _LOWER[:13]).upper()
)
_TEXT_CODECS = frozenset({"utf-8", "latin-1", "ascii", "utf-16", "utf-32"})


def _codec_name(enc: object) -> str | None:
    if not isinstance(enc, str):
        return None
    return _CODECS.get(enc.strip().lower().replace("-", "_").replace(" ", "_"))


# fmt: off
_B64 = frozenset(
    {
        "base64.b64decode", "base64.standard_b64decode", "base64.decodebytes",
        "base64.decodestring", "binascii.a2b_base64",
    }
)
# fmt: on
_HEX = frozenset({"binascii.unhexlify", "binascii.a2b_hex", "builtins.bytes.fromhex"})
# fmt: off
_DECOMP = {
    "zlib.decompress": "zlib", "gzip.decompress": "gzip", "bz2.decompress": "bz2",
    "lzma.decompress": "lzma",
}
# fmt: on


def _ascii(v: bytes | str) -> bytes:
    return v.encode("ascii", "ignore") if isinstance(v, str) else v


def _eval(v: object, ctx: VmState, depth: int, steps: list[str]) -> bytes | str | None:
    """Statically evaluate a constant (or a decode chain over constants) to bytes/str."""
    if depth > _CHAIN_DEPTH:
        return None
    if isinstance(v, (bytes, str)):
        return v
    if isinstance(v, bytearray):
        return bytes(v)
    if isinstance(v, Blob):
        if v.kind not in ("bytes", "bytearray", "str") or v.length > _limit(ctx):
            if v.length > _limit(ctx):
                raise _TooLarge
            return None
        raw = ctx.src.read_at(v.offset, v.length)
        return raw.decode("utf-8", "surrogatepass") if v.kind == "str" else raw
    if not isinstance(v, Call) or v.kind != "reduce":
        return None
    fpath = value_path(v.func)
    args = v.args if isinstance(v.args, tuple) else ()
    if fpath is None or not args:
        return None
    limit = _limit(ctx)
    if fpath in _FILE_WRAPPERS:
        return _eval(args[0], ctx, depth + 1, steps)
    inner = _eval(args[0], ctx, depth + 1, steps)
    if inner is None:
        return None
    if fpath in _B64 or fpath == "base64.urlsafe_b64decode":
        data = _ascii(inner)
        if fpath == "base64.urlsafe_b64decode":
            data = data.translate(bytes.maketrans(b"-_", b"+/"))
        elif len(args) > 1 and isinstance(args[1], (bytes, str)) and len(args[1]) == 2:
            alt = _ascii(args[1])
            data = data.translate(bytes.maketrans(alt, b"+/"))
        steps.append("base64")
        return binascii.a2b_base64(data)
    if fpath in _HEX:
        steps.append("hex")
        return binascii.unhexlify(b"".join(_ascii(inner).split()))
    if fpath in ("base64.b32decode", "base64.b16decode", "base64.a85decode", "base64.b85decode"):
        import base64

        steps.append(fpath.split(".")[1][:3])
        data = _ascii(inner)
        if fpath == "base64.b32decode":
            return base64.b32decode(data)
        if fpath == "base64.b16decode":
            return base64.b16decode(data, casefold=True)
        if fpath == "base64.a85decode":
            return base64.a85decode(data)
        return base64.b85decode(data)
    if fpath in _DECOMP:
        if isinstance(inner, str):
            return None
        steps.append(_DECOMP[fpath])
        kind = _DECOMP[fpath]
        if kind == "zlib" and len(args) > 1 and type(args[1]) is int:
            if args[1] >= 25:
                kind = "gzip" if args[1] < 40 else "auto"
        return _decompress(kind, inner, limit)
    if fpath in ("codecs.decode", "_codecs.decode", "codecs.encode", "_codecs.encode"):
        enc = _codec_name(args[1]) if len(args) > 1 else "utf-8"
        if enc is None:
            return None
        decode = fpath.endswith("decode")
        if enc == "base64":
            steps.append("base64")
            return binascii.a2b_base64(_ascii(inner)) if decode else None
        if enc == "hex":
            steps.append("hex")
            return binascii.unhexlify(_ascii(inner)) if decode else None
        if enc in ("zlib", "bz2"):
            if isinstance(inner, str) or not decode:
                return None
            steps.append(enc)
            return _decompress(enc, inner, limit)
        if enc == "rot13" and isinstance(inner, str):
            steps.append("rot13")
            return inner.translate(_ROT13)
        if enc not in _TEXT_CODECS:
            return None
        if decode and isinstance(inner, bytes):
            steps.append(enc)
            return inner.decode(enc, "replace")
        if not decode and isinstance(inner, str):
            steps.append(enc)
            return inner.encode(enc, "replace")
        return None
    if fpath in ("builtins.bytes", "builtins.bytearray", "builtins.str.encode"):
        if isinstance(inner, str):
            enc = _codec_name(args[1]) if len(args) > 1 else "utf-8"
            if enc is None or enc not in _TEXT_CODECS:
                return None
            steps.append(enc)
            return inner.encode(enc, "replace")
        return inner
    if fpath == "builtins.bytes.decode" and isinstance(inner, bytes):
        return inner.decode("utf-8", "replace")
    return None


# fmt: off
_COMPRESSED_MAGIC = (
    (b"\x78", "zlib"), (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ", "lzma"),
)
# fmt: on


def _payload_kind(data: bytes, loader: str) -> str:
    if loader in _MARSHAL:
        return "marshal_code"
    if loader in _SOURCE:
        return "python_source"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "archive"
    if data[:6] == b"\x93NUMPY":
        return "numpy"
    return "pickle"


def _looks_like_pickle(data: bytes) -> bool:
    return len(data) >= 4 and data[0] == 0x80 and data[1] <= 5 and data.rstrip()[-1:] == b"."


def _torch_legacy_tail(streams: list[PickleStream]) -> None:
    """After the five pickles of a legacy torch file come raw storage bytes torch reads with
    ``f.read``: not a limit hit, not trailing data."""
    if len(streams) != TORCH_LEGACY_PICKLES or not all(s.ok for s in streams[:-1]):
        return
    first = streams[0]
    if type(first.result) is not int or first.result != TORCH_LEGACY_MAGIC:
        return
    last = streams[-1]
    if last.error is not None or not last.has_result:
        return
    if last.limit_hit is not None and last.limit_hit.startswith("max_pickle_streams"):
        last.limit_hit = None
    last.trailing = None


def find_nested(stream: PickleStream, ctx: C, depth: int, scan: ScanFn[C]) -> None:
    """Decode loader arguments found in ``stream.calls`` into ``stream.nested``."""
    policy = ctx.policy or DEFAULT_POLICY
    limits = ctx.budget.limits
    seen = 0
    judged = 0
    # An allowed global that is no listed loader never receives a payload to decode: calls of
    # it (a checkpoint's thousands of ``_rebuild_tensor_v2``) are passed over after the first.
    inert: dict[int, bool] = {}
    for call in stream.calls:
        f = call.func
        if type(f) is Global:
            skip = inert.get(id(f))
            if skip is None:
                path = global_path(f)
                skip = inert[id(f)] = (
                    path is not None
                    and path not in LOADERS
                    and path not in CONTENT_JUDGED_LOADERS
                    and policy.classify(f.module, f.name).category == "allowed"
                )
            if skip:
                continue
        loader = effective_callee(call)
        if loader in CONTENT_JUDGED_LOADERS:
            if judged >= MAX_CONTENT_JUDGED:
                continue
            judged += 1
        elif seen >= MAX_PER_STREAM:
            continue
        spec = LOADERS.get(loader) if loader else None
        args = call.args if isinstance(call.args, tuple) else ()
        arg: object = None
        if spec is not None and loader is not None:
            if len(args) <= spec[1]:
                continue
            arg = args[spec[1]]
        else:
            # an unlisted, non-allowed callable receiving pickle-looking bytes
            f = call.func
            if not isinstance(f, Global):
                continue
            if policy.classify(f.module, f.name).category == "allowed":
                continue
            for a in args:
                if isinstance(a, bytes) and _looks_like_pickle(a):
                    arg = a
                    break
                if isinstance(a, Blob) and a.kind == "bytes" and a.length <= _limit(ctx):
                    head = ctx.src.read_at(a.offset, 2)
                    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
                        arg = a
                        break
            if arg is None:
                continue
            loader = (global_path(f) or "?") + " (embedded pickle argument)"
        if loader not in CONTENT_JUDGED_LOADERS:
            seen += 1
        label = f"{LOADER_RUNS.get(loader, loader)}@{call.offset}"
        npath = stream.path + (label,)
        steps: list[str] = []
        try:
            data = _eval(arg, ctx, 0, steps)
        except _TooLarge:
            stream.nested.append(
                NestedPayload(
                    call.offset,
                    loader,
                    tuple(steps),
                    "too-large",
                    0,
                    npath,
                    error="decoded payload exceeds the nested payload budget",
                )
            )
            continue
        except (ValueError, TypeError, zlib.error, lzma.LZMAError, OSError, EOFError) as e:
            stream.nested.append(
                NestedPayload(
                    call.offset,
                    loader,
                    tuple(steps),
                    "opaque",
                    0,
                    npath,
                    error=f"payload could not be decoded: {e}",
                )
            )
            continue
        if data is None:
            if spec is not None and spec[0] == "file" and isinstance(arg, str):
                stream.nested.append(
                    NestedPayload(
                        call.offset,
                        loader,
                        (),
                        "external",
                        0,
                        npath,
                        error=f"loads the external file {arg[:200]!r}",
                    )
                )
            else:
                stream.nested.append(
                    NestedPayload(
                        call.offset,
                        loader,
                        tuple(steps),
                        "opaque",
                        0,
                        npath,
                        error="argument is not a constant the scanner can decode",
                    )
                )
            continue
        if isinstance(data, str):
            if spec is not None and spec[0] == "file":
                stream.nested.append(
                    NestedPayload(
                        call.offset,
                        loader,
                        tuple(steps),
                        "external",
                        0,
                        npath,
                        error=f"loads the external file {data[:200]!r}",
                    )
                )
                continue
            steps.append("str->latin-1")
            data = data.encode("latin-1", "replace")
        if loader in ("joblib.load", "joblib.numpy_pickle.load"):
            for magic, kind in _COMPRESSED_MAGIC:
                if data.startswith(magic):
                    try:
                        data = _decompress(kind, data, _limit(ctx))
                        steps.append(kind)
                    except (_TooLarge, zlib.error, lzma.LZMAError, OSError, EOFError):
                        pass
                    break
        ctx.nested_bytes += len(data)
        kind = _payload_kind(data, loader)
        entry = NestedPayload(call.offset, loader, tuple(steps), kind, len(data), npath)
        stream.nested.append(entry)
        if kind != "pickle":
            entry.data = data
            continue
        if depth + 1 > limits.max_nested_payload_depth:
            entry.error = "nested payload depth limit reached; not scanned"
            entry.data = data
            continue
        ctx.nested_scans += 1
        if loader in _TORCH_FILE_LOADERS:
            entry.streams = scan(ctx, data, npath, depth + 1, TORCH_LEGACY_PICKLES)
            _torch_legacy_tail(entry.streams)
        else:
            entry.streams = scan(ctx, data, npath, depth + 1, 0)
