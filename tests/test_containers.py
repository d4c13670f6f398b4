"""Containers: tar (all variants), compression wrappers, 7z, nesting — streamed, never extracted."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import sys
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded, Limits
from modelxray.containers.compressed import detect_codec
from modelxray.containers.stream import DecompressingStream, DecompressionError
from modelxray.engine import ScanOptions
from modelxray.formats import base as formats_base
from modelxray.model import Severity

EXAMPLES = Path(__file__).parent.parent / "examples"
MAL_H5 = (EXAMPLES / "malicious_lambda.h5").read_bytes()
CLEAN_KERAS = (EXAMPLES / "clean_dense.keras").read_bytes()


def malicious_keras() -> bytes:
    """tensor_math_lambda.keras with its config swapped for the malicious example's config."""
    import h5py

    with h5py.File(EXAMPLES / "malicious_lambda.h5", "r") as f:
        config = f.attrs["model_config"]
    config = config.decode() if isinstance(config, bytes) else config
    out = io.BytesIO()
    with (
        zipfile.ZipFile(EXAMPLES / "tensor_math_lambda.keras") as zin,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            data = config.encode() if info.filename == "config.json" else zin.read(info)
            zout.writestr(info.filename, data)
    return out.getvalue()


def tar_bytes(members: dict[str, bytes], mode: str = "w", fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=fmt) as t:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def scan(path: Path, **limits: Any) -> modelxray.Report:
    options = ScanOptions(limits=Limits(**limits)) if limits else None
    return modelxray.scan(str(path), options)


def rules(report: modelxray.Report, at_least: Severity = Severity.LOW) -> set[str]:
    return {f.rule_id for f in report.findings if f.severity >= at_least}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


# --- tar ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_variants_find_the_payload(tmp_path: Path, mode: str):
    data = tar_bytes({"model/mal.h5": MAL_H5, "model/clean.keras": CLEAN_KERAS}, mode)
    report = scan(write(tmp_path, "bundle.bin", data))  # no telling extension
    crit = [f for f in report.findings if f.severity == Severity.CRITICAL]
    assert [f.rule_id for f in crit] == ["MX-KERAS-101"]
    assert "model/mal.h5" in crit[0].location.inner
    assert "tar" in report.files[0].formats or mode != "w"


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_clean_tar_variants_have_no_findings(tmp_path: Path, mode: str):
    data = tar_bytes({"model/clean.keras": CLEAN_KERAS, "README.md": b"# a model\n"}, mode)
    report = scan(write(tmp_path, "clean.tar", data))
    assert rules(report) == set()
    assert report.files[0].status == "scanned"


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_long_names_in_every_tar_dialect(tmp_path: Path, fmt: int):
    long_dir = "d" * 60 + "/" + "e" * 60 if fmt == tarfile.USTAR_FORMAT else "x" * 250
    name = f"{long_dir}/mal.h5"
    report = scan(write(tmp_path, "long.tar", tar_bytes({name: MAL_H5}, fmt=fmt)))
    locs = [f.location.inner for f in report.findings if f.rule_id == "MX-KERAS-101"]
    assert locs and locs[0][0] == name


def test_pax_path_record_wins_over_the_header_name(tmp_path: Path):
    name = "modèle/ünïcode-" + "n" * 120 + ".h5"
    report = scan(write(tmp_path, "pax.tar", tar_bytes({name: MAL_H5}, fmt=tarfile.PAX_FORMAT)))
    assert any(f.location.inner[:1] == (name,) for f in report.findings)


def test_v7_tar_without_magic_is_recognised(tmp_path: Path):
    raw = bytearray(tar_bytes({"README": b"hi", "mal.h5": MAL_H5}, fmt=tarfile.USTAR_FORMAT))
    for at in (0, 1024):  # no "ustar" magic: old V7 headers
        raw[at + 257 : at + 265] = bytes(8)
        raw[at + 148 : at + 156] = b" " * 8
        raw[at + 148 : at + 156] = b"%06o\0 " % sum(raw[at : at + 512])
    report = scan(write(tmp_path, "old.tar", bytes(raw)))
    assert report.files[0].formats == ["tar"]
    locs = [f.location.inner[0] for f in report.findings if f.rule_id == "MX-KERAS-101"]
    assert locs == ["mal.h5"]


def test_member_hidden_after_end_of_archive_is_scanned(tmp_path: Path):
    # `tar --ignore-zeros` and tarfile(ignore_zeros=True) extract what follows the end marker.
    first = tar_bytes({"README.md": b"hello\n"})
    hidden = tar_bytes({"hidden/mal.h5": MAL_H5})
    report = scan(write(tmp_path, "two.tar", first + hidden))
    assert "MX-KERAS-101" in rules(report)


def test_truncated_tar_is_not_clean(tmp_path: Path):
    data = tar_bytes({"clean.keras": CLEAN_KERAS})
    report = scan(write(tmp_path, "cut.tar", data[: 512 + len(CLEAN_KERAS) // 2]))
    assert "MX-SCAN-001" in rules(report)
    assert report.files[0].status == "unscannable"


def test_corrupt_header_after_members_is_not_clean(tmp_path: Path):
    data = bytearray(tar_bytes({"a.txt": b"a" * 10, "b.txt": b"b" * 10}, fmt=tarfile.USTAR_FORMAT))
    data[1024:1030] = b"XXXXXX"  # second header's name: checksum no longer matches
    assert "MX-SCAN-001" in rules(scan(write(tmp_path, "bad.tar", bytes(data))))


def test_unknown_member_type_is_scanned_like_tarfile_extracts_it(tmp_path: Path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        info = tarfile.TarInfo("odd.h5")
        info.size = len(MAL_H5)
        info.type = b"Z"
        t.addfile(info, io.BytesIO(MAL_H5))
    assert "MX-KERAS-101" in rules(scan(write(tmp_path, "odd.tar", buf.getvalue())))


# --- compression wrappers -------------------------------------------------------------------


def _lz4(data: bytes) -> bytes:
    import lz4.frame

    return bytes(lz4.frame.compress(data))


def _zstd(data: bytes) -> bytes:
    import zstandard

    return bytes(zstandard.ZstdCompressor().compress(data))


WRAPPERS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "zlib": zlib.compress,
    "lz4": _lz4,
    "zstd": _zstd,
}


@pytest.mark.parametrize("codec", sorted(WRAPPERS))
def test_compression_wrappers_are_sniffed_and_scanned(tmp_path: Path, codec: str):
    packed = WRAPPERS[codec](MAL_H5)
    assert detect_codec(packed[:4096]) == codec
    report = scan(write(tmp_path, "model.weights", packed))
    crit = [f for f in report.findings if f.severity == Severity.CRITICAL]
    assert [f.rule_id for f in crit] == ["MX-KERAS-101"]
    assert crit[0].location.inner[0].startswith(f"{codec}:")
    assert codec in report.files[0].formats


@pytest.mark.parametrize("codec", sorted(WRAPPERS))
def test_clean_compressed_keras_has_no_findings(tmp_path: Path, codec: str):
    report = scan(write(tmp_path, "clean.keras.x", WRAPPERS[codec](CLEAN_KERAS)))
    assert rules(report) == set()


def test_gzip_records_the_inner_name(tmp_path: Path):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="weights.h5", mode="wb", fileobj=buf) as g:
        g.write(MAL_H5)
    report = scan(write(tmp_path, "x.gz", buf.getvalue()))
    assert any(f.location.inner[:1] == ("gzip:weights.h5",) for f in report.findings)


def test_multi_member_gzip_is_read_to_the_end(tmp_path: Path):
    # Two members with zero padding between them decompress to the one HDF5 file.
    data = gzip.compress(MAL_H5[:1000]) + b"\0" * 64 + gzip.compress(MAL_H5[1000:]) + b"\0" * 8
    report = scan(write(tmp_path, "multi.gz", data))
    assert rules(report) == {"MX-KERAS-101"}


def test_truncated_stream_scans_the_prefix_and_is_not_clean(tmp_path: Path):
    packed = gzip.compress(MAL_H5 + b"x" * 100_000)
    report = scan(write(tmp_path, "cut.gz", packed[: len(packed) - 200]))
    found = rules(report)
    assert "MX-SCAN-001" in found
    assert report.files[0].status == "unscannable"


def test_garbage_that_looks_like_zlib_is_not_claimed(tmp_path: Path):
    assert detect_codec(b"x\x9c" + b"not deflate data at all" * 10) is None


class _Spy(formats_base.FormatReader):
    """Records the artifacts a pickle reader would receive (protocol 2+ pickles)."""

    name = "spy"

    def __init__(self) -> None:
        self.seen: list[Artifact] = []

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return (
            99 if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05") else 0
        )

    def scan(self, artifact: Artifact, ctx: Any) -> None:
        self.seen.append(artifact)
        with artifact.open() as f:
            artifact.facts["content"] = f.read()


@pytest.fixture()
def spy() -> Iterator[_Spy]:
    reader = _Spy()
    formats_base.register(reader)
    try:
        yield reader
    finally:
        formats_base._REGISTRY.remove(reader)


@pytest.mark.parametrize("method", ["zlib", "gzip", "bz2", "xz", "lzma", "lz4"])
def test_compressed_joblib_hands_the_pickle_on(tmp_path: Path, spy: _Spy, method: str):
    import joblib

    p = tmp_path / "model.joblib"
    joblib.dump({"weights": [1.0, 2.0, 3.0]}, p, compress=(method, 3))
    modelxray.scan(str(p))
    assert len(spy.seen) == 1
    child = spy.seen[0]
    expected = {"bz2": "bzip2"}.get(method, method)
    assert child.facts["compressed"] == expected
    assert child.facts["content"].startswith(b"\x80")
    assert child.size == len(child.facts["content"])


# --- missing optional extras ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "modules"), [("lz4", ["lz4", "lz4.frame"]), ("zstd", ["zstandard"])]
)
def test_missing_codec_is_unscannable_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str, modules: list[str]
):
    p = write(tmp_path, "x.bin", WRAPPERS[codec](MAL_H5))
    for m in modules:
        monkeypatch.setitem(sys.modules, m, None)
    report = scan(p)
    assert rules(report) == {"MX-ARCHIVE-006"}
    assert report.files[0].status == "unscannable"
    assert report.failed


def test_missing_py7zr_is_unscannable_not_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import py7zr

    p = tmp_path / "x.7z"
    with py7zr.SevenZipFile(p, "w") as z:
        z.writestr(MAL_H5, "archive/mal.h5")
    monkeypatch.setitem(sys.modules, "py7zr", None)
    report = scan(p)
    assert rules(report) == {"MX-ARCHIVE-006"}
    assert report.files[0].status == "unscannable"


# --- 7z ---------------------------------------------------------------------------------------


def test_7z_members_are_scanned(tmp_path: Path):
    import py7zr

    p = tmp_path / "nullifai.bin"
    with py7zr.SevenZipFile(p, "w") as z:
        z.writestr(CLEAN_KERAS, "models/clean.keras")
        z.writestr(MAL_H5, "models/mal.h5")
    report = scan(p)
    crit = [f for f in report.findings if f.severity == Severity.CRITICAL]
    assert [f.rule_id for f in crit] == ["MX-KERAS-101"]
    assert crit[0].location.inner[0] == "models/mal.h5"
    assert report.files[0].formats == ["7z"]


def test_clean_7z_has_no_findings(tmp_path: Path):
    import py7zr

    p = tmp_path / "clean.7z"
    with py7zr.SevenZipFile(p, "w") as z:
        z.writestr(CLEAN_KERAS, "clean.keras")
        z.writestr(b"# readme\n", "README.md")
    assert rules(scan(p)) == set()


def test_7z_member_over_the_buffer_limit_is_flagged(tmp_path: Path):
    import py7zr

    p = tmp_path / "big.7z"
    with py7zr.SevenZipFile(p, "w") as z:
        z.writestr(MAL_H5 + bytes(200_000), "mal.h5")
    report = scan(p, max_buffered_member_bytes=100_000)
    assert "MX-SCAN-002" in rules(report)
    assert "MX-KERAS-101" in rules(report)  # the prefix was still scanned


# --- nesting ----------------------------------------------------------------------------------


def _nested_bundle() -> bytes:
    inner_zip = zip_bytes({"models/evil.keras": malicious_keras(), "README.md": b"hi\n"})
    return tar_bytes({"bundle/inner.zip": inner_zip}, "w:gz")


def test_tar_gz_holding_zip_holding_malicious_keras(tmp_path: Path):
    report = scan(write(tmp_path, "release.tar.gz", _nested_bundle()))
    crit = [f for f in report.findings if f.severity == Severity.CRITICAL]
    assert [f.rule_id for f in crit] == ["MX-KERAS-101"]
    inner = crit[0].location.inner
    assert inner[:4] == ("gzip:release.tar", "bundle/inner.zip", "models/evil.keras", "config.json")
    assert report.files[0].formats[:2] == ["compressed", "gzip"]


def test_clean_nested_bundle_has_no_findings(tmp_path: Path):
    inner_zip = zip_bytes({"models/clean.keras": CLEAN_KERAS})
    data = tar_bytes({"bundle/inner.zip": inner_zip}, "w:xz")
    assert rules(scan(write(tmp_path, "clean.tar.xz", data))) == set()


def test_nesting_beyond_the_depth_limit_is_reported(tmp_path: Path):
    report = scan(write(tmp_path, "deep.tar.gz", _nested_bundle()), max_container_depth=2)
    assert "MX-SCAN-002" in rules(report)
    assert "MX-KERAS-101" not in rules(report)
    # what lies deeper was never read: the file is not fully scanned (an error, not "blocked")
    assert [(f.status, f.verdict) for f in report.files] == [("unscannable", "error")]


def test_compressed_tar_with_large_member_uses_a_window(tmp_path: Path):
    big = MAL_H5 + bytes(300_000)
    data = tar_bytes({"a/first.bin": b"x" * 10, "a/mal.h5": big, "a/last.h5": MAL_H5}, "w:gz")
    report = scan(write(tmp_path, "big.tgz", data), max_buffered_member_bytes=100_000)
    locs = {f.location.inner[1] for f in report.findings if f.rule_id == "MX-KERAS-101"}
    assert locs == {"a/mal.h5", "a/last.h5"}


def test_directory_of_archives(tmp_path: Path):
    folder = tmp_path / "models"
    folder.mkdir()
    write(folder, "a.tar.gz", _nested_bundle())
    write(folder, "b.tar", tar_bytes({"clean.keras": CLEAN_KERAS}))
    report = modelxray.scan(str(folder))
    by_name = {Path(r.path).name: r for r in report.files}
    assert by_name["a.tar.gz"].max_severity == Severity.CRITICAL
    assert by_name["b.tar"].findings == []


# --- the decompressing stream itself ---------------------------------------------------------


def _stream(data: bytes, codec: str = "gzip", limit: int = 1 << 30, **kw: Any) -> Any:
    packed = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress}[codec](data)
    return DecompressingStream(lambda: io.BytesIO(packed), codec, limit, **kw)


