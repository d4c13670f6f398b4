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


# ----------------------------------------------------------------- the fast paths of a big zip
# (a checkpoint has tens of thousands of members: the central directory, local headers and
# member names are read in bulk; these tests hold the bulk paths to the per-member ones)


def _odd_zip(path: Path) -> Path:
    """Members of every shape the directory reader decodes: folders, UTF-8 and cp437 names,
    a zip64 local header, stored and deflated data, members far apart (past a header
    window)."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/", b"")
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr(zipfile.ZipInfo("archive/caf\u00e9/\u00fc.bin"), b"utf8 name")
        big = zipfile.ZipInfo("archive/data/0")
        z.writestr(big, b"\0" * (200 * 1024))  # the next local header is past a 64 KiB window
        with z.open(zipfile.ZipInfo("archive/zip64"), "w", force_zip64=True) as w:
            w.write(b"zip64 extra field")
        z.writestr(zipfile.ZipInfo("archive/deflated"), b"d" * 1000, zipfile.ZIP_DEFLATED)
    # a cp437 name (flag bit 11 clear, a byte above 0x7F) in both headers: zipfile decodes it
    # as cp437, and so must the reader
    cp = b"archive/\x81ber"
    plain = b"archive/Uber"
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(plain.decode(), b"cp437 name")
    data = bytearray(path.read_bytes())
    while (at := data.find(plain)) >= 0:
        data[at : at + len(plain)] = cp
    path.write_bytes(bytes(data))
    return path


def test_central_directory_decoded_as_zipfile_decodes_it(tmp_path: Path) -> None:
    from modelxray.budget import Limits
    from modelxray.containers.zip import read_directory

    p = _odd_zip(tmp_path / "odd.zip")
    with zipfile.ZipFile(p) as z:
        infos = z.infolist()
    with open(p, "rb") as f:
        members = read_directory(f, p.stat().st_size, Limits()).members
    assert "archive/\u00fcber" in [m.name for m in members]  # 0x81 is ü in cp437
    assert [
        (m.name, m.method, m.flags, m.crc, m.compressed_size, m.size, m.header_offset,
         m.external_attr, m.create_system)
        for m in members
    ] == [
        (i.filename, i.compress_type, i.flag_bits, i.CRC, i.compress_size, i.file_size,
         i.header_offset, i.external_attr, i.create_system)
        for i in infos
    ]  # fmt: skip


def test_zip64_extra_field_replaces_the_sentinels(tmp_path: Path) -> None:
    """A directory entry whose sizes and offset are 0xFFFFFFFF takes them from its zip64
    extra field (the fast path skips the extra field only when no field is a sentinel)."""
    import struct

    from modelxray.budget import Limits
    from modelxray.containers.zip import read_directory

    p = tmp_path / "z64.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("a.bin", b"hello")
    data = bytearray(p.read_bytes())
    cd = data.find(b"PK\x01\x02")
    nlen, xlen = struct.unpack_from("<HH", data, cd + 28)
    assert xlen == 0
    extra = struct.pack("<HHQQQ", 1, 24, 5, 5, 0)
    struct.pack_into("<LL", data, cd + 20, 0xFFFFFFFF, 0xFFFFFFFF)
    struct.pack_into("<H", data, cd + 30, len(extra))
    struct.pack_into("<L", data, cd + 42, 0xFFFFFFFF)
    name_end = cd + 46 + nlen
    data[name_end:name_end] = extra
    eocd = data.rfind(b"PK\x05\x06")
    size = struct.unpack_from("<L", data, eocd + 12)[0]
    struct.pack_into("<L", data, eocd + 12, size + len(extra))
    p.write_bytes(bytes(data))
    with open(p, "rb") as f:
        (m,) = read_directory(f, p.stat().st_size, Limits()).members
    assert (m.size, m.compressed_size, m.header_offset) == (5, 5, 0)
    with zipfile.ZipFile(p) as z:
        assert z.read("a.bin") == b"hello"  # the oracle reads it the same way


def test_data_offsets_in_bulk_are_the_per_member_ones(tmp_path: Path) -> None:
    from modelxray.budget import Budget, Limits
    from modelxray.containers.zip import (
        ZipError,
        member_data_offset,
        member_data_offsets,
        read_directory,
    )

    p = _odd_zip(tmp_path / "odd.zip")
    size = p.stat().st_size
    with open(p, "rb") as f:
        members = read_directory(f, size, Limits()).members
        one_by_one = {i: member_data_offset(f, m)[0] for i, m in enumerate(members) if not m.is_dir}
        assert member_data_offsets(f, members, Budget()) == one_by_one
    assert 0 not in one_by_one  # the folder is left out
    # a member whose local header is gone: the same error as the per-member read
    data = bytearray(p.read_bytes())
    victim = members[3]
    data[victim.header_offset : victim.header_offset + 4] = b"XXXX"
    p.write_bytes(bytes(data))
    with open(p, "rb") as f:
        try:
            member_data_offset(f, victim)
        except ZipError as exc:
            expected = str(exc)
        try:
            member_data_offsets(f, members)
        except ZipError as exc:
            assert str(exc) == expected
        else:
            raise AssertionError("no error for a missing local header")


def test_plain_member_names_are_their_own_normal_form() -> None:
    """The name check's fast path (no splitting) takes only names the full check passes
    unchanged; every name it leaves goes through the full check."""
    import itertools

    from modelxray.containers.checks import _plain, name_problems, normalised

    alphabet = ["a", "b1", ".", "..", "/", "\\", ":", "\0", "C:", ".data"]
    names = {"".join(p) for n in range(1, 5) for p in itertools.product(alphabet, repeat=n)}
    names |= {"archive/data/0", "archive/data.pkl", "archive/.data/serialization_id", "a:b"}
    fast = [n for n in names if _plain(n)]
    assert "archive/data/0" in fast and "archive/data.pkl" in fast
    for n in fast:
        assert name_problems(n) == [] and normalised(n) == n, n
    assert not _plain("../x") and not _plain("a/../../x") and not _plain("a\\..\\..\\x")
    assert not _plain("/abs") and not _plain("C:/x") and not _plain("a\0b") and not _plain("d/")
