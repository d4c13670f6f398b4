"""PyTorch specifics beyond plain pickles.

* TorchScript archives (``torch.jit.save``): the zip container labels them ``torchscript``;
  their pickles (``data.pkl``, ``constants.pkl``, ``*.debug_pkl``) go to the pickle reader,
  and their ``code/`` members — TorchScript source the TorchScript interpreter compiles and
  runs — come here: listed (MX-TORCH-002) and checked for risky operations (MX-TORCH-003).
  The archive itself gets MX-TORCH-001 (CVE-2025-32434).
* The very old tar layout (torch < 0.1.10): its ``storages`` and ``tensors`` members
  interleave pickles with raw tensor data; they are walked the way ``torch.load`` reads them
  (each pickle scanned, the raw bytes skipped by length, never read).
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.formats.pickle import (
    pickle_score,
    report_streams,
    report_torchscript,
    scan_pickle_at,
)
from modelxray.rules import torch as rules

if TYPE_CHECKING:
    from modelxray.analysis.pickle import PickleStream
    from modelxray.engine import ScanContext

# ------------------------------------------------------------------------- TorchScript code

_CALL = re.compile(rb"\b((?:torch|ops|aten|prim|__torch__)(?:\.[A-Za-z_]\w*)+)\s*\(")
_OPS_NS = re.compile(rb"\bops\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
# Operator namespaces that ship with torch / torchvision / torchaudio.
KNOWN_OP_NAMESPACES = frozenset(
    {"aten", "prim", "quantized", "_quantized", "profiler", "_caffe2", "quantized_decomposed",
     "torchvision", "image", "torchaudio", "torchtext", "cuda", "mkldnn", "_C", "sparse",
     "fbgemm", "_test", "onednn", "xnnpack", "vulkan", "_prepacked"}
)  # fmt: skip
_RISKY = (
    (re.compile(rb"(?<![\w.])(open|eval|exec|compile|__import__)\s*\("),
     "Python builtin that reaches files or dynamic code"),
    (re.compile(rb"\btorch\.(load|save|hub\.\w+|ops\.load_library)\s*\("),
     "loads or writes files"),
    (re.compile(rb"\baten\.(save|load|_save|from_file)\b|\bops\.aten\.(save|from_file)\b"),
     "operator that reads or writes files"),
    (re.compile(rb"(?<![\w.])(os|subprocess|sys|shutil|socket|builtins|importlib|pickle)\."),
     "names a Python module that TorchScript cannot use legitimately"),
)  # fmt: skip


def _member_name(artifact: Artifact) -> str:
    return artifact.location.inner[-1] if artifact.location.inner else artifact.name


def is_torchscript_code(artifact: Artifact) -> bool:
    if artifact.facts.get("container") != "torchscript":
        return False
    member = _member_name(artifact)
    return "/code/" in f"/{member}" and member.endswith(".py")


class TorchScriptCodeReader(FormatReader):
    name = "torchscript-code"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        # Content of a TorchScript code member is Python-like text; the archive layout decides.
        if not is_torchscript_code(artifact) or b"\0" in head:
            return 0
        return 45

    def scan(self, artifact: Artifact, ctx: ScanContext) -> None:
        report_torchscript(ctx, artifact.location)
        data = artifact.read(ctx.limits.max_python_source_bytes, "TorchScript source")
        calls = list(dict.fromkeys(m.decode("ascii", "replace") for m in _CALL.findall(data)))
        ctx.report(
            rules.TORCHSCRIPT_CODE,
            artifact.location,
            f"TorchScript source ({len(data)} bytes) compiled and run when the archive loads",
            {"calls": calls[:50], "bytes": len(data)},
        )
        lines = data.splitlines()
        for n, line in enumerate(lines, 1):
            ctx.budget.tick()
            for ns, op in _OPS_NS.findall(line):
                if ns.decode("ascii", "replace") not in KNOWN_OP_NAMESPACES:
                    self._risky(
                        ctx, artifact, n, line, f"custom operator namespace torch.ops.{ns.decode()}"
                        f".{op.decode()} (runs native code from a library loaded beside torch)",
                    )  # fmt: skip
            for pattern, why in _RISKY:
                if pattern.search(line):
                    self._risky(ctx, artifact, n, line, why)

    @staticmethod
    def _risky(ctx: ScanContext, artifact: Artifact, line_no: int, line: bytes, why: str) -> None:
        source = line.decode("utf-8", "replace").strip()[:300]
        ctx.report(
            rules.TORCHSCRIPT_RISKY_CALL,
            artifact.location.child(f"line {line_no}"),
            f"TorchScript code: {why}",
            {"source": source, "line": line_no},
        )


register(TorchScriptCodeReader())

# ------------------------------------------------------------------------- legacy tar layout

_ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "LongStorage": 8, "IntStorage": 4,
    "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "BFloat16Storage": 2, "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8,
    "QUInt8Storage": 1, "QInt8Storage": 1, "QInt32Storage": 4, "QUInt4x2Storage": 1,
    "QUInt2x4Storage": 1,
}  # fmt: skip
_MAX_NDIM = 64


class _Walk:
    def __init__(self, artifact: Artifact, ctx: ScanContext) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.pos = 0
        self.streams: list[PickleStream] = []

    def pickle(self) -> Any:
        s = scan_pickle_at(self.artifact, self.ctx, self.pos, max_streams=1, report=False)[0]
        self.streams.append(s)
        if not s.ok:
            raise ValueError("pickle stream did not complete")
        self.pos = s.end
        return s.result

    def raw(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.artifact.size:
            raise ValueError("raw data runs past the end of the member")
        with self.artifact.open() as f:
            f.seek(self.pos)
            data = f.read(n)
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.artifact.size:
            raise ValueError("raw data runs past the end of the member")
        self.pos += n


def _count(v: Any, limit: int) -> int:
    if type(v) is not int or not 0 <= v <= limit:
        raise ValueError(f"implausible count {v!r}"[:100])
    return v


def _walk_storages(w: _Walk, limit: int) -> None:
    from modelxray.analysis.pickle import Global

    for _ in range(_count(w.pickle(), limit)):
        w.ctx.budget.tick()
        args = w.pickle()
        if not (isinstance(args, tuple) and len(args) == 3 and isinstance(args[2], Global)):
            raise ValueError("storage record is not (key, location, storage_type)")
        size = _ELEMENT_SIZE.get(args[2].name)
        if size is None:
            raise ValueError(f"unknown storage type {args[2].qualname}")
        (numel,) = struct.unpack("<q", w.raw(8))
        w.skip(numel * size)
    w.pickle()  # storage views


def _walk_tensors(w: _Walk, limit: int) -> None:
    for _ in range(_count(w.pickle(), limit)):
        w.ctx.budget.tick()
        w.pickle()  # key
        w.pickle()  # storage id
        (ndim,) = struct.unpack("<i", w.raw(4))
        if not 0 <= ndim <= _MAX_NDIM:
            raise ValueError(f"implausible ndim {ndim}")
        w.skip(4 + 16 * ndim + 8)


def scan_legacy_tar_member(artifact: Artifact, ctx: ScanContext) -> bool:
    """Walk a legacy torch tar ``storages``/``tensors`` member; False if it is not one."""
    w = _Walk(artifact, ctx)
    try:
        if artifact.name == "storages":
            _walk_storages(w, ctx.limits.max_members)
        else:
            _walk_tensors(w, ctx.limits.max_members)
    except (ValueError, struct.error):
        if not w.streams or not w.streams[0].ok:
            return False  # not even a first pickle: let the generic pickle scan judge it
        report_streams(ctx, artifact, w.streams)
        if w.streams[-1].ok and w.pos < artifact.size:
            # the layout broke outside a pickle: judge the rest as generic pickles (fail closed)
            rest = scan_pickle_at(artifact, ctx, w.pos, report=False)
            report_streams(ctx, artifact, rest, first_index=len(w.streams))
        return True
    report_streams(ctx, artifact, w.streams, allow_trailing=False)
    return True


__all__ = [
    "KNOWN_OP_NAMESPACES",
    "TorchScriptCodeReader",
    "scan_legacy_tar_member",
    "torch_raw_storages",
]


# ------------------------------------------------------------------------- zip storage records

_STORAGE_NAME = re.compile(r"(?:^|/)data/\d+$")
_STORAGE_HEAD = 256


def torch_raw_storages(f: Any, members: list[Any], offsets: dict[int, int]) -> set[int]:
    """Indices of a PyTorch zip's raw tensor-storage members (``<prefix>/data/<key>``).

    ``torch.load`` reads these as raw bytes and never interprets them, so they need no format
    reader (and sniffing thousands of them costs more than the rest of the scan).  A member
    there whose first bytes parse as a pickle is still handed on and scanned.
    """
    from modelxray.containers.zip import classify_archive

    if classify_archive([m.name for m in members]) not in ("pytorch-zip", "torchscript"):
        return set()
    out: set[int] = set()
    for i, m in enumerate(members):
        if i not in offsets or m.method != 0 or not _STORAGE_NAME.search(m.name):
            continue
        f.seek(offsets[i])
        head = f.read(min(_STORAGE_HEAD, m.size))
        if pickle_score(head, m.size) == 0:
            out.add(i)
    return out
