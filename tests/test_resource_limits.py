"""Resource bombs: every one ends at its limit with a finding, and memory stays bounded.

Each scan runs in a fresh subprocess that reports what it found and how much its peak
resident memory grew while scanning (``ru_maxrss`` after imports vs. after the scan), so the
measurement is not polluted by this test process.  No wall-clock assertions: how fast a
bomb is refused is a benchmark question; here we assert *that* it is refused, with a
finding, in bounded memory.
"""

from __future__ import annotations

import gzip
import io
import json
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests import pickle_samples as ps

ROOT = Path(__file__).resolve().parent.parent
MAX_RSS_GROWTH_MB = 200

CHILD = r"""
import json, resource, sys
mode, path = sys.argv[1], sys.argv[2]
import modelxray, h5py, numpy, zipfile, tarfile, gzip, bz2, lzma  # imports are not the scan
from modelxray.budget import Budget, BudgetExceeded
from modelxray.analysis.pickle import scan_bytes, verdict_items, render_program
from modelxray.analysis.marshal_reader import read_code, MarshalError
from modelxray.formats.protobuf_wire import iter_fields, ProtobufError
data = open(path, "rb").read() if mode != "engine" else b""
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
before = rss()
out = {}
if mode == "engine":
    r = modelxray.scan(path).files[0]
    out["status"], out["verdict"] = r.status, r.verdict
    out["findings"] = [
        {"rule": f.rule_id, "limit": f.evidence.get("limit"), "message": f.message,
         "location": str(f.location)}
        for f in r.findings
    ]
elif mode == "pickle":
    streams = scan_bytes(data, Budget())
    items = verdict_items(streams)
    text = "".join(render_program(s) for s in streams)
    out["streams"] = [
        {"ok": s.ok, "limit_hit": s.limit_hit,
         "error": s.error and {"kind": s.error.kind, "message": s.error.message}}
        for s in streams
    ]
    out["render_chars"] = len(text)
    out["items"] = len(items)
elif mode == "marshal":
    try:
        read_code(data, Budget())
        out["result"] = "parsed"
    except BudgetExceeded as e:
        out["result"], out["limit"] = "BudgetExceeded", e.limit
    except MarshalError as e:
        out["result"], out["message"] = "MarshalError", str(e)
elif mode == "protobuf":
    try:
        n = sum(1 for _ in iter_fields(data, Budget()))
        out["result"] = f"parsed {n}"
    except ProtobufError as e:
        out["result"], out["message"] = "ProtobufError", str(e)
    except BudgetExceeded as e:
        out["result"], out["limit"] = "BudgetExceeded", e.limit
out["rss_growth_mb"] = (rss() - before) / 1024
print(json.dumps(out))
"""


