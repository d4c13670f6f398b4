"""SavedModel / keras_metadata.pb extraction on builder fixtures and real TensorFlow output."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.formats.protobuf_wire import ProtobufError, Wire, is_plausible_message, iter_fields
from modelxray.formats.tf.savedmodel import (
    DTYPE_NAMES,
    MetaGraph,
    SavedModelInfo,
    TFNode,
    looks_like_keras_metadata,
    looks_like_saved_model,
    looks_like_saved_model_text,
    read_graph_def,
    read_keras_metadata,
    read_saved_model,
    read_saved_model_text,
)
from tests import protobuf_builders as pb

DATA = Path(__file__).parent / "data" / "savedmodel"
SAFE = (ProtobufError, BudgetExceeded)


def only_safe_errors(func: Callable[..., object], *args: object) -> None:
    try:
        func(*args)
    except SAFE:
        pass


def nodes_by_op(mg: MetaGraph, op: str) -> list[tuple[str | None, TFNode]]:
    return [(fn, node) for fn, node in mg.iter_nodes() if node.op == op]


def read(buf: bytes) -> MetaGraph:
    info = read_saved_model(buf, Budget())
    assert info.schema_version == 1 and len(info.meta_graphs) == 1
    return info.meta_graphs[0]


# --------------------------------------------------------------------------- builder fixtures


def test_plain_keras_like_model() -> None:
    buf = pb.plain_saved_model()
    mg = read(buf)
    assert mg.tags == ["serve"] and mg.tf_version == "2.19.1"
    assert mg.signatures == ["__saved_model_init_op", "serving_default"]
    assert mg.saver == {
        "filename_tensor_name": "saver_filename:0",
        "save_tensor_name": "StatefulPartitionedCall_1:0",
        "restore_op_name": "StatefulPartitionedCall_2",
    }
    assert mg.saver_functions() == {pb.SAVE_FN, pb.RESTORE_FN}
    assert [fn.name for fn in mg.functions] == [pb.CALL_FN, pb.SAVE_FN, pb.RESTORE_FN]
    assert {fn for fn, _ in nodes_by_op(mg, "SaveV2") + nodes_by_op(mg, "MergeV2Checkpoints")} == {
        pb.SAVE_FN
    }
    assert "SaveV2" in mg.stripped_ops and "ReadFile" not in mg.stripped_ops
    # (node index, identifier, metadata): node 2 has no user_object and is skipped.
    assert [(i, ident) for i, ident, _ in mg.user_objects] == [
        (0, "_tf_keras_sequential"),
        (1, "_tf_keras_layer"),
        (3, "signature_map"),
    ]
    lambda_meta = json.loads(mg.user_objects[1][2])
    assert lambda_meta["config"]["function"]["class_name"] == "__tuple__"
    assert looks_like_saved_model(buf[:4096]) and not looks_like_keras_metadata(buf[:4096])


def test_attribute_summaries() -> None:
    mg = read(pb.plain_saved_model())
    var = mg.nodes[0]
    assert var.attrs["shared_name"].kind == "s" and var.attrs["shared_name"].s == "dense/kernel"
    assert var.attrs["dtype"].type == 1 and DTYPE_NAMES[1] == "DT_FLOAT"
    assert var.attrs["shape"].kind == "shape"
    call = mg.nodes[2]
    assert call.inputs == ["serving_default_x", "dense/kernel"]
    assert call.attrs["f"].kind == "func" and list(call.attrs["f"].iter_func_names()) == [
        pb.CALL_FN
    ]
    assert call.attrs["Tin"].types == [1, 20]
    save = mg.function(pb.SAVE_FN)
    assert save is not None
    by_name = {n.name: n for n in save.nodes}
    assert by_name["Const"].attrs["value"].strings == [".part"]
    assert by_name["Const"].attrs["value"].dtype == 7
    assert by_name["num_shards"].attrs["value"].strings == []
    assert by_name["MergeV2Checkpoints"].attrs["delete_old_dirs"].b is True
    assert by_name["StaticRegexFullMatch"].attrs["pattern"].s == "^s3://.*"
    mul = mg.function(pb.CALL_FN)
    assert mul is not None and mul.nodes[1].inputs == ["x", "mul/y:output:0"]


@pytest.mark.parametrize(
    "kind, op, expected",
    [
        ("read_file", "ReadFile", "/tmp/modelxray_dummy.txt"),
        ("write_file", "WriteFile", "/tmp/modelxray_marker"),
        ("py_func", "PyFunc", "pyfunc_0"),
        ("eager_py_func", "EagerPyFunc", "pyfunc_1"),
        ("immutable_const", "ImmutableConst", "/etc/hostname"),
        ("print_v2", "PrintV2", "file:///tmp/modelxray_marker"),
        ("custom_op", "ModelxrayCustomOpNotInTF", None),
    ],
)
def test_malicious_variants(kind: str, op: str, expected: str | None) -> None:
    info = read_saved_model(pb.malicious_saved_model(kind), Budget())
    assert info.ops() - read_saved_model(pb.plain_saved_model(), Budget()).ops() >= {op}
    mg = info.meta_graphs[0]
    assert [fn for fn, _ in nodes_by_op(mg, op)] == [pb.SERVE_FN]
    assert mg.saver_functions() == {pb.SAVE_FN, pb.RESTORE_FN}
    serve = mg.function(pb.SERVE_FN)
    assert serve is not None
    strings = {s for n in serve.nodes for a in n.attrs.values() for s in a.iter_strings()}
    assert expected is None or expected in strings


def test_read_file_const_feeds_read_file() -> None:
    mg = read(pb.malicious_saved_model("read_file"))
    serve = mg.function(pb.SERVE_FN)
    assert serve is not None
    consts = {n.name: n for n in serve.nodes if n.op == "Const"}
    (reader,) = [n for n in serve.nodes if n.op == "ReadFile"]
    source = reader.inputs[0].split(":")[0]
    assert consts[source].attrs["value"].strings == ["/tmp/modelxray_dummy.txt"]


def test_split_singular_messages_are_merged() -> None:
    """Protobuf merges repeated singular message fields: both halves' nodes must be seen."""
    first = pb.encode([(2, [(1, pb.node("a", "ReadFile"))])])
    second = pb.encode([(2, [(1, pb.node("b", "WriteFile"))]), (2, 5)])  # wrong wire type: ignored
    buf = pb.encode([(1, 1), (2, pb.Raw(pb.LEN, pb.varint(len(first + second)) + first + second))])
    assert [n.op for n in read(buf).nodes] == ["ReadFile", "WriteFile"]


