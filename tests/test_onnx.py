"""ONNX: real models from onnx.helper; external data, custom domains, subgraphs, functions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from onnx import TensorProto, helper

import modelxray
from modelxray import Severity
from modelxray.artifact import Artifact
from modelxray.formats import identify
from modelxray.formats.onnx import looks_like_onnx

X = helper.make_tensor_value_info("X", TensorProto.FLOAT, [4])
Y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [4])


def scan(path: Path) -> modelxray.FileResult:
    return modelxray.scan(path).files[0]


def ids(result: modelxray.FileResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def external(name: str, location: str, **extra: str) -> TensorProto:
    t = TensorProto()
    t.name, t.data_type = name, TensorProto.FLOAT
    t.dims.extend([4])
    t.data_location = TensorProto.EXTERNAL
    for key, value in {"location": location, **extra}.items():
        e = t.external_data.add()
        e.key, e.value = key, value
    return t


def save(path: Path, nodes: list, inits: list | None = None, opsets: list | None = None,
         **kw: object) -> Path:  # fmt: skip
    graph = helper.make_graph(nodes, "g", [X], [Y], inits or [], **kw)  # type: ignore[arg-type]
    model = helper.make_model(graph, opset_imports=opsets or [helper.make_opsetid("", 17)])
    path.write_bytes(model.SerializeToString())  # onnx.save could write external files
    return path


def add_node() -> object:
    return helper.make_node("Add", ["X", "W"], ["Y"])


def weights() -> TensorProto:
    return helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])


# --------------------------------------------------------------------------- clean


def test_clean_model(tmp_path: Path) -> None:
    result = scan(save(tmp_path / "m.onnx", [add_node()], [weights()]))
    assert result.formats == ["onnx"] and result.findings == []


def test_clean_model_with_subgraph_function_and_ort_ops(tmp_path: Path) -> None:
    then_g = helper.make_graph([helper.make_node("Identity", ["X"], ["Y"])], "then", [], [Y])
    else_g = helper.make_graph([helper.make_node("Neg", ["X"], ["Y"])], "else", [], [Y])
    cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    if_node = helper.make_node("If", ["c"], ["Y"], then_branch=then_g, else_branch=else_g)
    fused = helper.make_node("FusedMatMul", ["X", "X"], ["Z"], domain="com.microsoft")
    local = helper.make_node("MyDouble", ["X"], ["D"], domain="local.fn")
    fn = helper.make_function(
        "local.fn",
        "MyDouble",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    graph = helper.make_graph([if_node, fused, local], "g", [X], [Y], [cond])
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1),
                       helper.make_opsetid("local.fn", 1)],
        functions=[fn],
    )  # fmt: skip
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    result = scan(path)
    assert result.formats == ["onnx"] and result.findings == []


def test_external_data_inside_the_directory_is_clean(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "w.bin").write_bytes(bytes(32))
    t = external("W", "weights/w.bin", offset="16", length="16")
    result = scan(save(tmp_path / "m.onnx", [add_node()], [t]))
    assert result.findings == []


# --------------------------------------------------------------------------- external data


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("../../etc/hostname", ".."),
        ("weights/../../../etc/hostname", ".."),
        ("/etc/hostname", "absolute"),
        ("C:\\Windows\\win.ini", "absolute"),
        ("~/.bashrc", "home"),
        ("..\\..\\hostname", ".."),
    ],
)
def test_external_location_escapes(tmp_path: Path, location: str, reason: str) -> None:
    result = scan(save(tmp_path / "m.onnx", [add_node()], [external("W", location)]))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-001" and f.severity == Severity.HIGH
    assert reason in f.message and f.evidence["external_data"]["location"] == location
    assert f.location.inner == ("graph.initializer[0]:W",)


def test_escape_in_subgraph_constant_sparse_and_function(tmp_path: Path) -> None:
    bad = external("C", "../../../../root/.ssh/id_rsa")
    const = helper.make_node("Constant", [], ["K"], value=bad)
    then_g = helper.make_graph([const], "then", [], [Y])
    else_g = helper.make_graph([helper.make_node("Identity", ["X"], ["Y"])], "else", [], [Y])
    if_node = helper.make_node("If", ["c"], ["Y"], name="gate", then_branch=then_g,
                               else_branch=else_g)  # fmt: skip
    sparse = helper.make_sparse_tensor(
        external("SV", "../hostname"), helper.make_tensor("SI", TensorProto.INT64, [1], [0]), [4]
    )
    fn = helper.make_function(
        "local.fn", "F", ["a"], ["b"],
        [helper.make_node("Constant", [], ["b"], value=external("FC", "/etc/hostname"))],
        [helper.make_opsetid("", 17)],
    )  # fmt: skip
    graph = helper.make_graph([if_node], "g", [X], [Y], sparse_initializer=[sparse])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], functions=[fn])
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    where = sorted(f.location.inner[0] for f in scan(path).findings if f.rule_id == "MX-ONNX-001")
    assert where == [
        "functions[local.fn:F].node[0](Constant).attr[value]:FC",
        "graph.node[0](If:gate).attr[then_branch].node[0](Constant).attr[value]:C",
        "graph.sparse_initializer[0].values:SV",
    ]


def test_symlinked_external_file(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.bin"
    target.write_bytes(bytes(64))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.symlink(target, model_dir / "weights.bin")
    result = scan(save(model_dir / "m.onnx", [add_node()], [external("W", "weights.bin")]))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-001" and "symbolic link" in f.message
    assert f.evidence["resolves_to"] == str(target)


def test_symlinked_directory_component(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(bytes(64))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.symlink(outside, model_dir / "sub")
    result = scan(save(model_dir / "m.onnx", [add_node()], [external("W", "sub/w.bin")]))
    assert ids(result) == {"MX-ONNX-001"}


def test_hard_linked_external_file(tmp_path: Path) -> None:
    other = tmp_path / "other.bin"
    other.write_bytes(bytes(64))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    os.link(other, model_dir / "w.bin")
    result = scan(save(model_dir / "m.onnx", [add_node()], [external("W", "w.bin")]))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-001" and f.severity == Severity.MEDIUM and f.evidence["nlink"] == 2


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"offset": "60", "length": "16"}, "exceeds"),
        ({"offset": "0", "length": "8"}, "needs 16 bytes"),
        ({"offset": "-1"}, "non-negative"),
    ],
)
def test_external_range(tmp_path: Path, extra: dict[str, str], needle: str) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(64))
    result = scan(save(tmp_path / "m.onnx", [add_node()], [external("W", "w.bin", **extra)]))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-002" and needle in f.message


def test_missing_external_file_is_low(tmp_path: Path) -> None:
    result = scan(save(tmp_path / "m.onnx", [add_node()], [external("W", "absent.bin")]))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-002" and f.severity == Severity.LOW


def test_unknown_external_data_key(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(bytes(16))
    t = external("W", "w.bin", __class__="x", basepath="/etc")
    result = scan(save(tmp_path / "m.onnx", [add_node()], [t]))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-005" and "__class__" in f.message


# --------------------------------------------------------------------------- operators, tensors


def test_custom_domain_operator(tmp_path: Path) -> None:
    node = helper.make_node("EvilOp", ["X"], ["Y"], domain="com.example.untrusted")
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.example.untrusted", 1)]
    result = scan(save(tmp_path / "m.onnx", [node], opsets=opsets))
    (f,) = result.findings
    assert f.rule_id == "MX-ONNX-003" and f.severity == Severity.MEDIUM
    assert f.evidence == {"op_type": "EvilOp", "domain": "com.example.untrusted"}


def test_python_op_is_high(tmp_path: Path) -> None:
    node = helper.make_node("PyOp", ["X"], ["Y"], domain="ai.onnx.contrib")
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.contrib", 1)]
    (f,) = scan(save(tmp_path / "m.onnx", [node], opsets=opsets)).findings
    assert f.rule_id == "MX-ONNX-003" and f.severity == Severity.HIGH


def test_custom_op_inside_loop_body(tmp_path: Path) -> None:
    body = helper.make_graph(
        [helper.make_node("Hook", ["X"], ["Y"], domain="org.example")], "body", [], [Y]
    )
    loop = helper.make_node("Loop", ["", ""], ["Y"], body=body)
    result = scan(save(tmp_path / "m.onnx", [loop]))
    assert [f.location.inner[0] for f in result.findings] == [
        "graph.node[0](Loop).attr[body].node[0](Hook)"
    ]


def test_unused_custom_opset_is_low(tmp_path: Path) -> None:
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("org.example", 1)]
    (f,) = scan(save(tmp_path / "m.onnx", [add_node()], [weights()], opsets=opsets)).findings
    assert f.rule_id == "MX-ONNX-003" and f.severity == Severity.LOW


def test_tensor_with_two_value_fields(tmp_path: Path) -> None:
    t = helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    t.raw_data = bytes(16)
    (f,) = scan(save(tmp_path / "m.onnx", [add_node()], [t])).findings
    assert f.rule_id == "MX-ONNX-004" and f.evidence["fields"] == ["float_data", "raw_data"]


# --------------------------------------------------------------------------- sniffing, bad input


def test_sniff_does_not_steal_savedmodels() -> None:
    from tests import protobuf_builders as pb

    data_dir = Path(__file__).parent / "data" / "savedmodel"
    samples = [pb.plain_saved_model(), *(p.read_bytes() for p in data_dir.glob("*/*.pb"))]
    for raw in samples:
        assert not looks_like_onnx(raw[:4096])


def test_savedmodel_files_keep_their_reader() -> None:
    data_dir = Path(__file__).parent / "data" / "savedmodel"
    for path in data_dir.glob("*/saved_model.pb"):
        reader = identify(Artifact.from_file(str(path)))
        assert reader is not None and reader.name != "onnx", path


def test_sniffed_by_content(tmp_path: Path) -> None:
    path = save(tmp_path / "model.bin", [add_node()], [weights()])
    assert scan(path).formats == ["onnx"]


@pytest.mark.parametrize("cut", [0.5, 0.8, 0.95])
def test_truncated_model_is_never_clean(tmp_path: Path, cut: float) -> None:
    path = save(tmp_path / "m.onnx", [add_node()], [weights()])
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * cut)])
    result = scan(path)
    assert result.findings and max(f.severity for f in result.findings) >= Severity.MEDIUM


def test_deeply_nested_subgraphs_hit_a_limit(tmp_path: Path) -> None:
    # onnx's own protobuf runtime refuses to build this, so the bytes are written by hand:
    # GraphProto.node(1) -> NodeProto.attribute(5) -> AttributeProto.g(6) -> GraphProto ...
    from tests import protobuf_builders as pb

    graph = pb.ld(1, pb.ld(4, b"Identity"))
    for _ in range(200):
        attr = pb.ld(1, b"then_branch") + pb.ld(6, graph)
        graph = pb.ld(1, pb.ld(4, b"If") + pb.ld(5, attr))
    model = pb.tag(1, 0) + pb.varint(8) + pb.ld(7, graph) + pb.ld(8, pb.tag(2, 0) + pb.varint(17))
    path = tmp_path / "deep.onnx"
    path.write_bytes(model)
    result = scan(path)
    assert result.formats == ["onnx"]
    assert [f.rule_id for f in result.findings] == ["MX-SCAN-002"]
    assert result.findings[0].evidence["limit"] == "max_protobuf_depth"


def test_model_inside_zip_is_scanned(tmp_path: Path) -> None:
    import zipfile

    model = save(tmp_path / "m.onnx", [add_node()], [external("W", "../../etc/hostname")])
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(model, "models/m.onnx")
    result = scan(archive)
    assert "MX-ONNX-001" in ids(result)


def test_reordered_fields_are_still_recognised(tmp_path: Path) -> None:
    """onnxruntime parses fields in any order, so a model written graph-first is still ONNX."""
    import onnx
    from onnx import TensorProto, helper

    from modelxray.budget import Budget
    from modelxray.formats.protobuf_wire import iter_fields
    from tests import protobuf_builders as pb

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"], domain="evil.custom")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("evil.custom", 1)],
    )
    parts = [
        pb.tag(num, 0) + pb.varint(val) if wire == 0 else pb.ld(num, bytes(val))
        for num, wire, val in iter_fields(memoryview(model.SerializeToString()), Budget())
    ]
    data = b"".join(reversed(parts))  # ir_version last, graph first
    assert onnx.load_from_string(data).ir_version == model.ir_version
    path = tmp_path / "reordered.bin"
    path.write_bytes(data)
    result = scan(path)
    assert result.formats == ["onnx"]
    assert "MX-ONNX-003" in ids(result)
