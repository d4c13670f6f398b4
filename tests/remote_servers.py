"""Loopback servers for the remote-source tests (issue 17).

* :class:`StaticServer`: files under a folder over HTTP/1.1 with single ``Range`` requests,
  ``ETag``/``If-Range``, and a count of the body bytes it served per path (the tests' measure
  of what the scanner fetched).
* :class:`FakeHub`: the routes ``huggingface_hub`` calls, over fixture repositories: model info
  at a revision (``/api/models/{id}[/revision/{rev}]``), the tree listing with LFS oids
  (``/api/models/{id}/tree/{rev}[/{path}]``, paginated by ``Link``), ``paths-info``, and
  ``/{id}/resolve/{rev}/{path}`` (``HEAD``/``GET``, with ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag``/``X-Linked-Size``; LFS files redirect to a CDN route that serves ranges).
  A test can swap what a file's URL serves (the listing keeps the old oid): a hub whose bytes
  change between scan and download.
* :func:`moto_s3`: moto's S3 API in server mode on loopback.

Everything binds 127.0.0.1 and port 0; nothing here reaches the network.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

_RANGE = re.compile(r"bytes=(\d*)-(\d*)$")
LFS_THRESHOLD = 1024  # files this size or larger (or not UTF-8) are stored in LFS


def _range(header: str | None, size: int) -> tuple[int, int] | None | bool:
    """(start, end exclusive) for a satisfiable single range, None for no header, False for
    an unsatisfiable one."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if m is None or (not m[1] and not m[2]):
        return None  # not a form we serve: the whole file, as servers do
    if not m[1]:
        n = int(m[2])
        start, end = max(0, size - n), size
    else:
        start = int(m[1])
        end = min(size, int(m[2]) + 1) if m[2] else size
    if start >= size or start >= end:
        return False
    return start, end


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        head: bool = False,
        length: int | None = None,
    ) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def serve_content(
        self, key: str, path: Path, etag: str, extra: dict[str, str], head: bool
    ) -> None:
        """``path``'s bytes with range support; body bytes counted under ``key``."""
        size = path.stat().st_size
        headers = {"ETag": etag, "Accept-Ranges": "bytes", **extra}
        wanted = _range(self.headers.get("Range"), size)
        if getattr(self.server.owner, "ignore_range", False):  # type: ignore[attr-defined]
            wanted = None
        if_range = self.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            wanted = None  # changed since the client's ETag: the whole (new) file
        if wanted is False:
            headers["Content-Range"] = f"bytes */{size}"
            return self._send(416, b"", headers, head)
        start, end = wanted if isinstance(wanted, tuple) else (0, size)
        status = 206 if isinstance(wanted, tuple) else 200
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if head:
            return
        with path.open("rb") as f:
            f.seek(start)
            left = end - start
            while left:
                chunk = f.read(min(left, 1 << 20))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
                finally:
                    self.server.count(key, len(chunk))
                left -= len(chunk)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: type[_Handler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.served: Counter[str] = Counter()
        self.requests: list[tuple[str, ...]] = []
        self.lock = threading.Lock()

    def count(self, key: str, n: int) -> None:
        with self.lock:
            self.served[key] += n


class _Running:
    def __init__(self, handler: type[_Handler]) -> None:
        self.httpd = _Server(handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def served(self) -> Counter[str]:
        return self.httpd.served

    def reset(self) -> None:
        with self.httpd.lock:
            self.httpd.served.clear()
            self.httpd.requests.clear()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# ------------------------------------------------------------------------------ static


class _StaticHandler(_Handler):
    def _file(self) -> tuple[str, Path] | None:
        key = unquote(urlsplit(self.path).path).lstrip("/")
        root: Path = self.server.owner.root  # type: ignore[attr-defined]
        path = (root / key).resolve()
        if not path.is_relative_to(root.resolve()) or not path.is_file():
            return None
        return key, path

    def _serve(self, head: bool) -> None:
        self.server.requests.append((self.command, self.path, self.headers.get("Range") or ""))
        owner: StaticServer = self.server.owner  # type: ignore[attr-defined]
        if owner.fail_next > 0:
            owner.fail_next -= 1
            return self._send(503, b"try again", head=head)
        found = self._file()
        if found is None:
            return self._send(404, b"not found", head=head)
        key, path = found
        st = path.stat()
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        self.serve_content(key, path, etag, {}, head)

    def do_GET(self) -> None:  # noqa: N802
        self._serve(False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(True)


class StaticServer(_Running):
    """Serves ``root`` with range support, counting body bytes per path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fail_next = 0  # answer this many requests with 503 first
        self.ignore_range = False
        super().__init__(_StaticHandler)


# ------------------------------------------------------------------------------ fake hub


@dataclass
class HubFile:
    path: str
    source: Path  # what the listing describes
    size: int
    git_oid: str
    lfs_sha256: str | None
    served: Path | None = None  # what resolve serves, when a test swapped it

    @property
    def etag(self) -> str:
        return self.lfs_sha256 or self.git_oid


@dataclass
class HubRepo:
    repo_id: str
    commit: str
    files: dict[str, HubFile] = field(default_factory=dict)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_text(path: Path) -> bool:
    if path.stat().st_size >= LFS_THRESHOLD:
        return False
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def hub_repo(repo_id: str, folder: Path, lfs_sha256: dict[str, str] | None = None) -> HubRepo:
    """A repository holding every file under ``folder``; LFS for large or binary files.
    ``lfs_sha256`` may give known hashes of huge (sparse) files by relative path."""
    files: dict[str, HubFile] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        rel = p.relative_to(folder).as_posix()
        size = p.stat().st_size
        if _is_text(p):
            data = p.read_bytes()
            oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324
            files[rel] = HubFile(rel, p, size, oid, None)
        else:
            sha = (lfs_sha256 or {}).get(rel) or _sha256_file(p)
            pointer = (
                f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n"
            ).encode()
            oid = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()  # noqa: S324
            files[rel] = HubFile(rel, p, size, oid, sha)
    commit = hashlib.sha1(  # noqa: S324
        json.dumps({k: v.etag for k, v in files.items()}, sort_keys=True).encode()
    ).hexdigest()
    return HubRepo(repo_id, commit, files)


class _HubHandler(_Handler):
    def _hub(self) -> FakeHub:
        return self.server.owner  # type: ignore[attr-defined,no-any-return]

    def _json(self, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data).encode()
        self._send(200, body, {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str, message: str, head: bool = False) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(status, body, {"X-Error-Code": code, "X-Error-Message": message}, head)

    def _repo(self, repo_id: str, rev: str) -> HubRepo | None:
        repo = self._hub().repos.get(repo_id)
        if repo is None or rev not in ("main", repo.commit):
            return None
        return repo

    @staticmethod
    def _entry(f: HubFile) -> dict[str, Any]:
        d: dict[str, Any] = {"type": "file", "oid": f.git_oid, "size": f.size, "path": f.path}
        if f.lfs_sha256:
            d["lfs"] = {"oid": f.lfs_sha256, "size": f.size, "pointerSize": 134}
        return d

    def _folders(self, repo: HubRepo, under: str) -> list[dict[str, Any]]:
        names = set()
        for p in repo.files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                names.add("/".join(parts[:i]))
        return [
            {"type": "directory", "oid": "0" * 40, "size": 0, "path": n}
            for n in sorted(names)
            if not under or n.startswith(under + "/")
        ]

    def _route(self, head: bool) -> None:
        hub = self._hub()
        url = urlsplit(self.path)
        path = unquote(url.path)
        self.server.requests.append((self.command, url.path))
        if hub.fail_next > 0:
            hub.fail_next -= 1
            return self._send(503, b"busy", head=head)
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/(.+))?", path):
            repo = self._repo(m[1], m[2] or "main")
            if repo is None:
                return self._error(404, "RepoNotFound", "Repository not found")
            return self._json({"id": repo.repo_id, "sha": repo.commit, "siblings": [
                {"rfilename": p} for p in repo.files]})  # fmt: skip
        if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(?:/(.*))?", path):
            return self._tree(m[1], m[2], (m[3] or "").strip("/"), url.query)
        if m := re.fullmatch(r"/lfs-cdn/([0-9a-f]{64})", path):
            for repo in hub.repos.values():
                for f in repo.files.values():
                    if f.lfs_sha256 == m[1]:
                        return self.serve_content(
                            f"{repo.repo_id}/{f.path}", f.served or f.source, f'"{m[1]}"', {}, head
                        )
            return self._send(404, b"", head=head)
        if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
            repo = self._repo(m[1], m[2])
            if repo is None:
                return self._error(404, "RevisionNotFound", "Revision not found", head)
            f = repo.files.get(m[3])
            if f is None:
                return self._error(404, "EntryNotFound", "Entry not found", head)
            if head:  # a download starts here (a scan never sends HEAD)
                for swapped, replacement in self._hub().swap_on_download.pop(repo.repo_id, []):
                    self._hub().swap(repo.repo_id, swapped, replacement)
            common = {"X-Repo-Commit": repo.commit}
            if f.lfs_sha256:
                location = f"{self._hub().cdn_url}/lfs-cdn/{f.lfs_sha256}"
                return self._send(
                    302,
                    b"",
                    {
                        **common,
                        "Location": location,
                        "ETag": f'"{f.git_oid}"',
                        "X-Linked-Etag": f'"{f.lfs_sha256}"',
                        "X-Linked-Size": str(f.size),
                    },
                    head,
                )
            return self.serve_content(
                f"{repo.repo_id}/{f.path}", f.served or f.source, f'"{f.git_oid}"', common, head
            )
        return self._error(404, "NotFound", f"no route {path}", head)

    def _tree(self, repo_id: str, rev: str, under: str, query: str) -> None:
        repo = self._repo(repo_id, rev)
        if repo is None:
            return self._error(404, "RevisionNotFound", "Revision not found")
        params = parse_qs(query)
        recursive = params.get("recursive", ["False"])[0].lower() == "true"
        entries = [
            self._entry(f)
            for p, f in sorted(repo.files.items())
            if (not under or p.startswith(under + "/"))
            and (recursive or "/" not in p[len(under) + 1 if under else 0 :])
        ] + [
            d
            for d in self._folders(repo, under)
            if recursive or "/" not in d["path"][len(under) + 1 if under else 0 :]
        ]
        if under and not entries:
            return self._error(404, "EntryNotFound", f"{under} does not exist")
        start = int(params.get("cursor", ["0"])[0])
        page = entries[start : start + self._hub().page_size]
        headers = {}
        if start + len(page) < len(entries):
            nxt = f"{self._hub().url}{urlsplit(self.path).path}?recursive={recursive}"
            headers["Link"] = f'<{nxt}&cursor={start + len(page)}>; rel="next"'
        return self._json(page, headers)

    def do_GET(self) -> None:  # noqa: N802
        self._route(False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._route(True)

    def do_POST(self) -> None:  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        self.server.requests.append(("POST", path))
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        m = re.fullmatch(r"/api/models/([^/]+/[^/]+)/paths-info/([^/]+)", path)
        if m is None:
            return self._error(404, "NotFound", f"no route {path}")
        repo = self._repo(m[1], m[2])
        if repo is None:
            return self._error(404, "RevisionNotFound", "Revision not found")
        out: list[dict[str, Any]] = []
        folders = {d["path"]: d for d in self._folders(repo, "")}
        for p in form.get("paths", []):
            p = p.strip("/")
            if p in repo.files:
                out.append(self._entry(repo.files[p]))
            elif p in folders:
                out.append(folders[p])
        return self._json(out)


class FakeHub(_Running):
    def __init__(self, page_size: int = 50) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.fail_next = 0
        self.page_size = page_size
        self.swap_on_download: dict[str, list[tuple[str, Path]]] = {}
        super().__init__(_HubHandler)
        # LFS content is served by a "CDN" on another origin (another port), as the hub's is:
        # huggingface_hub follows redirects on the hub's origin only.
        self.cdn = _Server(_HubHandler)
        self.cdn.owner = self  # type: ignore[attr-defined]
        self.cdn.served, self.cdn.lock, self.cdn.requests = (
            self.httpd.served,
            self.httpd.lock,
            self.httpd.requests,
        )
        self.cdn_thread = threading.Thread(target=self.cdn.serve_forever, daemon=True)
        self.cdn_thread.start()

    @property
    def cdn_url(self) -> str:
        host, port = self.cdn.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.cdn.shutdown()
        self.cdn.server_close()
        self.cdn_thread.join(5)
        super().close()

    def add(self, repo: HubRepo) -> HubRepo:
        self.repos[repo.repo_id] = repo
        return repo

    def swap(self, repo_id: str, path: str, replacement: Path) -> None:
        """Serve ``replacement`` at ``path`` from now on; the listing is unchanged."""
        self.repos[repo_id].files[path].served = replacement

    def swap_when_downloaded(self, repo_id: str, path: str, replacement: Path) -> None:
        """Swap at the first ``HEAD`` of a resolve URL of the repository: after the scan
        (which reads with ``GET`` only), before the download reads the file."""
        self.swap_on_download.setdefault(repo_id, []).append((path, replacement))


# ------------------------------------------------------------------------------ moto


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 in server mode on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def upload(endpoint: str, bucket: str, folder: Path, prefix: str = "") -> int:
    """Upload every file under ``folder`` with boto3; returns the count."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    n = 0
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            client.upload_file(str(p), bucket, prefix + p.relative_to(folder).as_posix())
            n += 1
    return n


os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