def test_last_scalar_wins_and_wrong_wire_types_ignored() -> None:
    node = [(1, "n"), (2, "Identity"), (2, "ReadFile"), (2, 99), (3, 5)]
    mg = read(pb.saved_model(pb.meta_graph(nodes=[node])))
    assert mg.nodes[0].op == "ReadFile" and mg.nodes[0].inputs == []


def test_nested_func_attrs_and_lists() -> None:
    inner = pb.attr_func("__inference_inner_1", path=pb.attr_s("/etc/passwd"))
    outer = pb.attr_func("__inference_outer_2", body=inner)
    lst = [(1, [(2, "a"), (2, "b"), (3, 4), (3, 5), (9, [(1, "listed_fn")])])]
    node = pb.node("call", "PartitionedCall", f=outer, l=lst, u=pb.attr_list(i=[1, 2], packed=True))
    mg = read(pb.saved_model(pb.meta_graph(nodes=[node])))
    attrs = mg.nodes[0].attrs
    assert list(attrs["f"].iter_func_names()) == ["__inference_outer_2", "__inference_inner_1"]
    assert list(attrs["f"].iter_strings()) == ["/etc/passwd"]
    assert attrs["l"].strings == ["a", "b"] and attrs["l"].ints == [4, 5]
    assert [r.name for r in attrs["l"].funcs] == ["listed_fn"]
    assert attrs["u"].ints == [1, 2]


def nested_func_attr(levels: int) -> bytes:
    attr = pb.attr_s("leaf")
    for i in range(levels):
        attr = pb.attr_func(f"f{i}", x=attr)
    return pb.saved_model(pb.meta_graph(nodes=[pb.node("n", "PartitionedCall", f=attr)]))


def test_func_attr_recursion_bomb() -> None:
    """AttrValue.func.attr[...] is the one recursive path in the schema: 3 levels per func."""
    with pytest.raises(BudgetExceeded) as exc:
        read_saved_model(nested_func_attr(50), Budget())
    assert exc.value.limit == "max_protobuf_depth"
    mg = read_saved_model(nested_func_attr(50), Budget(Limits(max_protobuf_depth=200)))
    names = list(mg.meta_graphs[0].nodes[0].attrs["f"].iter_func_names())
    assert names == [f"f{i}" for i in reversed(range(50))]
    assert list(mg.meta_graphs[0].nodes[0].attrs["f"].iter_strings()) == ["leaf"]


