"""Raw pickle streams: plain pickles, stacked pickles, joblib, dill/cloudpickle, legacy PyTorch.

Recognised by content only: a ``PROTO`` opcode (protocol 2-5), or a protocol 0/1 stream whose
first opcodes parse with a consistent stack (text files do not).  Every pickle in the file is
interpreted by the static VM model (:mod:`modelxray.analysis.pickle`), which never imports or
calls anything; its verdict items become MX-PICKLE findings located by stream, nesting path and
opcode offset, with the reconstructed call as evidence.

PyTorch's legacy (non-zip) layout is five stacked pickles — magic number, protocol version,
system info, the object, the storage keys — followed by raw storage bytes, which are never read.
The very old tar layout (``sys_info``/``pickle``/``storages``/``tensors`` members) interleaves
pickles with raw tensor data in ``storages`` and ``tensors``; those members are walked the way
``torch.load`` walks them, skipping the raw bytes.

:func:`scan_pickle_at` and :func:`report_streams` are shared with the NumPy and PyTorch readers.
"""

from __future__ import annotations

import functools
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from modelxray.analysis._generated.pickle_opcodes import LENGTH_PREFIX, OPCODES, UP_TO_NEWLINE
from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.model import ALLOWED_BY, Location, Severity
from modelxray.rules import pickle as rules
from modelxray.rules import scan as scan_rules
from modelxray.rules import torch as torch_rules
from modelxray.scanning import Child, Reading

if TYPE_CHECKING:
    from modelxray.analysis.pickle import PickleStream, Policy, VerdictItem
    from modelxray.scanning import Sink

# The VM (modelxray.analysis.pickle) is imported by the functions that run it: sniffing needs
# only the literal opcode table, so start-up and non-pickle files never load it.

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_LEGACY_STREAMS = 5
_SNIFF_OPS = 16  # opcodes that must parse cleanly when the head holds no STOP
_MAX_SNIFF_LINE = 1024
_SEVERITY = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "medium": Severity.MEDIUM}

# ------------------------------------------------------------------------------------ sniffing

_OPS = OPCODES
_LEN_PREFIX = LENGTH_PREFIX
# The byte values that are an opcode: content starting with any other byte is no pickle
# (``pickle_score`` is 0), which a caller sniffing thousands of heads can test first.
OPCODE_BYTES = frozenset(_OPS)


# Opcodes real pickles use beyond a bare scalar (a text file that happens to parse rarely does).
_STRUCTURE = frozenset(
    {"MARK", "GLOBAL", "INST", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "PUT", "BINPUT",
     "LONG_BINPUT", "REDUCE", "BUILD", "TUPLE", "DICT", "LIST", "SETITEM", "APPEND"}
)  # fmt: skip


def _name_ok(text: bytes) -> bool:
    # torch.package importers mangle module names as ``<torch_package_N>.module``
    # (analysis.pickle.torch_package, not imported here: sniffing must not load the VM).
    if text.startswith(b"<torch_package_"):
        end = text.find(b">")
        if end > 15 and text[15:end].isdigit():
            text = text[end + 1 :].lstrip(b".") or b"_"
    return bool(text) and all(c == 0x2E or c == 0x5F or chr(c).isalnum() for c in text)


def _line_ok(opname: str, line: bytes) -> bool:
    """Protocol 0 text arguments have a fixed shape (checked where it is cheap)."""
    if opname in ("INT", "LONG", "GET", "PUT"):
        return line.rstrip(b"L").lstrip(b"-").isdigit()
    if opname == "FLOAT":
        try:
            float(line)
        except ValueError:
            return False
        return True
    if opname == "STRING":
        return len(line) >= 2 and line[:1] in (b"'", b'"') and line[-1:] == line[:1]
    return True


