"""Extract what a scanner needs from TensorFlow SavedModel files, without TensorFlow.

Reads ``saved_model.pb`` (binary), ``saved_model.pbtxt`` (text format) and tf-keras's
``keras_metadata.pb`` with :mod:`protobuf_wire`.  Extraction only: graph nodes and library
functions with their op names, inputs and cheap attribute summaries, the saver, signature
names and the Keras/user-object metadata JSON.  Judging is done elsewhere.

Field numbers follow ``tensorflow/core/protobuf/{saved_model,meta_graph,saver,
saved_object_graph}.proto``, ``tensorflow/core/framework/{graph,function,node_def,attr_value,
tensor,op_def,versions}.proto`` and tf-keras's ``saved_metadata.proto``.

Protobuf semantics that matter against crafted files are kept: a singular message field that
occurs several times is *merged* (so nodes split across two ``graph_def`` fields are all seen),
a singular scalar takes its last value, and fields with an unexpected wire type are ignored as
unknown, which is what TensorFlow's own parser does.

Not handled: chunked ``saved_model.cpb`` (TF >= 2.15 for graphs over 2 GiB).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

from modelxray.budget import Budget
from modelxray.formats.protobuf_wire import (
    ProtobufError,
    Wire,
    as_int64,
    as_str,
    check_depth,
    iter_fields,
    iter_packed_varints,
)
from modelxray.formats.tf.sniff import (  # sniffing: split out so it loads without this module
    looks_like_keras_metadata,
    looks_like_saved_model,
    looks_like_saved_model_text,
)

__all__ = [
    "DTYPE_NAMES",
    "KerasMetadataNode",
    "MetaGraph",
    "SavedModelInfo",
    "TFAttr",
    "TFFuncRef",
    "TFFunction",
    "TFNode",
    "looks_like_keras_metadata",
    "looks_like_saved_model",
    "looks_like_saved_model_text",
    "read_graph_def",
    "read_keras_metadata",
    "read_saved_model",
    "read_saved_model_text",
]

#: ``tensorflow.DataType`` names by value (``*_REF`` types are value + 100).
DTYPE_NAMES = (
    "DT_INVALID DT_FLOAT DT_DOUBLE DT_INT32 DT_UINT8 DT_INT16 DT_INT8 DT_STRING DT_COMPLEX64 "
    "DT_INT64 DT_BOOL DT_QINT8 DT_QUINT8 DT_QINT32 DT_BFLOAT16 DT_QINT16 DT_QUINT16 DT_UINT16 "
    "DT_COMPLEX128 DT_HALF DT_RESOURCE DT_VARIANT DT_UINT32 DT_UINT64 DT_FLOAT8_E5M2 "
    "DT_FLOAT8_E4M3FN DT_FLOAT8_E4M3FNUZ DT_FLOAT8_E4M3B11FNUZ DT_FLOAT8_E5M2FNUZ DT_INT4 DT_UINT4"
).split()

MAX_TEXT_BYTES = 1 << 20
"""Names and attribute strings longer than this are truncated (the prefix is what is judged)."""

_V, _L, _I32 = Wire.VARINT, Wire.LEN, Wire.I32


# --------------------------------------------------------------------------- data model


@dataclass
class TFFuncRef:
    """A ``NameAttrList``: a function reference (``AttrValue.func`` / ``list.func``)."""

    name: str = ""
    attrs: dict[str, TFAttr] = field(default_factory=dict)


@dataclass
class TFAttr:
    """Cheap summary of one ``AttrValue``.

    ``kind`` is the last oneof member seen (``s``, ``i``, ``f``, ``b``, ``type``, ``shape``,
    ``tensor``, ``list``, ``func``, ``placeholder``); values of other members seen earlier are
    kept too.  ``strings`` gathers ``list.s`` and the ``string_val`` of ``tensor`` /
    ``list.tensor``; ``dtype`` is the (last) tensor's dtype.
    """

    kind: str = ""
    s: str | None = None
    i: int | None = None
    f: float | None = None
    b: bool | None = None
    type: int | None = None
    placeholder: str | None = None
    dtype: int | None = None
    strings: list[str] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    types: list[int] = field(default_factory=list)
    funcs: list[TFFuncRef] = field(default_factory=list)

    def iter_strings(self) -> Iterator[str]:
        """Every string in this value, including those of nested function attributes."""
        for text in (self.s, self.placeholder):
            if text is not None:
                yield text
        yield from self.strings
        for ref in self.funcs:
            for attr in ref.attrs.values():
                yield from attr.iter_strings()

    def iter_func_names(self) -> Iterator[str]:
        """Names of all functions referenced, including nested ones."""
        for ref in self.funcs:
            yield ref.name
            for attr in ref.attrs.values():
                yield from attr.iter_func_names()


@dataclass
class TFNode:
    name: str = ""
    op: str = ""
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, TFAttr] = field(default_factory=dict)
    device: str = ""


@dataclass
class TFFunction:
    name: str = ""
    nodes: list[TFNode] = field(default_factory=list)


@dataclass
class MetaGraph:
    tags: list[str] = field(default_factory=list)
    nodes: list[TFNode] = field(default_factory=list)
    functions: list[TFFunction] = field(default_factory=list)
    #: ``SaverDef`` strings present: filename_tensor_name, save_tensor_name, restore_op_name.
    saver: dict[str, str] = field(default_factory=dict)
    signatures: list[str] = field(default_factory=list)
    #: ``(SavedObjectGraph node index, identifier, metadata JSON)`` for each ``user_object``.
    user_objects: list[tuple[int, str, str]] = field(default_factory=list)
    tf_version: str = ""
    #: Op names listed in ``meta_info_def.stripped_op_list`` (the ops the writer used).
    stripped_ops: list[str] = field(default_factory=list)

    def iter_nodes(self) -> Iterator[tuple[str | None, TFNode]]:
        """``(function name or None for the top-level graph, node)`` for every node."""
        for node in self.nodes:
            yield None, node
        for fn in self.functions:
            for node in fn.nodes:
                yield fn.name, node

    def function(self, name: str) -> TFFunction | None:
        return next((fn for fn in self.functions if fn.name == name), None)

    def saver_functions(self) -> set[str]:
        """Library functions called by the graph nodes that ``saver_def`` names.

        In TF2 these are ``__inference__traced_save_<N>`` / ``__inference__traced_restore_<N>``,
        which legitimately hold SaveV2 / MergeV2Checkpoints / RestoreV2.  A crafted file can
        point ``saver_def`` at any function, so this excuses those checkpoint ops only, never
        other ops in the same functions or paths that come from a ``Const``.
        """
        wanted = {
            ref.split(":")[0].lstrip("^")
            for key, ref in self.saver.items()
            if key in ("save_tensor_name", "restore_op_name")
        }
        return {
            fn
            for node in self.nodes
            if node.name in wanted
            for attr in node.attrs.values()
            for fn in attr.iter_func_names()
        }


@dataclass
class SavedModelInfo:
    schema_version: int = 0
    meta_graphs: list[MetaGraph] = field(default_factory=list)

    def ops(self) -> set[str]:
        return {node.op for mg in self.meta_graphs for _, node in mg.iter_nodes()}


@dataclass
class KerasMetadataNode:
    node_id: int = 0
    node_path: str = ""
    identifier: str = ""
    metadata: str = ""
    producer: int = 0
    min_consumer: int = 0


# --------------------------------------------------------------------------- binary decoding

_Buf = bytes | bytearray | memoryview


def _text(view: memoryview) -> str:
    return as_str(view, MAX_TEXT_BYTES)


def _json_text(view: memoryview, budget: Budget) -> str:
    limit = budget.limits.max_json_bytes
    Budget.require(len(view) <= limit, "max_json_bytes", f"metadata JSON over {limit} bytes")
    return as_str(view)


def _tensor(buf: memoryview, attr: TFAttr, budget: Budget, depth: int) -> None:
    for num, wire, val in iter_fields(buf, budget, depth):
        match num, wire, val:
            case 1, Wire.VARINT, int():
                attr.dtype = as_int64(val)
            case 8, Wire.LEN, memoryview():
                attr.strings.append(_text(val))


def _ints(wire: int, val: int | memoryview, budget: Budget) -> list[int]:
    if isinstance(val, memoryview):  # packed
        return [as_int64(v) for v in iter_packed_varints(val, budget)]
    return [as_int64(val)] if wire == Wire.VARINT else []


def _func_ref(buf: memoryview, budget: Budget, depth: int) -> TFFuncRef:
    ref = TFFuncRef()
    for num, _, val in iter_fields(buf, budget, depth):
        if isinstance(val, memoryview):
            if num == 1:
                ref.name = _text(val)
            elif num == 2:
                key, attr = _attr_entry(val, budget, depth + 1)
                ref.attrs[key] = attr
    return ref


def _list_value(buf: memoryview, attr: TFAttr, budget: Budget, depth: int) -> None:
    for num, wire, val in iter_fields(buf, budget, depth):
        match num, val:
            case 2, memoryview():
                attr.strings.append(_text(val))
            case 3, _:
                attr.ints.extend(_ints(wire, val, budget))
            case 6, _:
                attr.types.extend(_ints(wire, val, budget))
            case 8, memoryview():
                _tensor(val, attr, budget, depth + 1)
            case 9, memoryview():
                attr.funcs.append(_func_ref(val, budget, depth + 1))


def _attr_value(buf: memoryview, budget: Budget, depth: int) -> TFAttr:
    attr = TFAttr()
    for num, wire, val in iter_fields(buf, budget, depth):
        match num, wire, val:
            case 1, Wire.LEN, memoryview():
                attr.kind = "list"
                _list_value(val, attr, budget, depth + 1)
            case 2, Wire.LEN, memoryview():
                attr.kind, attr.s = "s", _text(val)
            case 3, Wire.VARINT, int():
                attr.kind, attr.i = "i", as_int64(val)
            case 4, Wire.I32, int():
                attr.kind, attr.f = "f", struct.unpack("<f", val.to_bytes(4, "little"))[0]
            case 5, Wire.VARINT, int():
                attr.kind, attr.b = "b", bool(val)
            case 6, Wire.VARINT, int():
                attr.kind, attr.type = "type", as_int64(val)
            case 7, Wire.LEN, memoryview():
                attr.kind = "shape"
            case 8, Wire.LEN, memoryview():
                attr.kind = "tensor"
                _tensor(val, attr, budget, depth + 1)
            case 9, Wire.LEN, memoryview():
                attr.kind, attr.placeholder = "placeholder", _text(val)
            case 10, Wire.LEN, memoryview():
                attr.kind = "func"
                attr.funcs.append(_func_ref(val, budget, depth + 1))
    return attr


def _attr_entry(buf: memoryview, budget: Budget, depth: int) -> tuple[str, TFAttr]:
    key, attr = "", TFAttr()
    for num, _, val in iter_fields(buf, budget, depth):
        if isinstance(val, memoryview):
            if num == 1:
                key = _text(val)
            elif num == 2:
                attr = _attr_value(val, budget, depth + 1)
    return key, attr


def _node_def(buf: memoryview, budget: Budget, depth: int) -> TFNode:
    node = TFNode()
    for num, _, val in iter_fields(buf, budget, depth):
        if not isinstance(val, memoryview):
            continue
        if num == 1:
            node.name = _text(val)
        elif num == 2:
            node.op = _text(val)
        elif num == 3:
            node.inputs.append(_text(val))
        elif num == 4:
            node.device = _text(val)
        elif num == 5:
            key, attr = _attr_entry(val, budget, depth + 1)
            node.attrs[key] = attr
    return node


def _function_def(buf: memoryview, budget: Budget, depth: int) -> TFFunction:
    fn = TFFunction()
    for num, _, val in iter_fields(buf, budget, depth):
        if isinstance(val, memoryview):
            if num == 1:  # signature: OpDef, name = 1
                for sub, _, name in iter_fields(val, budget, depth + 1):
                    if sub == 1 and isinstance(name, memoryview):
                        fn.name = _text(name)
            elif num == 3:
                fn.nodes.append(_node_def(val, budget, depth + 1))
    return fn


def _graph_def(buf: memoryview, mg: MetaGraph, budget: Budget, depth: int) -> None:
    for num, _, val in iter_fields(buf, budget, depth):
        if not isinstance(val, memoryview):
            continue
        if num == 1:
            mg.nodes.append(_node_def(val, budget, depth + 1))
        elif num == 2:  # FunctionDefLibrary.function = 1
            for sub, _, fn in iter_fields(val, budget, depth + 1):
                if sub == 1 and isinstance(fn, memoryview):
                    mg.functions.append(_function_def(fn, budget, depth + 2))


def _meta_info_def(buf: memoryview, mg: MetaGraph, budget: Budget, depth: int) -> None:
    for num, _, val in iter_fields(buf, budget, depth):
        if not isinstance(val, memoryview):
            continue
        if num == 2:  # stripped_op_list: OpList{op = 1: OpDef{name = 1}}
            for sub, _, op in iter_fields(val, budget, depth + 1):
                if sub == 1 and isinstance(op, memoryview):
                    for sub2, _, name in iter_fields(op, budget, depth + 2):
                        if sub2 == 1 and isinstance(name, memoryview):
                            mg.stripped_ops.append(_text(name))
        elif num == 4:
            mg.tags.append(_text(val))
        elif num == 5:
            mg.tf_version = _text(val)


_SAVER_KEYS = {1: "filename_tensor_name", 2: "save_tensor_name", 3: "restore_op_name"}


def _user_object(buf: memoryview, budget: Budget, depth: int) -> tuple[str, str]:
    identifier = metadata = ""
    for num, _, val in iter_fields(buf, budget, depth):
        if isinstance(val, memoryview):
            if num == 1:
                identifier = _text(val)
            elif num == 3:
                metadata = _json_text(val, budget)
    return identifier, metadata


def _object_graph(buf: memoryview, mg: MetaGraph, budget: Budget, depth: int) -> None:
    index = 0
    for num, _, val in iter_fields(buf, budget, depth):
        if num != 1 or not isinstance(val, memoryview):
            continue
        found: tuple[str, str] | None = None
        for sub, _, obj in iter_fields(val, budget, depth + 1):
            if sub == 4 and isinstance(obj, memoryview):  # user_object (merged if repeated)
                ident, meta = _user_object(obj, budget, depth + 2)
                old = found or ("", "")
                found = (ident or old[0], meta or old[1])
        if found is not None:
            mg.user_objects.append((index, *found))
        index += 1


def _meta_graph(buf: memoryview, budget: Budget, depth: int) -> MetaGraph:
    mg = MetaGraph()
    for num, _, val in iter_fields(buf, budget, depth):
        if not isinstance(val, memoryview):
            continue
        if num == 1:
            _meta_info_def(val, mg, budget, depth + 1)
        elif num == 2:
            _graph_def(val, mg, budget, depth + 1)
        elif num == 3:
            for sub, _, text in iter_fields(val, budget, depth + 1):
                if sub in _SAVER_KEYS and isinstance(text, memoryview):
                    mg.saver[_SAVER_KEYS[sub]] = _text(text)
        elif num == 5:  # map<string, SignatureDef>: entry{key = 1, value = 2}
            for sub, _, key in iter_fields(val, budget, depth + 1):
                if sub == 1 and isinstance(key, memoryview) and _text(key) not in mg.signatures:
                    mg.signatures.append(_text(key))
        elif num == 7:
            _object_graph(val, mg, budget, depth + 1)
    return mg


def read_saved_model(buf: _Buf, budget: Budget) -> SavedModelInfo:
    """Decode a binary ``saved_model.pb``.  Raises ProtobufError or BudgetExceeded."""
    info = SavedModelInfo()
    for num, wire, val in iter_fields(buf, budget):
        if num == 1 and wire == Wire.VARINT and isinstance(val, int):
            info.schema_version = as_int64(val)
        elif num == 2 and isinstance(val, memoryview):
            info.meta_graphs.append(_meta_graph(val, budget, 1))
    return info


def read_graph_def(buf: _Buf, budget: Budget) -> MetaGraph:
    """Decode a bare ``GraphDef`` (TF1 frozen-graph ``.pb``) into a tag-less MetaGraph."""
    mg = MetaGraph()
    _graph_def(memoryview(buf), mg, budget, 0)
    return mg


def read_keras_metadata(buf: _Buf, budget: Budget) -> list[KerasMetadataNode]:
    """Decode tf-keras ``keras_metadata.pb`` (``SavedMetadata``)."""
    out: list[KerasMetadataNode] = []
    for num, _, val in iter_fields(buf, budget):
        if num != 1 or not isinstance(val, memoryview):
            continue
        node = KerasMetadataNode()
        for sub, wire, item in iter_fields(val, budget, 1):
            match sub, wire, item:
                case 2, Wire.VARINT, int():
                    node.node_id = as_int64(item)
                case 3, Wire.LEN, memoryview():
                    node.node_path = _text(item)
                case 4, Wire.LEN, memoryview():
                    node.identifier = _text(item)
                case 5, Wire.LEN, memoryview():
                    node.metadata = _json_text(item, budget)
                case 6, Wire.LEN, memoryview():  # VersionDef{producer = 1, min_consumer = 2}
                    for vnum, vwire, ver in iter_fields(item, budget, 2):
                        if vwire == Wire.VARINT and isinstance(ver, int):
                            if vnum == 1:
                                node.producer = as_int64(ver)
                            elif vnum == 2:
                                node.min_consumer = as_int64(ver)
        out.append(node)
    return out


# --------------------------------------------------------------------------- text format
#
# ``saved_model.pbtxt`` is parsed with a small tolerant tokenizer and re-encoded to wire
# format for the fields above (unknown fields dropped), then decoded by read_saved_model, so
# both encodings share one extraction path.

# One line per message: ``field=number:kind``; kind is another message of this table or
# s/i/f/b/e (string, int, float, bool, DataType enum).  Fields not listed are dropped.
_SCHEMA_SPEC = """
SavedModel saved_model_schema_version=1:i meta_graphs=2:MetaGraphDef
MetaGraphDef meta_info_def=1:MetaInfoDef graph_def=2:GraphDef saver_def=3:SaverDef
    signature_def=5:MapKey object_graph_def=7:SavedObjectGraph