def test_stack_exhaustion_is_reported_as_a_limit() -> None:
    """With the depth limit raised past what the stack allows, no RecursionError escapes."""
    value = pb.encode(pb.attr_s("leaf"))
    for _ in range(3000):  # AttrValue{func: NameAttrList{name, attr {key, value: <value>}}}
        value = pb.ld(10, pb.ld(1, b"f") + pb.ld(2, pb.ld(1, b"x") + pb.ld(2, value)))
    node = pb.encode(pb.node("n", "PartitionedCall")) + pb.ld(5, pb.ld(1, b"f") + pb.ld(2, value))
    buf = pb.encode([(1, 1)]) + pb.ld(2, pb.ld(2, pb.ld(1, node)))
    with pytest.raises(BudgetExceeded) as exc:
        read_saved_model(buf, Budget(Limits(max_protobuf_depth=10**6)))
    assert exc.value.limit == "max_protobuf_depth"


def test_metadata_json_size_limit() -> None:
    buf = pb.saved_model(pb.meta_graph(objects=[pb.user_object("_tf_keras_layer", "x" * 5000)]))
    with pytest.raises(BudgetExceeded) as exc:
        read_saved_model(buf, Budget(Limits(max_json_bytes=1000)))
    assert exc.value.limit == "max_json_bytes"
    km = pb.keras_metadata([(0, "root", "_tf_keras_model", "y" * 5000)])
    with pytest.raises(BudgetExceeded):
        read_keras_metadata(km, Budget(Limits(max_json_bytes=1000)))


def test_graph_def() -> None:
    graph = pb.encode([(1, pb.node("x", "ReadFile")), (2, [(1, pb.function("f", []))])])
    mg = read_graph_def(graph, Budget())
    assert [n.op for n in mg.nodes] == ["ReadFile"] and [f.name for f in mg.functions] == ["f"]


def test_keras_metadata_builder() -> None:
    buf = pb.lambda_keras_metadata()
    assert looks_like_keras_metadata(buf) and not looks_like_saved_model(buf)
    nodes = read_keras_metadata(buf, Budget())
    assert [(n.node_id, n.node_path, n.identifier) for n in nodes] == [
        (0, "root", "_tf_keras_sequential"),
        (1, "root.layer-0", "_tf_keras_layer"),
    ]
    assert (nodes[1].producer, nodes[1].min_consumer) == (2, 1)
    items = json.loads(nodes[1].metadata)["config"]["function"]["items"]
    assert items[0].startswith("4w") and items[1:] == [None, None]


def test_sniffers_reject_other_things() -> None:
    for head in [b"", b"\x00" * 64, b"PK\x03\x04", b"\x89HDF\r\n\x1a\n", b"\x80\x04\x95"]:
        assert not looks_like_saved_model(head) and not looks_like_keras_metadata(head)
    onnx_like = pb.encode([(1, 7), (2, "pytorch"), (3, "2.1"), (7, [(1, [(1, "x")])])])
    assert not looks_like_saved_model(onnx_like)
    frozen_graph = pb.encode([(1, pb.node("x", "Const")), (1, pb.node("y", "Identity"))])
    assert not looks_like_keras_metadata(frozen_graph) and not looks_like_saved_model(frozen_graph)
    assert looks_like_saved_model(pb.plain_saved_model()[:100])  # cut inside the meta graph


# --------------------------------------------------------------------------- text format


def test_text_format_tokenizer_edge_cases() -> None:
    text = r"""
    # comment
    saved_model_schema_version: 1
    meta_graphs <
      meta_info_def { tags: ["serve", 'gpu'] any_info { [type.googleapis.com/x.Y] { a: 1 } } }
      graph_def {
        node { name: "c" op: "Const"
               attr { key: "value" value { tensor { dtype: DT_STRING string_val: "/tmp/\x41\101"
                                                                  "b" } } }
               attr { key: "f" value { f: 1.5 } } attr { key: "g" value { f: -inf } }
               attr { key: "i" value { i: -0x10 } } attr { key: "t" value { type: DT_FLOAT_REF } }
               attr { key: "b" value { b: true } } attr { key: "u" value { s: "\u00e9\n" } } }
        node { name: "r"; op: "ReadFile", input: "c" unknown_field: [1, 2] unknown_msg {} }
      }
    >
    """
    info = read_saved_model_text(text, Budget())
    mg = info.meta_graphs[0]
    assert info.schema_version == 1 and mg.tags == ["serve", "gpu"]
    c, r = mg.nodes
    assert c.attrs["value"].strings == ["/tmp/AAb"] and c.attrs["value"].dtype == 7
    assert c.attrs["f"].f == 1.5 and c.attrs["g"].f == float("-inf")
    assert c.attrs["i"].i == -16 and c.attrs["t"].type == 101 and c.attrs["b"].b is True
    assert c.attrs["u"].s == "\u00e9\n"
    assert (r.op, r.inputs) == ("ReadFile", ["c"])


