"""ONNX models, decoded from the protobuf wire format without the ``onnx`` package.

What an ONNX file can make a loader do beyond arithmetic:

* read files: a tensor whose ``data_location`` is EXTERNAL names a file (``location``) that
  the loader joins to the model's directory — absolute paths, ``..`` and links reach any file
  (CVE-2022-25882, CVE-2024-27318 and later link variants);
* load native code: a node in a non-standard operator domain only runs if the user registers
  a custom-operator library (a shared object, or Python callables for onnxruntime-extensions'
  ``ai.onnx.contrib`` PyOps) — the file cannot carry that code, but it is why a repository
  ships one;
* show different weights to different readers: a tensor with two value fields.

Every tensor is visited: graph initializers and sparse initializers, node attributes
(``t``/``tensors``/``sparse_tensor(s)``), subgraphs (``g``/``graphs`` of If/Loop/Scan),
training graphs and model-local functions.  The referenced external files are only
``lstat``-ed, never opened.  A file on disk is memory-mapped, so tensor payloads are sliced
past, not read.
"""

from __future__ import annotations

import mmap
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import Budget, BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.formats.protobuf_wire import (
    ProtobufError,
    Value,
    as_str,
    check_depth,
    iter_fields,
)
from modelxray.model import Location, Severity
from modelxray.rules import onnx as rules
from modelxray.rules import scan as scan_rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

# Domains whose operators ship with ONNX itself.
STANDARD_DOMAINS = frozenset(
    {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training"}
)
# Domains whose kernels are compiled into ONNX Runtime (contrib and layout-optimised ops):
# they need no library from the model's author, so they are not reported.
RUNTIME_DOMAINS = frozenset(
    {"com.microsoft", "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc"}
)
# onnxruntime-extensions: its PyOp operators call Python functions registered by the user.
PYTHON_OP_DOMAINS = frozenset({"ai.onnx.contrib"})
PYTHON_OP_TYPES = frozenset({"PyOp", "PythonOp", "PyFunc"})
EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum"})

# Bytes per element of TensorProto.DataType values with a fixed width.
_DTYPE_BYTES = {
    1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8,
    15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1,
}  # fmt: skip
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# TensorProto value fields: float_data, int32_data, string_data, int64_data, raw_data,
# double_data, uint64_data.
_VALUE_FIELDS = {4: "float_data", 5: "int32_data", 6: "string_data", 7: "int64_data",
                 9: "raw_data", 10: "double_data", 11: "uint64_data"}  # fmt: skip
_ALLOWED_MODEL_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26}
# First byte of the tag of each ModelProto field (fields 20, 25, 26 take two-byte tags).
_MODEL_FIRST_TAG_BYTES = frozenset(
    {0x08, 0x12, 0x1A, 0x22, 0x28, 0x32, 0x3A, 0x42, 0x72, 0xA2, 0xCA, 0xD2}
)
_GRAPH_FIELDS = {1, 2, 5, 10, 11, 12, 13, 14, 15, 16}
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_REPORTED = 100
_MAX_NAME = 200


@dataclass
class ExternalRef:
    path: str  # where in the model the tensor sits
    tensor: str
    entries: list[tuple[str, str]]
    dims: list[int]
    data_type: int


@dataclass
class OnnxModel:
    ir_version: int = 0
    opsets: list[tuple[str, int]] = field(default_factory=list)
    external: list[ExternalRef] = field(default_factory=list)
    # (path, node name, op_type, domain)
    nodes: list[tuple[str, str, str, str]] = field(default_factory=list)
    functions: set[tuple[str, str]] = field(default_factory=set)
    # (path, tensor name, populated value fields)
    dual_data: list[tuple[str, str, list[str]]] = field(default_factory=list)
    tensors: int = 0


def _s(v: Value) -> str:
    return as_str(v, 4096) if isinstance(v, memoryview) else ""