MetaInfoDef stripped_op_list=2:OpList tags=4:s tensorflow_version=5:s
OpList op=1:OpDef
OpDef name=1:s
GraphDef node=1:NodeDef library=2:FunctionDefLibrary
FunctionDefLibrary function=1:FunctionDef
FunctionDef signature=1:OpDef node_def=3:NodeDef
NodeDef name=1:s op=2:s input=3:s device=4:s attr=5:AttrEntry
AttrEntry key=1:s value=2:AttrValue
AttrValue list=1:ListValue s=2:s i=3:i f=4:f b=5:b type=6:e shape=7:Empty tensor=8:TensorProto
    placeholder=9:s func=10:NameAttrList
ListValue s=2:s i=3:i type=6:e tensor=8:TensorProto func=9:NameAttrList
NameAttrList name=1:s attr=2:AttrEntry
TensorProto dtype=1:e string_val=8:s
SaverDef filename_tensor_name=1:s save_tensor_name=2:s restore_op_name=3:s
MapKey key=1:s
SavedObjectGraph nodes=1:SavedObject
SavedObject user_object=4:SavedUserObject
SavedUserObject identifier=1:s metadata=3:s
Empty
"""


def _parse_schema(spec: str) -> dict[str, dict[str, tuple[int, str]]]:
    schema: dict[str, dict[str, tuple[int, str]]] = {}
    for line in spec.replace("\n    ", " ").strip().splitlines():
        name, *fields = line.split()
        schema[name] = {}
        for item in fields:
            fname, rest = item.split("=")
            num, kind = rest.split(":")
            schema[name][fname] = (int(num), kind)
    return schema


_SCHEMA = _parse_schema(_SCHEMA_SPEC)
_TOKEN = re.compile(
    rb"""(?:\s|\#[^\n]*)*(?:
      (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<punct>[{}<>:;,\[\]])
    | (?P<word>[^\s{}<>:;,\[\]"'\#]+)
    | (?P<bad>.)
    )?""",
    re.X | re.S,
)
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|.)", re.S)
_SIMPLE_ESCAPES = {b"n": 10, b"r": 13, b"t": 9, b"a": 7, b"b": 8, b"f": 12, b"v": 11}
_DTYPES = {name: value for value, name in enumerate(DTYPE_NAMES)}


def _unescape(body: bytes) -> bytes:
    def one(m: re.Match[bytes]) -> bytes:
        esc = m.group(1)
        if esc[:1] == b"x":
            return bytes([int(esc[1:], 16)])
        if esc[:1] in b"01234567":
            return bytes([int(esc, 8) & 0xFF])
        if esc[:1] in (b"u", b"U"):
            code = int(esc[1:], 16)
            return chr(code).encode("utf-8", "replace") if code <= 0x10FFFF else b"?"
        return bytes([_SIMPLE_ESCAPES.get(esc, esc[0])])

    return _ESCAPE.sub(one, body)


def _enc_varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _enc_field(num: int, wire: int, payload: bytes) -> bytes:
    head = _enc_varint(num << 3 | wire)
    if wire == Wire.LEN:
        return head + _enc_varint(len(payload)) + payload
    return head + payload


def _parse_int(word: str) -> int:
    text = word.lower().rstrip("ul")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    base = 16 if text.startswith("0x") else 8 if text.startswith("0") and len(text) > 1 else 10
    return sign * int(text, base)


def _enc_scalar(num: int, kind: str, token: bytes, is_str: bool) -> bytes:
    """Encode one scalar, or return b"" when it does not fit the field (ignored)."""
    if kind == "s":
        return _enc_field(num, Wire.LEN, token) if is_str else b""
    if is_str:
        return b""
    try:
        if kind == "f":
            text = token.decode("ascii").lower().rstrip("f") or "x"
            text = {"in": "inf", "-in": "-inf", "infinity": "inf", "-infinity": "-inf"}.get(
                text, text
            )
            return _enc_field(num, Wire.I32, struct.pack("<f", float(text)))
        word = token.decode("ascii")
        if kind == "b":
            value = {"true": 1, "t": 1, "1": 1, "false": 0, "f": 0, "0": 0}[word]
        elif kind == "e" and word.removesuffix("_REF") in _DTYPES:
            value = _DTYPES[word.removesuffix("_REF")] + (100 if word.endswith("_REF") else 0)
        else:
            value = _parse_int(word)
    except (ValueError, KeyError, OverflowError, struct.error):
        return b""
    return _enc_field(num, Wire.VARINT, _enc_varint(value))


class _TextParser:
    def __init__(self, data: bytes, budget: Budget) -> None:
        self._data = data
        self._pos = 0
        self._budget = budget
        self._peeked: tuple[str, bytes] | None = None

    def _scan(self) -> tuple[str, bytes]:
        if self._pos >= len(self._data):
            return "eof", b""
        m = _TOKEN.match(self._data, self._pos)
        assert m is not None  # every part of the pattern is optional
        self._pos = m.end()
        kind = m.lastgroup
        if kind is None:
            return "eof", b""
        if kind == "bad":
            raise ProtobufError(f"unexpected byte in text proto at offset {m.start(kind)}")
        self._budget.tick()
        return kind, m.group(kind)

    def peek(self) -> tuple[str, bytes]:
        if self._peeked is None:
            self._peeked = self._scan()
        return self._peeked

    def next(self) -> tuple[str, bytes]:
        tok = self.peek()
        self._peeked = None
        return tok

    def expect_punct(self, *chars: bytes) -> bytes:
        kind, text = self.next()
        if kind != "punct" or text not in chars:
            raise ProtobufError(f"text proto: expected {b'/'.join(chars)!r}, got {text[:40]!r}")
        return text

    def message(self, schema: str | None, close: bytes | None, depth: int) -> bytes:
        check_depth(self._budget, depth)
        fields = _SCHEMA.get(schema or "", {})
        out = bytearray()
        while True:
            kind, text = self.next()
            if kind == "eof":
                if close is None:
                    return bytes(out)
                raise ProtobufError("text proto: unexpected end of input")
            if kind == "punct" and text == close:
                return bytes(out)
            if kind == "punct" and text == b"[":  # extension or Any type URL: skip its value
                while self.next()[1] != b"]":
                    if self.peek()[0] == "eof":
                        raise ProtobufError("text proto: unterminated [name]")
                spec = None
            elif kind == "word":
                spec = fields.get(text.decode("ascii", "replace"))
            else:
                raise ProtobufError(f"text proto: expected a field name, got {text[:40]!r}")
            if self.peek() == ("punct", b":"):
                self.next()
            if self.peek() == ("punct", b"["):
                self.next()
                if self.peek() != ("punct", b"]"):
                    while True:
                        out += self.value(spec, depth)
                        if self.expect_punct(b",", b"]") == b"]":
                            break
                else:
                    self.next()
            else:
                out += self.value(spec, depth)
            if self.peek() in (("punct", b","), ("punct", b";")):
                self.next()

    def value(self, spec: tuple[int, str] | None, depth: int) -> bytes:
        kind, text = self.next()
        num, vkind = spec or (0, "")
        if kind == "punct" and text in (b"{", b"<"):
            sub = vkind if vkind in _SCHEMA else None
            body = self.message(sub, b"}" if text == b"{" else b">", depth + 1)
            return _enc_field(num, Wire.LEN, body) if spec and sub is not None else b""
        if kind == "str":
            parts = [_unescape(text[1:-1])]
            while self.peek()[0] == "str":
                parts.append(_unescape(self.next()[1][1:-1]))
            return _enc_scalar(num, vkind, b"".join(parts), True) if spec else b""
        if kind == "word":
            return _enc_scalar(num, vkind, text, False) if spec and vkind not in _SCHEMA else b""
        raise ProtobufError(f"text proto: expected a value, got {text[:40]!r}")


def read_saved_model_text(text: str | bytes, budget: Budget) -> SavedModelInfo:
    """Decode a text-format ``saved_model.pbtxt`` (same extraction as :func:`read_saved_model`)."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text)
    encoded = _TextParser(data, budget).message("SavedModel", None, 0)
    return read_saved_model(encoded, budget)