def sniff_pickle(head: bytes, size: int) -> tuple[int, bool, bool, bool]:
    """Parse the first opcodes of ``head``: (opcodes parsed, STOP reached, broken, saw a global).

    ``broken`` means an unknown opcode, a malformed argument (a length that does not fit in
    the artifact, a GLOBAL/INST name that is not a dotted name), a misplaced PROTO or a stack
    underflow; running out of head bytes is not broken.
    """
    pos = 0
    depth = 0
    marks: list[int] = []
    count = 0
    has_global = False
    structured = False
    n_head = len(head)
    while pos < n_head:
        info = _OPS.get(head[pos])
        if info is None:
            return count, False, True, has_global
        name, argn, need, pushes, mark_at = info
        start = pos
        pos += 1
        if argn is None:
            pass
        elif argn >= 0:
            pos += argn
        elif argn == UP_TO_NEWLINE:
            lines = 2 if name in ("GLOBAL", "INST") else 1
            for _k in range(lines):
                limit = pos + _MAX_SNIFF_LINE if lines == 2 or name != "UNICODE" else n_head
                nl = head.find(b"\n", pos, limit)
                if nl < 0:
                    if limit >= n_head and n_head < size:
                        return count, False, False, has_global  # runs past the head
                    return count, False, True, has_global
                if lines == 2 and not _name_ok(head[pos:nl]):
                    return count, False, True, has_global
                if not _line_ok(name, head[pos:nl]):
                    return count, False, True, has_global
                pos = nl + 1
            has_global = has_global or lines == 2
        else:
            width = _LEN_PREFIX[argn]
            if pos + width > n_head:
                return count, False, n_head >= size, has_global
            length = int.from_bytes(head[pos : pos + width], "little", signed=width == 4)
            pos += width
            if length < 0 or start + 1 + width + length > size:
                return count, False, True, has_global
            pos += length
            if pos > n_head:
                return count + 1, False, False, has_global  # a payload that runs past the head
        if pos > n_head:
            return count, False, n_head >= size, has_global  # argument runs past the head
        if name == "PROTO" and (count > 0 or head[start + 1] > 5):
            return count, False, True, has_global
        count += 1
        structured = structured or name in _STRUCTURE
        if name == "MARK":
            marks.append(depth)
            depth = 0
        elif mark_at >= 0:
            if not marks:
                return count - 1, False, True, has_global
            depth = marks.pop()
            if depth < need:
                return count - 1, False, True, has_global
            depth += pushes - need
        elif name == "POP" and depth == 0:
            if not marks:
                return count - 1, False, True, has_global
            depth = marks.pop()
        else:
            if depth < need:
                return count - 1, False, True, has_global
            depth += pushes - need
            has_global = has_global or name == "STACK_GLOBAL"
            if name == "STOP":
                # a protocol 0/1 STOP counts only after 3 opcodes or at the end of the file
                end_ok = head[0] == 0x80 or (count >= 3 and structured) or not head[pos:].strip()
                return count, end_ok, not end_ok, has_global
    return count, False, False, has_global


def pickle_score(head: bytes, size: int) -> int:
    """How sure the first bytes are a pickle: 0 (no), 25-40.

    A PROTO-led stream needs two sound opcodes after PROTO (three if it breaks later: a
    broken stream is still a pickle to the loader, which runs what precedes the damage).
    A protocol 0/1 stream needs a STOP in the head, or 16 sound opcodes, or a GLOBAL/INST
    with a dotted name among its first sound opcodes.
    """
    if not head or head[0] not in _OPS:
        return 0
    proto = head[0] == 0x80
    if proto and (len(head) < 2 or not 2 <= head[1] <= 5):
        return 0
    count, stopped, broken, has_global = sniff_pickle(head, size)
    if proto:
        if stopped or (not broken and count >= 2):
            return 40
        return 30 if count >= 3 else 0
    if stopped and count >= 2:
        return 35
    if not broken and count >= _SNIFF_OPS:
        return 25
    return 25 if has_global and count >= (4 if broken else 2) else 0


# ------------------------------------------------------------------------------------ scanning


@functools.lru_cache(maxsize=16)
def _vm_policy(allow: tuple[str, ...], deny: tuple[str, ...], torchscript: bool) -> Policy:
    from modelxray.analysis.pickle import Policy

    return Policy(allow, deny, TORCHSCRIPT_HELPERS if torchscript else ())


# TorchScript's pickles rebuild typed lists and tagged containers with these pure helpers
# (resolved by TorchScript's C++ unpickler; in Python they only return their argument).
TORCHSCRIPT_HELPERS = tuple(
    ("torch.jit._pickle", n, "TorchScript unpickler helper (returns its argument)")
    for n in ("build_intlist", "build_tensorlist", "build_doublelist", "build_boollist",
              "build_tensor_from_id", "restore_type_tag")
)  # fmt: skip


def vm_policy(ctx: Sink, artifact: Artifact | None = None) -> Policy:
    """The VM allow/deny policy with the scan policy's pickle-global entries."""
    allow = ctx.settings.allow_pickle_globals
    deny = ctx.settings.deny_pickle_globals
    torchscript = artifact is not None and artifact.facts.get("container") == "torchscript"
    return _vm_policy(allow, deny, torchscript)