@pytest.mark.parametrize(
    "text",
    ['meta_graphs { graph_def { node { name: "x" }', "meta_graphs }", 'a: "unterminated', "a: {{"],
)
def test_text_format_malformed(text: str) -> None:
    with pytest.raises(ProtobufError):
        read_saved_model_text(text, Budget())


def test_text_sniffer() -> None:
    assert looks_like_saved_model_text(b"# c\n\n  saved_model_schema_version: 1\nmeta_graphs {")
    assert looks_like_saved_model_text(b"meta_graphs {\n  meta_info_def {")
    assert not looks_like_saved_model_text(b"node { name: 'x' }")
    assert not looks_like_saved_model_text(b"#" * 100_000)
    assert not looks_like_saved_model_text(pb.plain_saved_model())


def test_text_format_nesting_bomb() -> None:
    with pytest.raises(BudgetExceeded):
        read_saved_model_text("a {" * 100_000, Budget())


# --------------------------------------------------------------------------- real TF fixtures

REAL = sorted(p.parent.name for p in DATA.glob("*/saved_model.pb"))


def real(name: str, file: str = "saved_model.pb") -> bytes:
    return (DATA / name / file).read_bytes()


def test_real_fixtures_present() -> None:
    assert REAL == ["file_io", "keras_lambda", "py_function"]
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 500 * 1024


@pytest.mark.parametrize("name", REAL)
def test_real_saved_models_parse(name: str) -> None:
    buf = real(name)
    assert looks_like_saved_model(buf[:4096]) and not looks_like_keras_metadata(buf[:4096])
    mg = read(buf)
    assert mg.tags == ["serve"] and "serving_default" in mg.signatures
    saver = mg.saver_functions()
    assert len(saver) == 2 and {s.rsplit("_", 1)[0] for s in saver} == {
        "__inference__traced_save",
        "__inference__traced_restore",
    }
    for fn, node in mg.iter_nodes():
        if node.op in ("SaveV2", "MergeV2Checkpoints", "RestoreV2"):
            assert fn in saver
    # stripped_op_list is no complete op inventory (call ops may be missing): use the nodes.
    assert set(mg.stripped_ops) <= {n.op for _, n in mg.iter_nodes()}


def test_real_file_io() -> None:
    mg = read(real("file_io"))
    (read_fn, reader), = nodes_by_op(mg, "ReadFile")  # fmt: skip
    (write_fn, writer), = nodes_by_op(mg, "WriteFile")  # fmt: skip
    assert read_fn == write_fn and read_fn is not None and read_fn.startswith("__inference_serve_")
    fn = mg.function(read_fn)
    assert fn is not None
    consts = {n.name: n.attrs["value"].strings for n in fn.nodes if n.op == "Const"}
    assert consts[reader.inputs[0].split(":")[0]] == ["/tmp/modelxray_dummy.txt"]
    assert consts[writer.inputs[0].split(":")[0]] == ["/tmp/modelxray_marker"]


def test_real_py_function() -> None:
    mg = read(real("py_function"))
    (fn, node), = nodes_by_op(mg, "EagerPyFunc")  # fmt: skip
    assert fn is not None and fn.startswith("__inference_serve_")
    assert node.attrs["token"].s is not None and node.attrs["token"].s.startswith("pyfunc_")


def test_real_keras_lambda() -> None:
    mg = read(real("keras_lambda"))
    idents = {ident for _, ident, _ in mg.user_objects}
    assert {"_tf_keras_sequential", "_tf_keras_layer"} <= idents
    buf = real("keras_lambda", "keras_metadata.pb")
    assert looks_like_keras_metadata(buf[:4096]) and not looks_like_saved_model(buf[:4096])
    nodes = read_keras_metadata(buf, Budget())
    assert [(n.node_id, n.node_path, n.identifier) for n in nodes] == [
        (0, "root", "_tf_keras_sequential"),
        (1, "root.layer-0", "_tf_keras_layer"),
        (2, "root.layer_with_weights-0", "_tf_keras_layer"),
    ]
    assert all(n.producer == 2 and n.min_consumer == 1 for n in nodes)
    layer = json.loads(nodes[1].metadata)
    assert layer["class_name"] == "Lambda"
    function = layer["config"]["function"]
    assert function["class_name"] == "__tuple__" and function["items"][1:] == [None, None]
    code = base64.b64decode(function["items"][0])
    assert function["items"][0].startswith("4w") and code[0] == 0xE3  # marshalled py3 code
    # The Sequential node repeats the layer config.
    assert "__tuple__" in nodes[0].metadata


