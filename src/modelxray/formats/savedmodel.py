"""TensorFlow SavedModel files, decoded from the protobuf wire format without TensorFlow.

``keras_metadata.pb`` holds one Keras config JSON per saved object; older
SavedModels keep the same JSON in ``saved_model.pb`` (object graph → user
object metadata).  Both are handed to the Keras config analyser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelxray.analysis import tf_savedmodel
from modelxray.analysis.keras_config import KerasDoc, analyse_config
from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import parse_json_text

if TYPE_CHECKING:
    from modelxray.engine import ScanContext

# SavedModel protos can be large (graphs with embedded constants); metadata is what we read.
_MAX_PROTO_BYTES = 2 * 1024 * 1024 * 1024


class KerasMetadataReader(FormatReader):
    name = "keras-metadata-pb"
    extensions = (".pb",)

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 45 if tf_savedmodel.looks_like_keras_metadata(head) else 0

    def scan(self, artifact: Artifact, ctx: ScanContext) -> None:
        data = artifact.read(ctx.limits.max_json_bytes * 4, "keras_metadata.pb")
        nodes = tf_savedmodel.read_keras_metadata(data, ctx.budget)
        for node in nodes:
            loc = artifact.location.child(f"node:{node.node_id}:{node.node_path}")
            doc = parse_json_text(node.metadata, f"metadata of node {node.node_id}")
            analyse_config(KerasDoc(loc, doc, generation="tf.keras"), ctx)


class SavedModelReader(FormatReader):
    name = "tf-savedmodel"
    extensions = (".pb",)

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 40 if tf_savedmodel.looks_like_saved_model(head) else 0

    def scan(self, artifact: Artifact, ctx: ScanContext) -> None:
        data = artifact.read(min(_MAX_PROTO_BYTES, ctx.limits.max_member_bytes), "saved_model.pb")
        info = tf_savedmodel.read_saved_model(data, ctx.budget)
        for g, graph in enumerate(info.meta_graphs):
            for node_index, identifier, metadata in graph.user_objects:
                if not metadata.strip():
                    continue
                loc = artifact.location.child(
                    f"meta_graph[{g}]", f"object_graph.node[{node_index}]:{identifier}"
                )
                doc = parse_json_text(metadata, f"user object {node_index} metadata")
                analyse_config(KerasDoc(loc, doc, generation="tf.keras"), ctx)


register(KerasMetadataReader())
register(SavedModelReader())