@pytest.mark.parametrize("codec", ["gzip", "bzip2", "xz"])
def test_stream_seeks_back_and_forth(codec: str):
    data = bytes(range(256)) * 2000
    s = _stream(data, codec, size=len(data))
    assert s.read(10) == data[:10]
    s.seek(300_000)
    assert s.read(5) == data[300_000:300_005]
    s.seek(7)
    assert s.read(3) == data[7:10]
    s.seek(-4, 2)
    assert s.read() == data[-4:]
    assert s.tell() == len(data)


def test_stream_serves_the_end_from_the_tail_cache():
    data = bytes(range(256)) * 100
    calls = []

    def opener() -> io.BytesIO:
        calls.append(1)
        return io.BytesIO(gzip.compress(data))

    s = DecompressingStream(opener, "gzip", 1 << 20, size=len(data), tail=data[-100:])
    s.seek(-22, 2)
    assert s.read(22) == data[-22:]
    assert len(calls) == 1  # no second pass to reach the end


def test_stream_stops_at_its_limit():
    s = _stream(bytes(100_000), limit=50_000)
    with pytest.raises(BudgetExceeded):
        s.read()


def test_stream_reports_corruption_as_os_error():
    packed = bytearray(gzip.compress(bytes(range(256)) * 400))
    packed[20:40] = b"\xff" * 20
    s = DecompressingStream(lambda: io.BytesIO(bytes(packed)), "gzip", 1 << 20)
    with pytest.raises(DecompressionError) as err:
        s.read()
    assert isinstance(err.value, OSError)


def test_stream_refuses_truncation():
    packed = gzip.compress(bytes(range(256)) * 400)
    s = DecompressingStream(lambda: io.BytesIO(packed[:-10]), "gzip", 1 << 20)
    with pytest.raises(DecompressionError):
        s.read()
