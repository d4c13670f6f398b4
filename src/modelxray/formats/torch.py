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

import ast
import functools
import re
import struct
from collections import deque
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.formats.pickle import (
    OPCODE_BYTES,
    PickleReader,
    pickle_score,
    report_streams,
    report_torchscript,
    scan_pickle_at,
)
from modelxray.rules import torch as rules
from modelxray.scanning import Child, Reading

if TYPE_CHECKING:
    from modelxray.analysis.pickle import PickleStream
    from modelxray.scanning import Sink

# ------------------------------------------------------------------------- TorchScript code

# What serialized TorchScript can refer to: ``torch.<op>`` (an ``aten`` operator), ``ops.<ns>.<op>``
# (any registered operator), ``__torch__.<…>`` (classes defined in the archive, and
# ``__torch__.torch.classes.<ns>.<Class>``, custom classes from native libraries), the builtins
# the TorchScript compiler knows (``print``, ``range``, ``annotate`` …), ``CONSTANTS`` and local
# names.  ``raise`` compiles to ``ops.prim.RaiseException(msg, "builtins.ValueError")``: the
# exception's qualified name is a string, data.  The code is parsed with ``ast`` (never compiled)
# and judged by what its names resolve to, not by text matches.
# Namespaces and classes of companion libraries (torchvision, torchaudio, torchtext …), which
# register operators when imported beside torch.
COMPANION_OP_NAMESPACES = frozenset(
    {"_caffe2", "cuda", "_C", "fbgemm", "xnnpack", "vulkan", "_prepacked", "quantized_decomposed",
     "torchvision", "image", "torchaudio", "torchtext", "_test"}
)  # fmt: skip
# File-reading/writing operators of companion libraries and of debug namespaces (from their
# sources: torchvision.io.read_file/write_file, torch._prims.debug_prims.load_tensor).
COMPANION_FILE_OPS = frozenset(
    {"image::read_file", "image::write_file", "debugprims::load_tensor",
     "torchaudio::sox_io_load_audio_file", "torchaudio::sox_io_save_audio_file"}
)  # fmt: skip
# Python-level torch functions that touch files or load code; TorchScript cannot compile them,
# so a code member naming them was not written by torch.jit.save.
_PYTHON_ONLY_TORCH = frozenset({"load", "hub", "ops.load_library", "classes.load_library"})
# Python builtins that reach files or dynamic code (not TorchScript builtins).
_RISKY_BUILTINS = frozenset({"open", "eval", "exec", "compile", "__import__", "input"})
# Python modules a TorchScript name can never legitimately resolve to.
_PYTHON_MODULES = frozenset(
    {"os", "subprocess", "sys", "shutil", "socket", "builtins", "importlib", "pickle", "posix",
     "nt", "pty", "ctypes", "runpy", "marshal", "io", "pathlib", "urllib", "http", "requests"}
)  # fmt: skip


@functools.lru_cache(maxsize=1)
def _vocabulary() -> dict[str, frozenset[str]]:
    """``data/torchscript_ops.txt`` (generated from torch's registry) by section."""
    from importlib import resources

    text = (resources.files("modelxray") / "data" / "torchscript_ops.txt").read_text("utf-8")
    sections: dict[str, set[str]] = {}
    current = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, set())
        else:
            sections.setdefault(current, set()).add(line)
    return {k: frozenset(v) for k, v in sections.items()}


def known_op_namespaces() -> frozenset[str]:
    return _vocabulary().get("namespaces", frozenset()) | COMPANION_OP_NAMESPACES


def file_ops() -> frozenset[str]:
    return _vocabulary().get("file_io", frozenset()) | COMPANION_FILE_OPS


def _exception_names() -> frozenset[str]:
    import builtins

    return frozenset(
        n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
    )


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def judge_reference(ref: str) -> str | None:
    """Why a dotted TorchScript reference is risky, or None."""
    parts = ref.split(".")
    root = parts[0]
    if root == "torch" and len(parts) >= 2 and parts[1] == "ops":
        parts, root = parts[1:], "ops"
    if root == "ops" and len(parts) >= 3:
        ns, op = parts[1], parts[2]
        if ns not in known_op_namespaces():
            return (
                f"custom operator namespace torch.ops.{ns}.{op} (runs native code from a "
                "library loaded beside torch)"
            )
        if f"{ns}::{op}" in file_ops():
            return f"operator {ns}::{op} reads or writes files"
        return None
    if root == "torch" and len(parts) >= 2:
        rest = ".".join(parts[1:])
        if any(rest == p or rest.startswith(p + ".") for p in _PYTHON_ONLY_TORCH):
            return f"torch.{rest} loads or writes files or code (Python-only, not TorchScript)"
        if parts[1] == "classes" and len(parts) >= 3:
            return _judge_class_namespace(parts[2], ref)
        if f"aten::{parts[1]}" in file_ops():
            return f"operator aten::{parts[1]} (torch.{parts[1]}) reads or writes files"
        return None
    if root == "__torch__" and parts[1:3] == ["torch", "classes"] and len(parts) >= 4:
        return _judge_class_namespace(parts[3], ref)
    if root == "builtins" and len(parts) == 2 and parts[1] in _exception_names():
        return None  # an exception type (older serializations write builtins.ValueError)
    if root in _PYTHON_MODULES:
        return f"names the Python module {root!r}, which TorchScript cannot use legitimately"
    return None


