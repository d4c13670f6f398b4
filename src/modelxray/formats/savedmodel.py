"""TensorFlow SavedModel files, decoded from the protobuf wire format without TensorFlow.

* ``saved_model.pb`` / ``saved_model.pbtxt``: every op of every meta graph and library function
  is judged (:mod:`modelxray.analysis.tf_graph`); Keras configs kept as user-object metadata
  (older tf-keras SavedModels) go to the Keras config analyser.
* ``keras_metadata.pb``: one Keras config JSON per saved object, for the Keras analyser.
* Bare ``GraphDef`` protos (TF1 frozen graphs): the same op judgement.
* ``fingerprint.pb`` and ``variables/variables.index`` are recognised by content (they carry no
  code) and ``variables/variables.data-NNNNN-of-NNNNN`` (raw tensor bytes, never read) by the
  table magic of its sibling index, so a SavedModel folder scans without "unsupported" noise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelxray.artifact import Artifact
from modelxray.budget import Budget, BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import parse_json_text
from modelxray.formats.protobuf_wire import ProtobufError, Wire, as_str, iter_fields
from modelxray.formats.tf import sniff as tf_sniff
from modelxray.model import Judgement, Location
from modelxray.rules import tf as tf_rules
from modelxray.scanning import Reading, report_judgements

if TYPE_CHECKING:
    from modelxray.formats.tf import savedmodel as tf_savedmodel
    from modelxray.formats.tf.savedmodel import MetaGraph
    from modelxray.scanning import Sink

# Sniffers need only tf_sniff and protobuf_wire; extraction (tf_savedmodel), the graph judge
# (tf_graph) and the Keras config analyser load inside scan().

# SavedModel protos can be large (graphs with embedded constants); protobuf caps messages at 2 GiB.
_MAX_PROTO_BYTES = 2 * 1024 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024


def _proto_limit(ctx: Sink) -> int:
    return min(_MAX_PROTO_BYTES, ctx.limits.max_member_bytes)


class KerasMetadataReader(FormatReader):
    name = "keras-metadata-pb"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 45 if tf_sniff.looks_like_keras_metadata(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.analysis.keras_config import KerasDoc
        from modelxray.formats.keras_findings import report_config
        from modelxray.formats.tf import savedmodel as tf_savedmodel

        data = artifact.read(ctx.limits.max_json_bytes * 4, "keras_metadata.pb")
        nodes = tf_savedmodel.read_keras_metadata(data, ctx.budget)
        for node in nodes:
            loc = artifact.location.child(f"node:{node.node_id}:{node.node_path}")
            doc = parse_json_text(node.metadata, f"metadata of node {node.node_id}", ctx.limits)
            yield from report_config(KerasDoc(loc, doc, generation="tf.keras"), ctx)


def _asset_file_def(buf: memoryview, budget: Budget, depth: int) -> tuple[str, str]:
    """AssetFileDef{tensor_info = 1: TensorInfo{name = 1}, filename = 2} -> (tensor, filename)."""
    tensor = filename = ""
    for num, _, val in iter_fields(buf, budget, depth):
        if not isinstance(val, memoryview):
            continue
        if num == 1:
            for sub, _, name in iter_fields(val, budget, depth + 1):
                if sub == 1 and isinstance(name, memoryview):
                    tensor = as_str(name, 4096)
        elif num == 2:
            filename = as_str(val, 4096)
    return tensor, filename


def _asset_tensors(data: bytes, budget: Budget) -> list[dict[str, str]]:
    """Per meta graph, ``{tensor name: asset filename}`` from ``asset_file_def`` (MetaGraphDef
    field 6) and the TF1 ``saved_model_assets`` collection (collection_def = 4, a map entry whose
    CollectionDef.any_list = 5 holds ``Any{value = 2: AssetFileDef}``): the loader feeds those
    tensors with ``assets/<filename>``."""
    out: list[dict[str, str]] = []
    for num, _, graph in iter_fields(data, budget):
        if num != 2 or not isinstance(graph, memoryview):
            continue
        assets: dict[str, str] = {}
        for sub, _, val in iter_fields(graph, budget, 1):
            if not isinstance(val, memoryview):
                continue
            if sub == 6:
                tensor, filename = _asset_file_def(val, budget, 2)
                assets[tensor] = filename
            elif sub == 4:
                key, collection = "", None
                for k, _, v in iter_fields(val, budget, 2):
                    if k == 1 and isinstance(v, memoryview):
                        key = as_str(v, 4096)
                    elif k == 2 and isinstance(v, memoryview):
                        collection = v
                if key != "saved_model_assets" or collection is None:
                    continue
                for k, _, any_list in iter_fields(collection, budget, 3):
                    if k != 5 or not isinstance(any_list, memoryview):
                        continue
                    for k2, _, any_msg in iter_fields(any_list, budget, 4):
                        if k2 != 1 or not isinstance(any_msg, memoryview):
                            continue
                        for k3, _, body in iter_fields(any_msg, budget, 5):
                            if k3 == 2 and isinstance(body, memoryview):
                                tensor, filename = _asset_file_def(body, budget, 6)
                                assets[tensor] = filename
        out.append(assets)
    return out


def report_graph(
    mg: MetaGraph,
    location: Location,
    ctx: Sink,
    asset_tensors: Mapping[str, str] | None = None,
) -> None:
    """Judge one meta graph (or frozen GraphDef) and report each judgement at
    ``location › function:… › node:…``, as ``rules.tf.BY_KIND`` maps it; past
    ``MAX_REPORTED_PER_RULE`` nodes per rule, one summary at ``location`` says how many more."""
    from modelxray.analysis.tf_graph import (
        MAX_EVIDENCE_STRINGS,
        MAX_REPORTED_PER_RULE,
        graph_judgements,
    )

    counts: dict[str, int] = {}
    skipped: dict[str, list[Judgement]] = {}
    listed: list[Judgement] = []
    for judgement in graph_judgements(mg, ctx.budget, asset_tensors):
        n = counts[judgement.kind] = counts.get(judgement.kind, 0) + 1
        if n > MAX_REPORTED_PER_RULE:
            skipped.setdefault(judgement.kind, []).append(judgement)
        else:
            listed.append(judgement)
    report_judgements(ctx, tf_rules.BY_KIND, location, listed)
    for kind, rest in skipped.items():
        rule = tf_rules.BY_KIND[kind]
        ctx.report(
            rule,
            location,
            f"{len(rest)} more nodes matched {rule.id} (not listed one by one)",
            {
                "matched": len(rest) + MAX_REPORTED_PER_RULE,
                "listed": MAX_REPORTED_PER_RULE,
                "ops": sorted({j.evidence["op"] for j in rest})[:MAX_EVIDENCE_STRINGS],
            },
            severity=max(j.severity or rule.severity for j in rest),
            confidence=min(j.confidence or rule.confidence for j in rest),
        )


def _scan_saved_model(
    info: tf_savedmodel.SavedModelInfo,
    location: Location,
    ctx: Sink,
    assets: list[dict[str, str]],
) -> Reading:
    from modelxray.analysis.keras_config import KerasDoc
    from modelxray.formats.keras_findings import report_config

    for g, graph in enumerate(info.meta_graphs):
        graph_loc = location.child(f"meta_graph[{g}]")
        for node_index, identifier, metadata in graph.user_objects:
            if not metadata.strip():
                continue
            loc = graph_loc.child(f"object_graph.node[{node_index}]:{identifier}")
            doc = parse_json_text(metadata, f"user object {node_index} metadata", ctx.limits)
            yield from report_config(KerasDoc(loc, doc, generation="tf.keras"), ctx)
        report_graph(graph, graph_loc, ctx, assets[g] if g < len(assets) else None)


class SavedModelReader(FormatReader):
    name = "tf-savedmodel"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 40 if tf_sniff.looks_like_saved_model(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.formats.tf import savedmodel as tf_savedmodel

        data = artifact.read(_proto_limit(ctx), "saved_model.pb")
        info = tf_savedmodel.read_saved_model(data, ctx.budget)
        yield from _scan_saved_model(info, artifact.location, ctx, _asset_tensors(data, ctx.budget))


class SavedModelTextReader(FormatReader):
    """``saved_model.pbtxt``: parsed to the same extraction as the binary form.

    Not extracted from text: ``asset_file_def`` (TF1 asset paths then count as constants).
    """

    name = "tf-savedmodel-text"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 40 if tf_sniff.looks_like_saved_model_text(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        from modelxray.formats.tf import savedmodel as tf_savedmodel

        data = artifact.read(_proto_limit(ctx), "saved_model.pbtxt")
        info = tf_savedmodel.read_saved_model_text(data, ctx.budget)
        yield from _scan_saved_model(info, artifact.location, ctx, [])


# --------------------------------------------------------------------------- frozen GraphDef

_OP_NAME = re.compile(r"[A-Za-z_>][A-Za-z0-9_>.\-/]{0,255}")
_GRAPH_FIELDS = {(1, Wire.LEN), (2, Wire.LEN), (3, Wire.VARINT), (4, Wire.LEN), (5, Wire.LEN)}
# The single-byte tags those fields start with: a head starting otherwise is no GraphDef.
_GRAPH_TAGS = frozenset((n << 3) | w for n, w in _GRAPH_FIELDS)


def looks_like_graph_def(head: bytes) -> bool:
    """``GraphDef{node = 1, library = 2, version = 3, versions = 4, debug_info = 5}`` whose first
    node has a name and an op name (NodeDef fields 1-7 are all length-delimited)."""
    if not head or head[0] not in _GRAPH_TAGS:
        return False
    budget = Budget()
    try:
        top = list(iter_fields(memoryview(head)[:_SNIFF_BYTES], budget, partial=True))
        if not top or any((n, w) not in _GRAPH_FIELDS for n, w, _ in top):
            return False
        first = next((v for n, _, v in top if n == 1 and isinstance(v, memoryview)), None)
        if first is None:
            return False
        inner = list(iter_fields(first, budget, 1, partial=True))
        if not inner or any(not (1 <= n <= 7 and w == Wire.LEN) for n, w, _ in inner):
            return False
        fields = {n: v for n, _, v in inner}
        op = fields.get(2)
        if 1 not in fields or not isinstance(op, memoryview):
            return False
        return _OP_NAME.fullmatch(bytes(op).decode("ascii", "replace")) is not None
    except (ProtobufError, BudgetExceeded):
        return False


class GraphDefReader(FormatReader):
    name = "tf-graphdef"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 30 if looks_like_graph_def(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        from modelxray.formats.tf import savedmodel as tf_savedmodel

        data = artifact.read(_proto_limit(ctx), "GraphDef")
        graph = tf_savedmodel.read_graph_def(data, ctx.budget)
        report_graph(graph, artifact.location, ctx)


# --------------------------------------------------------------------------- fingerprint.pb

_MAX_FINGERPRINT_BYTES = 4096
# Single-byte tags of the fields _check_fingerprint accepts: 1-5 varint, 6 and 7 length-delimited.
_FINGERPRINT_TAGS = frozenset({0x08, 0x10, 0x18, 0x20, 0x28, 0x32, 0x3A})


def _check_fingerprint(data: bytes, budget: Budget) -> None:
    """Raise ProtobufError unless ``data`` is a ``FingerprintDef``: checksum and hashes 1-5
    (uint64), version = 6 (VersionDef), uuid = 7 (decimal digits)."""
    hashes: set[int] = set()
    version = False
    for num, wire, val in iter_fields(data, budget):
        if 1 <= num <= 5 and wire == Wire.VARINT:
            hashes.add(num)
        elif num == 6 and isinstance(val, memoryview):
            for sub, sub_wire, _ in iter_fields(val, budget, 1):
                if sub not in (1, 2, 3) or sub_wire not in (Wire.VARINT, Wire.LEN):
                    raise ProtobufError(f"unexpected VersionDef field {sub}")
            version = True
        elif num == 7 and isinstance(val, memoryview) and bytes(val).isdigit():
            pass
        else:
            raise ProtobufError(f"unexpected fingerprint field {num} (wire type {wire})")
    if 1 not in hashes or len(hashes) < 3 or not version:
        raise ProtobufError("not a SavedModel fingerprint")


class FingerprintReader(FormatReader):
    """``fingerprint.pb`` (TF >= 2.12): hashes of the other SavedModel files, nothing to run."""

    name = "tf-savedmodel-fingerprint"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if not 0 < artifact.size <= min(_MAX_FINGERPRINT_BYTES, len(head)):
            return 0
        if head[0] not in _FINGERPRINT_TAGS:
            return 0
        try:
            _check_fingerprint(head[: artifact.size], Budget())
        except (ProtobufError, BudgetExceeded):
            return 0
        return 20

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        _check_fingerprint(artifact.read(_MAX_FINGERPRINT_BYTES, "fingerprint.pb"), ctx.budget)


# --------------------------------------------------------------------------- variables/

# TensorFlow's table format (tensorflow/core/lib/io/format.h, as LevelDB): a 48-byte footer of
# two block handles (varint offset + size), zero padding and this magic number.
_TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
_FOOTER = 48


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(buf) and shift < 64:
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result, pos
        shift += 7
    raise ProtobufError("bad varint in table footer")


def _check_table_footer(footer: bytes, size: int) -> None:
    """Raise ProtobufError unless ``footer`` is a table footer whose handles fit in ``size``."""
    if len(footer) != _FOOTER or footer[-8:] != _TABLE_MAGIC:
        raise ProtobufError("no table magic")
    pos = 0
    for what in ("metaindex", "index"):
        offset, pos = _varint(footer, pos)
        length, pos = _varint(footer, pos)
        if offset + length > size - _FOOTER:
            raise ProtobufError(f"{what} block handle points past the end of the file")
    if pos > _FOOTER - 8:
        raise ProtobufError("table footer handles overflow")


class VariablesIndexReader(FormatReader):
    """``variables.index``: the tensor-bundle index (names, dtypes, shapes, offsets)."""

    name = "tf-variables-index"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if artifact.size < _FOOTER:
            return 0
        try:
            _check_table_footer(artifact.tail(_FOOTER), artifact.size)
        except ProtobufError:
            return 0
        return 20

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        _check_table_footer(artifact.tail(_FOOTER), artifact.size)


_DATA_SHARD = re.compile(r"(?P<prefix>.+)\.data-\d{5}-of-\d{5}")


def sibling_index(artifact: Artifact) -> Artifact | None:
    """The ``<prefix>.index`` beside a ``<prefix>.data-NNNNN-of-NNNNN`` file (on disk or in
    the same remote folder), if it exists and carries the table footer (the content evidence
    for the data shard)."""
    from modelxray.artifact import loader_folder

    m = _DATA_SHARD.fullmatch(artifact.name)
    folder = loader_folder(artifact, through_wrapper=False) if m is not None else None
    if m is None or folder is None:
        return None
    try:
        index = folder.file(m["prefix"] + ".index")
        if index is None or index.size < _FOOTER:
            return None
        _check_table_footer(index.tail(_FOOTER), index.size)
    except (OSError, ProtobufError):
        return None
    return index


class VariablesDataReader(FormatReader):
    """``variables.data-NNNNN-of-NNNNN``: raw tensor bytes addressed by the index.  Never read.

    Recognised only through a valid sibling index and with the lowest score, so any format
    that recognises the bytes themselves (pickle, zip, …) wins.
    """

    name = "tf-variables"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 1 if sibling_index(artifact) is not None else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        return None


register(KerasMetadataReader())
register(SavedModelReader())
register(SavedModelTextReader())
register(GraphDefReader())
register(FingerprintReader())
register(VariablesIndexReader())
register(VariablesDataReader())
