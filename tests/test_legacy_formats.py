"""Formats a loader still reads that modelxray once called unsupported or failed on (issue 11):
joblib's legacy ``ZF`` files and ``NDArrayWrapper`` sidecars, Python-2 ``.npy`` headers,
compression wrappers of unknown content, and plain data files behind model-like names.

Real files come from joblib's and NumPy's own test data (tests/data/*/README.md); malicious
samples are hand-assembled with harmless payloads and never loaded.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import pickle
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import modelxray
from modelxray.model import FileResult, Severity
from modelxray.policy import Policy
from tests.factories.pickle_models import npy_object_bytes
from tests.pickle_samples import PROTO, STOP, call1, cmd, u

DATA = Path(__file__).parent / "data"
LEGACY = DATA / "joblib_legacy"
PAYLOAD = call1("os", "system", cmd("legacy_formats"))


def _scan(path: Path) -> FileResult:
    return modelxray.scan(str(path)).files[0]


def _high(result: FileResult) -> list[str]:
    return [f.rule_id for f in result.findings if f.severity >= Severity.HIGH]


def _zf(data: bytes, extra_space: bool = False) -> bytes:
    """What joblib's write_zfile writes (numpy_pickle_compat.py)."""
    length = f"{len(data):#x}".ljust(len(f"{2**64:#x}")) + (" " if extra_space else "")
    return b"ZF" + length.encode() + zlib.compress(data, 3)


# ------------------------------------------------------------------------------ ZF files


@pytest.mark.parametrize("extra_space", [False, True])
def test_zf_wrapped_os_system_is_caught(tmp_path: Path, extra_space: bool) -> None:
    p = tmp_path / "model.pkl"
    p.write_bytes(_zf(PAYLOAD, extra_space))
    result = _scan(p)
    assert "joblib-zf" in result.formats
    assert any(f.rule_id == "MX-PICKLE-001" and "os.system" in f.message for f in result.findings)
    assert result.verdict == "blocked"


def test_benign_zf_is_clean(tmp_path: Path) -> None:
    p = tmp_path / "model.pkl"
    p.write_bytes(_zf(pickle.dumps({"weights": [1.0, 2.0], "name": "m"}, protocol=2)))
    result = _scan(p)
    assert result.status == "scanned" and result.formats == ["compressed", "joblib-zf"]
    assert not [f for f in result.findings if f.severity >= Severity.MEDIUM], result.findings


@pytest.mark.parametrize(
    "name",
    ["joblib_0.9.2_compressed_pickle_py35_np19.gz", "joblib_0.8.4_compressed_pickle_py27_np17.gz"],
)
def test_real_zf_files_are_read(name: str) -> None:
    result = modelxray.scan(str(LEGACY / name), modelxray.ScanOptions(show_code=True)).files[0]
    assert result.status == "scanned" and "joblib-zf" in result.formats
    programs = [f for f in result.findings if f.rule_id == "MX-PICKLE-010"]
    assert programs and "joblib-zf:" in str(programs[0].location)  # the pickle inside was read
    assert not _high(result), result.findings


def test_zf_length_mismatch_is_reported(tmp_path: Path) -> None:
    data = pickle.dumps([1, 2, 3], protocol=2)
    p = tmp_path / "model.pkl"
    p.write_bytes(b"ZF" + f"{len(data) + 5:#x}".ljust(19).encode() + zlib.compress(data))
    assert "MX-SCAN-001" in {f.rule_id for f in _scan(p).findings}


# ---------------------------------------------------------------- NDArrayWrapper sidecars


def _wrapper_pickle(filename: str) -> bytes:
    """A joblib 0.9 pickle holding one NDArrayWrapper placeholder (as joblib wrote them)."""
    body = (
        b"cjoblib.numpy_pickle\nNDArrayWrapper\n"
        + b")\x81"  # EMPTY_TUPLE, NEWOBJ
        + b"}"  # EMPTY_DICT
        + u("filename")
        + u(filename)
        + b"s"  # SETITEM
        + b"b"  # BUILD
    )
    return PROTO + b"\x02" + body + STOP


def _object_npy() -> bytes:
    return npy_object_bytes(PAYLOAD)


