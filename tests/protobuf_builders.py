"""A tiny protobuf *encoder* for test fixtures (independent of the decoder under test).

A message is a list of ``(field number, value)`` pairs; a value is an ``int`` (varint, negative
numbers as 64-bit two's complement), ``bytes``/``str`` (length-delimited), a nested list (a
sub-message), :class:`Fixed32` / :class:`Fixed64`, or :class:`Raw` (bytes spliced in verbatim
after the tag, to build malformed input).

On top sit builders that mirror what TensorFlow 2 / tf-keras write (field numbers from
``tensorflow/core/{protobuf,framework}/*.proto`` and tf-keras ``saved_metadata.proto``).
"""

from __future__ import annotations

import base64
import json
import marshal
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Union

VARINT, I64, LEN, SGROUP, EGROUP, I32 = 0, 1, 2, 3, 4, 5
DT_FLOAT, DT_INT32, DT_STRING, DT_RESOURCE = 1, 3, 7, 20


@dataclass(frozen=True)
class Fixed32:
    value: int | float


@dataclass(frozen=True)
class Fixed64:
    value: int


@dataclass(frozen=True)
class Raw:
    """``wire`` type and ``payload`` written verbatim after the tag (no length prefix added)."""

    wire: int
    payload: bytes


Value = Union[int, bytes, str, "Msg", Fixed32, Fixed64, Raw]
Msg = list[tuple[int, Value]]


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def tag(num: int, wire: int) -> bytes:
    return varint(num << 3 | wire)


def ld(num: int, payload: bytes) -> bytes:
    return tag(num, LEN) + varint(len(payload)) + payload


def encode(msg: Iterable[tuple[int, Value]]) -> bytes:
    out = bytearray()
    for num, value in msg:
        if isinstance(value, bool | int):
            out += tag(num, VARINT) + varint(int(value))
        elif isinstance(value, str):
            out += ld(num, value.encode("utf-8"))
        elif isinstance(value, bytes):
            out += ld(num, value)
        elif isinstance(value, Fixed32):
            raw = value.value
            packed = struct.pack("<f", raw) if isinstance(raw, float) else struct.pack("<I", raw)
            out += tag(num, I32) + packed
        elif isinstance(value, Fixed64):
            out += tag(num, I64) + struct.pack("<Q", value.value)
        elif isinstance(value, Raw):
            out += tag(num, value.wire) + value.payload
        else:
            out += ld(num, encode(value))
    return bytes(out)


# --------------------------------------------------------------------------- TF messages


def attr_s(value: str | bytes) -> Msg:
    return [(2, value)]


def attr_i(value: int) -> Msg:
    return [(3, value)]


def attr_b(value: bool) -> Msg:
    return [(5, int(value))]


def attr_type(dtype: int) -> Msg:
    return [(6, dtype)]


def attr_shape(*dims: int) -> Msg:
    return [(7, [(2, [(1, d)]) for d in dims])]


def attr_string_tensor(*values: str | bytes) -> Msg:
    """``AttrValue.tensor`` = scalar/vector DT_STRING TensorProto (string_val = 8)."""
    shape: Msg = [(2, [(1, len(values))])] if len(values) != 1 else []
    return [(8, [(1, DT_STRING), (2, shape), *[(8, v) for v in values]])]


def attr_func(name: str, **attrs: Msg) -> Msg:
    """``AttrValue.func`` = NameAttrList{name = 1, attr = 2}."""
    return [(10, [(1, name), *[(2, [(1, k), (2, v)]) for k, v in attrs.items()]])]


def attr_list(
    s: Sequence[str] = (), i: Sequence[int] = (), types: Sequence[int] = (), packed: bool = True
) -> Msg:
    body: Msg = [(2, x) for x in s]
    if packed:
        body += [(3, Raw(LEN, varint(len(p)) + p)) for p in [b"".join(map(varint, i))] if i]
        body += [(6, Raw(LEN, varint(len(p)) + p)) for p in [b"".join(map(varint, types))] if types]
    else:
        body += [(3, x) for x in i] + [(6, x) for x in types]
    return [(1, body)]


def node(name: str, op: str, inputs: Sequence[str] = (), **attrs: Msg) -> Msg:
    """NodeDef{name = 1, op = 2, input = 3, attr = 5 (map entry {key = 1, value = 2})}."""
    msg: Msg = [(1, name), (2, op)]
    msg += [(3, x) for x in inputs]
    msg += [(5, [(1, k), (2, v)]) for k, v in attrs.items()]
    return msg


def function(name: str, nodes: Sequence[Msg]) -> Msg:
    """FunctionDef{signature = 1 (OpDef.name = 1), node_def = 3}."""
    return [(1, [(1, name)]), *[(3, n) for n in nodes]]


