"""Judge the ops of a TensorFlow graph (SavedModel meta graph or frozen GraphDef).

Every node of the top-level graph and of every library function is looked at, reachable or
not.  What is reported:

* Python callbacks (``PyFunc``, ``PyFuncStateless``, ``EagerPyFunc``): the body is not in the
  file, so this is suspicious rather than proof;
* file reads, file writes and network access, with the constant strings that feed the path
  (traced from ``Const`` nodes through pass-through ops such as ``Identity`` / ``StringJoin``);
* ops that stock TensorFlow does not register (custom kernels come from shared libraries).

The checkpoint ops every TF2 SavedModel carries (``SaveV2`` / ``MergeV2Checkpoints`` /
``RestoreV2`` in the ``__inference__traced_save_*`` / ``_traced_restore_*`` functions that
``saver_def`` names) are excused, but only those ops, only there (or, for TF1 graphs, only when
their path comes from the saver's filename tensor), and never when the path is a constant or
contains an absolute, ``..`` or URL fragment: ``saver_def`` is just a string in the file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from modelxray.analysis import threats
from modelxray.budget import Budget
from modelxray.formats.tf.savedmodel import MetaGraph, TFNode
from modelxray.model import Confidence, Judgement, Severity

__all__ = [
    "GraphIssue",
    "is_standard_op",
    "judge_graph",
    "graph_judgements",
    "standard_ops",
]

#: Findings per rule and meta graph before the rest are summarised in one finding.
MAX_REPORTED_PER_RULE = 50
#: Nodes one input trace may visit before it gives up (and counts the input as constant).
MAX_TRACE_NODES = 256
#: Distinct constant strings one input trace keeps (a string tensor can hold millions).
MAX_TRACE_STRINGS = 1000
MAX_EVIDENCE_STRINGS = 10
_MAX_STRING_CHARS = 300

# --------------------------------------------------------------------------- op tables

# Views of the threat catalogue's TF ops (analysis/threats.py), by category.  Ops read or
# written through an attribute (ImmutableConst, DecodeProtoV2/EncodeProto, PrintV2) are judged
# one by one below; CalibrationStatisticsSaver through _WRITE_ATTRS.
_BY_ATTR = frozenset({"ImmutableConst", "DecodeProtoV2", "EncodeProto", "PrintV2"})


def _inputs(category: str) -> dict[str, tuple[int, ...]]:
    """op -> indices of the inputs that name files or addresses, for one catalogue category."""
    return {
        t.op: t.inputs
        for t in threats.TF_OPS
        if t.category == category and t.path_attr is None and t.op not in _BY_ATTR
    }


PYTHON_OPS = frozenset(_inputs("python"))
_READ_INPUTS: dict[str, tuple[int, ...]] = _inputs("file-read")
# Readers that standard models feed from their own assets/ (vocabulary tables): low unless the
# path is a constant.
_ASSET_READERS: dict[str, tuple[int, ...]] = _inputs("asset-read")
_CHECKPOINT_READ: dict[str, tuple[int, ...]] = _inputs("checkpoint-read")
_CHECKPOINT_WRITE: dict[str, tuple[int, ...]] = _inputs("checkpoint-write")
_WRITE_INPUTS: dict[str, tuple[int, ...]] = _inputs("file-write")
# Attributes holding a path written to.
_WRITE_ATTRS: dict[str, str] = {
    t.op: t.path_attr
    for t in threats.TF_OPS
    if t.category == "file-write" and t.path_attr is not None and t.op not in _BY_ATTR
}
_NETWORK_INPUTS: dict[str, tuple[int, ...]] = _inputs("network")
_DEBUG_URL_OPS = frozenset(_inputs("debug-url"))

# Ops whose output string is built from their inputs: a path traced through them is constant
# only if every input is.
_PASS_THROUGH = frozenset(
    {
        "Identity", "IdentityN", "Snapshot", "StopGradient", "PreventGradient", "CheckNumerics",
        "StringJoin", "Select", "SelectV2", "Pack", "ConcatV2", "Concat", "Reshape",
        "ExpandDims", "Squeeze", "ShardedFilename", "ShardedFilespec", "StringFormat",
        "AsString", "RegexReplace", "StaticRegexReplace", "Substr", "Enter", "RefEnter",
        "Switch", "RefSwitch", "Merge", "RefMerge", "Exit", "RefExit", "NextIteration",
        "Gather", "GatherV2", "Slice", "StridedSlice", "Tile", "Fill", "BroadcastTo",
        "EnsureShape", "Unpack", "ReduceJoin", "StringStrip", "StringLower", "StringUpper",
    }
)  # fmt: skip
_CONST_OPS = frozenset({"Const", "HostConst"})

_REMOTE = re.compile(
    r"^\s*(gs|s3|s3a|hdfs|viewfs|https?|ftp|az|abfss?|oss|grpcs?|wasbs?)://", re.IGNORECASE
)
# Fragments the standard saver never concatenates onto its prefix.
_SUSPICIOUS_FRAGMENT = re.compile(r"(^|[/\\])\.\.([/\\]|$)|^\s*[/\\~]|^[A-Za-z]:[/\\]|://")


@functools.lru_cache(maxsize=1)
def standard_ops() -> frozenset[str]:
    """Op names stock TensorFlow registers (``data/tf_ops.txt``, generated from TF's registry)."""
    text = (resources.files("modelxray") / "data" / "tf_ops.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_standard_op(op: str) -> bool:
    return op in standard_ops()


# --------------------------------------------------------------------------- tracing


@dataclass
class Trace:
    """What feeds one input: the constant strings seen and whether every leaf is a ``Const``."""

    strings: list[str] = field(default_factory=list)
    constant: bool = True
    truncated: bool = False
    #: Names of non-constant leaves (function arguments, placeholders, other ops' outputs).
    leaves: list[str] = field(default_factory=list)

    def add_strings(self, strings: Iterable[str]) -> None:
        """Append new strings, keeping order, up to MAX_TRACE_STRINGS (then ``truncated``)."""
        have = set(self.strings)
        for s in strings:
            if s in have:
                continue
            if len(self.strings) >= MAX_TRACE_STRINGS:
                self.truncated = True
                return
            have.add(s)
            self.strings.append(s)

    def merge(self, other: Trace) -> None:
        self.add_strings(other.strings)
        self.constant = self.constant and other.constant
        self.truncated = self.truncated or other.truncated
        self.leaves.extend(other.leaves)


def _source(ref: str) -> str | None:
    """The node name an input refers to (``name``, ``name:0``, ``node:out:0``); None for ``^x``."""
    if ref.startswith("^"):
        return None
    return ref.split(":", 1)[0]


def _data_inputs(node: TFNode) -> list[str]:
    return [ref for ref in node.inputs if not ref.startswith("^")]


class _Scope:
    """The nodes of one function body (or of the top-level graph), by name."""

    def __init__(self, nodes: Iterable[TFNode], assets: Mapping[str, str]) -> None:
        self.by_name: dict[str, TFNode] = {}
        for node in nodes:
            self.by_name.setdefault(node.name, node)
        self.assets = assets

    def trace(self, ref: str, budget: Budget) -> Trace:
        out = Trace()
        start = _source(ref)
        if start is None:
            return out
        stack, seen = [start], set[str]()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            budget.tick()
            if len(seen) > MAX_TRACE_NODES:
                out.truncated = True  # give up; "constant" stays as conservative as it was
                break
            node = self.by_name.get(name)
            asset = self.assets.get(name)
            if asset is not None:
                # The loader feeds assets/<filename>; os.path.join keeps an absolute filename.
                if _SUSPICIOUS_FRAGMENT.search(asset):
                    out.add_strings([asset])
                else:
                    out.constant = False
                    out.leaves.append(name)
            elif node is None:
                out.constant = False  # a function argument
                out.leaves.append(name)
            elif node.op in _CONST_OPS:
                value = node.attrs.get("value")
                out.add_strings(value.strings if value is not None else ())
            elif node.op in _PASS_THROUGH and _data_inputs(node):
                stack.extend(n for n in map(_source, _data_inputs(node)) if n is not None)
            else:
                out.constant = False
                out.leaves.append(name)
        return out

    def trace_inputs(self, node: TFNode, indices: Iterable[int], budget: Budget) -> Trace:
        inputs = _data_inputs(node)
        out = Trace()
        picked = [inputs[i] for i in indices if i < len(inputs)]
        if not picked:
            out.constant = False
        for ref in picked:
            out.merge(self.trace(ref, budget))
        return out


# --------------------------------------------------------------------------- judging


# What a graph node can do when the loader runs it (``rules.tf.BY_KIND`` maps each to its rule).
PYTHON_CALLBACK = "python-callback"
FILE_READ = "file-read"
FILE_WRITE = "file-write"
NETWORK = "network"
CUSTOM_OP = "custom-op"


@dataclass
class GraphIssue:
    kind: str
    function: str | None
    node: str
    op: str
    message: str
    evidence: dict[str, Any]
    severity: Severity | None = None
    confidence: Confidence | None = None


def _clip(strings: Iterable[str]) -> list[str]:
    out: list[str] = []
    for s in strings:
        if len(out) >= MAX_EVIDENCE_STRINGS:
            break
        out.append(s if len(s) <= _MAX_STRING_CHARS else s[:_MAX_STRING_CHARS] + "…")
    return out


def _where(function: str | None) -> str:
    return f"in function {function}" if function else "in the top-level graph"


def _shown(strings: list[str]) -> str:
    return ", ".join(repr(s) for s in _clip(strings)[:3]) or "(computed at run time)"


def _run_time(trace: Trace) -> str:
    if trace.strings:
        return f"a run-time path built with {_shown(trace.strings)}"
    return "a run-time path"


def _attr_str(node: TFNode, key: str) -> str | None:
    attr = node.attrs.get(key)
    return attr.s if attr is not None else None


def _attr_strings(node: TFNode, key: str) -> list[str]:
    attr = node.attrs.get(key)
    return list(attr.iter_strings()) if attr is not None else []


class _Judge:
    def __init__(self, mg: MetaGraph, budget: Budget, assets: Mapping[str, str]) -> None:
        self.mg = mg
        self.budget = budget
        self.assets = assets
        self.saver_fns = mg.saver_functions()
        filename = mg.saver.get("filename_tensor_name", "")
        self.saver_filename = _source(filename) if filename else None
        self.functions = {fn.name for fn in mg.functions}
        self.issues: list[GraphIssue] = []

    def scopes(self) -> Iterator[tuple[str | None, _Scope, list[TFNode]]]:
        # Asset tensors are top-level graph tensors (TF1); function bodies get them as arguments.
        yield None, _Scope(self.mg.nodes, self.assets), self.mg.nodes
        for fn in self.mg.functions:
            yield fn.name, _Scope(fn.nodes, {}), fn.nodes

    def run(self) -> list[GraphIssue]:
        for function, scope, nodes in self.scopes():
            for node in nodes:
                self.budget.tick()
                self.judge(function, scope, node)
        return self.issues

    def add(
        self,
        kind: str,
        function: str | None,
        node: TFNode,
        message: str,
        trace: Trace | None = None,
        *,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        **extra: Any,
    ) -> None:
        evidence: dict[str, Any] = {"op": node.op, "node": node.name, "function": function}
        if trace is not None:
            evidence["constant_strings"] = _clip(trace.strings)
            evidence["path_is_constant"] = trace.constant and bool(trace.strings)
            if trace.truncated:
                evidence["trace_truncated"] = True
        evidence.update({k: v for k, v in extra.items() if v not in (None, [], "")})
        self.issues.append(
            GraphIssue(kind, function, node.name, node.op, message, evidence, severity, confidence)
        )

    def network_if_remote(self, function: str | None, node: TFNode, trace: Trace) -> None:
        urls = [s for s in trace.strings if _REMOTE.match(s)]
        if urls:
            self.add(
                NETWORK,
                function,
                node,
                f"{node.op} node {node.name!r} {_where(function)} uses the remote path "
                f"{_shown(urls)}",
                trace,
                urls=_clip(urls),
            )

    def excused_checkpoint(self, function: str | None, trace: Trace) -> bool:
        """The saver's own checkpoint op, fed by the path the loader passes in."""
        if trace.constant or trace.truncated:
            return False
        if any(_SUSPICIOUS_FRAGMENT.search(s) for s in trace.strings):
            return False
        if function is not None:
            return function in self.saver_fns
        return self.saver_filename is not None and self.saver_filename in trace.leaves

    def checkpoint_reason(self, function: str | None, trace: Trace) -> str:
        if trace.constant and trace.strings:
            return "with a constant path"
        odd = [s for s in trace.strings if _SUSPICIOUS_FRAGMENT.search(s)]
        if odd:
            return f"with the fragment {_shown(odd)} in its path"
        if function is not None and function in self.saver_fns:
            return "with a path the saver does not pass in"
        return "outside the model's saver"

    def judge(self, function: str | None, scope: _Scope, node: TFNode) -> None:
        op = node.op
        if op in PYTHON_OPS:
            token = _attr_str(node, "token")
            self.add(
                PYTHON_CALLBACK,
                function,
                node,
                f"{op} node {node.name!r} {_where(function)} calls the Python function registered "
                f"as {token!r}; its code is not in the file",
                token=token,
            )
        elif op in _READ_INPUTS or op in _ASSET_READERS:
            indices = _READ_INPUTS.get(op) or _ASSET_READERS[op]
            trace = scope.trace_inputs(node, indices, self.budget)
            self.read(function, node, trace, asset_reader=op in _ASSET_READERS)
        elif op == "ImmutableConst":
            region = _attr_str(node, "memory_region_name") or ""
            trace = Trace(strings=[region] if region else [], constant=bool(region))
            self.read(function, node, trace, memory_region_name=region)
        elif op in ("DecodeProtoV2", "EncodeProto"):
            source = _attr_str(node, "descriptor_source")
            if source and source != "local://" and not source.startswith("bytes://"):
                trace = Trace(strings=[source])
                self.read(function, node, trace, descriptor_source=source)
        elif op in _CHECKPOINT_READ or op in _CHECKPOINT_WRITE:
            writes = op in _CHECKPOINT_WRITE
            indices = _CHECKPOINT_WRITE.get(op) or _CHECKPOINT_READ[op]
            trace = scope.trace_inputs(node, indices, self.budget)
            if not self.excused_checkpoint(function, trace):
                why = self.checkpoint_reason(function, trace)
                if writes:
                    self.write(function, node, trace, f"writes a checkpoint {why}")
                else:
                    self.read(function, node, trace, detail=f"restores a checkpoint {why}")
            else:
                self.network_if_remote(function, node, trace)
        elif op in _WRITE_INPUTS:
            self.write(function, node, scope.trace_inputs(node, _WRITE_INPUTS[op], self.budget))
        elif op in _WRITE_ATTRS:
            path = _attr_str(node, _WRITE_ATTRS[op]) or ""
            self.write(function, node, Trace(strings=[path] if path else [], constant=bool(path)))
        elif op == "PrintV2":
            stream = _attr_str(node, "output_stream") or ""
            if stream.lower().startswith("file://"):
                self.write(
                    function,
                    node,
                    Trace(strings=[stream]),
                    f"prints to the file {stream!r}",
                    output_stream=stream,
                )
        elif op in _DEBUG_URL_OPS:
            self.debug_urls(function, node)
        elif op in _NETWORK_INPUTS:
            trace = scope.trace_inputs(node, _NETWORK_INPUTS[op], self.budget)
            self.add(
                NETWORK,
                function,
                node,
                f"{op} node {node.name!r} {_where(function)} opens network connections "
                f"(address {_shown(trace.strings)})",
                trace,
            )
        elif not is_standard_op(op) and op not in self.functions:
            self.add(
                CUSTOM_OP,
                function,
                node,
                f"node {node.name!r} {_where(function)} uses the op {op!r}, which stock "
                "TensorFlow does not register (it needs a custom kernel library)",
                device=node.device,
            )

    def read(
        self,
        function: str | None,
        node: TFNode,
        trace: Trace,
        *,
        asset_reader: bool = False,
        detail: str = "reads files",
        **extra: Any,
    ) -> None:
        constant = trace.constant and bool(trace.strings)
        if constant:
            severity, confidence = Severity.HIGH, Confidence.HIGH
        elif asset_reader:
            severity, confidence = Severity.LOW, Confidence.MEDIUM
        else:
            severity, confidence = Severity.MEDIUM, Confidence.MEDIUM
        path = f"the constant path {_shown(trace.strings)}" if constant else _run_time(trace)
        self.add(
            FILE_READ,
            function,
            node,
            f"{node.op} node {node.name!r} {_where(function)} {detail} from {path}",
            trace,
            severity=severity,
            confidence=confidence,
            **extra,
        )
        self.network_if_remote(function, node, trace)

    def write(
        self,
        function: str | None,
        node: TFNode,
        trace: Trace,
        detail: str = "writes files",
        **extra: Any,
    ) -> None:
        constant = trace.constant and bool(trace.strings)
        path = (
            f"to the constant path {_shown(trace.strings)}"
            if constant
            else "to " + _run_time(trace)
        )
        self.add(
            FILE_WRITE,
            function,
            node,
            f"{node.op} node {node.name!r} {_where(function)} {detail} {path}",
            trace,
            confidence=Confidence.HIGH if constant else Confidence.MEDIUM,
            **extra,
        )
        self.network_if_remote(function, node, trace)

    def debug_urls(self, function: str | None, node: TFNode) -> None:
        urls = [u for u in _attr_strings(node, "debug_urls") if u.strip()]
        files = [u for u in urls if u.lower().startswith("file://")]
        remote = [u for u in urls if u not in files]
        if files:
            self.write(
                function, node, Trace(strings=files), "dumps tensors", debug_urls=_clip(files)
            )
        if remote:
            self.add(
                NETWORK,
                function,
                node,
                f"{node.op} node {node.name!r} {_where(function)} sends tensors to "
                f"{_shown(remote)}",
                Trace(strings=remote),
                debug_urls=_clip(remote),
            )


def judge_graph(
    mg: MetaGraph, budget: Budget, asset_tensors: Mapping[str, str] | None = None
) -> list[GraphIssue]:
    """Every issue in one meta graph (or frozen GraphDef), in node order.

    ``asset_tensors`` maps the tensors ``asset_file_def`` lists (TF1 graphs) to their asset
    filename: the loader replaces their ``Const`` value with ``assets/<filename>``, so they are
    no constant path unless the filename is absolute or climbs out with ``..``.
    """
    assets: dict[str, str] = {}
    for tensor, filename in (asset_tensors or {}).items():
        name = _source(tensor)
        if name:
            assets[name] = filename
    return _Judge(mg, budget, assets).run()


def graph_judgements(
    mg: MetaGraph, budget: Budget, asset_tensors: Mapping[str, str] | None = None
) -> list[Judgement]:
    """:func:`judge_graph` as judgements, each at ``function:…`` (or ``graph``) › ``node:…``,
    with the meta graph's tags in the evidence; the reader caps how many it lists per rule."""
    out: list[Judgement] = []
    for issue in judge_graph(mg, budget, asset_tensors):
        scope = f"function:{issue.function}" if issue.function else "graph"
        evidence = dict(issue.evidence)
        if mg.tags:
            evidence["meta_graph_tags"] = list(mg.tags)
        out.append(
            Judgement(
                issue.kind,
                issue.message,
                evidence,
                (scope, f"node:{issue.node}"),
                issue.severity,
                issue.confidence,
            )
        )
    return out