def test_real_sidecars_are_scanned_with_the_pickle(tmp_path: Path) -> None:
    for f in LEGACY.glob("joblib_0.9.2_pickle_py35_np19.pkl*"):
        shutil.copy(f, tmp_path)
    result = _scan(tmp_path / "joblib_0.9.2_pickle_py35_np19.pkl")
    sidecars = [f for f in result.findings if f.rule_id == "MX-NUMPY-003"]
    assert len(sidecars) == 4 and all(f.severity == Severity.LOW for f in sidecars), sidecars
    assert result.verdict == "allowed", result.findings  # the placeholders are not the threat
    # _03.npy is an object array: its pickle was scanned as part of this file.
    assert any(
        f.rule_id == "MX-NUMPY-001" and "_03.npy" in str(f.location) for f in result.findings
    )


def test_real_zf_sidecars_are_located() -> None:
    result = _scan(LEGACY / "joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz")
    sidecars = [f for f in result.findings if f.rule_id == "MX-NUMPY-003"]
    assert len(sidecars) == 3 and all(f.severity == Severity.LOW for f in sidecars), sidecars
    assert result.verdict == "allowed", result.findings


def test_malicious_sidecar_decides(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(_wrapper_pickle("model.pkl_01.npy"))
    (tmp_path / "model.pkl_01.npy").write_bytes(_object_npy())
    result = _scan(tmp_path / "model.pkl")
    assert any(
        f.rule_id == "MX-PICKLE-001" and "sidecar:model.pkl_01.npy" in str(f.location)
        for f in result.findings
    ), result.findings
    assert result.verdict == "blocked"


@pytest.mark.parametrize("name", ["../x.npy", "/tmp/x.npy", "sub/x.npy", "..\\x.npy"])
def test_sidecar_outside_the_folder_is_high(tmp_path: Path, name: str) -> None:
    (tmp_path / "model.pkl").write_bytes(_wrapper_pickle(name))
    result = _scan(tmp_path / "model.pkl")
    assert any(
        f.rule_id == "MX-NUMPY-003" and f.severity == Severity.HIGH for f in result.findings
    ), result.findings


def test_missing_sidecar_is_medium(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(_wrapper_pickle("model.pkl_01.npy"))
    result = _scan(tmp_path / "model.pkl")
    assert [f.severity for f in result.findings if f.rule_id == "MX-NUMPY-003"] == [Severity.MEDIUM]


def test_sidecars_are_the_models_data_in_a_folder_scan(tmp_path: Path) -> None:
    for f in LEGACY.glob("joblib_0.9.4.dev0_*"):
        shutil.copy(f, tmp_path)
    report = modelxray.scan(str(tmp_path), modelxray.ScanOptions(jobs=1))
    by_name = {Path(f.path).name: f for f in report.files}
    z = by_name["joblib_0.9.4.dev0_compressed_cache_size_pickle_py35_np19.gz_01.npy.z"]
    assert z.status == "scanned", z
    assert [f.rule_id for f in z.findings] == ["MX-SCAN-011"]


# -------------------------------------------------------------- compression of unknown content


@pytest.mark.parametrize(
    ("ext", "compress"), [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)]
)
def test_compression_of_unknown_content_is_unsupported(
    tmp_path: Path, ext: str, compress: Callable[[bytes], bytes]
) -> None:
    p = tmp_path / f"table.csv{ext}"
    p.write_bytes(compress(b"a,b,c\n1,2,3\n" * 100))
    result = _scan(p)
    assert result.status == "unsupported", result
    assert "compressed" in result.formats  # the wrapper was opened; its content is unknown
    report = modelxray.scan(str(p), modelxray.ScanOptions(policy=_fail_unsupported()))
    assert report.failed
    from modelxray.cli import main

    assert main(["scan", "-q", str(p)]) == 0
    assert main(["scan", "-q", "--fail-on-unsupported", str(p)]) == 1


def test_gzip_of_a_pickle_is_scanned(tmp_path: Path) -> None:
    p = tmp_path / "model.pkl.gz"
    p.write_bytes(gzip.compress(pickle.dumps({"a": 1}, protocol=4)))
    assert _scan(p).status == "scanned"


def _fail_unsupported() -> Policy:
    return Policy(fail_on_unsupported=True)


# ---------------------------------------------------------------------- Python-2 .npy files


def test_python2_long_literal_header_parses() -> None:
    p = DATA / "numpy_py2" / "win64python2.npy"
    assert b"(2L,)" in p.read_bytes()[:100]
    result = _scan(p)
    assert result.status == "scanned" and not result.findings, result.findings
    with pytest.warns(UserWarning, match="Python 2"):  # numeric, allow_pickle=False
        assert np.load(p).shape == (2,)


def test_python2_object_array_is_scanned() -> None:
    result = _scan(DATA / "numpy_py2" / "py2-objarr.npy")
    assert "MX-NUMPY-001" in {f.rule_id for f in result.findings}


# ------------------------------------------------------------------------------ data files


def test_tensorproto_test_vectors_are_data(tmp_path: Path) -> None:
    numpy_helper = pytest.importorskip("onnx.numpy_helper")
    for i, arr in enumerate([np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2])]):
        t = numpy_helper.from_array(arr, f"t{i}")
        (tmp_path / f"input_{i}.pb").write_bytes(t.SerializeToString())
        result = _scan(tmp_path / f"input_{i}.pb")
        assert result.status == "scanned" and result.formats == ["onnx-tensor"], result
        assert not result.findings


