"""Zip archives are read the way loaders read them, not the way Python's zipfile refuses them."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import modelxray

EXAMPLES = Path(__file__).parent.parent / "examples"
SRC = EXAMPLES / "tensor_math_lambda.keras"


def _malicious_keras(tmp_path: Path, compression: int = zipfile.ZIP_STORED) -> Path:
    """The tensor-math example with its config swapped for the malicious example's config."""
    import h5py

    with h5py.File(EXAMPLES / "malicious_lambda.h5", "r") as f:
        config = f.attrs["model_config"]
    config = config.decode() if isinstance(config, bytes) else config
    out = tmp_path / "mal.keras"
    with zipfile.ZipFile(SRC) as zin, zipfile.ZipFile(out, "w", compression) as zout:
        for info in zin.infolist():
            data = config.encode() if info.filename == "config.json" else zin.read(info)
            zout.writestr(info.filename, data)
    return out


def _critical(path: Path) -> list[str]:
    return [f.rule_id for f in modelxray.scan(str(path)).findings if f.severity == 4]


def test_deflated_members_are_streamed(tmp_path: Path):
    p = _malicious_keras(tmp_path, zipfile.ZIP_DEFLATED)
    assert _critical(p) == ["MX-KERAS-101"]


def test_local_name_mismatch_is_ignored_like_pytorch(tmp_path: Path):
    p = _malicious_keras(tmp_path)
    data = bytearray(p.read_bytes())
    first = data.find(b"config.json")  # the local header's copy comes first
    data[first : first + 11] = b"cOnfig.json"
    p.write_bytes(bytes(data))
    assert _critical(p) == ["MX-KERAS-101"]


def test_flag_bits_and_bad_crc_are_ignored(tmp_path: Path):
    p = _malicious_keras(tmp_path)
    data = bytearray(p.read_bytes())
    # Set "encrypted" in every local and central header; break every CRC.
    pos = 0
    while (pos := data.find(b"PK\x03\x04", pos)) >= 0:
        data[pos + 6] |= 0x01
        data[pos + 14 : pos + 18] = b"\xde\xad\xbe\xef"
        pos += 4
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        data[pos + 8] |= 0x01
        data[pos + 16 : pos + 20] = b"\xde\xad\xbe\xef"
        pos += 4
    p.write_bytes(bytes(data))
    try:
        zipfile.ZipFile(p).read("config.json")
        raise AssertionError("zipfile should refuse this archive")
    except (RuntimeError, zipfile.BadZipFile, NotImplementedError):
        pass
    assert _critical(p) == ["MX-KERAS-101"]


def test_prepended_bytes_are_tolerated(tmp_path: Path):
    p = _malicious_keras(tmp_path)
    shifted = tmp_path / "shifted.keras"
    shifted.write_bytes(b"#!/bin/sh\nexit 0\n" + p.read_bytes())
    assert _critical(shifted) == ["MX-KERAS-101"]


def test_corrupt_first_member_does_not_stop_the_rest(tmp_path: Path):
    p = _malicious_keras(tmp_path)
    with zipfile.ZipFile(p, "a") as z:
        z.writestr("aaa_first.bin", b"x" * 100)
    data = bytearray(p.read_bytes())
    # Declare an unsupported compression method for the added member in the central directory.
    last = data.rfind(b"PK\x01\x02")
    data[last + 10 : last + 12] = (99).to_bytes(2, "little")
    p.write_bytes(bytes(data))
    report = modelxray.scan(str(p))
    rules = {f.rule_id for f in report.findings}
    assert "MX-KERAS-101" in rules and "MX-SCAN-001" in rules


def test_unzipped_keras_folder(tmp_path: Path):
    folder = tmp_path / "model_dir"
    with zipfile.ZipFile(_malicious_keras(tmp_path)) as z:
        z.extractall(folder)
    shutil.copy(EXAMPLES / "clean_dense.keras", folder / "other.keras")
    report = modelxray.scan(str(folder))
    names = {Path(r.path).name: r for r in report.files}
    assert names["config.json"].max_severity == 4
    assert names["other.keras"].findings == []


def test_member_in_a_method_the_reader_cannot_decode_is_not_scanned(tmp_path: Path) -> None:
    """Python's zipfile (so np.load and Keras) opens LZMA members (method 14); this reader
    does not decode them, so the file is not fully scanned: an error, never "scanned"."""
    path = tmp_path / "lzma.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as z:
        z.writestr("a.pkl", b"\x80\x04K\x01.")
    (result,) = modelxray.scan(str(path)).files
    assert [f.rule_id for f in result.findings] == ["MX-SCAN-001"]
    assert (result.status, result.verdict) == ("unscannable", "error")
