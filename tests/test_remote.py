"""Remote sources and safe download (issue 17 items 1 and 2), against loopback servers only.

* a static HTTP server with Range support (``remote_servers.StaticServer``) serving the test
  corpus, counting the bytes it serves;
* moto's real S3 API in server mode, the corpus uploaded with boto3;
* the real ``huggingface_hub`` client pointed by ``HF_ENDPOINT`` at a fake hub implementing the
  routes it calls (``remote_servers.FakeHub``).

Malicious samples carry harmless payloads (the examples' Lambda echoes a marker); nothing
here loads what it scans.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import sys
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.remote_servers as rs
from modelxray.engine import ScanOptions, scan
from modelxray.model import FileResult, FileStatus, Report, Verdict
from modelxray.policy import Policy
from modelxray.sources import remote
from tests.factories.zip64 import write_zip64_directory
from tests.report_schema import validate_json_report, validate_sarif

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ("tests/data", "examples")
MB = 1 << 20


def _corpus_files() -> list[str]:
    out = []
    for top in CORPUS:
        for p in sorted((ROOT / top).rglob("*")):
            if p.is_file() and not p.is_symlink():
                out.append(p.relative_to(ROOT).as_posix())
    return out


def _opts(**kw: Any) -> ScanOptions:
    return ScanOptions(policy=Policy(), jobs=1, **kw)


def _rules(r: FileResult) -> list[str]:
    return sorted({f.rule_id for f in r.findings})


def _sibling_dependent(r: FileResult) -> bool:
    """A local result that read (or was read as) another file beside it: a sidecar or the data
    of a model in the same scan.  A single remote file has no folder to read them from."""
    return bool(r.references) or "MX-SCAN-011" in _rules(r)


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "BACKOFF", 0.01)


@pytest.fixture(scope="module")
def static() -> Iterator[rs.StaticServer]:
    server = rs.StaticServer(ROOT)
    yield server
    server.close()


@pytest.fixture(scope="module")
def local_corpus() -> dict[str, FileResult]:
    """Each corpus file scanned locally on its own (as the remote files are, one URL each)."""
    files = _corpus_files()
    report = scan([str(ROOT / f) for f in files], _opts())
    return {Path(r.path).relative_to(ROOT).as_posix(): r for r in report.files}


# ------------------------------------------------------------------------------ http


def test_http_verdicts_equal_local_verdicts_for_every_corpus_file(
    static: rs.StaticServer, local_corpus: dict[str, FileResult]
) -> None:
    files = _corpus_files()
    assert len(files) > 250
    static.reset()
    report = scan([f"{static.url}/{f}" for f in files], _opts())
    got = {r.path[len(static.url) + 1 :]: r for r in report.files}
    assert sorted(got) == sorted(local_corpus) == sorted(files)
    for name in files:
        here, there = local_corpus[name], got[name]
        assert there.verdict == here.verdict, name
        assert there.size == here.size and there.bytes_fetched is not None, name
        if not _sibling_dependent(here):
            assert (there.status, _rules(there)) == (here.status, _rules(here)), name
    # what the reports say they fetched is what the server sent (+ one-byte size probes)
    probes = sum(1 for r in static.httpd.requests if r[2] == "bytes=0-0")
    assert sum(static.served.values()) == sum(r.bytes_fetched or 0 for r in report.files) + probes
    assert any(r.references for r in report.files)  # joblib sidecars were read beside their pickle
    assert {r.verdict for r in report.files} >= {Verdict.ALLOWED, Verdict.BLOCKED}


def test_http_report_states_bytes_fetched_and_the_json_field(static: rs.StaticServer) -> None:
    import io
    import json

    from modelxray.reports import render

    report = scan(f"{static.url}/examples/malicious_lambda.h5", _opts())
    (r,) = report.files
    assert r.verdict == Verdict.BLOCKED and "MX-KERAS-101" in _rules(r)
    out = io.StringIO()
    render(report, "json", out)
    doc = json.loads(out.getvalue())
    validate_json_report(doc)
    (entry,) = doc["files"]
    assert entry["bytes_fetched"] == r.bytes_fetched > 0 and entry["size"] == r.size
    out = io.StringIO()
    render(report, "console", out)
    assert f"fetched {r.bytes_fetched:,} of {r.size:,} bytes" in out.getvalue()
    out = io.StringIO()
    render(report, "html", out)
    assert f"{r.bytes_fetched:,} bytes fetched" in out.getvalue()


# ------------------------------------------------------------------------------ big files


GIB = 1 << 30


def _sparse_gguf(path: Path, n_floats: int) -> None:
    """A real GGUF header (written by the gguf library) declaring one huge F32 tensor, then
    a hole for its data."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_tensor_info("blk.0.attn_q.weight", (n_floats,), np.dtype(np.float32), n_floats * 4)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    header = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(header + (-header % 32) + n_floats * 4)