def run_child(mode: str, path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rss_growth_mb"] < MAX_RSS_GROWTH_MB, out
    return out


def scan_file(path: Path) -> dict[str, Any]:
    out = run_child("engine", path)
    assert out["verdict"] != "allowed" or out["findings"], out
    return out


def findings(out: dict[str, Any], rule: str, limit: str | None = None) -> list[dict[str, Any]]:
    return [
        f for f in out["findings"] if f["rule"] == rule and (limit is None or f["limit"] == limit)
    ]


# --------------------------------------------------------------------------- archives


def _zeros(n: int) -> Any:
    """A file-like object of ``n`` zero bytes that never holds more than 1 MiB."""

    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = n

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            k = min(len(b), self.left, 1 << 20)
            b[:k] = bytes(k)
            self.left -= k
            return k

    return io.BufferedReader(Zeros(), 1 << 20)


def _patch_zip_sizes(data: bytes, usize: int) -> bytes:
    """Rewrite the uncompressed size of every member in the central directory (and headers)."""
    buf = bytearray(data)
    pos = 0
    while (pos := buf.find(b"PK\x01\x02", pos)) >= 0:
        struct.pack_into("<I", buf, pos + 24, usize)
        pos += 4
    pos = 0
    while (pos := buf.find(b"PK\x03\x04", pos)) >= 0:
        struct.pack_into("<I", buf, pos + 22, usize)
        pos += 4
    return bytes(buf)


def test_zip_bomb_declared_size(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("data.pkl", b"\x80\x04N." + bytes(4096))
    bomb = tmp_path / "declared.zip"
    bomb.write_bytes(_patch_zip_sizes(raw.getvalue(), 0xFFFF_FFF0))  # claims ~4 GiB
    out = scan_file(bomb)
    assert findings(out, "MX-ARCHIVE-005"), out


def test_zip_bomb_actual_expansion(tmp_path: Path) -> None:
    bomb = tmp_path / "actual.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("weights.bin", "w", force_zip64=True) as member:
            src = _zeros(64 << 20)
            while chunk := src.read(1 << 20):
                member.write(chunk)
    assert bomb.stat().st_size < 1 << 20
    out = scan_file(bomb)
    hits = findings(out, "MX-ARCHIVE-005")
    assert hits and "ratio" in hits[0]["message"], out


def test_zip_bomb_member_lies_about_size(tmp_path: Path) -> None:
    """The header says 1 KiB; the deflate stream holds 64 MiB of zeros."""
    payload = zlib.compressobj(9, zlib.DEFLATED, -15)
    blob = b"".join(payload.compress(bytes(1 << 20)) for _ in range(64)) + payload.flush()
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as z:
        z.writestr("big.bin", blob)
    data = bytearray(raw.getvalue())
    # Turn the stored member into a deflated one whose sizes lie.
    for sig, method_off, usize_off in ((b"PK\x03\x04", 8, 22), (b"PK\x01\x02", 10, 24)):
        pos = data.find(sig)
        struct.pack_into("<H", data, pos + method_off, zipfile.ZIP_DEFLATED)
        struct.pack_into("<I", data, pos + usize_off, 1024)
    bomb = tmp_path / "lying.zip"
    bomb.write_bytes(bytes(data))
    out = scan_file(bomb)
    assert out["status"] != "scanned" or findings(out, "MX-ARCHIVE-005"), out
    assert out["verdict"] != "allowed", out


def test_tar_gz_bomb(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz", compresslevel=9) as t:
        info = tarfile.TarInfo("model/weights.bin")
        info.size = 64 << 20
        t.addfile(info, _zeros(info.size))
    assert bomb.stat().st_size < 1 << 20
    out = scan_file(bomb)
    assert findings(out, "MX-ARCHIVE-005"), out


def test_tar_declares_huge_member(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo("a.pkl")
        info.size = 4
        t.addfile(info, io.BytesIO(b"\x80\x04N."))
    data = bytearray(raw.getvalue())
    # GNU base-256 size field: 2^62 bytes.
    data[124:136] = b"\x80" + (1 << 62).to_bytes(11, "big")
    data[148:156] = b"        "
    chk = sum(data[:512])
    data[148:156] = f"{chk:06o}\0 ".encode()
    bomb = tmp_path / "huge.tar"
    bomb.write_bytes(bytes(data))
    out = scan_file(bomb)
    assert out["verdict"] != "allowed", out
    assert out["findings"], out


def test_nested_zips_deeper_than_the_limit(tmp_path: Path) -> None:
    inner = b"\x80\x04N."
    name = "data.pkl"
    for level in range(12):
        raw = io.BytesIO()
        with zipfile.ZipFile(raw, "w") as z:
            z.writestr(name, inner)
        inner, name = raw.getvalue(), f"level{level}.zip"
    bomb = tmp_path / "nested.zip"
    bomb.write_bytes(inner)
    out = scan_file(bomb)
    hits = findings(out, "MX-SCAN-002", "max_container_depth")
    assert hits, out
    assert out["verdict"] != "allowed"


def test_gzip_of_gzip_chain(tmp_path: Path) -> None:
    data = json.dumps({"a": 1}).encode()
    for _ in range(12):
        data = gzip.compress(data)
    bomb = tmp_path / "chain.gz"
    bomb.write_bytes(data)
    out = scan_file(bomb)
    assert findings(out, "MX-SCAN-002", "max_container_depth"), out


# --------------------------------------------------------------------------- nesting


def test_deeply_nested_json(tmp_path: Path) -> None:
    bomb = tmp_path / "deep.json"
    bomb.write_bytes(b"[" * 1_000_000 + b"]" * 1_000_000)
    out = scan_file(bomb)
    assert findings(out, "MX-SCAN-002", "max_json_depth"), out


def test_deeply_nested_keras_config(tmp_path: Path) -> None:
    doc: Any = {"class_name": "Dense", "config": {}}
    for _ in range(400):
        doc = {"class_name": "Wrapper", "config": {"layer": doc}}
    bomb = tmp_path / "model.json"
    bomb.write_text(json.dumps(doc))
    out = scan_file(bomb)
    assert findings(out, "MX-SCAN-002", "max_json_depth"), out


def test_json_with_too_many_nodes(tmp_path: Path) -> None:
    bomb = tmp_path / "wide.json"
    bomb.write_bytes(b"[" + b"0," * 2_100_000 + b"0]")
    out = scan_file(bomb)
    assert findings(out, "MX-SCAN-002", "max_json_nodes"), out


def test_nested_pickle_tuples(tmp_path: Path) -> None:
    bomb = tmp_path / "deep.pkl"
    bomb.write_bytes(ps.deep_nesting(200_000))
    out = run_child("pickle", bomb)
    (s,) = out["streams"]
    assert s["ok"] or s["limit_hit"] or s["error"], out
    assert not (s["error"] and s["error"]["kind"] == "internal"), out


def test_pickle_many_marks(tmp_path: Path) -> None:
    bomb = tmp_path / "marks.pkl"
    bomb.write_bytes(ps.many_marks(2_000_000))
    out = run_child("pickle", bomb)
    (s,) = out["streams"]
    assert not s["ok"], out  # never STOPs cleanly: an error or a limit, never "fine"
    assert s["limit_hit"] or s["error"]["kind"] != "internal", out


def test_pickle_memo_expansion(tmp_path: Path) -> None:
    """Each level is a list holding the previous one twice: 2^64 leaves if expanded."""
    bomb = tmp_path / "laughs.pkl"
    bomb.write_bytes(ps.billion_laughs(64))
    out = run_child("pickle", bomb)
    (s,) = out["streams"]
    assert s["ok"] or s["limit_hit"], out
    assert out["render_chars"] < 50_000_000


def test_pickle_dup_expansion(tmp_path: Path) -> None:
    """DUP + APPEND doubling, then a million DUPs of the result."""
    body = ps.EMPTY_LIST + ps.MEMOIZE
    for k in range(60):
        body += ps.DUP + ps.APPEND + ps.binput(k + 1)
    body += ps.DUP * 2_000_000
    bomb = tmp_path / "dup.pkl"
    bomb.write_bytes(ps.p4(body))
    out = run_child("pickle", bomb)
    (s,) = out["streams"]
    assert s["limit_hit"] or s["error"], out


def _marshal_nested_tuples(depth: int) -> bytes:
    """A code object whose co_consts nests tuples ``depth`` deep (hand-built, never loaded)."""
    import marshal

    co = compile("x = 1", "<bomb>", "exec")
    data = bytearray(marshal.dumps(co))
    nested = b"N"
    for _ in range(depth):
        nested = b")\x01" + nested  # SMALL_TUPLE of one element
    # Replace the first constant tuple's content with the nested tuple.
    idx = data.find(b")\x02")
    assert idx > 0
    return bytes(data[:idx]) + b")\x03" + nested + bytes(data[idx + 2 :])


def test_nested_marshal(tmp_path: Path) -> None:
    bomb = tmp_path / "deep.bin"
    bomb.write_bytes(_marshal_nested_tuples(100_000))
    out = run_child("marshal", bomb)
    assert out["result"] in ("BudgetExceeded", "MarshalError"), out
    if out["result"] == "MarshalError":
        assert "depth" in out["message"] or "max_marshal" in out["message"], out


# --------------------------------------------------------------------------- declared lengths


def test_pickle_binunicode8_claims_2_pow_60(tmp_path: Path) -> None:
    bomb = tmp_path / "len.pkl"
    bomb.write_bytes(b"\x80\x04\x8d" + struct.pack("<Q", 1 << 60) + b"abc.")
    out = run_child("pickle", bomb)
    (s,) = out["streams"]
    assert not s["ok"] and s["error"] and s["error"]["kind"] == "truncated", out


def test_protobuf_length_2_pow_62(tmp_path: Path) -> None:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)

    bomb = tmp_path / "len.pb"
    bomb.write_bytes(b"\x12" + varint(1 << 62) + b"abc")
    out = run_child("protobuf", bomb)
    assert out["result"] == "ProtobufError" and "past the end" in out["message"], out


def test_saved_model_length_2_pow_62(tmp_path: Path) -> None:
    d = tmp_path / "sm"
    d.mkdir()
    bomb = d / "saved_model.pb"
    bomb.write_bytes(b"\x08\x01\x12\x80\x80\x80\x80\x80\x80\x80\x80\x40abc")
    out = scan_file(bomb)
    assert out["status"] == "unscannable" or out["findings"], out


def test_safetensors_header_length_2_pow_63(tmp_path: Path) -> None:
    bomb = tmp_path / "model.safetensors"
    bomb.write_bytes(struct.pack("<Q", 1 << 63) + b'{"__metadata__": {}}')
    out = scan_file(bomb)
    # Not sniffed as SafeTensors (no loader would read it either); the name still earns it a
    # finding, and nothing was allocated for the claimed header.
    assert findings(out, "MX-SCAN-003") or findings(out, "MX-SAFETENSORS-001"), out


def test_safetensors_header_past_the_end(tmp_path: Path) -> None:
    bomb = tmp_path / "model.safetensors"
    bomb.write_bytes(struct.pack("<Q", 1 << 40) + b'{"__metadata__": {}, "w": {}}' + bytes(64))
    out = scan_file(bomb)
    assert out["findings"], out


def _gguf_string(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(struct.pack("<IQQ", 3, 0, 1 << 63), id="kv-count"),
        pytest.param(struct.pack("<IQQ", 3, 1 << 63, 0), id="tensor-count"),
        pytest.param(
            struct.pack("<IQQ", 3, 0, 1)
            + _gguf_string(b"tokenizer.ggml.tokens")
            + struct.pack("<IIQ", 9, 8, 1 << 63),
            id="array-length",
        ),
        pytest.param(
            struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 63) + b"key",
            id="string-length",
        ),
    ],
)
def test_gguf_counts_2_pow_63(tmp_path: Path, header: bytes) -> None:
    bomb = tmp_path / "model.gguf"
    bomb.write_bytes(b"GGUF" + header + bytes(64))
    out = scan_file(bomb)
    assert out["verdict"] != "allowed", out
    assert findings(out, "MX-GGUF-001") or findings(out, "MX-SCAN-002"), out
