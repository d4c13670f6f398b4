"""``{"uri": ...}`` scans cannot make the service fetch what its operator did not allow
(server-side request forgery): the URI allow-list, the address check made when connecting
(DNS rebinding), redirects.  Real HTTP on loopback throughout: a loopback server is refused
by default and read when configured."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import tests.remote_servers as rs
from modelxray.sources import uri_guard
from modelxray.sources.remote import iter_remote
from modelxray.sources.uri_guard import UriGuard, UriRefused

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def static(tmp_path: Path) -> Iterator[rs.StaticServer]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "clean.keras").write_bytes((EXAMPLES / "clean_dense.keras").read_bytes())
    server = rs.StaticServer(root)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def guarded() -> Iterator[None]:
    """The guard is process state (the service's workers install theirs): put back after."""
    try:
        yield
    finally:
        uri_guard.install(None)


class _Redirect(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(302)
        self.send_header("Location", self.server.target)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def redirector() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    httpd.daemon_threads = True
    httpd.target = ""  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _url(httpd: ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}"


def _refused(uri: str) -> str:
    """The reason the source layer gives for not reading ``uri`` (MX-SCAN-012)."""
    (source,) = list(iter_remote(uri))
    assert source.remote is None and source.problems, source
    (rule, message, _), *_ = source.problems
    assert rule.id == "MX-SCAN-012"
    return message


# ------------------------------------------------------------------------------ the allow-list


def test_prefixes_match_by_segment_and_refuse_traversal_and_credentials() -> None:
    g = UriGuard(("hf://org/name", "s3://bucket/prefix", "https://models.example/public/"))
    for ok in ("hf://org/name", "hf://org/name@v1/x.pt", "s3://bucket/prefix/a.pkl",
               "https://MODELS.example/public/a.pt"):  # fmt: skip
        g.check(ok)
    for bad in (
        "hf://org/name-2",  # a longer name is another repository
        "hf://org/name/../../evil/repo/x",
        "s3://bucket/prefix2/a",
        "s3://bucket/prefix/%2e%2e/secret",
        "https://models.example/private/a.pt",
        "https://models.example/public/..%2fprivate/a.pt",
        "https://models.example@evil.example/public/a.pt",  # userinfo, another host
        "https://models.example:8443/public/a.pt",  # another port
        "http://models.example/public/a.pt",  # another scheme
        "gs://bucket/prefix/a",
    ):
        with pytest.raises(UriRefused):
            g.check(bad)
    default = UriGuard()
    default.check("hf://any/repo")
    with pytest.raises(UriRefused, match="allow-list"):
        default.check("https://169.254.169.254/latest/meta-data/")
    with pytest.raises(ValueError):
        UriGuard(("file:///etc",))
    with pytest.raises(ValueError):
        UriGuard(allow_networks=("not-a-network",))


@pytest.mark.parametrize(
    "uri", ["http://]8^&68", "https://host:99999/x", "http://host:port/", "https://[::1/m.pt"]
)
def test_a_uri_whose_host_or_port_does_not_parse_is_refused(uri: str) -> None:
    """Not a crash (schemathesis found a 500 for ``http://]8^&68``): a refusal, when checked
    and when its host would be resolved."""
    guard = UriGuard(allow=("http://", "https://"))
    with pytest.raises(UriRefused, match="not a well-formed URI"):
        guard.check(uri)
    with pytest.raises(UriRefused, match="not a well-formed URI"):
        guard.check_host(uri)


def test_addresses_that_are_not_public_are_refused_unless_their_network_is_allowed() -> None:
    import ipaddress

    g = UriGuard(("https://",))
    for ip in ("127.0.0.1", "::1", "169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.0.1",
               "100.64.0.1", "0.0.0.0", "::ffff:127.0.0.1", "fe80::1", "fd00::1", "224.0.0.1",
               "240.0.0.1"):  # fmt: skip
        assert g.address_problem(ipaddress.ip_address(ip)) is not None, ip
    for ip in ("8.8.8.8", "2606:4700::1111"):
        assert g.address_problem(ipaddress.ip_address(ip)) is None
    inside = UriGuard(("https://",), ("10.1.0.0/16",))
    assert inside.address_problem(ipaddress.ip_address("10.1.2.3")) is None
    assert inside.address_problem(ipaddress.ip_address("10.2.0.1")) is not None


# ------------------------------------------------------------------------------ the service


def _post_uri(server: Any, uri: str) -> tuple[int, Any]:
    from tests.serve_support import ADMIN

    status, body = server.call(
        "POST", "/v1/scans", ADMIN, json.dumps({"uri": uri}).encode(), "application/json"
    )
    return status, json.loads(body)


def test_the_service_refuses_loopback_by_default_and_reads_it_when_configured(
    tmp_path: Path, static: rs.StaticServer
) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    from tests.serve_support import running

    uri = f"{static.url}/clean.keras"
    # the default: hf:// only; cloud metadata, loopback and a name for it are all refused
    with running(tmp_path / "a", None, workers=1) as server:
        for target in (uri, "http://169.254.169.254/latest/meta-data/",
                       f"http://localhost:{static.url.rsplit(':', 1)[1]}/clean.keras",
                       "https://[::1]/x", "s3://bucket/key"):  # fmt: skip
            status, body = _post_uri(server, target)
            assert status == 403, (target, body)
            assert body["code"] == "UriNotAllowed" and "allow-list" in body["detail"]
        assert server.json("GET", "/v1/scans")["scans"] == []  # nothing queued
    # every http URI on the allow-list: a loopback address is still refused, by its address
    with running(tmp_path / "b", None, "--allow-uri", "http://", workers=1) as server:
        status, body = _post_uri(server, uri)
        assert status == 403 and "loopback" in body["detail"], body
        status, body = _post_uri(server, "http://169.254.169.254/latest/meta-data/")
        assert status == 403 and "link-local" in body["detail"], body
    assert static.httpd.requests == []  # not one request reached the server
    # configured: this server's prefix and the loopback network
    with running(tmp_path / "c", None, "--allow-uri", f"{static.url}/",
                 "--allow-network", "127.0.0.0/8", workers=1) as server:  # fmt: skip
        status, body = _post_uri(server, uri)
        assert status == 202, body
        (done,) = server.wait_done([body["id"]]).values()
        assert done["verdict"] == "allowed", done
        assert done["report"]["files"][0]["path"] == uri
        # another prefix on the same loopback server is not on the list
        status, body = _post_uri(server, f"http://localhost:{static.url.rsplit(':', 1)[1]}/x")
        assert status == 403
    assert static.httpd.requests  # now it was read


def test_a_malformed_setting_is_a_usage_error(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    import subprocess
    import sys

    from tests.serve_support import env

    for bad in (["--allow-uri", "file:///etc"], ["--allow-network", "10.0.0.0/33"]):
        proc = subprocess.run(
            [sys.executable, "-m", "modelxray", "serve", "--data-dir", str(tmp_path), *bad],
            capture_output=True, text=True, env=env(), timeout=120,
        )  # fmt: skip
        assert proc.returncode == 2 and "modelxray serve:" in proc.stderr, proc.stderr


# ------------------------------------------------------------------------------ connect time


def test_the_address_is_checked_when_connecting_not_only_when_accepted(
    static: rs.StaticServer, guarded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name resolves to a public address when the URI is accepted and to
    loopback when the worker connects; the connection is refused then, nothing is sent."""
    port = int(static.url.rsplit(":", 1)[1])
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34", "127.0.0.1"])

    def rebinding(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            return real(next(answers), *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    guard = UriGuard(("http://",))
    guard.check_host(f"http://rebind.test:{port}/clean.keras")  # accepted: a public address
    uri_guard.install(guard)
    message = _refused(f"http://rebind.test:{port}/clean.keras")
    assert "loopback" in message and "URI guard" in message
    assert static.httpd.requests == []


def test_a_name_for_loopback_is_refused_when_connecting(
    static: rs.StaticServer, guarded: None
) -> None:
    port = static.url.rsplit(":", 1)[1]
    uri_guard.install(UriGuard((f"http://localhost:{port}/",)))
    assert "loopback" in _refused(f"http://localhost:{port}/clean.keras")
    assert static.httpd.requests == []
    # the same server, its network allowed (both families "localhost" may name)
    uri_guard.install(UriGuard((f"http://localhost:{port}/",), ("127.0.0.0/8", "::1/128")))
    (source,) = list(iter_remote(f"http://localhost:{port}/clean.keras"))
    assert source.remote is not None and not source.problems
    assert static.httpd.requests


def test_redirects_are_followed_only_to_allowed_uris_and_addresses(
    static: rs.StaticServer, redirector: ThreadingHTTPServer, guarded: None
) -> None:
    hop = _url(redirector)
    # off the allow-list (another port of the same host): not followed
    redirector.target = f"{static.url}/clean.keras"  # type: ignore[attr-defined]
    uri_guard.install(UriGuard((f"{hop}/",), ("127.0.0.0/8",)))
    assert "redirect not followed" in _refused(f"{hop}/model")
    assert static.httpd.requests == []
    # to the metadata address: on the allow-list ("http://"), refused by its address
    redirector.target = "http://169.254.169.254/latest/meta-data/"  # type: ignore[attr-defined]
    uri_guard.install(UriGuard(("http://",), ("127.0.0.0/8",)))
    assert "link-local" in _refused(f"{hop}/model")
    # to an allowed URI: followed, read
    redirector.target = f"{static.url}/clean.keras"  # type: ignore[attr-defined]
    uri_guard.install(UriGuard((f"{hop}/", f"{static.url}/"), ("127.0.0.0/8",)))
    (source,) = list(iter_remote(f"{hop}/model"))
    assert source.remote is not None and not source.problems, source.problems
    assert static.httpd.requests


def test_without_a_guard_the_command_line_reads_what_its_user_names(
    static: rs.StaticServer,
) -> None:
    assert uri_guard.active() is None
    (source,) = list(iter_remote(f"{static.url}/clean.keras"))
    assert source.remote is not None and not source.problems


class _Recording(BaseHTTPRequestHandler):
    """Serves one small file, recording the Authorization header each request carried."""

    protocol_version = "HTTP/1.1"
    body = (EXAMPLES / "clean_dense.keras").read_bytes()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self, with_body: bool) -> None:
        self.server.seen.append(self.headers.get("Authorization"))  # type: ignore[attr-defined]
        data = self.body
        ranged = self.headers.get("Range")
        status = 200
        if ranged:
            start, _, end = ranged.split("=", 1)[1].partition("-")
            data = data[int(start) : int(end or len(data) - 1) + 1]
            status = 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{int(start) + len(data) - 1}/"
                             f"{len(self.body)}")  # fmt: skip
        self.end_headers()
        if with_body:
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(True)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(False)


@pytest.mark.parametrize("guard", [False, True], ids=["command line", "service"])
def test_credentials_in_a_url_never_follow_a_redirect_to_another_origin(
    redirector: ThreadingHTTPServer, guarded: None, guard: bool
) -> None:
    """``https://user:pass@host/…``: urllib copies the Authorization header to wherever a
    redirect points; it must stay with the origin it was given for."""
    other = ThreadingHTTPServer(("127.0.0.1", 0), _Recording)
    other.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        redirector.target = f"{_url(other)}/clean.keras"  # type: ignore[attr-defined]
        hop = _url(redirector)
        if guard:
            uri_guard.install(UriGuard((f"{hop}/", f"{_url(other)}/"), ("127.0.0.0/8",)))
        creds = hop.replace("http://", "http://user:s3cret@")
        (source,) = list(iter_remote(f"{creds}/model.keras"))
        assert source.remote is not None and not source.problems, source.problems
        assert other.seen and set(other.seen) == {None}  # type: ignore[attr-defined]
    finally:
        other.shutdown()
        other.server_close()


def test_bucket_prefixes_on_the_allow_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--allow-uri s3://bucket/prefix`` (moto's S3 on loopback, the endpoint the operator
    configured): that prefix is scanned, a neighbour prefix and the default hf:// are not."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed")
    pytest.importorskip("boto3")
    pytest.importorskip("moto")
    from tests.serve_support import running

    approved, other = tmp_path / "approved", tmp_path / "approved-not"
    approved.mkdir()
    other.mkdir()
    (approved / "clean.keras").write_bytes((EXAMPLES / "clean_dense.keras").read_bytes())
    (other / "evil.pkl").write_bytes(b"cposix\nsystem\n(Vecho pwned\ntR.")
    with rs.moto_s3() as endpoint:
        rs.upload(endpoint, "models", approved, "approved/")
        rs.upload(endpoint, "other", other, "approved-not/")
        for k, v in rs.s3_env(endpoint).items():
            monkeypatch.setenv(k, v)
        with running(tmp_path / "data", None, "--allow-uri", "s3://models/approved",
                     workers=1) as server:  # fmt: skip
            for refused in ("s3://models/approved-not/evil.pkl", "s3://other/approved/x",
                            "s3://models/approved/../secret", "hf://org/name"):  # fmt: skip
                status, body = _post_uri(server, refused)
                assert status == 403 and body["code"] == "UriNotAllowed", (refused, body)
            status, body = _post_uri(server, "s3://models/approved")
            assert status == 202, body
            (done,) = server.wait_done([body["id"]]).values()
            assert done["verdict"] == "allowed", done
            assert [f["path"] for f in done["report"]["files"]] == [
                "s3://models/approved/clean.keras"
            ]
