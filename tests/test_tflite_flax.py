"""TFLite FlatBuffers (operator codes) and Flax msgpack checkpoints."""

from __future__ import annotations

import struct
from pathlib import Path

import msgpack
import numpy as np
import pytest

import modelxray
from modelxray.model import Severity
from tests.conftest import data_path


def _at_least_low(report: modelxray.Report) -> list:
    return [f for f in report.findings if f.severity >= Severity.LOW]


# -- TFLite -----------------------------------------------------------------------------------
def test_builtin_only_model_is_clean() -> None:
    report = modelxray.scan(str(data_path("tflite", "add.tflite")))
    assert report.files[0].formats == ["tflite"]
    assert report.findings == []


def test_custom_and_flex_ops_are_reported() -> None:
    report = modelxray.scan(str(data_path("tflite", "custom_ops.tflite")))
    found = {(f.rule_id, f.evidence["custom_code"], f.severity) for f in report.findings}
    assert found == {
        ("MX-TFLITE-101", "EvilCustomOp", Severity.MEDIUM),
        ("MX-TFLITE-102", "FlexWriteFile", Severity.CRITICAL),
    }
    flex = next(f for f in report.findings if f.rule_id == "MX-TFLITE-102")
    assert flex.location.inner == ("operator_codes[2]",)
    assert flex.evidence["tf_op"] == "WriteFile" and flex.evidence["uses"] == 1


def test_stock_flex_op_is_information_only() -> None:
    (finding,) = modelxray.scan(str(data_path("tflite", "flex_benign.tflite"))).findings
    assert (finding.rule_id, finding.severity) == ("MX-TFLITE-103", Severity.INFO)
    assert finding.evidence["tf_op"] == "RFFT" and finding.evidence["stock"] is True


def test_flex_op_off_tensorflows_allow_list_is_medium() -> None:
    (finding,) = modelxray.scan(str(data_path("tflite", "flex_unlisted.tflite"))).findings
    assert (finding.rule_id, finding.severity) == ("MX-TFLITE-102", Severity.MEDIUM)
    assert finding.evidence["stock"] is False


def test_stock_flex_op_in_the_threat_catalogue_keeps_its_severity() -> None:
    # SaveV2 is on TensorFlow's Flex allow-list and writes files: the catalogue wins.
    (finding,) = modelxray.scan(str(data_path("tflite", "flex_stock_save.tflite"))).findings
    assert (finding.rule_id, finding.severity) == ("MX-TFLITE-102", Severity.CRITICAL)
    assert finding.evidence["stock"] is True and finding.evidence["category"] == "checkpoint-write"


@pytest.mark.usefixtures("assert_no_marker")
def test_flex_op_is_judged_by_the_op_its_custom_options_run() -> None:
    # custom code FlexRFFT (stock), custom options [WriteFile, NodeDef op=WriteFile]
    (finding,) = modelxray.scan(str(data_path("tflite", "flex_disguised.tflite"))).findings
    assert (finding.rule_id, finding.severity) == ("MX-TFLITE-102", Severity.CRITICAL)
    assert finding.evidence["tf_op"] == "RFFT"
    assert finding.evidence["tf_ops_run"] == ["RFFT", "WriteFile"]


def test_flex_op_whose_node_def_names_another_op_is_judged_by_both(tmp_path: Path) -> None:
    data = data_path("tflite", "flex_benign.tflite").read_bytes()
    assert data.count(b"\x12\x04RFFT") == 1  # NodeDef.op (field 2) inside the custom options
    p = tmp_path / "nodedef.tflite"
    p.write_bytes(data.replace(b"\x12\x04RFFT", b"\x12\x04Save"))
    (finding,) = modelxray.scan(str(p)).findings
    assert (finding.rule_id, finding.severity) == ("MX-TFLITE-102", Severity.CRITICAL)
    assert finding.evidence["tf_ops_run"] == ["RFFT", "Save"]


def test_flex_op_without_decodable_options_is_not_taken_on_its_name() -> None:
    (finding,) = modelxray.scan(str(data_path("tflite", "flex_no_options.tflite"))).findings
    assert (finding.rule_id, finding.severity) == ("MX-TFLITE-102", Severity.MEDIUM)
    assert finding.evidence["undecoded_operators"] == ["subgraphs[0].operators[0]"]