def meta_graph(
    *,
    tags: Sequence[str] = ("serve",),
    nodes: Sequence[Msg] = (),
    functions: Sequence[Msg] = (),
    saver: dict[int, str] | None = None,
    signatures: Sequence[str] = (),
    objects: Sequence[Msg] = (),
    ops: Sequence[str] = (),
    tf_version: str = "2.19.1",
) -> Msg:
    info: Msg = [(2, [(1, [(1, op)]) for op in ops]), *[(4, t) for t in tags], (5, tf_version)]
    graph: Msg = [(1, n) for n in nodes]
    if functions:
        graph.append((2, [(1, f) for f in functions]))
    graph.append((4, [(1, 1882), (2, 12)]))  # VersionDef
    msg: Msg = [(1, info), (2, graph)]
    if saver is not None:
        msg.append((3, [(k, v) for k, v in saver.items()]))
    msg += [(5, [(1, key), (2, [(3, "tensorflow/serving/predict")])]) for key in signatures]
    if objects:
        msg.append((7, [(1, o) for o in objects]))
    return msg


def saved_model(*graphs: Msg, schema_version: int = 1) -> bytes:
    return encode([(1, schema_version), *[(2, g) for g in graphs]])


def user_object(identifier: str, metadata: str = "") -> Msg:
    """SavedObject{user_object = 4: SavedUserObject{identifier = 1, version = 2, metadata = 3}}."""
    body: Msg = [(1, identifier), (2, [(1, 1), (2, 1)])]
    if metadata:
        body.append((3, metadata))
    return [(4, body)]


# --------------------------------------------------------------------------- Keras-style model

SAVE_FN = "__inference__traced_save_216"
RESTORE_FN = "__inference__traced_restore_231"
CALL_FN = "__inference__wrapped_model_52"
SERVE_FN = "__inference_serve_318"


def _traced_save() -> Msg:
    return function(
        SAVE_FN,
        [
            node(
                "StaticRegexFullMatch",
                "StaticRegexFullMatch",
                ["file_prefix"],
                pattern=attr_s("^s3://.*"),
            ),
            node("Const", "Const", value=attr_string_tensor(".part"), dtype=attr_type(DT_STRING)),
            node(
                "Const_1",
                "Const",
                value=attr_string_tensor("_temp/part"),
                dtype=attr_type(DT_STRING),
            ),
            node("Select", "Select", ["StaticRegexFullMatch:output:0", "Const", "Const_1"]),
            node("StringJoin", "StringJoin", ["file_prefix", "Select:output:0"]),
            node("num_shards", "Const", value=[(8, [(1, DT_INT32), (7, 2)])]),
            node("ShardedFilename", "ShardedFilename", ["StringJoin:output:0", "shard"]),
            node(
                "SaveV2/tensor_names",
                "Const",
                value=attr_string_tensor("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"),
            ),
            node(
                "SaveV2",
                "SaveV2",
                ["ShardedFilename:filename:0", "SaveV2/tensor_names"],
                dtypes=attr_list(types=[DT_FLOAT]),
            ),
            node(
                "MergeV2Checkpoints",
                "MergeV2Checkpoints",
                ["Pack:output:0", "file_prefix"],
                delete_old_dirs=attr_b(True),
            ),
            node("Identity", "Identity", ["file_prefix", "^MergeV2Checkpoints"]),
        ],
    )


def _traced_restore() -> Msg:
    return function(
        RESTORE_FN,
        [
            node(
                "RestoreV2/tensor_names",
                "Const",
                value=attr_string_tensor("dense/kernel/.ATTRIBUTES/VARIABLE_VALUE"),
            ),
            node(
                "RestoreV2",
                "RestoreV2",
                ["file_prefix", "RestoreV2/tensor_names"],
                dtypes=attr_list(types=[DT_FLOAT]),
            ),
            node("AssignVariableOp", "AssignVariableOp", ["resource", "RestoreV2"]),
        ],
    )


def _wrapped_model() -> Msg:
    return function(
        CALL_FN,
        [
            node("mul/y", "Const", value=[(8, [(1, DT_FLOAT), (5, Fixed32(2.0))])]),
            node("mul", "Mul", ["x", "mul/y:output:0"], T=attr_type(DT_FLOAT)),
            node("MatMul", "MatMul", ["mul:z:0", "ReadVariableOp"], T=attr_type(DT_FLOAT)),
        ],
    )


def _op_of(node_msg: Msg) -> str:
    return next(str(v) for num, v in node_msg if num == 2)