class _Walker:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.model = OnnxModel()

    def msg(self, v: Value, depth: int) -> Iterator[tuple[int, int, Value]]:
        if not isinstance(v, memoryview):
            raise ProtobufError("expected a length-delimited message")
        return iter_fields(v, self.budget, depth)

    def model_proto(self, buf: memoryview) -> None:
        for num, _, v in iter_fields(buf, self.budget, 0):
            if num == 1 and isinstance(v, int):
                self.model.ir_version = v
            elif num == 7:
                self.graph(v, "graph", 1)
            elif num == 8:
                self.model.opsets.append(self.opset(v, 1))
            elif num == 20:  # TrainingInfoProto: initialization (1), algorithm (2)
                for n2, _, v2 in self.msg(v, 1):
                    if n2 in (1, 2):
                        self.graph(v2, f"training_info.{'algorithm' if n2 == 2 else 'init'}", 2)
            elif num == 25:
                self.function(v, 1)

    def opset(self, v: Value, depth: int) -> tuple[str, int]:
        domain, version = "", 0
        for num, _, x in self.msg(v, depth):
            if num == 1:
                domain = _s(x)
            elif num == 2 and isinstance(x, int):
                version = x
        return domain, version

    def function(self, v: Value, depth: int) -> None:
        name = domain = ""
        nodes: list[Value] = []
        for num, _, x in self.msg(v, depth):
            if num == 1:
                name = _s(x)
            elif num == 10:
                domain = _s(x)
            elif num == 7:
                nodes.append(x)
        self.model.functions.add((domain, name))
        path = f"functions[{domain}:{name}]"
        for i, node in enumerate(nodes):
            self.node(node, f"{path}.node[{i}]", depth + 1)

    def graph(self, v: Value, path: str, depth: int) -> None:
        check_depth(self.budget, depth)
        node_i = init_i = sparse_i = 0
        for num, _, x in self.msg(v, depth):
            if num == 1:
                self.node(x, f"{path}.node[{node_i}]", depth + 1)
                node_i += 1
            elif num == 5:
                self.tensor(x, f"{path}.initializer[{init_i}]", depth + 1)
                init_i += 1
            elif num == 15:
                self.sparse(x, f"{path}.sparse_initializer[{sparse_i}]", depth + 1)
                sparse_i += 1

    def node(self, v: Value, path: str, depth: int) -> None:
        limit = self.budget.limits.max_onnx_nodes
        Budget.require(
            len(self.model.nodes) < limit, "max_onnx_nodes", f"more than {limit} graph nodes"
        )
        name = op_type = domain = ""
        attrs: list[Value] = []
        for num, _, x in self.msg(v, depth):
            if num == 3:
                name = _s(x)
            elif num == 4:
                op_type = _s(x)
            elif num == 7:
                domain = _s(x)
            elif num == 5:
                attrs.append(x)
        label = f"{path}({op_type}{':' + name if name else ''})"
        self.model.nodes.append((label, name, op_type, domain))
        for a in attrs:
            self.attribute(a, label, depth + 1)

    def attribute(self, v: Value, path: str, depth: int) -> None:
        fields = list(self.msg(v, depth))
        name = next((_s(x) for n, _, x in fields if n == 1), "")
        where = f"{path}.attr[{name}]"
        counts: dict[int, int] = {}
        for num, _, x in fields:
            i = counts.get(num, 0)
            counts[num] = i + 1
            if num == 5:
                self.tensor(x, where, depth + 1)
            elif num == 10:
                self.tensor(x, f"{where}.tensors[{i}]", depth + 1)
            elif num == 6:
                self.graph(x, where, depth + 1)
            elif num == 11:
                self.graph(x, f"{where}.graphs[{i}]", depth + 1)
            elif num == 22:
                self.sparse(x, where, depth + 1)
            elif num == 23:
                self.sparse(x, f"{where}.sparse_tensors[{i}]", depth + 1)

    def sparse(self, v: Value, path: str, depth: int) -> None:
        for num, _, x in self.msg(v, depth):
            if num == 1:
                self.tensor(x, f"{path}.values", depth + 1)
            elif num == 2:
                self.tensor(x, f"{path}.indices", depth + 1)

    def tensor(self, v: Value, path: str, depth: int) -> None:
        self.model.tensors += 1
        name = ""
        dims: list[int] = []
        data_type = 0
        location = 0
        entries: list[tuple[str, str]] = []
        populated: list[str] = []
        for num, _, x in self.msg(v, depth):
            if num == 8:
                name = _s(x)
            elif num == 1:
                if isinstance(x, int):
                    dims.append(x)
                else:  # packed
                    dims.extend(_packed(x, self.budget))
            elif num == 2 and isinstance(x, int):
                data_type = x
            elif num == 14 and isinstance(x, int):
                location = x
            elif num == 13:
                key = value = ""
                for n2, _, y in self.msg(x, depth + 1):
                    if n2 == 1:
                        key = _s(y)
                    elif n2 == 2:
                        value = _s(y)
                entries.append((key, value))
            elif num in _VALUE_FIELDS:
                label = _VALUE_FIELDS[num]
                if label not in populated and (not isinstance(x, memoryview) or len(x) > 0):
                    populated.append(label)
        where = f"{path}:{name[:_MAX_NAME]}" if name else path
        if location == _EXTERNAL or entries:
            self.model.external.append(ExternalRef(where, name, entries, dims, data_type))
            if location == _EXTERNAL and populated:
                populated.append("external_data")
        if len(populated) > 1:
            self.model.dual_data.append((where, name, populated))