def test_stock_flex_table_is_tensorflows_list() -> None:
    from modelxray.analysis._generated import tflite_flex_ops as t

    assert {"RFFT", "Einsum", "SaveV2", "StringSplitV2"} <= t.FLEX_ALLOWLIST
    assert "SentencepieceOp" in t.TFTEXT_FLEX_OPS and "SentencepieceDecode" in t.STOCK_FLEX_OPS
    # File readers and Python callbacks are not stock Flex ops.
    assert not {"ReadFile", "WriteFile", "PyFunc", "MatchingFiles"} & t.STOCK_FLEX_OPS


def test_large_model_layout_with_buffers_after_the_flatbuffer_is_clean() -> None:
    report = modelxray.scan(str(data_path("tflite", "large_layout.tflite")))
    assert report.files[0].status == "scanned" and report.findings == []


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("buffer_past_end.tflite", "buffers[1]: offset 2147483648 + size 16"),
        ("bad_buffer_index.tflite", "tensor 0 buffer is 5"),
    ],
)
def test_buffer_out_of_bounds_fails_closed(name: str, words: str) -> None:
    (result,) = modelxray.scan(str(data_path("tflite", name))).files
    assert result.status == "unscannable"
    (finding,) = result.findings
    assert finding.rule_id == "MX-SCAN-001" and words in finding.message


def test_large_layout_cut_before_its_buffer_data_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "cut.tflite"
    p.write_bytes(data_path("tflite", "large_layout.tflite").read_bytes()[:-1])
    (result,) = modelxray.scan(str(p)).files
    assert result.status == "unscannable"
    assert "buffers[1]" in result.findings[0].message


def test_tensor_index_out_of_range_fails_closed(tmp_path: Path) -> None:
    data = bytearray(data_path("tflite", "add.tflite").read_bytes())
    # an outputs vector [1] (length 1, then tensor 1): point it past the two tensors
    at = data.index(struct.pack("<ii", 1, 1))
    data[at + 4 : at + 8] = struct.pack("<i", 9)
    p = tmp_path / "bad_tensor.tflite"
    p.write_bytes(bytes(data))
    (result,) = modelxray.scan(str(p)).files
    assert result.status == "unscannable"
    assert "tensor is 9, out of range (there are 2)" in result.findings[0].message


def test_bad_opcode_index_fails_closed() -> None:
    (finding,) = modelxray.scan(str(data_path("tflite", "bad_opcode_index.tflite"))).findings
    assert finding.rule_id == "MX-SCAN-001"
    assert "opcode_index" in finding.message


def test_offsets_outside_the_file_fail_closed(tmp_path: Path) -> None:
    data = bytearray(data_path("tflite", "custom_ops.tflite").read_bytes())
    root = struct.unpack("<I", data[:4])[0]
    data[root : root + 4] = struct.pack("<i", -(1 << 30))  # vtable far outside the file
    p = tmp_path / "broken.tflite"
    p.write_bytes(bytes(data))
    (result,) = modelxray.scan(str(p)).files
    assert result.status == "unscannable"
    assert [f.rule_id for f in result.findings] == ["MX-SCAN-001"]


def test_truncated_tflite_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "cut.tflite"
    p.write_bytes(data_path("tflite", "custom_ops.tflite").read_bytes()[:40])
    assert {f.rule_id for f in modelxray.scan(str(p)).findings} == {"MX-SCAN-001"}


# -- Flax msgpack (the encoding flax.serialization.to_bytes uses) ------------------------------
def _nd(a: np.ndarray, code: int = 1) -> msgpack.ExtType:
    return msgpack.ExtType(
        code, msgpack.packb((a.shape, a.dtype.name, a.tobytes("C")), use_bin_type=True)
    )


def _flax_bytes(tree: object) -> bytes:
    return msgpack.packb(tree, use_bin_type=True)


@pytest.fixture()
def clean_state() -> dict:
    return {
        "params": {
            "Dense_0": {"kernel": _nd(np.ones((3, 4), np.float32)), "bias": _nd(np.zeros(4))},
            "Embed_0": {"embedding": _nd(np.arange(12, dtype=np.int64).reshape(3, 4))},
        },
        "step": _nd(np.asarray(np.int32(7)), 3),
        "scale": msgpack.ExtType(2, msgpack.packb((1.0, -2.0))),
        "opt_state": [{"count": _nd(np.asarray(np.int32(1)), 3)}, {}, None],
        "names": ["a", "b"],
    }


