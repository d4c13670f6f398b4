"""MX-ARCHIVE rules: slip, links, duplicates, bombs, encryption — read from headers only."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.budget import Limits
from modelxray.containers.checks import link_problem, name_problems, normalised
from modelxray.engine import ScanOptions
from modelxray.model import Finding, Severity

EXAMPLES = Path(__file__).parent.parent / "examples"
CLEAN_KERAS = (EXAMPLES / "clean_dense.keras").read_bytes()


def _scan(path: Path, **limits: Any) -> modelxray.Report:
    return modelxray.scan(str(path), ScanOptions(limits=Limits(**limits)) if limits else None)


def _by_rule(report: modelxray.Report, rule_id: str) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == rule_id]


def _tar(path: Path, entries: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w") -> Path:
    with tarfile.open(path, mode) as t:  # type: ignore[call-overload]
        for e in entries:
            if isinstance(e, tarfile.TarInfo):
                t.addfile(e)
            else:
                info = tarfile.TarInfo(e[0])
                info.size = len(e[1])
                t.addfile(info, io.BytesIO(e[1]))
    return path


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


# --- path checks (unit) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "../../evil_marker.txt",
        "/tmp/abs_marker.txt",
        "model/../../escape.txt",
        "..\\..\\windows_marker.txt",
        "model\\..\\..\\x.txt",
        "C:/marker.txt",
        "c:marker.txt",
        "\\\\server\\share\\x.txt",
        "model/weights.bin\0.txt",
    ],
)
def test_escaping_names(name: str):
    assert name_problems(name)


@pytest.mark.parametrize("name", ["model/weights.bin", "a/../b.txt", "./config.json", "x..y/z"])
def test_safe_names(name: str):
    assert name_problems(name) == []


def test_link_resolution():
    assert link_problem("model/a", "../b", hard=False) is None
    assert link_problem("model/a", "../../b", hard=False)
    assert link_problem("model/a", "/etc/passwd", hard=False)
    assert link_problem("model/a", "model/b", hard=True) is None  # hard links: from the top
    assert link_problem("model/a", "../b", hard=True)
    assert normalised("a//b/./c\\d") == "a/b/c/d"


# --- tar ----------------------------------------------------------------------------------------


def test_tar_slip_and_links(tmp_path: Path):
    p = _tar(
        tmp_path / "evil.tar",
        [
            ("../escape_marker.txt", b"harmless"),
            ("/tmp/abs_marker.txt", b"harmless"),
            _link("model/innocent.bin", "/tmp/modelxray_dummy_target"),
            _link("model/hard.bin", "../../dummy_target", tarfile.LNKTYPE),
            _link("model/latest.bin", "weights.bin"),
            ("model/weights.bin", b"w"),
        ],
    )
    report = _scan(p)
    slips = {f.location.inner[0] for f in _by_rule(report, "MX-ARCHIVE-001")}
    assert slips == {"../escape_marker.txt", "/tmp/abs_marker.txt"}
    escapes = {f.location.inner[0]: f for f in _by_rule(report, "MX-ARCHIVE-002")}
    assert set(escapes) == {"model/innocent.bin", "model/hard.bin"}
    assert escapes["model/hard.bin"].evidence["link_type"] == "hard link"
    assert escapes["model/innocent.bin"].evidence["link_target"] == "/tmp/modelxray_dummy_target"
    inside = _by_rule(report, "MX-ARCHIVE-003")
    assert [f.location.inner[0] for f in inside] == ["model/latest.bin"]
    assert inside[0].severity == Severity.LOW
    assert report.failed
    assert not os.path.exists(tmp_path.parent / "escape_marker.txt")


def test_tar_write_through_link(tmp_path: Path):
    p = _tar(
        tmp_path / "through.tar",
        [_link("model/dir", "/tmp/modelxray_dummy_dir"), ("model/dir/cron.txt", b"x")],
    )
    found = _by_rule(_scan(p), "MX-ARCHIVE-002")
    assert {f.location.inner[0] for f in found} == {"model/dir", "model/dir/cron.txt"}
    through = [f for f in found if f.location.inner[0] == "model/dir/cron.txt"][0]
    assert through.evidence["through_link"] == "model/dir"


def test_tar_special_members(tmp_path: Path):
    fifo = tarfile.TarInfo("model/pipe")
    fifo.type = tarfile.FIFOTYPE
    dev = tarfile.TarInfo("dev/null")
    dev.type = tarfile.CHRTYPE
    found = _by_rule(_scan(_tar(tmp_path / "special.tar", [fifo, dev])), "MX-ARCHIVE-003")
    assert {f.evidence["member_type"] for f in found} == {"FIFO", "character device"}


def test_tar_duplicates_are_flagged_and_every_copy_scanned(tmp_path: Path):
    mal = (EXAMPLES / "malicious_lambda.h5").read_bytes()
    p = _tar(tmp_path / "dup.tar", [("model.h5", CLEAN_KERAS), ("./model.h5", mal)])
    report = _scan(p)
    dup = _by_rule(report, "MX-ARCHIVE-004")
    assert len(dup) == 1 and dup[0].evidence["copy"] == 2
    crit = _by_rule(report, "MX-KERAS-101")
    assert crit and crit[0].location.inner[0] == "./model.h5 [copy 2]"


def test_tar_gz_bomb(tmp_path: Path):
    p = _tar(tmp_path / "bomb.tar.gz", [("weights.bin", bytes(4 << 20))], "w:gz")
    assert p.stat().st_size < 10_000
    bombs = _by_rule(_scan(p), "MX-ARCHIVE-005")
    assert len(bombs) == 1
    assert bombs[0].evidence["ratio"] > 200 and bombs[0].evidence["declared"] is False


def test_tar_gz_over_the_size_limit_is_not_clean(tmp_path: Path):
    p = _tar(tmp_path / "huge.tar.gz", [("a.bin", bytes(3 << 20)), ("b.bin", b"b")], "w:gz")
    report = _scan(p, max_decompressed_bytes=1 << 20)
    bombs = _by_rule(report, "MX-ARCHIVE-005")
    assert bombs and bombs[0].evidence["limit"] == "max_decompressed_bytes"
    assert _by_rule(report, "MX-SCAN-001") or _by_rule(report, "MX-SCAN-002")
    assert report.files[0].status == "unscannable"


# --- zip ----------------------------------------------------------------------------------------


def _zip(path: Path, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


def _zip_symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = 0o120777 << 16
    return info, target.encode()


def test_zip_slip_names(tmp_path: Path):
    p = _zip(
        tmp_path / "slip.zip",
        [
            ("../../evil_marker.txt", b"x"),
            ("/tmp/abs_marker.txt", b"x"),
            ("model\\..\\..\\win_marker.txt", b"x"),
            ("model/ok.txt", b"x"),
        ],
    )
    found = _by_rule(_scan(p), "MX-ARCHIVE-001")
    assert {f.location.inner[0] for f in found} == {
        "../../evil_marker.txt",
        "/tmp/abs_marker.txt",
        "model\\..\\..\\win_marker.txt",
    }
    win = [f for f in found if "win_marker" in f.location.inner[0]][0]
    assert "backslash" in win.message


def test_zip_symlink_members(tmp_path: Path):
    p = _zip(
        tmp_path / "links.zip",
        [
            _zip_symlink("model/link_to_dummy", "/tmp/modelxray_dummy_target"),
            _zip_symlink("model/alias.bin", "weights.bin"),
            ("model/weights.bin", b"w"),
        ],
    )
    report = _scan(p)
    escape = _by_rule(report, "MX-ARCHIVE-002")
    assert [f.location.inner[0] for f in escape] == ["model/link_to_dummy"]
    assert escape[0].evidence["link_target"] == "/tmp/modelxray_dummy_target"
    assert [f.location.inner[0] for f in _by_rule(report, "MX-ARCHIVE-003")] == ["model/alias.bin"]


def test_raw_storage_members_keep_every_header_check(tmp_path: Path):
    """A PyTorch zip's raw storages (``data/<key>``) are not read as formats, but their
    headers are still judged: a storage slot that is a symbolic link, a repeated storage
    name and a storage name that climbs out are each reported."""
    import pickle

    p = _zip(
        tmp_path / "storages.pt",
        [
            ("archive/data.pkl", pickle.dumps({}, protocol=2)),
            (zipfile.ZipInfo("archive/data/0"), b"\0" * 8),
            (zipfile.ZipInfo("archive/data/0"), b"\0" * 8),
            _zip_symlink("archive/data/1", "/tmp/modelxray_dummy_target"),
            (zipfile.ZipInfo("archive/../../data/2"), b"\0" * 8),
        ],
    )
    report = _scan(p)
    assert "pytorch-zip" in report.files[0].formats
    assert [f.location.inner[0] for f in _by_rule(report, "MX-ARCHIVE-002")] == ["archive/data/1"]
    assert [f.evidence["member"] for f in _by_rule(report, "MX-ARCHIVE-001")] == [
        "archive/../../data/2"
    ]
    dup = [f for f in report.findings if f.evidence.get("copy") == 2]
    assert [f.evidence["member"] for f in dup] == ["archive/data/0"]


def test_raw_storage_running_past_the_end_is_not_clean(tmp_path: Path):
    """A raw storage is skipped, not read: its bytes must still lie inside the archive (a
    storage cut short is a file the loader cannot read, so it is not fully scanned)."""
    import pickle

    p = _zip(
        tmp_path / "short.pt",
        [
            ("archive/data.pkl", pickle.dumps({}, protocol=2)),
            (zipfile.ZipInfo("archive/data/0"), b"\0" * 8),
        ],
    )
    assert [f.rule_id for f in _scan(p).findings] == []
    data = bytearray(p.read_bytes())
    cd = data.rfind(b"PK\x01\x02")
    assert data[cd + 46 : cd + 46 + 14] == b"archive/data/0"
    data[cd + 20 : cd + 28] = (1 << 20).to_bytes(4, "little") * 2  # compressed, full size
    p.write_bytes(bytes(data))
    report = _scan(p)
    (short,) = [f for f in report.findings if f.rule_id == "MX-SCAN-001"]
    assert short.location.inner == ("archive/data/0",) and "past the end" in short.message
    assert report.failed


def test_zip_duplicate_names_both_scanned(tmp_path: Path):
    mal = (EXAMPLES / "malicious_lambda.h5").read_bytes()
    p = _zip(tmp_path / "dup.zip", [("archive/model.h5", mal), ("archive/model.h5", CLEAN_KERAS)])
    report = _scan(p)
    assert len(_by_rule(report, "MX-ARCHIVE-004")) == 1
    # zipfile would hand a loader the second (clean) copy; the first is still scanned.
    assert [f.location.inner[0] for f in _by_rule(report, "MX-KERAS-101")] == ["archive/model.h5"]


def test_zip_bomb_by_declared_ratio(tmp_path: Path):
    p = _zip(tmp_path / "bomb.zip", [("weights.bin", bytes(20 << 20))])
    assert p.stat().st_size < 40_000
    bombs = _by_rule(_scan(p), "MX-ARCHIVE-005")
    assert len(bombs) == 1
    ev = bombs[0].evidence
    assert ev["declared"] is True and ev["ratio"] > 1000 and ev["uncompressed_bytes"] == 20 << 20


def test_zip_member_lying_about_its_size_is_not_clean(tmp_path: Path):
    mal = (EXAMPLES / "malicious_lambda.h5").read_bytes()
    p = _zip(tmp_path / "liar.zip", [("model.h5", mal)])
    data = bytearray(p.read_bytes())
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24 : cd + 28] = (100).to_bytes(4, "little")  # declared size: 100 bytes
    p.write_bytes(bytes(data))
    report = _scan(p)
    assert report.failed
    assert {"MX-SCAN-001", "MX-SCAN-002", "MX-SCAN-004"} & {f.rule_id for f in report.findings}


# --- compression wrappers and 7z ----------------------------------------------------------------


def test_gzip_bomb(tmp_path: Path):
    p = tmp_path / "weights.bin.gz"
    p.write_bytes(gzip.compress(bytes(5 << 20)))
    bombs = _by_rule(_scan(p), "MX-ARCHIVE-005")
    assert len(bombs) == 1 and bombs[0].severity == Severity.MEDIUM


def test_small_highly_compressible_content_is_not_a_bomb(tmp_path: Path):
    p = tmp_path / "small.gz"
    p.write_bytes(gzip.compress(bytes(100_000)))
    assert _by_rule(_scan(p), "MX-ARCHIVE-005") == []


def test_7z_encrypted_content(tmp_path: Path):
    import py7zr

    p = tmp_path / "locked.7z"
    with py7zr.SevenZipFile(p, "w", password="secret") as z:
        z.writestr(b"harmless", "archive/data.pkl")
    report = _scan(p)
    assert {f.rule_id for f in report.findings} == {"MX-ARCHIVE-007"}
    assert report.files[0].status == "unscannable"


def test_7z_encrypted_header(tmp_path: Path):
    import py7zr

    p = tmp_path / "hidden.7z"
    with py7zr.SevenZipFile(p, "w", password="secret", header_encryption=True) as z:
        z.writestr(b"harmless", "archive/data.pkl")
    found = _by_rule(_scan(p), "MX-ARCHIVE-007")
    assert found and "header" in found[0].message


def test_7z_symlink_and_duplicates(tmp_path: Path):
    import py7zr

    src = tmp_path / "src"
    src.mkdir()
    dummy = tmp_path / "dummy_target"  # py7zr only archives links whose target exists
    dummy.write_text("harmless")
    (src / "link").symlink_to(dummy)
    p = tmp_path / "links.7z"
    with py7zr.SevenZipFile(p, "w") as z:
        z.write(src / "link", "model/link")
        z.writestr(b"a", "model/a.txt")
        z.writestr(b"b", "model/a.txt")
    report = _scan(p)
    escape = _by_rule(report, "MX-ARCHIVE-002")
    assert escape and escape[0].evidence["link_target"] == str(dummy)
    assert len(_by_rule(report, "MX-ARCHIVE-004")) == 1


def test_clean_archives_have_no_findings(tmp_path: Path):
    import py7zr

    tar = _tar(tmp_path / "m.tar.gz", [("model/clean.keras", CLEAN_KERAS)], "w:gz")
    zp = _zip(tmp_path / "m.zip", [("model/clean.keras", CLEAN_KERAS), ("README.md", b"hi")])
    sz = tmp_path / "m.7z"
    with py7zr.SevenZipFile(sz, "w") as z:
        z.writestr(CLEAN_KERAS, "model/clean.keras")
    for p in (tar, zp, sz):
        report = _scan(p)
        assert [f for f in report.findings if f.severity >= Severity.LOW] == [], p.name