def _packed(view: Value, budget: Budget) -> list[int]:
    from modelxray.formats.protobuf_wire import iter_packed_varints

    if not isinstance(view, memoryview):
        return []
    return list(iter_packed_varints(view, budget))


# --------------------------------------------------------------------------- sniffing


def looks_like_onnx(head: bytes) -> bool:
    """ModelProto: only ModelProto field numbers with their wire types, ``ir_version`` (field 1)
    a small varint where present, and a graph (7) or opset import (8) among the first fields.

    Field order is not required: onnxruntime parses a model whose fields were reordered, so a
    reordered model must not slip past as "unsupported".
    """
    if not head or head[0] not in _MODEL_FIRST_TAG_BYTES:
        return False
    budget = Budget()
    wires = {1: 0, 2: 2, 3: 2, 4: 2, 5: 0, 6: 2, 7: 2, 8: 2, 14: 2, 20: 2, 25: 2, 26: 2}
    try:
        fields = list(iter_fields(memoryview(head)[:65536], budget, partial=True))
    except (ProtobufError, BudgetExceeded):
        return False
    if not fields:
        return False
    for num, _, value in fields:
        if num == 1 and (not isinstance(value, int) or not 1 <= value <= 64):
            return False
    for num, wire, _ in fields:
        if num not in _ALLOWED_MODEL_FIELDS or wires[num] != wire:
            return False
    nums = {n for n, _, _ in fields}
    if 7 in nums:
        graph = next(v for n, _, v in fields if n == 7)
        try:
            inner = (
                list(iter_fields(graph, budget, partial=True))
                if isinstance(graph, memoryview)
                else []
            )
        except (ProtobufError, BudgetExceeded):
            return False
        return all(n in _GRAPH_FIELDS for n, _, _ in inner)
    return 8 in nums


# --------------------------------------------------------------------------- checks


def _location_problem(location: str) -> str | None:
    if not location:
        return "empty location"
    if "\x00" in location:
        return "location contains a NUL byte"
    if location.startswith(("/", "\\")) or _DRIVE.match(location):
        return "absolute path"
    if location.startswith("~"):
        return "home-directory path"
    parts = re.split(r"[\\/]+", location)
    if ".." in parts:
        return "climbs out of the model directory with '..'"
    return None


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 20 else None


