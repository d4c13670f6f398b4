"""Every byte range a real loader reads is judged as that loader reads it.

* Bytes in front of a zip: ``torch.load``, ``np.load(allow_pickle=True)``, ``pickle.load`` and
  ``joblib.load`` read the file from byte 0, while the zip view skips them (issue 11, miss 1).
* The central directory is read the way ``zipfile`` reads it, whatever the end record's count
  says (miss 5).

Malicious samples are hand-assembled with harmless payloads and never loaded.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import modelxray
from modelxray.model import FileResult, Severity
from tests.factories.pickle_models import npy_object_bytes
from tests.pickle_samples import call1, cmd

PAYLOAD = call1("os", "system", cmd("loader_regions"))


def _scan(path: Path) -> FileResult:
    return modelxray.scan(str(path)).files[0]


def _rules(result: FileResult, at_least: Severity = Severity.LOW) -> set[str]:
    return {f.rule_id for f in result.findings if f.severity >= at_least}


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _torch_zip() -> bytes:
    torch = pytest.importorskip("torch")
    buf = io.BytesIO()
    torch.save({"w": torch.arange(4)}, buf)
    return buf.getvalue()


@pytest.mark.parametrize("suffix", [".pt", ".pkl", ".npz"])
def test_pickle_prefix_before_a_valid_zip_is_judged(tmp_path: Path, suffix: str) -> None:
    body = _torch_zip() if suffix == ".pt" else _npz(a=np.arange(3))
    p = tmp_path / f"polyglot{suffix}"
    p.write_bytes(PAYLOAD + body)
    # zipfile (the archive view) still opens it: the prefix is skipped.
    with zipfile.ZipFile(p) as z:
        assert z.namelist()
    result = _scan(p)
    assert "MX-ARCHIVE-008" in _rules(result)
    critical = [f for f in result.findings if f.severity == Severity.CRITICAL]
    assert critical and critical[0].rule_id == "MX-PICKLE-001", result.findings
    assert "os.system" in critical[0].message
    assert result.verdict == "blocked"


def test_benign_pickle_prefix_is_a_medium_finding(tmp_path: Path) -> None:
    import pickle

    p = tmp_path / "both.npz"
    p.write_bytes(pickle.dumps({"a": [1, 2, 3]}, protocol=2) + _npz(a=np.arange(3)))
    result = _scan(p)
    assert "MX-ARCHIVE-008" in _rules(result, Severity.MEDIUM)
    assert not _rules(result, Severity.HIGH), result.findings
    assert result.verdict == "allowed"


def test_garbage_prefix_is_a_medium_finding_only(tmp_path: Path) -> None:
    p = tmp_path / "sfx.zip"
    p.write_bytes(b"MZ\x90\x00" + bytes(range(256)) * 4 + _npz(a=np.arange(3)))
    result = _scan(p)
    assert _rules(result, Severity.MEDIUM) == {"MX-ARCHIVE-008"}, result.findings
    assert result.verdict == "allowed"


def test_zip_at_byte_zero_has_no_prefix_finding(tmp_path: Path) -> None:
    p = tmp_path / "plain.npz"
    p.write_bytes(_npz(a=np.arange(3)))
    assert not _rules(_scan(p), Severity.LOW)


def _object_npy() -> bytes:
    return npy_object_bytes(PAYLOAD)


def _two_member_npz() -> bytes:
    """An .npz of a numeric array and an object array whose pickle calls os.system."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        buf_a = io.BytesIO()
        np.save(buf_a, np.arange(3))
        z.writestr("a.npy", buf_a.getvalue())
        z.writestr("b.npy", _object_npy())
    return buf.getvalue()


def _lying_npz() -> bytes:
    """Two entries in the central directory; the end record says one."""
    data = bytearray(_two_member_npz())
    eocd = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", data, eocd + 8, 1, 1)
    return bytes(data)


def test_end_record_count_cannot_hide_members(tmp_path: Path) -> None:
    data = _lying_npz()
    p = tmp_path / "lying.npz"
    p.write_bytes(data)
    with zipfile.ZipFile(p) as z:  # what np.load sees: both members
        assert z.namelist() == ["a.npy", "b.npy"]
    result = _scan(p)
    assert "MX-ARCHIVE-009" in _rules(result, Severity.MEDIUM)
    assert any(
        f.rule_id == "MX-PICKLE-001" and "b.npy" in str(f.location) for f in result.findings
    ), result.findings
    assert result.verdict == "blocked"


def test_consistent_archives_have_no_directory_finding(tmp_path: Path) -> None:
    p = tmp_path / "ok.npz"
    p.write_bytes(_npz(a=np.arange(3), b=np.ones(2)))
    assert "MX-ARCHIVE-009" not in _rules(_scan(p))