def _rule_for(item: VerdictItem) -> Any:
    if item.kind == "frame":
        return rules.FRAME_DIVERGENCE
    if item.kind == "allocation":
        return rules.HUGE_ALLOCATION
    if item.kind in ("build", "mutation"):
        return rules.GLOBAL_STATE
    if item.severity == "critical":
        return rules.DANGEROUS_CALLABLE
    if item.severity == "high":
        return rules.UNKNOWN_CALLABLE
    return rules.UNKNOWN_CLASS


def _stream_loc(base: Location, label: str, path: tuple[str, ...], offset: int | None) -> Location:
    parts = [label, *path]
    if offset is not None:
        parts.append(f"offset {offset}")
    return base.child(*parts)


def report_streams(
    ctx: Sink,
    artifact: Artifact,
    streams: list[PickleStream],
    *,
    first_index: int = 0,
    what: str = "pickle",
    ignore_limits: tuple[str, ...] = (),
    allow_trailing: bool = False,
) -> Reading:
    """Turn what the VM learned about ``streams`` into findings on ``artifact``; the payloads
    a loader inside them decodes (an archive, a NumPy array, source) are yielded as children.

    In a TorchScript archive, ``__torch__.*`` names are TorchScript classes compiled from the
    archive's own code (resolved by TorchScript's C++ unpickler, not imported from Python):
    merely instantiating them is not reported (the code is, by MX-TORCH-002/003).
    In a torch.package archive, a class whose module the importer resolves to the archive's
    bundled source is recorded as such (MX-TORCH-005, information): that source is judged by
    the Python source rules.
    """
    from modelxray.analysis.pickle import verdict_items

    policy = vm_policy(ctx, artifact)
    base = artifact.location
    torchscript = artifact.facts.get("container") == "torchscript"
    package = None
    if artifact.facts.get("container") == "torch-package":
        from modelxray.analysis.pickle.torch_package import PackageLayout

        package = PackageLayout.from_facts(artifact.facts)
    for k, root in enumerate(streams):
        label = f"{what}[{first_index + k}]"
        for item in verdict_items(root, policy, cleared=True):
            if (
                torchscript
                and item.severity == "medium"
                and (item.module == "__torch__" or item.module.startswith("__torch__."))
            ):
                continue
            bundled = (
                package.bundled_source(item.module)
                if package is not None
                and item.allowed_by is None
                and item.severity == "medium"
                and _rule_for(item) is rules.UNKNOWN_CLASS
                else None
            )
            if bundled is not None:
                ctx.report(
                    torch_rules.PACKAGE_BUNDLED_CLASS,
                    _stream_loc(base, label, item.path, item.offset),
                    f"{item.global_name} is defined by code bundled in the torch.package "
                    f"archive ({bundled}), judged as Python source",
                    {
                        "global": item.global_name,
                        "bundled_source": bundled,
                        "kind": item.kind,
                        "source": item.source,
                        "stream": first_index + k,
                    },
                )
                continue
            evidence: dict[str, Any] = {
                "source": item.source,
                "global": item.global_name,
                "module": item.module,
                "name": item.name,
                "kind": item.kind,
                "opcode": item.opcode,
                "offset": item.offset,
                "family": item.family,
                "stream": first_index + k,
            }
            if item.path:
                evidence["nesting"] = list(item.path)
            if item.count > 1:
                evidence["count"] = item.count
            if item.allowed_by is not None:
                # the policy file accepts it with the entry's reason (policy.file_verdict)
                evidence[ALLOWED_BY] = {"list": "allow.pickle_globals", "entry": item.allowed_by}
            ctx.report(
                _rule_for(item),
                _stream_loc(base, label, item.path, item.offset),
                item.reason,
                evidence,
                severity=_SEVERITY[item.severity],
            )
        for s in root.walk():
            if s.interpretation != "strict":
                continue
            _report_stream_state(ctx, artifact, s, label, ignore_limits, allow_trailing)
            for n in s.nested:
                yield from _report_nested(ctx, artifact, s, n, label)