def test_idl_save_files_are_not_flagged() -> None:
    scipy_io = pytest.importorskip("scipy.io")
    data = Path(scipy_io.__file__).parent / "tests" / "data"
    files = sorted(data.glob("*.sav"))[:10]
    if not files:
        pytest.skip("scipy ships no IDL test files")
    for p in files:
        result = _scan(p)
        assert not [f for f in result.findings if f.severity >= Severity.MEDIUM], (p, result)


def test_word_vectors_bin_is_not_flagged(tmp_path: Path) -> None:
    p = tmp_path / "vectors.bin"
    rng = np.random.default_rng(0)
    p.write_bytes(b"3 4\n" + b"".join(w + b" " + rng.random(4, np.float32).tobytes()
                                      for w in (b"the", b"cat", b"sat")))  # fmt: skip
    result = _scan(p)
    assert result.status == "unsupported" and not result.findings, result.findings


def test_onnx_external_data_is_the_models_data(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((16, 16), dtype=np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    onnx.save_model(
        helper.make_model(graph),
        str(tmp_path / "model.onnx"),
        save_as_external_data=True,
        location="weights.bin",
        size_threshold=0,
    )
    report = modelxray.scan(str(tmp_path), modelxray.ScanOptions(policy=_fail_unsupported()))
    data = next(f for f in report.files if f.path.endswith("weights.bin"))
    assert data.status == "scanned" and [f.rule_id for f in data.findings] == ["MX-SCAN-011"]
    assert not report.failed


def test_unreferenced_unknown_bin_stays_unsupported(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    report = modelxray.scan(str(tmp_path), modelxray.ScanOptions(policy=_fail_unsupported()))
    assert report.files[0].status == "unsupported" and report.failed


def test_pickle_behind_a_data_name_is_still_judged(tmp_path: Path) -> None:
    """Content no sniffer claims under a name whose loader unpickles it: the VM decides."""
    p = tmp_path / "weights.bin"
    p.write_bytes(b"cos\nsystem\n(S'echo x'\ntR")  # no STOP: the sniffer gives up, pickle runs it
    result = _scan(p)
    assert "MX-PICKLE-001" in {f.rule_id for f in result.findings}, result.findings


def test_sidecar_without_numpy_magic_is_unpickled_whatever_its_name(tmp_path: Path) -> None:
    """np.load(allow_pickle=True) unpickles content without a NumPy/zip magic, so a sidecar
    named ``.dat`` holding a bare pickle is judged as one."""
    (tmp_path / "model.pkl").write_bytes(_wrapper_pickle("arrays.dat"))
    (tmp_path / "arrays.dat").write_bytes(b"cos\nsystem\n\xff")  # sniffer: no pickle
    result = _scan(tmp_path / "model.pkl")
    assert any(
        f.rule_id == "MX-PICKLE-001" and "sidecar:arrays.dat" in str(f.location)
        for f in result.findings
    ), result.findings


def test_names_a_loader_opens_keep_their_promise(tmp_path: Path) -> None:
    """``.pb`` is shared with plain data, but tf.saved_model.load opens ``saved_model.pb`` by
    name: unrecognised content there is damaged or crafted (MX-SCAN-003)."""
    junk = bytes(range(256)) * 2
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(junk)
    (tmp_path / "input_0.pb").write_bytes(junk)
    assert "MX-SCAN-003" in {f.rule_id for f in _scan(tmp_path / "sm" / "saved_model.pb").findings}
    assert not _scan(tmp_path / "input_0.pb").findings
