"""joblib (plain and compressed) and NumPy .npy/.npz files."""

from __future__ import annotations

import struct

import pytest

from modelxray.engine import scan
from modelxray.model import Severity


@pytest.mark.parametrize(
    "name",
    ["pipeline.joblib", "pipeline_zlib.joblib", "pipeline_gzip.joblib", "pipeline_bz2.joblib",
     "pipeline_xz.joblib", "pipeline_lz4.joblib", "logreg.pkl", "pipeline_p2.pkl", "data.dill",
     "data.cloudpickle", "numeric.npy", "object.npy", "arrays.npz", "object_arrays.npz"],
)  # fmt: skip
def test_benign_files_below_high(pickle_corpus, name):
    r = scan(pickle_corpus[name].path).files[0]
    assert r.max_severity is None or r.max_severity < Severity.HIGH, r.findings


@pytest.mark.parametrize(
    "name",
    ["joblib_zlib.joblib", "joblib_gzip.joblib", "joblib_bz2.joblib", "joblib_xz.joblib",
     "joblib_lz4.joblib", "object_payload.npy", "object_payload.npz", "weights.npy"],
)  # fmt: skip
def test_malicious_files_critical(pickle_corpus, name):
    r = scan(pickle_corpus[name].path).files[0]
    crit = [f for f in r.findings if f.severity == Severity.CRITICAL]
    assert any(f.evidence.get("global") == "posix.system" for f in crit)


def test_numeric_npy_is_clean_and_object_npy_is_low(pickle_corpus):
    assert not scan(pickle_corpus["numeric.npy"].path).files[0].findings
    r = scan(pickle_corpus["object.npy"].path).files[0]
    assert [f.rule_id for f in r.findings] == ["MX-NUMPY-001"]


def test_object_npy_payload_location(pickle_corpus):
    r = scan(pickle_corpus["object_payload.npz"].path).files[0]
    f = next(f for f in r.findings if f.severity == Severity.CRITICAL)
    assert f.location.inner[0] == "arr_0.npy" and f.location.inner[1] == "npy-pickle[0]"


def test_numeric_npy_data_is_never_read(tmp_path):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576,), }"
    header += " " * ((64 - (11 + len(header)) % 64) % 64) + "\n"
    p = tmp_path / "big.npy"
    with open(p, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.truncate(1 << 32)  # 4 GiB sparse
    r = scan(str(p)).files[0]
    assert r.formats == ["numpy"] and not r.findings


@pytest.mark.parametrize(
    "header",
    [b"{'descr': '|O'", b"{'descr': '<f4', 'shape': (1,)}", b"__import__('os')",
     b"{'descr': 5, 'fortran_order': False, 'shape': (1,), }"],
)  # fmt: skip
def test_malformed_header_fails_closed(tmp_path, header):
    p = tmp_path / "bad.npy"
    p.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\n")
    r = scan(str(p)).files[0]
    assert any(f.rule_id == "MX-NUMPY-002" and f.severity == Severity.HIGH for f in r.findings)


def test_structured_dtype_with_object_field(tmp_path):
    import numpy as np

    a = np.zeros(2, dtype=[("a", "<f4"), ("b", "O")])
    p = tmp_path / "s.npy"
    np.save(p, a, allow_pickle=True)
    r = scan(str(p)).files[0]
    assert [f.rule_id for f in r.findings] == ["MX-NUMPY-001"]