def _report_stream_state(
    ctx: Sink,
    artifact: Artifact,
    s: PickleStream,
    label: str,
    ignore_limits: tuple[str, ...],
    allow_trailing: bool,
) -> None:
    base = artifact.location
    if s.error is not None and s.error.kind != "frame":
        ctx.report(
            rules.MALFORMED,
            _stream_loc(base, label, s.path, s.error.offset),
            f"pickle stream cannot be read to its end ({s.error.kind}): {s.error.message}"[:500],
            {
                "error": s.error.kind,
                "offset": s.error.offset,
                "stream_start": s.start,
                "opcodes_before_error": s.opcode_count,
                "calls_before_error": len(s.calls),
                **({"nesting": list(s.path)} if s.path else {}),
            },
        )
    if s.limit_hit is not None and not s.limit_hit.startswith(ignore_limits):
        limit, _, detail = s.limit_hit.partition(": ")
        ctx.report(
            scan_rules.INCOMPLETE,
            _stream_loc(base, label, s.path, None),
            f"pickle scan stopped at a safety limit ({limit}): {detail or limit}",
            {"limit": limit, "format": "pickle", "stream_start": s.start},
        )
    if s.trailing is not None and not allow_trailing:
        ctx.report(
            rules.TRAILING,
            _stream_loc(base, label, s.path, s.trailing.offset),
            f"{s.trailing.length} byte(s) after the last pickle stream do not start another pickle",
            {"offset": s.trailing.offset, "length": s.trailing.length},
        )


def _report_nested(ctx: Sink, artifact: Artifact, s: PickleStream, n: Any, label: str) -> Reading:
    from modelxray.analysis import lambda_code

    loc = _stream_loc(artifact.location, label, n.path, n.offset)
    evidence: dict[str, Any] = {
        "loader": n.loader,
        "payload_kind": n.kind,
        "encoding": list(n.encoding),
        "decoded_bytes": n.size,
        "nesting": list(n.path),
    }
    if n.kind == "marshal_code" and n.data is not None:
        verdict = lambda_code.judge_code(n.data, ctx.budget, encoding="+".join(n.encoding) or "raw")
        sev = Severity.CRITICAL if verdict.level == lambda_code.MALICIOUS else Severity.HIGH
        reasons = "; ".join(verdict.reasons[:3]) or verdict.level
        ctx.report(
            rules.MARSHAL_CODE,
            loc,
            f"marshalled code passed to {n.loader} ({verdict.level}): {reasons}"[:500],
            {**evidence, **verdict.evidence()},
            severity=sev,
        )
        return
    if n.kind in ("archive", "numpy", "python_source") and n.data is not None:
        name = {"archive": "nested.pt", "numpy": "nested.npy", "python_source": "nested.py"}
        yield Child(Artifact.from_bytes(n.data, loc, name[n.kind], artifact.depth + 1))
        return
    if n.kind == "pickle" and n.error is None:
        return  # its streams are walked and judged with the outer stream
    ctx.report(
        rules.OPAQUE_PAYLOAD,
        loc,
        f"payload passed to {n.loader} was not analysed: {n.error or n.kind}"[:500],
        {**evidence, "error": n.error or n.kind},
    )


def scan_pickle_at(
    artifact: Artifact,
    ctx: Sink,
    start: int = 0,
    *,
    max_streams: int = 4096,
    joblib: bool | None = None,
) -> list[PickleStream]:
    """Run the VM over ``artifact`` from ``start`` (``report_streams`` reports what it found)."""
    from modelxray.analysis.pickle import scan_stream

    ctx.budget.check_time()
    with artifact.open() as f:
        streams = scan_stream(
            f,  # type: ignore[arg-type]
            ctx.budget,
            start,
            joblib=joblib,
            max_streams=max_streams,
            policy=vm_policy(ctx, artifact),
        )
    ctx.budget.check_time()
    return streams


def show_program(ctx: Sink, artifact: Artifact, streams: list[PickleStream]) -> None:
    """With ``--show-code``: the reconstructed program of every stream, as an info finding."""
    if not ctx.settings.show_code or not streams:
        return
    from modelxray.analysis.pickle import render_all

    program = render_all(streams)
    ctx.report(
        rules.PROGRAM,
        artifact.location,
        f"reconstructed program of {len(streams)} pickle stream(s)",
        {"program": program, "streams": len(streams)},
    )


# StreamError kinds that CPython's unpickler raises too on the same bytes (the VM mirrors its
# checks): the loader stops there, having run only what precedes.  ``io``/``internal`` are
# failures of the scan, ``frame`` is judged by the verdict (a FRAME the loader reads across).
UNPICKLER_STOPS = frozenset(
    ("unknown-opcode", "not-a-pickle", "stack-underflow", "memo-miss", "truncated", "bad-argument")
)