def test_real_text_format_matches_binary() -> None:
    text = real("file_io", "saved_model.pbtxt").decode()
    assert read_saved_model_text(text, Budget()) == read_saved_model(real("file_io"), Budget())
    assert not looks_like_saved_model(text[:4096].encode())
    assert looks_like_saved_model_text(text[:4096].encode())


def test_real_fixture_every_prefix() -> None:
    start = time.monotonic()
    for buf, reader in [(real(n), read_saved_model) for n in REAL] + [
        (real("keras_lambda", "keras_metadata.pb"), read_keras_metadata)
    ]:
        for cut in range(len(buf)):
            try:
                result = reader(buf[:cut], Budget())
            except SAFE:
                continue
            # Only cuts between top-level fields parse, and then without the cut-off part.
            assert len(result.meta_graphs if isinstance(result, SavedModelInfo) else result) < 3
            assert result != reader(buf, Budget())
    assert time.monotonic() - start < 30


def reframed_prefix(buf: bytes | memoryview, cut: int) -> bytes:
    """``buf[:cut]`` with every enclosing length-delimited field re-framed to its new length,
    so the cut lands inside the innermost message instead of failing at the top level."""
    out, pos = bytearray(), 0
    for num, wire, val in iter_fields(buf, Budget()):
        if isinstance(val, memoryview):
            head = pb.tag(num, wire) + pb.varint(len(val))
            raw = head + bytes(val)
        else:
            size = {Wire.I32: 4, Wire.I64: 8}.get(Wire(wire))
            raw = pb.tag(num, wire) + (val.to_bytes(size, "little") if size else pb.varint(val))
        if pos + len(raw) <= cut:
            out += raw
            pos += len(raw)
            continue
        if (
            isinstance(val, memoryview)
            and cut - pos > len(head)
            and is_plausible_message(val, Budget())
        ):
            out += pb.ld(num, reframed_prefix(val, cut - pos - len(head)))
        else:
            out += raw[: cut - pos]
        break
    return bytes(out)


@pytest.mark.parametrize("name", REAL)
def test_real_fixture_reframed_prefixes(name: str) -> None:
    buf = real(name)
    assert reframed_prefix(buf, len(buf)) == buf  # TF writes canonical encodings
    for cut in range(0, len(buf), max(1, len(buf) // 800)):
        only_safe_errors(read_saved_model, reframed_prefix(buf, cut), Budget())


def test_real_text_prefixes() -> None:
    text = real("file_io", "saved_model.pbtxt")
    for cut in range(0, len(text), max(1, len(text) // 300)):
        only_safe_errors(read_saved_model_text, text[:cut], Budget())


# --------------------------------------------------------------------------- fuzzing

SEEDS = [real(n) for n in REAL] + [pb.plain_saved_model(), pb.malicious_saved_model("print_v2")]
META_SEEDS = [real("keras_lambda", "keras_metadata.pb"), pb.lambda_keras_metadata()]


def mutate(data: st.DataObject, buf: bytes) -> bytes:
    out = bytearray(buf)
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(out) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        if action == "flip":
            out[pos] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del out[pos:]
        elif action == "insert":
            out[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del out[pos : pos + data.draw(st.integers(1, 16))]
        if not out:
            return b""
    return bytes(out)


def check_all_readers(buf: bytes) -> None:
    for reader in (read_saved_model, read_keras_metadata, read_graph_def):
        only_safe_errors(reader, buf, Budget())
    only_safe_errors(read_saved_model_text, buf, Budget())
    looks_like_saved_model(buf)
    looks_like_keras_metadata(buf)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_mutated_real_files(data: st.DataObject) -> None:
    seed = data.draw(st.sampled_from(SEEDS + META_SEEDS))
    check_all_readers(mutate(data, seed))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(buf: bytes) -> None:
    check_all_readers(buf)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="{}<>[]:;,\"'\\#\n abcx01_-.", max_size=200))
def test_fuzz_text_format(text: str) -> None:
    only_safe_errors(read_saved_model_text, text, Budget())


def test_large_graph_is_fast() -> None:
    nodes = [pb.node(f"n{i}", "Identity", [f"n{i - 1}"], T=pb.attr_type(1)) for i in range(20_000)]
    buf = pb.saved_model(pb.meta_graph(nodes=nodes))
    start = time.monotonic()
    info: SavedModelInfo = read_saved_model(buf, Budget())
    assert len(info.meta_graphs[0].nodes) == 20_000
    assert time.monotonic() - start < 10