@contextmanager
def _model_bytes(artifact: Artifact, ctx: Sink) -> Iterator[memoryview]:
    """The model's bytes: memory-mapped when it is a file (tensor payloads are never paged
    in), otherwise read under the member size limit."""
    if artifact.fs_path is not None and artifact.size > 0:
        with open(artifact.fs_path, "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mm)
        try:
            yield view
        finally:
            try:
                view.release()
                mm.close()
            except BufferError:  # a slice is still referenced (an exception's frame); GC closes
                pass
    else:
        data = artifact.read(min(ctx.limits.max_member_bytes, 4 * 1024**3), "ONNX model")
        yield memoryview(data)


class OnnxReader(FormatReader):
    name = "onnx"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 50 if looks_like_onnx(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        walker = _Walker(ctx.budget)
        with _model_bytes(artifact, ctx) as view:
            try:
                walker.model_proto(view)
            except BudgetExceeded as exc:
                if exc.per_file:
                    raise
                # The nodes read before the limit are still judged below.
                ctx.report(
                    scan_rules.INCOMPLETE,
                    artifact.location,
                    f"ONNX model not read past a safety limit ({exc.limit}): {exc.detail}",
                    {"limit": exc.limit, "format": "onnx", "nodes_read": len(walker.model.nodes)},
                )
            finally:
                del view
        model = walker.model
        self._check_domains(model, artifact.location, ctx)
        self._check_external(model, artifact, ctx)
        for i, (path, name, fields_) in enumerate(model.dual_data):
            if i >= _MAX_REPORTED:
                break
            ctx.report(
                rules.TENSOR_DUAL_DATA,
                artifact.location.child(path),
                f"tensor {name[:_MAX_NAME]!r} has values in {', '.join(fields_)}: readers that "
                "pick different fields see different weights",
                {"fields": fields_},
            )

    @staticmethod
    def _check_domains(model: OnnxModel, loc: Location, ctx: Sink) -> None:
        reported = 0
        for path, _name, op_type, domain in model.nodes:
            if (domain, op_type) in model.functions:
                continue  # a model-local function: expanded from the file itself
            python_op = domain in PYTHON_OP_DOMAINS or op_type in PYTHON_OP_TYPES
            if domain in STANDARD_DOMAINS | RUNTIME_DOMAINS and not python_op:
                continue
            reported += 1
            if reported > _MAX_REPORTED:
                break
            if python_op:
                message = (
                    f"operator {op_type!r} in domain {domain!r} calls a Python function "
                    "registered by whoever runs the model (onnxruntime-extensions PyOp)"
                )
            else:
                message = (
                    f"operator {op_type!r} in domain {domain!r} needs a custom operator "
                    "library (native code) registered at session creation"
                )
            ctx.report(
                rules.CUSTOM_DOMAIN,
                loc.child(path),
                message,
                {"op_type": op_type, "domain": domain},
                severity=Severity.HIGH if python_op else None,
            )
        for domain, version in model.opsets:
            if domain not in STANDARD_DOMAINS | RUNTIME_DOMAINS:
                used = any(d == domain for _, _, _, d in model.nodes)
                if not used:
                    ctx.report(
                        rules.CUSTOM_DOMAIN,
                        loc.child("opset_import"),
                        f"imports the non-standard operator domain {domain!r} (no node uses it)",
                        {"domain": domain, "version": version},
                        severity=Severity.LOW,
                    )

    @staticmethod
    def _check_external(model: OnnxModel, artifact: Artifact, ctx: Sink) -> None:
        base = os.path.dirname(os.path.abspath(artifact.fs_path)) if artifact.fs_path else None
        for i, ref in enumerate(model.external):
            if i >= _MAX_REPORTED:
                break
            ctx.budget.tick()
            loc = artifact.location.child(ref.path)
            entries = dict(ref.entries)
            evidence: dict[str, Any] = {"tensor": ref.tensor[:_MAX_NAME], "external_data": entries}
            unknown = [k for k, _ in ref.entries if k not in EXTERNAL_KEYS]
            if unknown:
                ctx.report(
                    rules.EXTERNAL_DATA_KEY,
                    loc,
                    f"external_data has keys {sorted(set(unknown))[:10]} besides "
                    "location/offset/length/checksum (older onnx versions set them as "
                    "attributes of their ExternalDataInfo object)",
                    evidence,
                )
            location = entries.get("location", "")
            problem = _location_problem(location)
            if problem is not None:
                ctx.report(
                    rules.EXTERNAL_DATA_ESCAPE,
                    loc,
                    f"external data location {location[:300]!r}: {problem}",
                    evidence,
                )
                continue
            if base is None:
                _check_in_remote_folder(ref, entries, artifact, loc, evidence, ctx)
                continue  # inside an archive: nothing on disk to resolve against
            _check_on_disk(ref, entries, base, loc, evidence, ctx)


def _check_on_disk(
    ref: ExternalRef,
    entries: dict[str, str],
    base: str,
    loc: Location,
    evidence: dict[str, Any],
    ctx: Sink,
) -> None:
    location = entries["location"]
    target = os.path.join(base, location)
    # Any link on the way (the file or a directory component) can lead anywhere.
    probe = base
    for part in re.split(r"[\\/]+", location):
        if not part or part == ".":
            continue
        probe = os.path.join(probe, part)
        try:
            st = os.lstat(probe)
        except OSError:
            _report_missing(location, loc, evidence, ctx)
            return
        if stat.S_ISLNK(st.st_mode):
            evidence = {**evidence, "link": probe, "resolves_to": os.path.realpath(probe)}
            ctx.report(
                rules.EXTERNAL_DATA_ESCAPE,
                loc,
                f"external data location {location[:300]!r} goes through a symbolic link",
                evidence,
            )
            return
    real_base = os.path.realpath(base)
    real = os.path.realpath(target)
    if os.path.commonpath([real_base, real]) != real_base:
        ctx.report(
            rules.EXTERNAL_DATA_ESCAPE,
            loc,
            f"external data location {location[:300]!r} resolves outside the model directory",
            {**evidence, "resolves_to": real},
        )
        return
    st = os.lstat(target)
    if not stat.S_ISREG(st.st_mode):
        ctx.report(
            rules.EXTERNAL_DATA_ESCAPE,
            loc,
            f"external data location {location[:300]!r} is not a regular file",
            evidence,
        )
        return
    if st.st_nlink > 1:
        ctx.report(
            rules.EXTERNAL_DATA_ESCAPE,
            loc,
            f"external data file {location[:300]!r} is a hard link ({st.st_nlink} names): "
            "its content may be another file's",
            {**evidence, "nlink": st.st_nlink},
            severity=Severity.MEDIUM,
        )
    ctx.add_reference(target)  # this model's data: not an unsupported file of its own
    _check_range(ref, entries, st.st_size, loc, evidence, ctx)


def _check_in_remote_folder(
    ref: ExternalRef,
    entries: dict[str, str],
    artifact: Artifact,
    loc: Location,
    evidence: dict[str, Any],
    ctx: Sink,
) -> None:
    """A model read from a remote folder (``sources.remote``): its external data file is
    looked up beside it in the same store (a store has no links to follow)."""
    from modelxray.artifact import LocalFolder, loader_folder

    folder = loader_folder(artifact, through_wrapper=False)
    if folder is None or isinstance(folder, LocalFolder):
        return  # inside an archive
    location = entries["location"]
    target = folder.file(location.replace("\\", "/"))
    if target is None:
        _report_missing(location, loc, evidence, ctx)
        return
    ctx.add_reference(folder.reference(location.replace("\\", "/")))
    _check_range(ref, entries, target.size, loc, evidence, ctx)


def _report_missing(location: str, loc: Location, evidence: dict[str, Any], ctx: Sink) -> None:
    """The external data file a model names is not beside it (on disk or in its store)."""
    ctx.report(
        rules.EXTERNAL_DATA_RANGE,
        loc,
        f"external data file {location[:300]!r} does not exist beside the model",
        evidence,
        severity=Severity.LOW,
    )


def _check_range(
    ref: ExternalRef,
    entries: dict[str, str],
    size: int,
    loc: Location,
    evidence: dict[str, Any],
    ctx: Sink,
) -> None:
    location = entries["location"]
    offset = _int(entries.get("offset", "0") or "0")
    length_text = entries.get("length")
    length = _int(length_text) if length_text else None
    if offset is None or (length_text and length is None):
        ctx.report(
            rules.EXTERNAL_DATA_RANGE,
            loc,
            "external data offset/length are not non-negative integers",
            evidence,
        )
        return
    if length is None:
        length = size - offset
    expected = None
    if ref.data_type in _DTYPE_BYTES:
        count = 1
        for d in ref.dims:
            count *= d
        expected = count * _DTYPE_BYTES[ref.data_type]
    if offset + max(length, 0) > size or length < 0:
        ctx.report(
            rules.EXTERNAL_DATA_RANGE,
            loc,
            f"external data range {offset}+{length} exceeds {location[:300]!r} ({size} bytes)",
            {**evidence, "file_size": size},
        )
    elif expected is not None and length < expected:
        ctx.report(
            rules.EXTERNAL_DATA_RANGE,
            loc,
            f"tensor needs {expected} bytes but its external data range holds {length}",
            {**evidence, "file_size": size, "expected": expected},
        )


register(OnnxReader())


# --------------------------------------------------------------------- TensorProto files

# TensorProto field -> wire types its writers use (repeated numerics: packed or not).
_TENSOR_WIRES = {
    1: (0, 2), 2: (0,), 3: (2,), 4: (2, 5), 5: (0, 2), 6: (2,), 7: (0, 2), 8: (2,), 9: (2,),
    10: (1, 2), 11: (0, 2), 12: (2,), 13: (2,), 14: (0,), 16: (2,),
}  # fmt: skip
_MAX_DATA_TYPE = 32


def looks_like_tensor(head: bytes, size: int) -> bool:
    """A serialized ``TensorProto`` (ONNX test vectors ``input_0.pb``, tensors saved with
    ``onnx.save_tensor``): only TensorProto fields with their wire types, a ``data_type``, and,
    when the head holds the whole file, every byte consumed."""
    if not head or head[0] not in (0x08, 0x0A, 0x10, 0x42):  # dims, data_type or name first
        return False
    budget = Budget()
    try:
        fields = list(iter_fields(memoryview(head)[:65536], budget, partial=len(head) < size))
    except (ProtobufError, BudgetExceeded):
        return False
    data_type = [v for n, w, v in fields if n == 2]
    if len(data_type) != 1 or not isinstance(data_type[0], int):
        return False
    if not 1 <= data_type[0] <= _MAX_DATA_TYPE:
        return False
    return all(w in _TENSOR_WIRES.get(n, ()) for n, w, _ in fields)


class OnnxTensorReader(FormatReader):
    """A lone TensorProto is data: nothing in it runs.  Its ``external_data`` location is
    checked like a model's (the loader reads that file)."""

    name = "onnx-tensor"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 10 if looks_like_tensor(head, artifact.size) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.size > 64 * 1024:
            return  # the external_data entries of a large tensor follow its data: not read
        data = artifact.read(64 * 1024, "TensorProto")
        for num, _, value in iter_fields(data, ctx.budget):
            if num != 13 or not isinstance(value, memoryview):
                continue
            entry = {k: as_str(v, 4096) for k, _, v in iter_fields(value, ctx.budget, 1)
                     if isinstance(v, memoryview) and k in (1, 2)}  # fmt: skip
            if entry.get(1) == "location":
                problem = _location_problem(entry.get(2, ""))
                if problem is not None:
                    ctx.report(
                        rules.EXTERNAL_DATA_ESCAPE,
                        artifact.location,
                        f"external data location {entry.get(2, '')[:300]!r}: {problem}",
                        {"external_data": {"location": entry.get(2, "")}},
                    )


register(OnnxTensorReader())