def judge_as_unpickled(
    artifact: Artifact, ctx: Sink, loaders: tuple[str, ...], why: str
) -> Generator[Child, bool, bool]:
    """Run the VM from byte 0 over content no sniffer claimed, because ``loaders`` unpickle it
    from there (``pickle.load``, ``joblib.load``, ``torch.load``'s legacy path, ``np.load``
    with ``allow_pickle=True`` on content without a NumPy or zip magic).

    Whatever the unpickler would import or call before it fails is reported as any pickle's;
    content that stops it before anything happens (the usual case: not a pickle at all) yields
    nothing here.  Returns whether anything was reported.
    """
    streams = scan_pickle_at(artifact, ctx, max_streams=TORCH_LEGACY_STREAMS)
    if not any(s.imports or s.calls for root in streams for s in root.walk()):
        return False
    last = streams[-1]
    if last.limit_hit is not None and last.limit_hit.startswith("max_pickle_streams"):
        last.limit_hit = None  # the loaders read at most this many streams
    # Content that is no pickle makes the unpickler fail sooner or later: a failure the real
    # unpickler shares is expected (and stated once, here); what it imports or calls before it
    # is judged below.  A failure of the scan itself (I/O, internal) says nothing of where the
    # loader stops, so it stays a finding of its own, as do safety limits.
    # Only the top-level streams read from byte 0: a payload nested inside one is a pickle by
    # intent, and its damage keeps its own finding.
    stops: list[dict[str, Any]] = []
    for root in streams:
        if root.error is not None and root.error.kind in UNPICKLER_STOPS:
            stops.append({"offset": root.error.offset, "error": root.error.kind})
            root.error = None
    ctx.report(
        rules.MALFORMED,
        artifact.location,
        f"{why}: {', '.join(loaders)} read it from byte 0 as a pickle, and the unpickler "
        "would import or call objects before it stops",
        {"loaders": list(loaders), "streams": len(streams), "stops": stops[:10]},
        severity=Severity.MEDIUM,  # what it imports or calls is judged below, item by item
    )
    yield from report_streams(ctx, artifact, streams, allow_trailing=True)
    return True


# joblib/numpy_pickle_compat.py: placeholders whose ``filename`` joblib.load reads from the
# folder of the loaded file (np.load(allow_pickle=True), or read_zfile for the Z variant).
JOBLIB_SIDECAR_WRAPPERS = ("NDArrayWrapper", "ZNDArrayWrapper")
MAX_SIDECARS = 1024


def _sidecar_names(streams: list[PickleStream]) -> list[tuple[str, object, int]]:
    """(wrapper class, ``filename`` state value, BUILD offset) of every joblib placeholder."""
    from modelxray.analysis.pickle import Call, Global, SDict
    from modelxray.analysis.pickle.resolve import instantiated_class

    out: list[tuple[str, object, int]] = []
    for root in streams:
        for s in root.walk():
            for b in s.builds:
                cls = instantiated_class(b.obj) if isinstance(b.obj, Call) else None
                if not (
                    isinstance(cls, Global)
                    and cls.name in JOBLIB_SIDECAR_WRAPPERS
                    and cls.module.split(".")[0] in ("joblib", "sklearn")
                    and "joblib" in cls.module
                ):
                    continue
                parts = b.state if isinstance(b.state, tuple) else (b.state,)
                fname: object = None
                for part in parts:
                    if isinstance(part, SDict):
                        for k, v in part.items:
                            if k == "filename" and type(k) is str:
                                fname = v
                out.append((cls.name, fname, b.offset))
    return out


