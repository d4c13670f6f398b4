"""SafeTensors: real files are clean; hand-built variants break exactly one promise each."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import modelxray
from modelxray import ScanOptions, Severity
from modelxray.budget import Limits


def scan(path: Path, **limits: int) -> modelxray.FileResult:
    options = ScanOptions(limits=Limits(**limits)) if limits else ScanOptions()
    return modelxray.scan(path, options).files[0]


def ids(result: modelxray.FileResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def write_raw(path: Path, header: str | bytes | dict[str, object], data: bytes) -> Path:
    raw = (
        header
        if isinstance(header, bytes)
        else (header if isinstance(header, str) else json.dumps(header)).encode()
    )
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def entry(dtype: str, shape: list[int], begin: int, end: int) -> dict[str, object]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


# --------------------------------------------------------------------------- clean files


def test_numpy_file_is_clean(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "model.safetensors"
    save_file(
        {"a": np.zeros((3, 4), np.float32), "b": np.arange(5, dtype=np.int64),
         "c": np.ones((2, 2), np.float16), "flag": np.array([True, False])},
        str(path),
        metadata={"format": "np", "note": "plain text {not a template}"},
    )  # fmt: skip
    result = scan(path)
    assert result.findings == []
    assert result.formats == ["safetensors"]
    assert result.status == "scanned"


def test_torch_file_is_clean(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file(
        {"w": torch.zeros(2, 3, dtype=torch.bfloat16), "e": torch.zeros(0, 4),
         "f8": torch.zeros(8, dtype=torch.float8_e4m3fn)},
        str(path),
        metadata={"format": "pt"},
    )  # fmt: skip
    result = scan(path)
    assert result.findings == [] and result.formats == ["safetensors"]


def test_empty_file_is_clean(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "empty.safetensors"
    save_file({}, str(path))
    assert scan(path).findings == []


def test_sniffed_by_content_not_name(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "pytorch_model.bin"
    save_file({"a": np.zeros(4, np.float32)}, str(path))
    result = scan(path)
    assert result.formats == ["safetensors"] and result.findings == []


def test_sub_byte_dtype_sizes(tmp_path: Path) -> None:
    path = write_raw(tmp_path / "f4.safetensors", {"a": entry("F4", [2, 8], 0, 8)}, bytes(8))
    assert scan(path).findings == []
    bad = write_raw(tmp_path / "f6.safetensors", {"a": entry("F6_E2M3", [3], 0, 3)}, bytes(3))
    assert ids(scan(bad)) == {"MX-SAFETENSORS-002"}


# --------------------------------------------------------------------------- broken promises


def test_overlapping_offsets(tmp_path: Path) -> None:
    header = {"a": entry("F32", [4], 0, 16), "b": entry("F32", [2], 8, 16)}
    result = scan(write_raw(tmp_path / "o.safetensors", header, bytes(16)))
    (f,) = [f for f in result.findings if f.rule_id == "MX-SAFETENSORS-002"]
    assert "overlaps" in f.message and f.location.inner == ("tensor:b",)
    assert f.severity == Severity.HIGH


def test_dtype_times_shape_mismatch(tmp_path: Path) -> None:
    header = {"a": entry("F32", [5], 0, 16)}
    result = scan(write_raw(tmp_path / "m.safetensors", header, bytes(16)))
    (f,) = result.findings
    assert f.rule_id == "MX-SAFETENSORS-002" and "20 bytes" in f.message
    assert f.evidence["entry"]["shape"] == [5]


def test_out_of_bounds_range(tmp_path: Path) -> None:
    header = {"a": entry("U8", [4096], 0, 4096)}
    result = scan(write_raw(tmp_path / "b.safetensors", header, bytes(16)))
    assert "MX-SAFETENSORS-002" in ids(result)
    assert any("past the data region" in f.message for f in result.findings)


def test_unknown_dtype(tmp_path: Path) -> None:
    header = {"a": entry("Q4", [32], 0, 16)}
    result = scan(write_raw(tmp_path / "d.safetensors", header, bytes(16)))
    assert ids(result) >= {"MX-SAFETENSORS-001"}
    assert any("unknown dtype" in f.message for f in result.findings)


def test_duplicate_keys(tmp_path: Path) -> None:
    # The reference library loads this (one entry silently wins); we refuse to guess.
    text = (
        '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},'
        '"a":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}'
    )
    result = scan(write_raw(tmp_path / "dup.safetensors", text, bytes(32)))
    (f,) = result.findings
    assert f.rule_id == "MX-SAFETENSORS-001" and "repeats the key 'a'" in f.message
    assert f.evidence == {"key": "a"}


def test_non_string_metadata(tmp_path: Path) -> None:
    header = {"__metadata__": {"ok": "x", "n": 3, "nested": {"a": 1}}, "a": entry("F32", [1], 0, 4)}
    result = scan(write_raw(tmp_path / "meta.safetensors", header, bytes(4)))
    bad = sorted(f.location.inner[-1] for f in result.findings)
    assert ids(result) == {"MX-SAFETENSORS-004"} and bad == ["n", "nested"]


def test_metadata_not_an_object(tmp_path: Path) -> None:
    header = {"__metadata__": ["x"], "a": entry("F32", [1], 0, 4)}
    assert ids(scan(write_raw(tmp_path / "m.safetensors", header, bytes(4)))) == {
        "MX-SAFETENSORS-004"
    }


def test_hole_and_trailing_bytes(tmp_path: Path) -> None:
    header = {"a": entry("F32", [2], 0, 8), "b": entry("F32", [2], 16, 24)}
    result = scan(write_raw(tmp_path / "h.safetensors", header, bytes(24) + b"PAYLOAD"))
    gaps = [f for f in result.findings if f.rule_id == "MX-SAFETENSORS-003"]
    assert [(f.evidence["begin"], f.evidence["end"]) for f in gaps] == [(8, 16), (24, 31)]
    assert all(f.severity == Severity.MEDIUM for f in gaps)


def test_bad_entry_shapes(tmp_path: Path) -> None:
    header = {
        "neg": entry("F32", [-1], 0, 4),
        "extra": {**entry("F32", [1], 4, 8), "x": 1},
        "rev": entry("F32", [0], 8, 4),
        "notdict": 3,
    }
    result = scan(write_raw(tmp_path / "e.safetensors", header, bytes(8)))
    assert ids(result) >= {"MX-SAFETENSORS-001", "MX-SAFETENSORS-002"}
    assert {f.location.inner[0] for f in result.findings} >= {
        "tensor:neg", "tensor:extra", "tensor:rev", "tensor:notdict"
    }  # fmt: skip


def test_header_not_json_is_a_finding(tmp_path: Path) -> None:
    result = scan(write_raw(tmp_path / "j.safetensors", '{"a": [1, 2', b""))
    assert ids(result) == {"MX-SAFETENSORS-001"}


def test_header_with_leading_spaces(tmp_path: Path) -> None:
    header = "  " + json.dumps({"a": entry("F32", [1], 0, 4)})
    result = scan(write_raw(tmp_path / "s.safetensors", header, bytes(4)))
    assert result.formats == ["safetensors"]
    (f,) = result.findings
    assert f.rule_id == "MX-SAFETENSORS-001" and f.severity == Severity.MEDIUM


def test_header_length_past_end_is_not_clean(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b'{"a": 1}')
    result = scan(path)
    assert result.findings and max(f.severity for f in result.findings) >= Severity.MEDIUM


def test_header_over_limit_is_a_limit_finding(tmp_path: Path) -> None:
    header = {"a": entry("F32", [1], 0, 4), "__metadata__": {"pad": "x" * 200}}
    result = scan(write_raw(tmp_path / "l.safetensors", header, bytes(4)),
                  max_safetensors_header_bytes=64)  # fmt: skip
    assert ids(result) == {"MX-SCAN-002"}


def test_template_in_metadata_is_analysed(tmp_path: Path) -> None:
    meta = {"chat_template": "{{ lipsum.__globals__['os'].popen('echo MODELXRAY_MARKER') }}"}
    header = {"__metadata__": meta, "a": entry("F32", [1], 0, 4)}
    result = scan(write_raw(tmp_path / "t.safetensors", header, bytes(4)))
    assert "MX-TEMPLATE-001" in ids(result)


@pytest.mark.parametrize("cut", [9, 20, 40])
def test_truncated_real_file_never_clean(tmp_path: Path, cut: int) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "t.safetensors"
    save_file({"a": np.zeros((8, 8), np.float32)}, str(path))
    path.write_bytes(path.read_bytes()[:cut])
    assert scan(path).findings