def _judge_class_namespace(ns: str, ref: str) -> str | None:
    if ns in _vocabulary().get("class_namespaces", frozenset()) | known_op_namespaces():
        return None
    return f"custom class {ref} (native code from a library loaded beside torch)"


def torchscript_references(source: str) -> tuple[list[tuple[int, str, str]], list[str]] | None:
    """((line, reference, why) risky references, calls) of TorchScript source, or None when
    it is not Python syntax."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    risky: list[tuple[int, str, str]] = []
    calls: list[str] = []
    inner: set[int] = set()  # Attribute nodes that are part of a longer chain
    # One breadth-first pass (``ast.walk``'s order): a chain's outer Attribute is met before
    # the Attribute or Name it starts with, so that one is known to be inner when met.
    todo: deque[ast.AST] = deque([tree])
    while todo:
        node = todo.popleft()
        for field in node._fields:
            child = getattr(node, field, None)
            if isinstance(child, list):
                todo.extend(c for c in child if isinstance(c, ast.AST))
            elif isinstance(child, ast.AST):
                todo.append(child)
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, (ast.Attribute, ast.Name)):
                inner.add(id(node.value))  # judged as part of the chain it starts
            if id(node) not in inner:
                ref = _dotted(node)
                if ref is not None:
                    why = judge_reference(ref)
                    if why is not None:
                        risky.append((node.lineno, ref, why))
        elif isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name is not None:
                calls.append(name)
                if isinstance(node.func, ast.Name) and name in _RISKY_BUILTINS:
                    risky.append(
                        (node.lineno, name, "Python builtin that reaches files or dynamic code")
                    )
        elif isinstance(node, ast.Name) and node.id in _PYTHON_MODULES and id(node) not in inner:
            why = judge_reference(node.id)
            if why is not None:
                risky.append((node.lineno, node.id, why))
    return risky, list(dict.fromkeys(calls))


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

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        report_torchscript(ctx, artifact.location)
        data = artifact.read(ctx.limits.max_python_source_bytes, "TorchScript source")
        text = data.decode("utf-8", "replace")
        judged = torchscript_references(text)
        if judged is None:
            # Not Python syntax, so not what torch.jit.save writes: judge every dotted name
            # outside string literals, with the same vocabulary.
            risky = []
            for n, line in enumerate(_STRINGS.sub('""', text).splitlines(), 1):
                ctx.budget.tick()
                for ref, call in _REFERENCE.findall(line):
                    why = judge_reference(ref)
                    if why is None and call and ref in _RISKY_BUILTINS:  # called, as in the ast
                        why = "Python builtin that reaches files or dynamic code"
                    if why is not None:
                        risky.append((n, ref, why))
            calls: list[str] = []
            parsed = False
        else:
            (risky, calls), parsed = judged, True
        ctx.report(
            rules.TORCHSCRIPT_CODE,
            artifact.location,
            f"TorchScript source ({len(data)} bytes) compiled and run when the archive loads",
            {"calls": calls[:50], "bytes": len(data), "python_syntax": parsed},
        )
        lines = text.splitlines()
        for line_no, ref, why in risky[:200]:
            source = lines[line_no - 1].strip()[:300] if 0 < line_no <= len(lines) else ""
            ctx.report(
                rules.TORCHSCRIPT_RISKY_CALL,
                artifact.location.child(f"line {line_no}"),
                f"TorchScript code: {why}",
                {"source": source, "line": line_no, "reference": ref},
            )


# The fallback for code that is not Python syntax: string literals blanked, dotted names kept.
_STRINGS = re.compile(r'"(?:[^"\\\n]|\\.)*"|' + r"'(?:[^'\\\n]|\\.)*'")
_REFERENCE = re.compile(r"(?<![\w.])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(\s*\()?")


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
    def __init__(self, artifact: Artifact, ctx: Sink) -> None:
        self.artifact = artifact
        self.ctx = ctx
        self.pos = 0
        self.streams: list[PickleStream] = []

    def pickle(self) -> Any:
        s = scan_pickle_at(self.artifact, self.ctx, self.pos, max_streams=1)[0]
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


def scan_legacy_tar_member(artifact: Artifact, ctx: Sink) -> Generator[Child, bool, bool]:
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
        yield from report_streams(ctx, artifact, w.streams)
        if w.streams[-1].ok and w.pos < artifact.size:
            # the layout broke outside a pickle: judge the rest as generic pickles (fail closed)
            rest = scan_pickle_at(artifact, ctx, w.pos)
            yield from report_streams(ctx, artifact, rest, first_index=len(w.streams))
        return True
    yield from report_streams(ctx, artifact, w.streams, allow_trailing=False)
    return True


def is_legacy_tar_member(artifact: Artifact) -> bool:
    """A legacy (torch < 1.6) tar checkpoint's ``storages`` or ``tensors`` member."""
    return artifact.facts.get("container") == "tar" and artifact.name in ("storages", "tensors")