def scan_joblib_sidecars(artifact: Artifact, ctx: Sink, streams: list[PickleStream]) -> Reading:
    """Scan the sibling files joblib's legacy placeholders make ``joblib.load`` read."""

    from modelxray.rules import numpy as numpy_rules

    found = _sidecar_names(streams)
    if not found:
        return
    from modelxray.artifact import loader_folder

    folder = loader_folder(artifact)
    seen: set[str] = set()
    for wrapper, fname, offset in found[:MAX_SIDECARS]:
        loader = "np.load(allow_pickle=True)" if wrapper == "NDArrayWrapper" else "read_zfile"
        evidence: dict[str, Any] = {
            "wrapper": wrapper,
            "filename": fname if isinstance(fname, str) else repr(fname)[:200],
            "loader": f"joblib.load -> {loader}",
            "offset": offset,
        }
        loc = artifact.location.child(f"sidecar:{fname}" if isinstance(fname, str) else "sidecar")
        if not isinstance(fname, str):
            ctx.report(
                numpy_rules.SIDECAR,
                loc,
                f"joblib {wrapper} names its array file with a value that is not a constant "
                "string: the file joblib.load reads cannot be determined",
                evidence,
                severity=Severity.HIGH,
            )
            continue
        if fname in seen:
            continue
        seen.add(fname)
        if (
            not fname
            or "/" in fname
            or "\\" in fname
            or fname in (".", "..")
            or "\0" in fname
            or (len(fname) > 1 and fname[1] == ":")
        ):
            ctx.report(
                numpy_rules.SIDECAR,
                loc,
                f"joblib {wrapper} makes joblib.load read {fname!r}: not a plain file name in "
                "the model's folder, so the file read is outside what this scan covers",
                evidence,
                severity=Severity.HIGH,
            )
            continue
        sidecar = folder.file(fname) if folder is not None else None
        if folder is None or sidecar is None:
            where = "not found next to this file" if folder is not None else "not locatable"
            ctx.report(
                numpy_rules.SIDECAR,
                loc,
                f"joblib {wrapper} makes joblib.load read {fname!r} with {loader}; the file is "
                f"{where}, so it was not scanned",
                evidence,
                severity=Severity.MEDIUM,
            )
            continue
        ctx.report(
            numpy_rules.SIDECAR,
            loc,
            f"joblib {wrapper} makes joblib.load read the sibling file {fname!r} with {loader} "
            "(scanned as part of this file)",
            evidence,
        )
        ctx.budget.tick()
        ctx.add_reference(folder.reference(fname))
        sidecar.location = loc
        sidecar.depth = artifact.depth + 1
        recognised = yield Child(sidecar)
        if not recognised and wrapper == "NDArrayWrapper":
            from modelxray.formats.loaders import PROMISES

            promise = PROMISES.get(sidecar.extension)
            if promise is None or not promise.unpickled_by:  # else judged by its name already
                yield from judge_as_unpickled(
                    sidecar, ctx, ("np.load(allow_pickle=True)",), "joblib sidecar content"
                )


def report_torchscript(ctx: Sink, member: Location) -> None:
    """One MX-TORCH-001 per TorchScript archive (reported from any of its members)."""
    archive = Location(member.path, member.inner[:-1])
    ctx.report(
        torch_rules.TORCHSCRIPT_ARCHIVE,
        archive,
        "TorchScript archive: loading it runs its TorchScript code, and torch < 2.6 does so "
        "even under torch.load(weights_only=True) (CVE-2025-32434)",
        {"container": "torchscript", "fixed_in": "torch 2.6.0"},
    )


def _is_torch_magic(s: PickleStream) -> bool:
    return s.has_result and type(s.result) is int and s.result == TORCH_LEGACY_MAGIC


class PickleReader(FormatReader):
    name = "pickle"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return pickle_score(head, artifact.size)

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        container = artifact.facts.get("container")
        if container == "torchscript":
            report_torchscript(ctx, artifact.location)
        streams = scan_pickle_at(artifact, ctx, max_streams=TORCH_LEGACY_STREAMS)
        legacy = bool(streams) and _is_torch_magic(streams[0])
        last = streams[-1]
        capped = last.limit_hit is not None and last.limit_hit.startswith("max_pickle_streams")
        if legacy:
            if artifact.depth == 0:
                ctx.add_format("pytorch-legacy")
            # torch reads exactly five pickles; the raw storage bytes after them are data.
            if capped:
                last.limit_hit = None
            yield from report_streams(ctx, artifact, streams, allow_trailing=len(streams) == 5)
        else:
            more: list[PickleStream] = []
            if capped:
                last.limit_hit = None
                more = scan_pickle_at(artifact, ctx, last.end)
            yield from report_streams(ctx, artifact, streams)
            if more:
                yield from report_streams(ctx, artifact, more, first_index=len(streams))
            streams = streams + more
        yield from scan_joblib_sidecars(artifact, ctx, streams)
        show_program(ctx, artifact, streams)


register(PickleReader())

__all__ = [
    "OPCODE_BYTES",
    "PickleReader",
    "TORCH_LEGACY_MAGIC",
    "judge_as_unpickled",
    "pickle_score",
    "report_streams",
    "report_torchscript",
    "scan_joblib_sidecars",
    "scan_pickle_at",
    "show_program",
    "sniff_pickle",
    "vm_policy",
]