def _copy_sparse(src: Path, f: Any) -> int:
    """Copy ``src`` into the open file ``f`` keeping zero MiBs as holes; returns its CRC."""
    crc = 0
    zero = bytes(MB)
    with src.open("rb") as s:
        for chunk in iter(lambda: s.read(MB), b""):
            crc = zlib.crc32(chunk, crc)
            if chunk == zero[: len(chunk)]:
                f.seek(len(chunk), os.SEEK_CUR)
            else:
                f.write(chunk)
    return crc


def _sparse_keras(path: Path, tmp: Path) -> None:
    """A ``.keras`` whose ``model.weights.h5`` is a real HDF5 file (h5py) holding a 1 GiB
    dataset, stored (zip64) so the archive stays sparse; config and metadata from a real one."""
    import h5py

    h5 = tmp / "big.weights.h5"
    with h5py.File(h5, "w") as f:
        g = f.create_group("layers/dense/vars")
        d = g.create_dataset("0", shape=(GIB // 4,), dtype="f4")
        d[-1] = 1.0  # allocates the storage; the rest stays a hole
    with zipfile.ZipFile(ROOT / "examples" / "clean_dense.keras") as z:
        small = {n: z.read(n) for n in ("metadata.json", "config.json")}
    members: list[tuple[bytes, int, int, int]] = []
    with path.open("wb") as f:

        def local(name: bytes, size: int, crc: int) -> int:
            offset = f.tell()
            extra = struct.pack("<HHQQ", 1, 16, size, size)
            f.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 45, 0, 0, 0, 0, crc,
                                0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra)))  # fmt: skip
            f.write(name + extra)
            return offset

        for name, data in small.items():
            offset = local(name.encode(), len(data), zlib.crc32(data))
            f.write(data)
            members.append((name.encode(), len(data), zlib.crc32(data), offset))
        size = h5.stat().st_size
        # CRC first (the local header precedes the data), then the sparse copy
        with h5.open("rb") as s:
            crc = 0
            for chunk in iter(lambda: s.read(MB), b""):
                crc = zlib.crc32(chunk, crc)
        offset = local(b"model.weights.h5", size, crc)
        assert _copy_sparse(h5, f) == crc
        h5_copy = tmp / "weights_1gb.h5"  # also scanned on its own
        with h5_copy.open("wb") as standalone:
            _copy_sparse(h5, standalone)
            standalone.truncate(size)
        members.append((b"model.weights.h5", size, crc, offset))
        write_zip64_directory(f, members)
    h5.unlink()


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import corpus
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    corpus.sparse_torch_checkpoint(folder / "checkpoint_3gb.pt", 3 * GIB)
    _sparse_keras(folder / "model_1gb.keras", folder)
    _sparse_gguf(folder / "model_2gb.gguf", GIB // 2)
    return folder


def test_big_sparse_files_fetch_only_their_structure(big: Path) -> None:
    server = rs.StaticServer(big)
    try:
        names = sorted(p.name for p in big.iterdir())
        assert len(names) == 4
        local = {Path(r.path).name: r for r in scan([str(big / n) for n in names], _opts()).files}
        report = scan([f"{server.url}/{n}" for n in names], _opts())
        for r in report.files:
            name = r.path.rsplit("/", 1)[1]
            assert r.size >= GIB, name
            assert r.status == FileStatus.SCANNED and r.verdict == local[name].verdict, name
            assert _rules(r) == _rules(local[name]), name
            assert r.formats == local[name].formats and r.formats, name
            # the server's own count: a few MB at most of a multi-GB file
            assert server.served[name] < 4 * MB, (name, server.served[name])
            assert r.bytes_fetched is not None and r.bytes_fetched < 4 * MB
    finally:
        server.close()


# ------------------------------------------------------------------------------ failures


def test_network_errors_are_retried_then_a_transient_one_passes(static: rs.StaticServer) -> None:
    static.fail_next = 2  # fewer failures than attempts
    try:
        (r,) = scan(f"{static.url}/examples/clean_dense.keras", _opts()).files
    finally:
        static.fail_next = 0
    assert r.verdict == Verdict.ALLOWED and "MX-SCAN-012" not in _rules(r)


def test_a_persistent_failure_is_an_error_never_a_pass(static: rs.StaticServer) -> None:
    static.fail_next = 10_000
    try:
        report = scan(f"{static.url}/examples/clean_dense.keras", _opts())
    finally:
        static.fail_next = 0
    (r,) = report.files
    assert r.verdict == Verdict.ERROR and "MX-SCAN-012" in _rules(r)
    assert report.failed


def test_a_read_failing_mid_scan_is_an_error_finding(
    static: rs.StaticServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing works, then every range read fails: MX-SCAN-012 on the file, verdict error."""
    real = remote.HttpStore.read

    def failing(self: remote.HttpStore, obj: Any, start: int, end: int) -> bytes:
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(remote.HttpStore, "read", failing)
    (r,) = scan(f"{static.url}/examples/malicious_lambda.h5", _opts()).files
    monkeypatch.setattr(remote.HttpStore, "read", real)
    assert r.verdict == Verdict.ERROR and "MX-SCAN-012" in _rules(r)
    assert r.bytes_fetched == 0


def test_a_server_ignoring_range_is_refused_not_downloaded(static: rs.StaticServer) -> None:
    static.ignore_range = True
    static.reset()
    try:
        (r,) = scan(f"{static.url}/examples/clean_dense.keras", _opts()).files
    finally:
        static.ignore_range = False
    assert r.verdict == Verdict.ERROR and "MX-SCAN-012" in _rules(r)


def test_credentials_never_reach_the_report(static: rs.StaticServer) -> None:
    import io
    import json

    from modelxray.reports import render

    secret = "s3cr3t-pa55"
    token = "hf_abcdefghijklmnopqrstuvwx"
    url = static.url.replace("http://", f"http://alice:{secret}@")
    report = scan(
        [
            f"{url}/examples/clean_dense.keras?X-Amz-Signature={secret}&token={token}",
            f"{url}/no/such/file.pkl?sig={secret}",
        ],
        _opts(),
    )
    for fmt in ("json", "console", "sarif", "html"):
        out = io.StringIO()
        render(report, fmt, out)
        text = out.getvalue()
        if fmt == "sarif":
            validate_sarif(json.loads(text))
        assert secret not in text and token not in text and "alice" not in text, fmt
    verdicts = sorted(str(r.verdict) for r in report.files)
    assert verdicts == ["allowed", "error"]


def test_scrub() -> None:
    s = remote.scrub(
        "GET https://u:p@h.example/x?sig=abc failed; Authorization: Bearer hf_0123456789abcdef"
    )
    assert "u:p" not in s and "sig=abc" not in s and "hf_0123456789abcdef" not in s


# ------------------------------------------------------------------------------ s3 (moto)


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    with rs.moto_s3() as endpoint:
        yield endpoint


def test_s3_folder_verdicts_equal_local_verdicts(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in rs.s3_env(s3).items():
        monkeypatch.setenv(k, v)
    for top in CORPUS:
        n = rs.upload(s3, "corpus", ROOT / top, prefix=f"{top}/")
        assert n > 0
    for top in CORPUS:
        local = scan(str(ROOT / top), _opts())
        there = scan(f"s3://corpus/{top}", _opts())
        _same_folder(local, there, ROOT / top, f"s3://corpus/{top}/")


def test_s3_missing_bucket_is_an_error(s3: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in rs.s3_env(s3).items():
        monkeypatch.setenv(k, v)
    report = scan("s3://no-such-bucket/models/", _opts())
    (r,) = report.files
    assert r.verdict == Verdict.ERROR and "MX-SCAN-012" in _rules(r)


def _same_folder(local: Report, there: Report, folder: Path, prefix: str) -> None:
    here = {Path(r.path).relative_to(folder).as_posix(): r for r in local.files}
    got = {r.path[len(prefix) :]: r for r in there.files}
    assert sorted(here) == sorted(got)
    for name, r in here.items():
        assert got[name].verdict == r.verdict, name
        if not _sibling_dependent(r):
            assert (got[name].status, _rules(got[name])) == (r.status, _rules(r)), name


# ------------------------------------------------------------------------------ hf (fake hub)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[rs.FakeHub]:
    server = rs.FakeHub(page_size=40)  # the listing of tests/data takes several pages
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    yield server
    server.close()


def test_hub_repo_verdicts_equal_local_and_lfs_sha256_is_recorded(hub: rs.FakeHub) -> None:
    for top in CORPUS:
        repo = hub.add(rs.hub_repo(f"org/{top.replace('/', '-')}", ROOT / top))
        local = scan(str(ROOT / top), _opts())
        hub.reset()
        there = scan(f"hf://{repo.repo_id}", _opts())
        _same_folder(local, there, ROOT / top, f"hf://{repo.repo_id}/")
        for r in there.files:
            f = repo.files[r.path[len(f"hf://{repo.repo_id}/") :]]
            assert r.revision == repo.commit
            assert r.sha256 == (f.lfs_sha256 or ""), r.path  # given without a download


def test_hub_revision_subfolder_and_include_exclude(
    hub: rs.FakeHub, local_corpus: dict[str, FileResult]
) -> None:
    repo = hub.add(rs.hub_repo("org/data", ROOT / "tests" / "data"))
    report = scan("hf://org/data@main/joblib_legacy", _opts())
    assert report.files and all(
        r.path.startswith("hf://org/data/joblib_legacy/") for r in report.files
    )
    assert {r.revision for r in report.files} == {repo.commit}
    blocked = next(
        name
        for name, r in local_corpus.items()
        if name.startswith("tests/data/") and r.verdict == Verdict.BLOCKED
    )
    rel = blocked[len("tests/data/") :]
    (r,) = scan(f"hf://org/data@{repo.commit}/{rel}", _opts()).files
    assert r.path == f"hf://org/data/{rel}" and r.verdict == Verdict.BLOCKED
    # patterns match the path inside the repository, as in its clone
    hub.add(rs.hub_repo("org/templates", ROOT / "tests" / "data" / "templates"))
    everything = [r.path for r in scan("hf://org/templates", _opts()).files]
    policy = Policy(exclude=("*.jinja",))
    picked = [r.path for r in scan("hf://org/templates", ScanOptions(policy=policy, jobs=1)).files]
    assert picked and len(picked) < len(everything)
    assert picked == [p for p in everything if not p.endswith(".jinja")]
    policy = Policy(exclude=("llama_cpp",), include=("*.json", "llama_cpp/*"))
    picked = [r.path for r in scan("hf://org/templates", ScanOptions(policy=policy, jobs=1)).files]
    assert picked == ["hf://org/templates/chat_templates.json"]


def test_hub_missing_repo_or_revision_is_an_error(hub: rs.FakeHub) -> None:
    hub.add(rs.hub_repo("org/ex", ROOT / "examples"))
    for uri in ("hf://org/none", "hf://org/ex@no-such-branch", "hf://org/ex/no/such/path"):
        (r,) = scan(uri, _opts()).files
        assert r.verdict == Verdict.ERROR and "MX-SCAN-012" in _rules(r), uri


def test_hub_scan_uses_the_real_client_and_the_routes_it_calls(hub: rs.FakeHub) -> None:
    repo = hub.add(rs.hub_repo("org/ex", ROOT / "examples"))
    hub.reset()
    report = scan("hf://org/ex/", _opts())
    assert len(report.files) == 4
    paths = [p for _, p in hub.httpd.requests]
    assert "/api/models/org/ex/revision/main" in paths or "/api/models/org/ex" in paths
    assert f"/api/models/org/ex/tree/{repo.commit}" in paths
    assert any(p.startswith(f"/org/ex/resolve/{repo.commit}/") for p in paths)
    assert any(p.startswith("/lfs-cdn/") for p in paths)  # LFS reads followed the redirect


# ------------------------------------------------------------------------------ pull


def _good_repo(tmp: Path) -> Path:
    good = tmp / "good"
    good.mkdir()
    shutil.copy(ROOT / "examples" / "clean_dense.keras", good / "model.keras")
    (good / "config.json").write_text('{"model_type": "dense"}\n')
    (good / "sub").mkdir()
    shutil.copy(ROOT / "examples" / "tensor_math_lambda.keras", good / "sub" / "lambda.keras")
    return good


def _files_under(p: Path) -> list[str]:
    return (
        sorted(x.relative_to(p).as_posix() for x in p.rglob("*") if x.is_file())
        if p.exists()
        else []
    )


def test_pull_downloads_an_allowed_repo_and_verifies_it(hub: rs.FakeHub, tmp_path: Path) -> None:
    from modelxray.pull import pull

    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    out = tmp_path / "out"
    result = pull("hf://org/good", local_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert result.ok and result.commit == repo.commit
    assert sorted(Path(p).relative_to(out).as_posix() for p in result.files) == sorted(repo.files)
    for p in result.files:
        rel = Path(p).relative_to(out).as_posix()
        assert Path(p).read_bytes() == repo.files[rel].source.read_bytes()
    # into the HF cache (the default): snapshot links at the commit
    cached = pull("hf://org/good", revision="main", cache_dir=str(tmp_path / "hf-cache"))
    assert cached.ok
    for p in cached.files:
        assert f"snapshots/{repo.commit}/" in p and Path(p).is_file()


def test_pull_refuses_a_repo_with_a_blocked_file_and_writes_nothing(
    hub: rs.FakeHub, tmp_path: Path
) -> None:
    from modelxray.pull import pull

    hub.add(rs.hub_repo("org/ex", ROOT / "examples"))
    out = tmp_path / "out"
    hub.reset()
    result = pull("hf://org/ex", local_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert not result.ok and "malicious_lambda.h5" in (result.refused or "")
    assert not out.exists()
    assert _files_under(tmp_path / "hf-cache") == []
    assert not any(m == "HEAD" for m, _ in hub.httpd.requests)  # no download was attempted
    cached = pull("hf://org/ex", cache_dir=str(tmp_path / "hf-cache"))
    assert not cached.ok and _files_under(tmp_path / "hf-cache") == []


@pytest.mark.parametrize("changed", ["config.json", "model.keras"])  # git-stored and LFS
def test_pull_refuses_bytes_that_changed_between_scan_and_download(
    hub: rs.FakeHub, tmp_path: Path, changed: str
) -> None:
    from modelxray.pull import pull

    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    swapped = tmp_path / "swapped"
    original = repo.files[changed].source.read_bytes()
    swapped.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, other bytes
    hub.swap_when_downloaded("org/good", changed, swapped)
    out = tmp_path / "out"
    result = pull("hf://org/good", local_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert not result.ok and changed in (result.refused or "") and result.files == ()
    assert not out.exists()
    hub.swap("org/good", changed, repo.files[changed].source)  # back to what was scanned
    hub.swap_when_downloaded("org/good", changed, swapped)
    cached = pull("hf://org/good", cache_dir=str(tmp_path / "hf-cache"))
    assert not cached.ok
    assert [
        p for p in _files_under(tmp_path / "hf-cache") if "/snapshots/" in p and changed in p
    ] == []
    blob = hashlib.sha256(swapped.read_bytes()).hexdigest()
    assert not any(blob in p for p in _files_under(tmp_path / "hf-cache"))


def test_pull_cli_exit_codes(hub: rs.FakeHub, tmp_path: Path) -> None:
    from modelxray.cli import main

    hub.add(rs.hub_repo("org/ex", ROOT / "examples"))
    hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    assert main(["pull", "--no-policy", "hf://org/ex", "--local-dir", str(tmp_path / "a")]) == 1
    assert not (tmp_path / "a").exists()
    assert main(["pull", "--no-policy", "hf://org/good", "--local-dir", str(tmp_path / "b")]) == 0
    assert set(_files_under(tmp_path / "b")) >= {"config.json", "model.keras", "sub/lambda.keras"}
    assert main(["pull", "--no-policy", "s3://bucket/x"]) == 2


def test_pull_rescans_what_it_wrote(hub: rs.FakeHub, tmp_path: Path) -> None:
    """A hub that serves harmless ranges while the scan reads and the blob its LFS oid names
    at download: the hashes match, the bytes written are scanned again and refused."""
    from modelxray.pull import pull

    marker = tmp_path / "marker"
    evil = b"\x80\x04cos\nsystem\n(V" + f"echo pwned > {marker}".encode() + b"\ntR."
    benign = b"\x80\x04V" + b"a" * (len(evil) - 5) + b"\n."
    assert len(benign) == len(evil)
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(evil)
    repo = hub.add(rs.hub_repo("org/sly", folder))
    assert repo.files["model.pkl"].lfs_sha256 == hashlib.sha256(evil).hexdigest()
    (tmp_path / "benign.pkl").write_bytes(benign)
    hub.swap("org/sly", "model.pkl", tmp_path / "benign.pkl")
    hub.swap_when_downloaded("org/sly", "model.pkl", folder / "model.pkl")
    out = tmp_path / "out"
    result = pull("hf://org/sly", local_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))
    (scanned,) = result.report.files
    assert scanned.verdict == Verdict.ALLOWED  # what the range reads saw
    assert not result.ok and "do not pass the scan" in (result.refused or "")
    assert not out.exists() and not marker.exists()


def test_remote_folder_over_worker_processes_matches_one_process(hub: rs.FakeHub) -> None:
    """Forked workers rebuild their own clients from the picklable spec."""
    hub.add(rs.hub_repo("org/data", ROOT / "tests" / "data" / "joblib_legacy"))
    one = scan("hf://org/data", _opts())
    two = scan("hf://org/data", ScanOptions(policy=Policy(), jobs=2))
    assert len(one.files) >= 8
    assert [(r.path, r.verdict, _rules(r), r.sha256) for r in two.files] == [
        (r.path, r.verdict, _rules(r), r.sha256) for r in one.files
    ]
    assert all(r.bytes_fetched is not None for r in two.files)


def test_fsspec_store_walks_and_reads_ranges() -> None:
    """The generic fsspec path (what gs:// and az:// use through gcsfs/adlfs), on fsspec's
    in-memory file system: listing with sizes, exact range reads through the block cache."""
    import fsspec

    from modelxray.sources.interface import StoreSpec

    fs = fsspec.filesystem("memory")
    data = (ROOT / "examples" / "clean_dense.keras").read_bytes()
    fs.pipe("/bucket-x/models/a/clean.keras", data)
    fs.pipe("/bucket-x/models/b.txt", b"hello")
    try:
        store = remote.FsspecStore(StoreSpec("memory", "/bucket-x"))
        found = list(store.walk("models"))
        assert [(o.key, o.size) for o in found] == [
            ("models/a/clean.keras", len(data)),
            ("models/b.txt", 5),
        ]
        blob = remote.RemoteBlob(found[0])
        assert blob.read(100, 5000) == data[100:5100]
        assert blob.read(len(data) - 22, 100) == data[-22:]
        with blob.open() as f:
            f.seek(30)
            assert f.read(10) == data[30:40]
        assert blob.fetched <= len(data)
        assert blob.sha256() == hashlib.sha256(data).hexdigest()
    finally:
        fs.rm("/bucket-x", recursive=True)


def test_a_policy_file_in_a_remote_repo_is_reported_as_a_local_one_is(
    hub: rs.FakeHub, tmp_path: Path
) -> None:
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "modelxray.toml").write_text('fail_on = "none"\n')
    shutil.copy(ROOT / "examples" / "clean_dense.keras", folder / "model.keras")
    hub.add(rs.hub_repo("org/lenient", folder))
    local = {Path(r.path).name: r for r in scan(str(folder), _opts()).files}
    there = {r.path.rsplit("/", 1)[1]: r for r in scan("hf://org/lenient", _opts()).files}
    assert "MX-REPO-106" in _rules(local["modelxray.toml"])
    for name, r in local.items():
        assert (there[name].verdict, _rules(there[name])) == (r.verdict, _rules(r)), name
    finding = next(f for f in there["modelxray.toml"].findings if f.rule_id == "MX-REPO-106")
    assert str(finding.location).startswith("hf://org/lenient/modelxray.toml")
    import tempfile

    assert os.path.join(tempfile.gettempdir(), "tmp") not in str(finding.to_dict())  # no copy


def _onnx_folder(tmp: Path) -> Path:
    """ONNX models whose external data sits beside them: one saved by onnx itself, and
    hand-set locations that are in range, out of range and missing."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from tests.test_onnx import add_node, external, save

    folder = tmp / "onnx"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "w.bin").write_bytes(bytes(64))
    save(folder / "in_range.onnx", [add_node()], [external("W", "weights/w.bin", offset="16")])
    save(folder / "too_far.onnx", [add_node()], [external("W", "weights/w.bin", offset="60")])
    save(folder / "missing.onnx", [add_node()], [external("W", "absent.bin")])
    w = numpy_helper.from_array(np.ones((64, 64), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", onnx.TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("Y", onnx.TensorProto.FLOAT, [1, 64])],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(
        model, str(folder / "real.onnx"), save_as_external_data=True, location="real.data",
        size_threshold=0,
    )  # fmt: skip
    return folder


def test_onnx_external_data_is_checked_beside_a_remote_model(
    hub: rs.FakeHub, tmp_path: Path
) -> None:
    folder = _onnx_folder(tmp_path)
    local = scan(str(folder), _opts())
    hub.add(rs.hub_repo("org/onnx", folder))
    there = scan("hf://org/onnx", _opts())
    _same_folder(local, there, folder, "hf://org/onnx/")
    got = {r.path.rsplit("/", 1)[1]: r for r in there.files}
    assert "MX-ONNX-002" in _rules(got["too_far.onnx"]) and "MX-ONNX-002" in _rules(
        got["missing.onnx"]
    )
    assert _rules(got["in_range.onnx"]) == [] and _rules(got["real.onnx"]) == []
    # the data files are the models' data, as in a local scan
    assert got["real.data"].status == FileStatus.SCANNED
    assert _rules(got["real.data"]) == ["MX-SCAN-011"]
    server = rs.StaticServer(folder)
    try:
        for name in ("too_far.onnx", "missing.onnx", "in_range.onnx", "real.onnx"):
            (r,) = scan(f"{server.url}/{name}", _opts()).files
            assert _rules(r) == _rules(got[name]), name
    finally:
        server.close()


def test_repository_code_is_looked_up_beside_a_remote_config(
    hub: rs.FakeHub, tmp_path: Path
) -> None:
    """``auto_map`` naming a module shipped in the repository is judged the same remotely."""
    import json

    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "x", "auto_map": {"AutoModel": "modeling_x.XModel"}})
    )
    (folder / "modeling_x.py").write_text("class XModel:\n    pass\n")
    local = scan(str(folder), _opts())
    hub.add(rs.hub_repo("org/code", folder))
    there = scan("hf://org/code", _opts())
    _same_folder(local, there, folder, "hf://org/code/")
    (config,) = [r for r in there.files if r.path.endswith("config.json")]
    present = [f.evidence.get("module_file_present") for f in config.findings]
    assert True in present, [f.to_dict() for f in config.findings]