def keras_like_model(extra_functions: Sequence[Msg] = (), extra_nodes: Sequence[Msg] = ()) -> Msg:
    """A MetaGraphDef shaped like tf-keras ``model.save(save_format="tf")`` output."""
    call = attr_func(CALL_FN)
    nodes = [
        node(
            "dense/kernel",
            "VarHandleOp",
            shared_name=attr_s("dense/kernel"),
            dtype=attr_type(DT_FLOAT),
            shape=attr_shape(4, 2),
        ),
        node("serving_default_x", "Placeholder", dtype=attr_type(DT_FLOAT)),
        node(
            "StatefulPartitionedCall",
            "StatefulPartitionedCall",
            ["serving_default_x", "dense/kernel"],
            f=call,
            Tin=attr_list(types=[DT_FLOAT, DT_RESOURCE]),
        ),
        node("saver_filename", "Placeholder", dtype=attr_type(DT_STRING)),
        node(
            "StatefulPartitionedCall_1",
            "StatefulPartitionedCall",
            ["saver_filename", "dense/kernel"],
            f=attr_func(SAVE_FN),
        ),
        node(
            "StatefulPartitionedCall_2",
            "StatefulPartitionedCall",
            ["saver_filename", "dense/kernel"],
            f=attr_func(RESTORE_FN),
        ),
        *extra_nodes,
    ]
    functions = [_wrapped_model(), _traced_save(), _traced_restore(), *extra_functions]
    ops = sorted(_op_of(n) for n in nodes) + sorted(
        _op_of(n) for fn in functions for num, n in fn if num == 3 and isinstance(n, list)
    )
    return meta_graph(
        nodes=nodes,
        functions=functions,
        saver={
            1: "saver_filename:0",
            2: "StatefulPartitionedCall_1:0",
            3: "StatefulPartitionedCall_2",
        },
        signatures=["__saved_model_init_op", "serving_default"],
        objects=[
            user_object("_tf_keras_sequential", json.dumps({"class_name": "Sequential"})),
            user_object("_tf_keras_layer", lambda_layer_metadata()),
            [(1, [(1, 3), (2, "kernel")])],  # a node with children only, no user_object
            user_object("signature_map"),
        ],
        ops=sorted(set(ops)),
    )


# --------------------------------------------------------------------------- malicious variants


def _serve(*nodes: Msg) -> Msg:
    return function(SERVE_FN, nodes)


MALICIOUS: dict[str, Msg] = {
    "read_file": _serve(
        node(
            "ReadFile/filename",
            "Const",
            value=attr_string_tensor("/tmp/modelxray_dummy.txt"),
            dtype=attr_type(DT_STRING),
        ),
        node("ReadFile", "ReadFile", ["ReadFile/filename:output:0"]),
    ),
    "write_file": _serve(
        node(
            "WriteFile/filename",
            "Const",
            value=attr_string_tensor("/tmp/modelxray_marker"),
            dtype=attr_type(DT_STRING),
        ),
        node("WriteFile", "WriteFile", ["WriteFile/filename:output:0", "content"]),
    ),
    "py_func": _serve(
        node("PyFunc", "PyFunc", ["x"], token=attr_s("pyfunc_0"), Tin=attr_list(types=[1]))
    ),
    "eager_py_func": _serve(node("EagerPyFunc", "EagerPyFunc", ["x"], token=attr_s("pyfunc_1"))),
    "immutable_const": _serve(
        node(
            "ImmutableConst",
            "ImmutableConst",
            dtype=attr_type(DT_FLOAT),
            shape=attr_shape(1),
            memory_region_name=attr_s("/etc/hostname"),
        ),
    ),
    "print_v2": _serve(
        node("StringFormat", "StringFormat", ["x"], template=attr_s("{}")),
        node(
            "PrintV2",
            "PrintV2",
            ["StringFormat:output:0"],
            output_stream=attr_s("file:///tmp/modelxray_marker"),
            end=attr_s("\n"),
        ),
    ),
    "custom_op": _serve(node("Evil", "ModelxrayCustomOpNotInTF", ["x"], T=attr_type(DT_FLOAT))),
}


def malicious_saved_model(kind: str) -> bytes:
    return saved_model(keras_like_model(extra_functions=[MALICIOUS[kind]]))


def plain_saved_model() -> bytes:
    return saved_model(keras_like_model())


# --------------------------------------------------------------------------- keras_metadata.pb


def lambda_code_b64() -> str:
    """MIME base64 of a harmless marshalled lambda, as tf-keras ``func_dump`` writes it."""
    return base64.encodebytes(marshal.dumps((lambda x: x * 2.0).__code__)).decode("ascii")


def lambda_layer_metadata() -> str:
    config = {
        "name": "double",
        "trainable": True,
        "dtype": "float32",
        "function": {"class_name": "__tuple__", "items": [lambda_code_b64(), None, None]},
        "function_type": "lambda",
        "module": "__main__",
        "output_shape": None,
        "output_shape_type": "raw",
        "output_shape_module": None,
        "arguments": {},
    }
    return json.dumps({"name": "double", "class_name": "Lambda", "config": config})


def keras_metadata(nodes: Sequence[tuple[int, str, str, str]]) -> bytes:
    """SavedMetadata{nodes = 1: {node_id = 2, node_path = 3, identifier = 4, metadata = 5,
    version = 6: VersionDef{producer = 1, min_consumer = 2}}}."""
    return encode(
        (1, [(2, nid), (3, path), (4, ident), (5, meta), (6, [(1, 2), (2, 1)])])
        for nid, path, ident, meta in nodes
    )


def lambda_keras_metadata() -> bytes:
    seq = json.dumps({"name": "sequential", "class_name": "Sequential", "config": {}})
    return keras_metadata(
        [
            (0, "root", "_tf_keras_sequential", seq),
            (1, "root.layer-0", "_tf_keras_layer", lambda_layer_metadata()),
        ]
    )