class LegacyTarMemberReader(FormatReader):
    """Pickles between raw data in torch's own layout; content in no such layout is judged
    by the generic pickle reader."""

    name = "pytorch-legacy-tar-member"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if not is_legacy_tar_member(artifact):
            return 0
        score = pickle_score(head, artifact.size)
        return score + 1 if score > 0 else 0  # before the pickle reader, which claims it too

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        if not (yield from scan_legacy_tar_member(artifact, ctx)):
            yield from PickleReader().scan(artifact, ctx)


register(LegacyTarMemberReader())


__all__ = [
    "judge_reference",
    "known_op_namespaces",
    "TorchScriptCodeReader",
    "scan_legacy_tar_member",
    "LegacyTarMemberReader",
    "torch_raw_storages",
    "TorchPackageExternReader",
]


# ------------------------------------------------------------------------- zip storage records

_STORAGE_NAME = re.compile(r"(?:^|/)data/\d+$")
_PACKAGE_STORAGE_NAME = re.compile(r"^[^/]+/\.data/\d+\.storage$")  # torch.package tensors
_STORAGE_HEAD = 256
_STORAGE_WINDOW = 1 << 16


def torch_raw_storages(f: Any, kind: str, members: list[Any], offsets: dict[int, int]) -> set[int]:
    """Indices of a PyTorch zip's raw tensor-storage members (``<prefix>/data/<key>``);
    ``kind`` is the archive's layout (``containers.zip.classify_archive``).

    ``torch.load`` (and a torch.package importer, ``<root>/.data/<key>.storage``) reads these
    as raw bytes and never interprets them, so they need no format
    reader (and sniffing thousands of them costs more than the rest of the scan).  A member
    there whose first bytes parse as a pickle is still handed on and scanned.
    """
    if kind not in ("pytorch-zip", "torchscript", "torch-package"):
        return set()
    pattern = _PACKAGE_STORAGE_NAME if kind == "torch-package" else _STORAGE_NAME
    search = pattern.search
    stored = [
        (offsets[i], i, m.size)
        for i, m in enumerate(members)
        if m.method == 0 and i in offsets and search(m.name)
    ]
    stored.sort()
    out: set[int] = set()
    add = out.add
    # Storages lie back to back: their first bytes are read a window at a time, not one
    # seek and read per member (a checkpoint has one storage per tensor).
    window = b""
    start = 0
    end = 0
    for offset, i, size in stored:
        n = _STORAGE_HEAD if size > _STORAGE_HEAD else size
        if not (start <= offset and offset + n <= end):
            f.seek(offset)
            window = f.read(max(n, _STORAGE_WINDOW))
            start = offset
            end = start + len(window)
        at = offset - start
        # a first byte that is no opcode is no pickle (pickle_score 0), without slicing
        if n == 0 or at >= len(window) or window[at] not in OPCODE_BYTES:
            add(i)
        elif pickle_score(window[at : at + n], size) == 0:
            add(i)
    return out


# ------------------------------------------------------------------------- torch.package

_EXTERN_MEMBER = ".data/extern_modules"
_MAX_EXTERN_BYTES = 1 << 20


def is_extern_list(artifact: Artifact) -> bool:
    if artifact.facts.get("container") != "torch-package":
        return False
    member = _member_name(artifact)
    return member == f"{artifact.facts.get('package_root', '')}/{_EXTERN_MEMBER}"


class TorchPackageExternReader(FormatReader):
    """``.data/extern_modules`` of a torch.package archive: the host modules its code and
    pickles import.  Each is judged against the threat catalogue; what the archive does with
    them is judged where it happens (bundled source by the Python source analyser, pickles by
    the pickle VM)."""

    name = "torch-package-extern"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 60 if is_extern_list(artifact) and b"\0" not in head else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        from modelxray.analysis import threats

        text = artifact.read(_MAX_EXTERN_BYTES, "extern_modules").decode("utf-8", "replace")
        for n, line in enumerate(text.splitlines(), 1):
            ctx.budget.tick()
            module = line.strip()
            threat = threats.module_threat(module) if module else None
            if threat is None:
                continue
            ctx.report(
                rules.PACKAGE_EXTERN,
                artifact.location.child(f"line {n}"),
                f"torch.package archive imports {module!r} from the host environment "
                f"({threat.category}: {threat.reason}); its use is judged in the archive's "
                "code and pickles",
                {"module": module, "category": threat.category, "catalogue": threat.module},
            )


register(TorchPackageExternReader())