def test_clean_flax_checkpoint(tmp_path: Path, clean_state: dict) -> None:
    p = tmp_path / "ckpt.msgpack"
    p.write_bytes(_flax_bytes(clean_state))
    report = modelxray.scan(str(p))
    assert report.files[0].formats == ["flax-msgpack"]
    assert report.findings == []


def test_unknown_ext_and_bad_arrays(tmp_path: Path, clean_state: dict) -> None:
    clean_state["params"]["odd"] = msgpack.ExtType(99, b"hello")
    clean_state["params"]["huge"] = msgpack.ExtType(
        1, msgpack.packb(((1 << 20, 1 << 20), "float32", b"\0" * 16), use_bin_type=True)
    )
    clean_state["params"]["obj"] = msgpack.ExtType(
        1, msgpack.packb(((2,), "object", b"\0" * 16), use_bin_type=True)
    )
    p = tmp_path / "bad.msgpack"
    p.write_bytes(_flax_bytes(clean_state))
    found = {(f.rule_id, f.location.inner) for f in modelxray.scan(str(p)).findings}
    assert found == {
        ("MX-FLAX-101", ("$.params.odd",)),
        ("MX-FLAX-102", ("$.params.huge",)),
        ("MX-FLAX-102", ("$.params.obj",)),
    }


def test_truncated_and_trailing_data_fail_closed(tmp_path: Path, clean_state: dict) -> None:
    data = _flax_bytes(clean_state)
    for name, blob in (("cut.msgpack", data[:-7]), ("extra.msgpack", data + b"\x00")):
        p = tmp_path / name
        p.write_bytes(blob)
        (result,) = modelxray.scan(str(p)).files
        assert [f.rule_id for f in result.findings] == ["MX-SCAN-001"], name


def test_absurd_declared_sizes_are_bounded(tmp_path: Path) -> None:
    # map32 declaring 2**32-1 entries, and a bin32 declaring 4 GiB, in a few bytes.
    for name, blob in (
        ("manymap.msgpack", b"\x81\xa1a\xdf\xff\xff\xff\xff\xa1b\xc0"),
        ("bigbin.msgpack", b"\x81\xa1a\xc6\xff\xff\xff\xff"),
    ):
        p = tmp_path / name
        p.write_bytes(blob)
        (result,) = modelxray.scan(str(p)).files
        assert [f.rule_id for f in result.findings] == ["MX-SCAN-001"], name


def test_deep_nesting_is_a_limit_not_a_crash(tmp_path: Path) -> None:
    p = tmp_path / "deep.msgpack"
    p.write_bytes(b"\x81\xa1a" + b"\x91" * 100_000 + b"\xc0")
    (result,) = modelxray.scan(str(p)).files
    assert [(f.rule_id, f.evidence.get("limit")) for f in result.findings] == [
        ("MX-SCAN-002", "max_structure_depth")
    ]


def test_pickle_is_not_claimed_as_msgpack(tmp_path: Path) -> None:
    import pickle

    p = tmp_path / "x.bin"
    p.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    assert "flax-msgpack" not in modelxray.scan(str(p)).files[0].formats


def test_foreign_extension_types_are_one_finding_per_type(tmp_path: Path) -> None:
    """msgpack of another tool (pandas wrote type 0 for every array) is one finding per
    extension type, with the record count and the first records as evidence."""
    doc = {"a": {f"k{i}": msgpack.ExtType(0, b"\0" * (8 * i + 8)) for i in range(30)}}
    doc["b"] = msgpack.ExtType(7, b"x")
    p = tmp_path / "other.msgpack"
    p.write_bytes(msgpack.packb(doc, use_bin_type=True))
    found = [f for f in modelxray.scan(str(p)).findings if f.rule_id == "MX-FLAX-101"]
    assert sorted((f.evidence["ext_code"], f.evidence["records"]) for f in found) == [
        (0, 30),
        (7, 1),
    ]
    (zero,) = [f for f in found if f.evidence["ext_code"] == 0]
    assert zero.location.inner == ("$.a.k0",) and len(zero.evidence["first"]) == 10
