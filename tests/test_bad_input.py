"""Hostile and broken input: each case is a finding and a bounded run, never clean or a crash."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import modelxray
from modelxray.budget import Limits
from modelxray.engine import ScanOptions, scan
from modelxray.model import Severity

EXAMPLES = Path(__file__).parent.parent / "examples"


def _lambda_model(code: object) -> dict[str, object]:
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "Lambda", "config": {"name": "l", "function": {
            "class_name": "__lambda__", "config": {"code": code, "defaults": None,
                                                   "closure": None}}}}]}}  # fmt: skip


def _rules(path: Path, **limits: int) -> list[str]:
    opts = ScanOptions(limits=Limits(**limits)) if limits else None
    report = scan(str(path), opts)
    assert report.failed or not limits, report
    return [f.rule_id for f in report.findings]


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_files_fail_closed(tmp_path: Path, keep: float):
    for name in ("malicious_lambda.h5", "clean_dense.keras", "tensor_math_lambda.keras"):
        data = (EXAMPLES / name).read_bytes()
        p = tmp_path / name
        p.write_bytes(data[: int(len(data) * keep)])
        report = modelxray.scan(str(p))
        assert report.failed, (name, keep, [(f.rule_id, f.message) for f in report.findings])


def test_invalid_base64_and_garbage_marshal_are_unreadable(tmp_path: Path):
    cases = {
        "bad_b64": "4wEAAAAA!!!not base64 at all%%%",
        "garbage": base64.encodebytes(b"\xe3" + bytes(range(200))).decode(),
        "truncated": base64.encodebytes(b"\xe3\x01\x00\x00\x00\x00").decode(),
        "not_a_string": 12345,
    }
    for name, code in cases.items():
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps(_lambda_model(code)))
        report = modelxray.scan(str(p))
        rules = [f.rule_id for f in report.findings]
        assert rules == ["MX-KERAS-103"], (name, rules)
        assert report.findings[0].severity == Severity.HIGH


def test_deeply_nested_json_is_a_limit_finding(tmp_path: Path):
    p = tmp_path / "deep.json"
    p.write_text("[" * 200_000 + "]" * 200_000)
    assert _rules(p) == ["MX-SCAN-002"]


def test_moderately_deep_json_hits_our_own_depth_limit(tmp_path: Path):
    doc: object = "leaf"
    for _ in range(300):
        doc = {"class_name": "X", "config": {"inner": doc}}
    p = tmp_path / "deep.json"
    p.write_text(json.dumps(doc))
    assert _rules(p, max_json_depth=100) == ["MX-SCAN-002"]


def test_huge_attribute_is_refused_before_reading(tmp_path: Path):
    p = tmp_path / "big_attr.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = np.bytes_(b"{" + b" " * 20_000 + b"}")
    assert _rules(p, max_attribute_bytes=1024) == ["MX-SCAN-002"]


def test_invalid_config_json_in_h5_is_unparseable(tmp_path: Path):
    p = tmp_path / "bad_config.h5"
    with h5py.File(p, "w") as f:
        f.attrs["model_config"] = "{not json"
    report = modelxray.scan(str(p))
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-001"]
    assert report.files[0].status == "unscannable"


def test_garbage_with_model_extension_is_reported(tmp_path: Path):
    p = tmp_path / "weights.h5"
    p.write_bytes(b"\x00\x01garbage" * 100)
    report = modelxray.scan(str(p))
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-003"]


def test_too_many_code_objects_in_a_blob(tmp_path: Path):
    """A marshal blob nested past the reader's depth limit yields a finding quickly."""
    # TYPE_CODE header for 3.11+ then 10_000 nested small tuples: ')\x01' repeated.
    blob = b"\xe3" + b"\x00" * 20 + b")\x01" * 10_000 + b"N"
    p = tmp_path / "nested.json"
    p.write_text(json.dumps(_lambda_model(base64.encodebytes(blob).decode())))
    report = modelxray.scan(str(p))
    assert report.failed
    assert {f.rule_id for f in report.findings} <= {"MX-KERAS-103", "MX-SCAN-002"}


def test_a_libhdf5_hang_is_an_unparseable_file():
    """A corrupt file that spun libhdf5 forever (its B-tree points at no symbol table node) is
    read by the pure-Python structure reader: a format error, at once, verdict error."""
    hang = Path(__file__).parent / "fuzz_regressions" / "hdf5" / "known-hang-vlen-attribute.h5"
    report = scan(str(hang), ScanOptions(limits=Limits(max_seconds_per_file=10)))
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-001"]
    assert report.findings[0].evidence["error"] == "Hdf5FormatError"
    assert report.verdict == "error"