def test_zip64_record_overrides_a_smaller_end_record(tmp_path: Path) -> None:
    """zipfile (and miniz) follow a zip64 end record even when the 32-bit one is not a
    sentinel: a smaller 32-bit directory must not hide the second member."""
    data = _two_member_npz()
    eocd = data.rfind(b"PK\x05\x06")
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", data[eocd : eocd + 22])
    nlen, xlen, clen = struct.unpack("<HHH", data[cd_offset + 28 : cd_offset + 34])
    first = 46 + nlen + xlen + clen
    z64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 2, 2, cd_size, cd_offset)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd, 1)
    small = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, first, cd_offset, 0)
    p = tmp_path / "zip64.npz"
    p.write_bytes(data[:eocd] + z64 + locator + small)
    with zipfile.ZipFile(p) as z:
        assert z.namelist() == ["a.npy", "b.npy"]
    result = _scan(p)
    assert "MX-ARCHIVE-009" in _rules(result, Severity.MEDIUM)
    assert any(
        f.rule_id == "MX-PICKLE-001" and "b.npy" in str(f.location) for f in result.findings
    ), result.findings


def test_stray_end_record_after_a_pickle_is_not_an_error(tmp_path: Path) -> None:
    """A legacy pickle whose trailing bytes happen to end like a zip: no zip reader opens it,
    the pickle view decides."""
    import pickle

    stray = bytes(60) + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, 0, 0)
    p = tmp_path / "legacy.pt"
    p.write_bytes(pickle.dumps({"a": 1}, protocol=2) + stray)
    result = _scan(p)
    assert result.verdict == "allowed" and not _rules(result, Severity.HIGH), result.findings
    assert "MX-SCAN-001" in _rules(result, Severity.MEDIUM)  # the zip view is unreadable
    p.write_bytes(PAYLOAD + stray)
    assert _scan(p).verdict == "blocked"


# ------------------------------------------------- content no sniffer claims, read from byte 0

# A GLOBAL of os.system whose stream then breaks: too damaged for the pickle sniffer, still
# what the unpickler imports before it stops.
BROKEN_AFTER_IMPORT = b"\x80\x02cos\nsystem\n" + b"\xff\xfe" * 8


@pytest.mark.parametrize(
    "content",
    [
        BROKEN_AFTER_IMPORT,
        b"cos\nsystem\n\xff\xfe",  # protocol 0, broken
        PAYLOAD[:-3],  # the whole call but truncated before REDUCE/STOP
        b"cos\nsystem\n(S'echo hi'\ntR",  # protocol 0, REDUCE run, STOP missing
    ],
    ids=["proto2-broken", "proto0-broken", "truncated", "proto0-truncated"],
)
@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_truncated_or_broken_os_system_pickle_still_blocks(
    tmp_path: Path, content: bytes, suffix: str
) -> None:
    """The unpickler's expected failure is no excuse: what it imports before it stops decides."""
    p = tmp_path / f"broken{suffix}"
    p.write_bytes(content + (_npz(a=np.arange(3)) if suffix == ".npz" else b""))
    result = _scan(p)
    assert any(
        f.rule_id == "MX-PICKLE-001"
        and f.severity == Severity.CRITICAL
        and "os.system" in f.message
        for f in result.findings
    ), result.findings
    assert "MX-PICKLE-005" in _rules(result, Severity.MEDIUM)  # not fully parsed: stated
    assert result.verdict == "blocked"


def test_data_the_unpickler_stops_on_is_one_medium_finding(tmp_path: Path) -> None:
    """Bytes that read as an import of an allowed name and then break: the loader fails
    before anything runs; the failure is stated once, at medium, with where it stops."""
    p = tmp_path / "table.pkl"
    p.write_bytes(b"cnumpy\nndarray\n\xff\xfe\x00")
    result = _scan(p)
    assert not _rules(result, Severity.HIGH), result.findings
    (malformed,) = [f for f in result.findings if f.rule_id == "MX-PICKLE-005"]
    assert malformed.severity == Severity.MEDIUM
    assert malformed.evidence["stops"] == [{"offset": 15, "error": "unknown-opcode"}]
    assert result.status == "unsupported" and result.verdict == "allowed"


def test_scan_failures_are_not_taken_for_the_loaders_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure of the scan itself (internal, I/O) says nothing of where the loader stops:
    it keeps its own high finding."""
    import modelxray.analysis.pickle as vm
    from modelxray.analysis.pickle.values import StreamError

    real = vm.scan_stream

    def failing(*args: object, **kwargs: object) -> list[vm.PickleStream]:
        streams = real(*args, **kwargs)  # type: ignore[arg-type]
        streams[0].error = StreamError(15, "internal error: boom", "internal")
        return streams

    monkeypatch.setattr(vm, "scan_stream", failing)
    p = tmp_path / "table.pkl"
    p.write_bytes(b"cnumpy\nndarray\n\xff\xfe\x00")
    result = _scan(p)
    assert "MX-PICKLE-005" in _rules(result, Severity.HIGH), result.findings
    assert result.verdict == "blocked"