def test_scan_cli_takes_uris(static: rs.StaticServer, capsys: pytest.CaptureFixture[str]) -> None:
    from modelxray.cli import main

    assert main(["scan", "--no-policy", f"{static.url}/examples/clean_dense.keras"]) == 0
    out = capsys.readouterr().out
    assert "fetched 11,544 of 11,544 bytes" in out
    assert main(["scan", "--no-policy", f"{static.url}/examples/malicious_lambda.h5"]) == 1
    assert main(["scan", "--no-policy", f"{static.url}/examples/absent.keras"]) == 1
    capsys.readouterr()


def test_verbose_logs_carry_no_credentials(
    s3: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``-v`` turns on debug logging; botocore's request logs (the signed Authorization
    header names the access key) stay out."""
    import logging

    from modelxray.cli import main

    for k, v in rs.s3_env(s3).items():
        monkeypatch.setenv(k, v)
    key_id = "AKIAFAKEVERBOSE123456"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    rs.upload(s3, "verbose-logs", ROOT / "examples")
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.DEBUG)  # what -v sets (pytest's own handler keeps basicConfig out)
    try:
        assert main(["-v", "scan", "--no-policy", "s3://verbose-logs/"]) == 1
    finally:
        root.setLevel(old)
        root.removeHandler(handler)
    captured = capsys.readouterr()
    assert "s3://verbose-logs/malicious_lambda.h5" in captured.out
    assert key_id not in captured.out + captured.err


def test_requirements_includes_are_followed_inside_a_remote_folder(
    hub: rs.FakeHub, tmp_path: Path
) -> None:
    folder = tmp_path / "repo"
    (folder / "extra").mkdir(parents=True)
    (folder / "requirements.txt").write_text("-r extra/more.in\nnumpy\n-r ../outside.in\n")
    (folder / "extra" / "more.in").write_text(
        "--extra-index-url https://pypi.example.invalid/simple\ntorch\n"
    )
    local = {Path(r.path).name: r for r in scan(str(folder), _opts()).files}
    hub.add(rs.hub_repo("org/reqs", folder))
    there = {r.path.rsplit("/", 1)[1]: r for r in scan("hf://org/reqs", _opts()).files}
    req, remote_req = local["requirements.txt"], there["requirements.txt"]
    inside = [str(f.location) for f in req.findings if "more.in" in str(f.location)]
    assert inside  # the included file's index line was judged, as the include
    assert sorted(str(f.location).split("requirements.txt", 1)[1] for f in req.findings) == (
        sorted(str(f.location).split("requirements.txt", 1)[1] for f in remote_req.findings)
    )
    assert (remote_req.verdict, _rules(remote_req)) == (req.verdict, _rules(req))


def test_a_listing_over_the_file_limit_stops_with_a_finding(
    hub: rs.FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source listing more files than ``MAX_REMOTE_FILES`` is scanned up to the limit and
    the rest is an incomplete-scan finding (verdict error), never a silent pass."""
    hub.add(rs.hub_repo("org/many", ROOT / "tests" / "data" / "templates"))
    monkeypatch.setattr(remote, "MAX_REMOTE_FILES", 3)
    report = scan("hf://org/many", _opts())
    scanned = [r for r in report.files if r.path.startswith("hf://org/many/")]
    assert len(scanned) == 3
    (limit,) = [r for r in report.files if r not in scanned]
    assert [f.rule_id for f in limit.findings] == ["MX-SCAN-002"]
    assert limit.findings[0].evidence["limit"] == "max_remote_files"
    assert limit.verdict == Verdict.ERROR and report.failed
