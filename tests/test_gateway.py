"""The Hugging Face-compatible gateway (issue 18, item 2), over real HTTP on loopback.

The real ``huggingface_hub`` client downloads through the gateway (uvicorn, started here)
from the fake upstream hub of ``remote_servers.FakeHub``.  Malicious samples carry harmless
payloads (a marker file); nothing here loads what it scans, and the marker never appears.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
pytest.importorskip("httpx")

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from huggingface_hub import hf_hub_download, snapshot_download  # noqa: E402
from huggingface_hub.errors import HfHubHTTPError  # noqa: E402

import tests.remote_servers as rs  # noqa: E402
from modelxray.engine import ScanOptions  # noqa: E402
from modelxray.model import FileResult  # noqa: E402
from modelxray.policy import Policy  # noqa: E402
from modelxray.serve.gateway import (  # noqa: E402
    GatewaySettings,
    create_gateway_app,
    isolated_scan,
)
from modelxray.sources import remote  # noqa: E402
from modelxray.sources.interface import SourceFile  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(remote, "BACKOFF", 0.01)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")


@pytest.fixture
def hub() -> Iterator[rs.FakeHub]:
    server = rs.FakeHub()
    yield server
    server.close()


class Running:
    def __init__(self, server: uvicorn.Server, port: int, scans: list[str]) -> None:
        self.server, self.scans = server, scans
        self.url = f"http://127.0.0.1:{port}"


@dataclass
class Gw:
    """Starts gateways for a test; ``after_scan`` runs after every scan (a test's hook)."""

    hub: rs.FakeHub
    tmp: Path
    started: list[tuple[uvicorn.Server, threading.Thread]]

    def start(self, **kw: object) -> Running:
        scans: list[str] = []
        hooks = kw.pop("after_scan", None)

        def scanner(source: SourceFile, options: ScanOptions) -> FileResult:
            result = isolated_scan(source, options)  # the gateway's default
            kind = "remote" if source.remote is not None else "local"
            scans.append(f"{kind} {source.display}")
            if callable(hooks):
                hooks(source)
            return result

        settings = GatewaySettings(
            upstream=self.hub.url,
            blob_dir=self.tmp / "gw" / "blobs",
            verdict_cache=self.tmp / "gw" / "verdicts.sqlite",
            **kw,  # type: ignore[arg-type]
        )
        port = rs.free_port()
        config = uvicorn.Config(
            create_gateway_app(settings, scanner), host="127.0.0.1", port=port, log_level="error"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        self.started.append((server, thread))
        while not server.started:  # uvicorn sets it once the socket listens
            if not thread.is_alive():
                raise RuntimeError("the gateway did not start")
            threading.Event().wait(0.02)
        return Running(server, port, scans)


@pytest.fixture
def gw(hub: rs.FakeHub, tmp_path: Path) -> Iterator[Gw]:
    g = Gw(hub, tmp_path, [])
    yield g
    for server, thread in g.started:
        server.should_exit = True
        thread.join(10)


def _good_repo(tmp: Path) -> Path:
    good = tmp / "good"
    (good / "sub").mkdir(parents=True)
    shutil.copy(ROOT / "examples" / "clean_dense.keras", good / "model.keras")
    (good / "config.json").write_text('{"model_type": "dense"}\n')
    shutil.copy(ROOT / "examples" / "tensor_math_lambda.keras", good / "sub" / "lambda.keras")
    return good


def _evil_pickle(marker: Path) -> bytes:
    return b"\x80\x04cos\nsystem\n(V" + f"echo pwned > {marker}".encode() + b"\ntR."


def _http_error(exc: BaseException | None) -> HfHubHTTPError:
    """The HTTP error the client raised, or the one its error was caused by."""
    while exc is not None and not isinstance(exc, HfHubHTTPError):
        exc = exc.__cause__
    assert isinstance(exc, HfHubHTTPError)
    return exc


def _files(p: Path) -> list[str]:
    return sorted(x.relative_to(p).as_posix() for x in p.rglob("*") if x.is_file())


# ------------------------------------------------------------------------------ allowed


def test_clean_files_download_byte_identical_through_the_gateway(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path
) -> None:
    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    g = gw.start()
    hub.reset()
    # the client finds the gateway the way users point it there: HF_ENDPOINT, read when
    # huggingface_hub is imported (so in a process of its own)
    script = (
        "import json, sys\n"
        "from huggingface_hub import hf_hub_download, snapshot_download\n"
        "c = sys.argv[1]\n"
        "print(json.dumps([hf_hub_download('org/good', 'model.keras', cache_dir=c + '/c1'),\n"
        "    hf_hub_download('org/good', 'config.json', cache_dir=c + '/c1'),\n"
        "    snapshot_download('org/good', cache_dir=c + '/c2'),\n"
        "    snapshot_download('org/good', local_dir=c + '/local')]))\n"
    )
    env = {**os.environ, "HF_ENDPOINT": g.url, "HF_HUB_DISABLE_XET": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "0"}  # fmt: skip
    env.pop("HF_TOKEN", None)
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    model, config, folder, local = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(model).read_bytes() == repo.files["model.keras"].source.read_bytes()
    assert f"snapshots/{repo.commit}/" in model
    assert Path(config).read_bytes() == repo.files["config.json"].source.read_bytes()
    # the client never reached the upstream: every request it saw came from the gateway,
    # which sends no HEAD (it answers those itself) and follows the LFS redirects itself
    assert hub.httpd.requests and not any(m == "HEAD" for m, *_ in hub.httpd.requests)
    for top in (folder, local):
        assert _files(Path(top)) == sorted(repo.files) or top == local
        for rel, f in repo.files.items():
            assert (Path(top) / rel).read_bytes() == f.source.read_bytes(), rel
    # verdicts are cached by LFS oid / git blob id and policy: each file was scanned once
    # by range reads and once as stored, however often it was downloaded
    assert sorted(g.scans) == sorted(
        f"{kind} hf://org/good/{name}" for name in repo.files for kind in ("local", "remote")
    )


def test_headers_the_client_needs_and_range_requests(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path
) -> None:
    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    g = gw.start()
    f = repo.files["model.keras"]
    data = f.source.read_bytes()
    url = f"{g.url}/org/good/resolve/main/model.keras"
    head = httpx.head(url)
    assert head.status_code == 200 and "location" not in head.headers
    assert head.headers["x-repo-commit"] == repo.commit
    assert head.headers["x-linked-etag"] == f'"{f.lfs_sha256}"' == head.headers["etag"]
    assert head.headers["x-linked-size"] == str(len(data)) == head.headers["content-length"]
    assert head.headers["accept-ranges"] == "bytes"
    r = httpx.get(url, headers={"Range": "bytes=100-1123"})
    assert r.status_code == 206 and r.content == data[100:1124]
    assert r.headers["content-range"] == f"bytes 100-1123/{len(data)}"
    r = httpx.get(url, headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    # a resumed download: If-Range with the current ETag keeps the range, a stale one does not
    r = httpx.get(url, headers={"Range": "bytes=5-", "If-Range": head.headers["etag"]})
    assert r.status_code == 206 and r.content == data[5:]
    r = httpx.get(url, headers={"Range": "bytes=5-", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == data
    # a git-stored file: ETag is its blob id, no X-Linked headers
    c = repo.files["config.json"]
    head = httpx.head(f"{g.url}/org/good/resolve/{repo.commit}/config.json")
    assert head.headers["etag"] == f'"{c.git_oid}"' and "x-linked-etag" not in head.headers
    # metadata passes through (pagination links rewritten to the gateway)
    info = httpx.get(f"{g.url}/api/models/org/good/revision/main").json()
    assert info["sha"] == repo.commit
    missing = httpx.get(f"{g.url}/org/good/resolve/main/nope.bin")
    assert missing.status_code == 404 and missing.headers["x-error-code"] == "EntryNotFound"
    # the upstream's refusals reach the client as the upstream gave them
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError

    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("org/none", "x.bin", cache_dir=tmp_path / "c", endpoint=g.url)
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download("org/good", "nope.bin", cache_dir=tmp_path / "c", endpoint=g.url)


# ------------------------------------------------------------------------------ refused


def test_a_malicious_file_is_refused_with_the_403_body(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path
) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(_evil_pickle(marker))
    (folder / "config.json").write_text("{}\n")
    repo = hub.add(rs.hub_repo("org/evil", folder))
    g = gw.start()
    hub.reset()
    cache = tmp_path / "cache"
    with pytest.raises(Exception) as info:  # noqa: PT011 - the client's own wrapping
        hf_hub_download("org/evil", "model.pkl", cache_dir=cache, endpoint=g.url)
    # the client answers a failed HEAD with "not in the local cache either", caused by the 403:
    # the rule IDs reach the user's traceback
    refusal = _http_error(info.value)
    assert refusal.response.status_code == 403 and "MX-PICKLE" in str(refusal)
    with pytest.raises(Exception) as info:  # noqa: PT011
        snapshot_download("org/evil", cache_dir=cache, endpoint=g.url)
    assert _http_error(info.value).response.status_code == 403
    assert not any(p.endswith("model.pkl") for p in _files(cache)) if cache.exists() else True
    r = httpx.get(f"{g.url}/org/evil/resolve/main/model.pkl")
    assert r.status_code == 403
    body = r.json()
    assert body["verdict"] == "blocked" and body["code"] == "ModelxrayBlocked"
    assert body["rule_ids"] and all(i.startswith("MX-") for i in body["rule_ids"])
    assert body["revision"] == repo.commit and body["path"] == "model.pkl"
    blocking = [f for f in body["findings"] if f["rule_id"] in body["rule_ids"]]
    assert blocking and all(f["message"] and f["rule_page"].endswith(".md") for f in blocking)
    assert body["identity"] == f"sha256-{repo.files['model.pkl'].lfs_sha256}"
    report = httpx.get(body["report"])
    assert (
        report.status_code == 200 and report.json()["verdicts"][0]["rule_ids"] == (body["rule_ids"])
    )
    # refused on the range-read scan: never downloaded, never stored
    # the range-read verdict is not reused (it is not proven to be about the listed bytes):
    # each request scans again, never downloading the file
    assert set(s for s in g.scans if "model.pkl" in s) == {"remote hf://org/evil/model.pkl"}
    assert body["identity"] not in _files(tmp_path / "gw" / "blobs")
    assert not marker.exists()


def test_a_file_changed_upstream_after_its_scan_is_not_served(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path
) -> None:
    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    changed: dict[str, Path] = {}
    for name in ("config.json", "model.keras"):  # git-stored and LFS
        original = repo.files[name].source.read_bytes()
        p = tmp_path / f"changed-{name}"
        p.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, other bytes
        changed[name] = p

    def swap(source: SourceFile) -> None:
        if source.remote is not None and source.remote.key in changed:
            hub.swap("org/good", source.remote.key, changed[source.remote.key])

    g = gw.start(after_scan=swap)
    for name in changed:
        cache = tmp_path / f"cache-{name}"
        with pytest.raises(Exception) as info:  # noqa: PT011
            hf_hub_download("org/good", name, cache_dir=cache, endpoint=g.url)
        # the HEAD's scan passed, the bytes changed before the GET fetched them: refused
        assert _http_error(info.value).response.status_code == 502
        assert "ContentChanged" in str(_http_error(info.value).response.headers)
        assert not cache.exists() or not [p for p in _files(cache) if p.endswith(name)]
        r = httpx.get(f"{g.url}/org/good/resolve/main/{name}")
        assert r.status_code == 502 and r.json()["code"] == "ContentChanged", r.text
        # scanned once by range reads (the allowed verdict saves the GET a second range-read
        # scan), never stored, never scanned as stored
        assert g.scans.count(f"remote hf://org/good/{name}") == 1
        assert f"local hf://org/good/{name}" not in g.scans
    assert _files(tmp_path / "gw" / "blobs") == []
    # once stored and verified, a file is served from the blob store: what was scanned
    hub.swap("org/good", "sub/lambda.keras", repo.files["sub/lambda.keras"].source)
    original = repo.files["sub/lambda.keras"].source.read_bytes()
    first = httpx.get(f"{g.url}/org/good/resolve/main/sub/lambda.keras")
    assert first.status_code == 200 and first.content == original
    hub.swap("org/good", "sub/lambda.keras", changed["model.keras"])
    again = httpx.get(f"{g.url}/org/good/resolve/main/sub/lambda.keras")
    assert again.status_code == 200 and again.content == original


def test_bytes_served_are_the_bytes_judged(gw: Gw, hub: rs.FakeHub, tmp_path: Path) -> None:
    """Range reads answered with harmless bytes, the blob (matching its LFS oid) malicious:
    the stored bytes are scanned again and refused."""
    marker = tmp_path / "marker"
    evil = _evil_pickle(marker)
    benign = b"\x80\x04V" + b"a" * (len(evil) - 5) + b"\n."
    folder = tmp_path / "sly"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(evil)
    repo = hub.add(rs.hub_repo("org/sly", folder))
    (tmp_path / "benign.pkl").write_bytes(benign)
    hub.swap("org/sly", "model.pkl", tmp_path / "benign.pkl")

    def unswap(source: SourceFile) -> None:
        if source.remote is not None:
            hub.swap("org/sly", "model.pkl", folder / "model.pkl")

    g = gw.start(after_scan=unswap)
    r = httpx.get(f"{g.url}/org/sly/resolve/main/model.pkl")
    assert r.status_code == 403 and r.json()["rule_ids"]
    assert g.scans == ["remote hf://org/sly/model.pkl", "local hf://org/sly/model.pkl"]
    assert _files(tmp_path / "gw" / "blobs") == []
    assert repo.files["model.pkl"].lfs_sha256 == hashlib.sha256(evil).hexdigest()
    assert not marker.exists() and not (tmp_path / "marker2").exists()


# ------------------------------------------------------------------------------ policy


def test_overrides_and_the_allow_list(gw: Gw, hub: rs.FakeHub, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(_evil_pickle(marker))
    good = _good_repo(tmp_path)
    hub.add(rs.hub_repo("org/good", good))
    hub.add(rs.hub_repo("strict/good", good))
    approved = hub.add(rs.hub_repo("trusted/evil", folder))
    g = gw.start(
        overrides={"strict": Policy(approved_formats=("safetensors",))},
        allow=("trusted/evil",),
    )
    assert httpx.head(f"{g.url}/org/good/resolve/main/model.keras").status_code == 200
    strict = httpx.get(f"{g.url}/strict/good/resolve/main/model.keras")
    assert strict.status_code == 403 and strict.json()["repo"] == "strict/good"
    # pre-approved: served unscanned, but still only the listed bytes
    r = httpx.get(f"{g.url}/trusted/evil/resolve/main/model.pkl")
    assert r.status_code == 200 and r.content == (folder / "model.pkl").read_bytes()
    assert "trusted" not in " ".join(g.scans)
    folder2 = tmp_path / "evil2"
    folder2.mkdir()
    (folder2 / "model.pkl").write_bytes(_evil_pickle(tmp_path / "marker2"))
    hub.add(rs.hub_repo("trusted/evil2", folder2))
    gw2 = gw.start(allow=("trusted/evil2",))
    other = tmp_path / "other.pkl"
    other.write_bytes(b"\x80\x04V" + b"b" * (len(_evil_pickle(tmp_path / "marker2")) - 5) + b"\n.")
    hub.swap("trusted/evil2", "model.pkl", other)
    r = httpx.get(f"{gw2.url}/trusted/evil2/resolve/main/model.pkl")
    assert r.status_code == 502 and r.json()["code"] == "ContentChanged"
    assert approved.commit
    assert not marker.exists() and not (tmp_path / "marker2").exists()


# ------------------------------------------------------------------------------ traversal


@pytest.mark.parametrize(
    "path",
    [
        "/org/good/resolve/main/../../../etc/passwd",
        "/org/good/resolve/main/sub/%2e%2e/%2e%2e/secret",
        "/org/good/resolve/main/sub%2F..%2F..%2Fx",
        "/org/good/resolve/main/.%2Fconfig.json",
        "/org/good/resolve/main/sub//lambda.keras",
        "/org/good/resolve/main/sub\\..\\x",
        "/org/..%2F..%2Fetc/resolve/main/passwd",
        "/datasets/../good/resolve/main/config.json",
        "/api/models/org/good/tree/main/..%2F..%2F..",
        "/api/models/org/%2e%2e/revision/main",
    ],
)
def test_path_traversal_is_refused(gw: Gw, hub: rs.FakeHub, tmp_path: Path, path: str) -> None:
    hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    g = gw.start()
    hub.reset()
    parts = urlsplit(g.url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port)
    conn.request("GET", path)  # sent as written: no client-side normalisation
    r = conn.getresponse()
    body = r.read()
    conn.close()
    assert r.status == 400, (path, body)
    assert b"refused" in body
    assert hub.httpd.requests == []  # nothing reached the upstream


@pytest.mark.parametrize(
    "path",
    [
        "/org/good/raw/main/config.json",
        "/org/good/blob/main/model.keras",
        "/api/resolve-cache/models/org/good/main/model.keras",
        "/api/models/org/good/xet-read-token/main",
        "/lfs-cdn/0000000000000000000000000000000000000000000000000000000000000000",
    ],
)
def test_byte_routes_other_than_resolve_are_not_passed_through(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path, path: str
) -> None:
    hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    g = gw.start()
    hub.reset()
    r = httpx.get(g.url + path)
    assert r.status_code == 404 and r.json()["code"] == "NotServed"
    assert hub.httpd.requests == []


def test_the_gateway_is_read_only(gw: Gw, hub: rs.FakeHub, tmp_path: Path) -> None:
    hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    g = gw.start()
    hub.reset()
    assert httpx.post(f"{g.url}/api/repos/create", json={"name": "x"}).status_code == 405
    assert httpx.delete(f"{g.url}/api/repos/delete").status_code == 405
    assert hub.httpd.requests == []
    listed = httpx.post(
        f"{g.url}/api/models/org/good/paths-info/main", data={"paths": ["config.json"]}
    )
    assert listed.status_code == 200 and listed.json()[0]["path"] == "config.json"


def test_resolve_paths_parse_every_repository_form() -> None:
    from modelxray.serve.gateway import Refused, Target, parse_resolve

    assert parse_resolve("/org/name/resolve/main/a/b.bin") == Target(
        "model", "org/name", "main", "a/b.bin"
    )
    assert parse_resolve("/gpt2/resolve/main/config.json") == Target(
        "model", "gpt2", "main", "config.json"
    )
    assert parse_resolve("/datasets/org/d/resolve/refs%2Fpr%2F1/x/resolve/y") == Target(
        "dataset", "org/d", "refs/pr/1", "x/resolve/y"
    )
    assert parse_resolve("/spaces/org/s/resolve/abc/app.py") == Target(
        "space", "org/s", "abc", "app.py"
    )
    assert parse_resolve("/api/models/org/name") is None
    for bad in ("/org/na--me/resolve/main/x", "/org/name/resolve/main/a//b"):
        with pytest.raises(Refused):
            parse_resolve(bad)


def test_the_service_mounts_the_gateway_with_an_upstream(tmp_path: Path) -> None:
    """``modelxray serve --upstream URL``: the service's own routes first, then the gateway's
    resolve routes (and its pass-through last)."""
    from fastapi.testclient import TestClient

    from modelxray.serve.app import create_app
    from modelxray.serve.config import ServeConfig

    config = ServeConfig(data_dir=str(tmp_path), upstream="http://127.0.0.1:9", workers=1)
    app = create_app(config, start_workers=False)
    with TestClient(app) as client:
        # the service's API answers first (a key is needed), not the gateway's pass-through
        assert client.get("/v1/scans").status_code == 401
        # a traversal in a resolve route is refused by the gateway, not passed upstream
        refused = client.get("/org/name/resolve/main/..%2F..%2Fetc%2Fpasswd")
        assert refused.status_code == 400
        assert client.get("/healthz").status_code == 200


def test_gateway_rules_come_from_the_serve_config_file(tmp_path: Path) -> None:
    """``modelxray serve --gateway-config FILE``: overrides by organisation or repository and
    pre-approved repositories, policy paths relative to the file."""
    from modelxray.policy import PolicyError
    from modelxray.serve.app import gateway_rules

    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "strict.toml").write_text('fail_on = "low"\n')
    config = tmp_path / "gateway.toml"
    config.write_text('allow = ["org/approved"]\n[overrides]\n"org" = "policies/strict.toml"\n')
    overrides, allow = gateway_rules(str(config))
    assert allow == ("org/approved",)
    assert set(overrides) == {"org"}
    assert overrides["org"].fail_on is not None
    config.write_text('allow = "org/approved"\n')
    with pytest.raises(PolicyError):
        gateway_rules(str(config))
    assert gateway_rules(None) == ({}, ())


# ------------------------------------------------------------------------------ blob store


def _identity(f: rs.HubFile) -> str:
    return f"sha256-{f.lfs_sha256}" if f.lfs_sha256 else f"git-{f.git_oid}"


def _blobs(tmp: Path) -> set[str]:
    return {p.name for p in (tmp / "gw" / "blobs").iterdir() if not p.name.startswith(".")}


def test_the_blob_store_evicts_the_least_recently_served_and_keeps_the_verdicts(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path
) -> None:
    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    a, b, c = (repo.files[n] for n in ("model.keras", "config.json", "sub/lambda.keras"))
    assert b.size < min(a.size, c.size)
    g = gw.start(blob_cap=a.size + c.size)  # any two but not three
    url = f"{g.url}/org/good/resolve/main/"
    for name in ("model.keras", "config.json", "model.keras"):  # b is now the least recent
        assert httpx.get(url + name).content == repo.files[name].source.read_bytes()
    assert _blobs(tmp_path) == {_identity(a), _identity(b)}
    # the real client, to the third file: the least recently served blob goes
    got = hf_hub_download("org/good", "sub/lambda.keras", cache_dir=tmp_path / "c", endpoint=g.url)
    assert Path(got).read_bytes() == c.source.read_bytes()
    assert _blobs(tmp_path) == {_identity(a), _identity(c)}
    scans = list(g.scans)
    # asked for again: downloaded again, hash-checked, served under the verdict it had
    hub.reset()
    assert httpx.get(url + "config.json").content == b.source.read_bytes()
    assert hub.httpd.requests, "not downloaded again"
    assert g.scans == scans  # not scanned again
    assert _blobs(tmp_path) == {_identity(b), _identity(c)}  # a was the least recent
    # changed upstream while evicted: the new bytes do not hash to the identity: refused
    changed = tmp_path / "changed.keras"
    original = a.source.read_bytes()
    changed.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    hub.swap("org/good", "model.keras", changed)
    r = httpx.get(url + "model.keras")
    assert r.status_code == 502 and r.json()["code"] == "ContentChanged"
    assert _identity(a) not in _blobs(tmp_path)


def test_a_download_after_eviction_must_be_the_bytes_scanned(
    gw: Gw, hub: rs.FakeHub, tmp_path: Path
) -> None:
    """The verdict records the SHA-256 of the bytes it judged; a download after eviction that
    matches the listed identity (a git blob id is SHA-1) but not that SHA-256 is refused."""
    import sqlite3

    repo = hub.add(rs.hub_repo("org/good", _good_repo(tmp_path)))
    g = gw.start(blob_cap=0)
    url = f"{g.url}/org/good/resolve/main/config.json"
    assert httpx.get(url).status_code == 200
    assert httpx.get(f"{g.url}/org/good/resolve/main/model.keras").status_code == 200
    assert _identity(repo.files["config.json"]) not in _blobs(tmp_path)  # evicted
    db = sqlite3.connect(tmp_path / "gw" / "verdicts.sqlite")
    with db:
        (body,) = db.execute("SELECT body FROM verdicts WHERE verified = 1 AND identity = ?",
                             (_identity(repo.files["config.json"]),)).fetchone()  # fmt: skip
        record = json.loads(body)
        assert (
            record["sha256"]
            == hashlib.sha256(repo.files["config.json"].source.read_bytes()).hexdigest()
        )
        record["sha256"] = "0" * 64  # as if the scanned bytes had collided with these
        db.execute("UPDATE verdicts SET body = ? WHERE verified = 1 AND identity = ?",
                   (json.dumps(record), _identity(repo.files["config.json"])))  # fmt: skip
    db.close()
    r = httpx.get(url)
    assert r.status_code == 502 and r.json()["code"] == "ContentChanged", r.text


def test_a_blob_being_streamed_is_never_evicted(gw: Gw, hub: rs.FakeHub, tmp_path: Path) -> None:
    folder = _good_repo(tmp_path)
    big = os.urandom(1 << 16) * 512  # 32 MiB: more than the sockets between hold
    (folder / "big.bin").write_bytes(big)
    repo = hub.add(rs.hub_repo("org/good", folder))
    g = gw.start(blob_cap=1)  # every blob not in use is evicted at the next resolve
    url = f"{g.url}/org/good/resolve/main/"
    ident = _identity(repo.files["big.bin"])
    with httpx.stream("GET", url + "big.bin") as r:
        chunks = r.iter_bytes(1 << 16)
        received = [next(chunks)]
        for _ in range(3):  # other files served (each evicting what is not pinned)
            assert httpx.get(url + "config.json").status_code == 200
            assert httpx.get(url + "model.keras").status_code == 200
            assert ident in _blobs(tmp_path)
        received.extend(chunks)
    assert b"".join(received) == big
    deadline = time.monotonic() + 60
    while ident in _blobs(tmp_path) and time.monotonic() < deadline:  # released once sent
        assert httpx.get(url + "config.json").status_code == 200
        time.sleep(0.05)
    assert ident not in _blobs(tmp_path)
    scans = list(g.scans)
    assert httpx.get(url + "big.bin").content == big  # downloaded again, not scanned again
    assert g.scans == scans


def test_pinned_blobs_survive_eviction(tmp_path: Path) -> None:
    from modelxray.serve.gateway import BlobStore

    store = BlobStore(tmp_path / "blobs", cap=17)

    def add(name: str, served_at: int) -> None:
        store.path(name).write_bytes(b"x" * 8)
        os.utime(store.path(name), ns=(served_at * 10**9, served_at * 10**9))

    for i, name in enumerate(("old", "mid", "new")):
        add(name, i + 1)
    (store.folder / ".part-download").write_bytes(b"x" * 100)  # not a blob yet
    store.pin("old")
    assert store.evict() == ["mid"]  # the least recent one is pinned: the next goes
    store.unpin("old")
    add("newer", 4)
    assert store.evict() == ["old"]
    assert sorted(p.name for p in store.folder.iterdir()) == [".part-download", "new", "newer"]
