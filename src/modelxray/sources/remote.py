"""Remote sources: list a hub repository, bucket prefix or web file, read it by range requests.

``hf://[datasets/|spaces/]org/name[@revision][/path]``
    through ``huggingface_hub`` (extra ``[hf]``): the revision is resolved to a commit, the
    tree is listed at that commit (with each LFS file's SHA-256), and every read goes to the
    ``resolve`` URL of that commit, so nothing can change between reads.
``s3://bucket/prefix``
    through ``boto3`` (extra ``[s3]``): credentials, region and endpoint from boto's standard
    chain (``AWS_*`` variables, ``~/.aws``, instance roles, ``AWS_ENDPOINT_URL``); reads are
    pinned to the listed ETag (``If-Match``).
``gs://…``, ``az://…``
    through fsspec's ``gcsfs`` / ``adlfs`` (extras ``[gcs]``, ``[azure]``) and their
    default credential chains.
``http(s)://host/path``
    one file, with the standard library; reads are pinned to its ETag (``If-Range``) and a
    server that ignores ``Range`` is refused rather than downloaded from.

Readers see a seekable stream over a :class:`RemoteBlob`: a small LRU cache of 64 KiB blocks
(at most :data:`CACHE_BLOCKS`), filled by one request per run of missing blocks, so a reader
that looks at a zip's central directory, a SafeTensors or GGUF header or an HDF5 object tree
fetches those bytes and nothing else.  Every byte fetched is counted (also in a forked
native worker: the counter lives in shared memory).  Transient failures (connection errors,
timeouts, 429, 5xx) are retried with exponential backoff; the last failure is kept on the blob
and the engine reports it (MX-SCAN-012).  Credentials never reach a message: every error
text goes through :func:`scrub`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import mmap
import os
import posixpath
import re
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import IO, Any, NoReturn, TypeVar
from urllib.parse import quote, unquote, urlsplit

from modelxray.artifact import PositionalReader
from modelxray.rules import scan as scan_rules
from modelxray.sources.interface import (
    RemoteObject,
    RemoteReadError,
    SourceFile,
    Store,
    StoreSpec,
    uri_scheme,
)

BLOCK = 64 * 1024
CACHE_BLOCKS = 64  # 4 MiB of cached blocks per file at most
RETRIES = 4  # attempts per request
BACKOFF = 0.25  # seconds before the second attempt; doubled each time
TIMEOUT = 30.0  # seconds per request

T = TypeVar("T")

# The library each scheme needs and the extra that installs it.
_EXTRAS = {
    "hf": ("huggingface_hub", "hf"),
    "s3": ("boto3", "s3"),
    "gs": ("gcsfs", "gcs"),
    "gcs": ("gcsfs", "gcs"),
    "az": ("adlfs", "azure"),
    "abfs": ("adlfs", "azure"),
    "abfss": ("adlfs", "azure"),
}

# ------------------------------------------------------------------------------ scrubbing

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_QUERY = re.compile(r"(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^\s?#'\"]*)\?[^\s#'\"]*")
_TOKENS = re.compile(
    r"\b(hf_[A-Za-z0-9]{8,}|AKIA[0-9A-Z]{12,}|ASIA[0-9A-Z]{12,})\b"
    r"|(?i:(authorization|x-amz-security-token|x-amz-signature|sig|token|key)[=:]\s*)[^\s&,;'\"]+"
)


def scrub(text: str) -> str:
    """``text`` without credentials: URL userinfo, query strings (signed URLs, SAS tokens)
    and anything shaped like a Hugging Face token, AWS key id or authorization value."""
    text = _USERINFO.sub(r"\g<scheme>", text)
    text = _QUERY.sub(r"\g<url>?…", text)
    return _TOKENS.sub(lambda m: (m.group(2) + "=" if m.group(2) else "") + "[redacted]", text)


# ------------------------------------------------------------------------------ retries


class _Permanent(Exception):
    """A failure that retrying cannot fix (404, 403, a changed object, a missing library)."""


def _retrying(what: str, call: Callable[[], T]) -> T:
    delay = BACKOFF
    for attempt in range(1, RETRIES + 1):
        try:
            return call()
        except _Permanent as exc:
            raise RemoteReadError(scrub(f"{what}: {exc}")) from None
        except RemoteReadError:
            raise
        except Exception as exc:  # noqa: BLE001 - network libraries raise many types
            if attempt == RETRIES:
                raise RemoteReadError(
                    scrub(f"{what}: {type(exc).__name__}: {exc} (after {RETRIES} attempts)")
                ) from None
        time.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable")


def _status_failure(status: int, what: str) -> Exception:
    """A retryable error for 408/429/5xx, a permanent one otherwise."""
    if status in (408, 429) or status >= 500:
        return OSError(f"HTTP {status}")
    return _Permanent(f"HTTP {status}{': ' + what if what else ''}")


# ------------------------------------------------------------------------------ stores


class HubStore:
    """A Hugging Face repository at one commit, through ``huggingface_hub``."""

    def __init__(self, spec: StoreSpec) -> None:
        from huggingface_hub import HfApi

        self.spec = spec
        self.repo_type, self.repo_id = spec.root.split("/", 1)
        self.endpoint = (
            spec.endpoint or os.environ.get("HF_ENDPOINT", "https://huggingface.co")
        ).rstrip("/")
        self.api = HfApi(endpoint=self.endpoint)

    def commit(self, revision: str | None) -> str:
        def call() -> str:
            try:
                info = self.api.repo_info(
                    self.repo_id, repo_type=self.repo_type, revision=revision or None
                )
            except Exception as exc:
                _raise_hub(exc)
            if not info.sha:
                raise _Permanent("the hub named no commit for this revision")
            return str(info.sha)

        return _retrying(f"{display_base(self.spec)} revision {revision or 'main'}", call)

    def walk(self, prefix: str) -> Iterator[RemoteObject]:
        from huggingface_hub.hf_api import RepoFile

        def listing() -> list[Any]:
            try:
                if prefix:
                    found = self.api.get_paths_info(
                        self.repo_id, [prefix], revision=self.spec.revision,
                        repo_type=self.repo_type,
                    )  # fmt: skip
                    if not found:
                        raise _Permanent(f"no file or folder {prefix!r} in the repository")
                    if isinstance(found[0], RepoFile):
                        return list(found)
                tree = self.api.list_repo_tree(
                    self.repo_id, path_in_repo=prefix or None, revision=self.spec.revision,
                    repo_type=self.repo_type, recursive=True,
                )  # fmt: skip
                return list(tree)
            except _Permanent:
                raise
            except Exception as exc:
                _raise_hub(exc)

        entries = _retrying(f"listing {display_base(self.spec)}/{prefix}", listing)
        files = sorted((e for e in entries if isinstance(e, RepoFile)), key=lambda e: e.path)
        for e in files:
            sha = e.lfs.sha256 if e.lfs is not None else None
            yield RemoteObject(self.spec, e.path, int(e.size), sha, e.blob_id)

    def url(self, key: str) -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(
            self.repo_id, key, repo_type=self.repo_type, revision=self.spec.revision,
            endpoint=self.endpoint,
        )  # fmt: skip

    def read(self, obj: RemoteObject, start: int, end: int) -> bytes:
        from huggingface_hub import get_session
        from huggingface_hub.utils._headers import build_hf_headers

        headers = build_hf_headers()
        headers.update({"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"})
        url = self.url(obj.key)
        r = get_session().get(url, headers=headers, follow_redirects=True, timeout=TIMEOUT)
        return _ranged_body(r.status_code, r.content, start, end, obj.size)


def _raise_hub(exc: Exception) -> NoReturn:
    """Map a ``huggingface_hub`` error to permanent (4xx but 408/429) or retryable."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        raise _status_failure(status, type(exc).__name__) from None
    raise exc


def _ranged_body(status: int, body: bytes, start: int, end: int, size: int) -> bytes:
    if status == 206 and len(body) == end - start:
        return body
    if status == 200 and start == 0 and end == size and len(body) == size:
        return body
    if status in (200, 206):
        raise _Permanent(
            f"asked for bytes {start}-{end - 1}, got HTTP {status} with {len(body)} bytes "
            "(the server ignores range requests, or the file changed)"
        )
    raise _status_failure(status, "")


class S3Store:
    """An S3 bucket through ``boto3`` and its standard credential chain."""

    def __init__(self, spec: StoreSpec) -> None:
        import boto3  # type: ignore[import-untyped]

        self.spec = spec
        self.client: Any = boto3.client("s3")

    def walk(self, prefix: str) -> Iterator[RemoteObject]:
        def listing() -> list[RemoteObject]:
            try:
                if prefix and not prefix.endswith("/"):
                    try:
                        head = self.client.head_object(Bucket=self.spec.root, Key=prefix)
                    except Exception as exc:  # noqa: BLE001 - a 404: a prefix, listed below
                        if _s3_status(exc) not in (403, 404):
                            raise
                    else:
                        return [self._object(prefix, head["ContentLength"], head.get("ETag"))]
                folder = prefix.rstrip("/") + "/" if prefix else ""
                out = []
                pages = self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.spec.root, Prefix=folder
                )
                for page in pages:
                    for o in page.get("Contents", []):
                        if o["Key"].endswith("/") and not o["Size"]:
                            continue  # a console "folder" marker
                        out.append(self._object(o["Key"], o["Size"], o.get("ETag")))
                return out
            except Exception as exc:  # noqa: BLE001
                _raise_s3(exc)

        found = _retrying(f"listing s3://{self.spec.root}/{prefix}", listing)
        yield from sorted(found, key=lambda o: o.key)

    def _object(self, key: str, size: int, etag: str | None) -> RemoteObject:
        return RemoteObject(self.spec, key, int(size), None, etag)

    def read(self, obj: RemoteObject, start: int, end: int) -> bytes:
        extra = {"IfMatch": obj.etag} if obj.etag else {}
        try:
            r = self.client.get_object(
                Bucket=self.spec.root, Key=obj.key, Range=f"bytes={start}-{end - 1}", **extra
            )
            body: bytes = r["Body"].read(end - start + 1)
        except Exception as exc:  # noqa: BLE001
            _raise_s3(exc)
        if len(body) != end - start:
            raise _Permanent(f"asked for {end - start} bytes at {start}, got {len(body)}")
        return body


def _s3_status(exc: Exception) -> int | None:
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def _raise_s3(exc: Exception) -> NoReturn:
    status = _s3_status(exc)
    if status is not None:
        raise _status_failure(status, type(exc).__name__) from None
    if type(exc).__name__ in (
        "NoCredentialsError",
        "PartialCredentialsError",
        "ParamValidationError",
    ):
        raise _Permanent(type(exc).__name__) from None
    raise exc


class FsspecStore:
    """Any other fsspec file system (``gcsfs``, ``adlfs``) with its default credentials."""

    def __init__(self, spec: StoreSpec) -> None:
        import fsspec  # type: ignore[import-untyped]

        self.spec = spec
        self.fs: Any = fsspec.filesystem(spec.scheme)

    def walk(self, prefix: str) -> Iterator[RemoteObject]:
        root = f"{self.spec.root}/{prefix}".rstrip("/")

        def listing() -> list[RemoteObject]:
            info = self.fs.info(root)
            if info.get("type") == "file":
                found = {root: info}
            else:
                found = self.fs.find(root, detail=True)
            out = []
            for path, d in sorted(found.items()):
                if d.get("type") != "file":
                    continue
                key = path[len(self.spec.root) + 1 :] if path.startswith(self.spec.root) else path
                etag = d.get("etag") or d.get("md5Hash") or d.get("generation")
                out.append(RemoteObject(self.spec, key, int(d["size"]), None, etag and str(etag)))
            return out

        yield from _retrying(f"listing {self.spec.scheme}://{root}", listing)

    def read(self, obj: RemoteObject, start: int, end: int) -> bytes:
        body: bytes = self.fs.cat_file(f"{self.spec.root}/{obj.key}", start=start, end=end)
        if len(body) != end - start:
            raise _Permanent(f"asked for {end - start} bytes at {start}, got {len(body)}")
        return body


# user:password given in an http(s) URL, by "scheme://host" (kept out of every spec and
# message; a forked worker inherits it).
_HTTP_AUTH: dict[str, str] = {}


class HttpStore:
    """One file on a web server, with the standard library."""

    def __init__(self, spec: StoreSpec) -> None:
        self.spec = spec
        self.base = f"{'https' if spec.secure else 'http'}://{spec.root}"

    def _request(self, key: str, method: str, headers: dict[str, str]) -> Any:
        import urllib.request

        from modelxray.sources import uri_guard

        auth = _HTTP_AUTH.get(self.base)
        if auth:
            headers = {**headers, "Authorization": "Basic " + auth}
        req = urllib.request.Request(self.base + key, method=method, headers=headers)
        guard = uri_guard.active()
        if guard is None:  # the command line: the URI its user named
            return uri_guard.plain_opener().open(req, timeout=TIMEOUT)
        try:  # the service: only allowed URIs, connected to allowed addresses
            guard.check(self.base + key)
            return uri_guard.opener(guard).open(req, timeout=TIMEOUT)
        except uri_guard.UriRefused as exc:
            raise _Permanent(f"refused by the service's URI guard: {exc}") from None

    def walk(self, prefix: str) -> Iterator[RemoteObject]:
        import urllib.error

        def head() -> RemoteObject:
            try:
                with self._request(prefix, "GET", {"Range": "bytes=0-0"}) as r:
                    r.read(1)
                    total = (r.headers.get("Content-Range") or "").rpartition("/")[2]
                    if r.status != 206 or not total.isdigit():
                        raise _Permanent(
                            "the server does not answer range requests (HTTP "
                            f"{r.status}, Content-Range {r.headers.get('Content-Range')!r})"
                        )
                    etag = r.headers.get("ETag")
                    return RemoteObject(self.spec, prefix, int(total), None, etag)
            except urllib.error.HTTPError as exc:
                if exc.code == 416:  # an empty file has no byte 0
                    return RemoteObject(self.spec, prefix, 0, None, exc.headers.get("ETag"))
                raise _status_failure(exc.code, "") from None

        yield _retrying(f"reading {self.base}{prefix}", head)

    def read(self, obj: RemoteObject, start: int, end: int) -> bytes:
        import urllib.error

        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        if obj.etag and not obj.etag.startswith("W/"):
            headers["If-Range"] = obj.etag
        try:
            with self._request(obj.key, "GET", headers) as r:
                body = r.read(end - start + 1)
                return _ranged_body(r.status, body, start, end, obj.size)
        except urllib.error.HTTPError as exc:
            raise _status_failure(exc.code, "") from None


_STORES: dict[tuple[Any, ...], Store] = {}
# The variables a client's endpoint comes from: a client is reused only under the same ones.
_ENDPOINT_VARIABLES = ("HF_ENDPOINT", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def store_for(spec: StoreSpec) -> Store:
    """This process's client for ``spec`` (a forked worker makes its own)."""
    key = (spec, os.getpid(), *(os.environ.get(v) for v in _ENDPOINT_VARIABLES))
    store = _STORES.get(key)
    if store is None:
        store = _make_store(spec)
        _STORES[key] = store
    return store


# Client libraries that log request URLs (signed CDN redirects) or headers (botocore logs
# the signed Authorization at DEBUG): kept at WARNING whatever ``-v`` sets, so no credential
# reaches a log.
_CHATTY_LOGGERS = ("httpx", "httpx2", "httpcore", "botocore", "boto3", "urllib3", "s3transfer",
                   "huggingface_hub", "fsspec", "gcsfs", "adlfs", "azure")  # fmt: skip


def _quiet_client_logs() -> None:
    import logging

    for name in _CHATTY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def _make_store(spec: StoreSpec) -> Store:
    _quiet_client_logs()
    if spec.scheme == "hf":
        return HubStore(spec)
    if spec.scheme == "s3":
        return S3Store(spec)
    if spec.scheme in ("http", "https"):
        return HttpStore(spec)
    return FsspecStore(spec)


# ------------------------------------------------------------------------------ URIs


def parse_hf(uri: str) -> tuple[str, str, str | None, str]:
    """``hf://[datasets/|spaces/|models/]org/name[@revision][/path]`` as (repo_type,
    repo_id, revision or None, path).  A revision holding ``/`` is written quoted
    (``@refs%2Fpr%2F1``), as ``HfFileSystem`` writes it."""
    rest = uri.split("://", 1)[1].strip("/")
    parts = rest.split("/")
    repo_type = "model"
    if parts[0] in ("datasets", "spaces", "models"):
        repo_type = parts.pop(0)[:-1]
    if len(parts) < 2 or not parts[0] or not parts[1]:
        raise ValueError(f"not a repository: {scrub(uri)} (hf://org/name[@revision][/path])")
    name, _, revision = parts[1].partition("@")
    return repo_type, f"{parts[0]}/{name}", unquote(revision) or None, "/".join(parts[2:])


def display_base(spec: StoreSpec) -> str:
    if spec.scheme == "hf":
        repo_type, repo_id = spec.root.split("/", 1)
        return f"hf://{'' if repo_type == 'model' else repo_type + 's/'}{repo_id}"
    if spec.scheme in ("http", "https"):
        return f"{spec.scheme}://{spec.root}"
    return f"{spec.scheme}://{spec.root}"


def display_name(obj: RemoteObject) -> str:
    """The name a remote file is reported under (no revision, credentials or query)."""
    if obj.spec.scheme in ("http", "https"):
        return scrub(display_base(obj.spec) + obj.key.split("?", 1)[0])
    return f"{display_base(obj.spec)}/{obj.key}"


def _problem(display: str, message: str, evidence: dict[str, Any]) -> SourceFile:
    return SourceFile(
        scrub(display),
        None,
        0,
        [(scan_rules.REMOTE_READ_FAILED, scrub(message), evidence)],
        folder=True,
    )


def resolve(uri: str) -> tuple[StoreSpec, str]:
    """The store ``uri`` names (a hub revision resolved to its commit) and the prefix in it.
    Raises ValueError for a malformed URI, ImportError for a missing extra and
    RemoteReadError when the source cannot be reached."""
    scheme = uri_scheme(uri)
    if scheme is None:
        raise ValueError(f"not a remote URI: {uri!r}")
    needed = _EXTRAS.get(scheme)
    if needed is not None:
        import importlib.util

        if importlib.util.find_spec(needed[0]) is None:
            raise ImportError(
                f"{scheme}:// needs {needed[0]}: pip install 'modelxray[{needed[1]}]'"
            )
    if scheme == "hf":
        repo_type, repo_id, revision, path = parse_hf(uri)
        store = HubStore(StoreSpec("hf", f"{repo_type}/{repo_id}"))
        return StoreSpec("hf", store.spec.root, store.commit(revision)), path
    if scheme in ("http", "https"):
        parts = urlsplit(uri)
        if not parts.hostname:
            raise ValueError(f"no host in {scrub(uri)}")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if "[" in parts.netloc.rpartition("@")[2]:
            host = parts.netloc.rpartition("@")[2]  # an IPv6 literal keeps its brackets
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            _HTTP_AUTH[f"{scheme}://{host}"] = base64.b64encode(pair.encode()).decode()
        key = quote(unquote(parts.path or "/"), safe="/%:@!$&'()*+,;=~-._")
        if parts.query:
            key += "?" + parts.query
        return StoreSpec(scheme, host, "", scheme == "https"), key
    rest = uri.split("://", 1)[1]
    root, _, prefix = rest.partition("/")
    if not root:
        raise ValueError(f"no bucket in {scrub(uri)}")
    return StoreSpec(scheme, root), prefix.strip("/") if scheme != "s3" else prefix.lstrip("/")


# Files one remote source (a repository, a bucket prefix) may list: a listing is read before any
# file is scanned, so its size is bounded like any other count.
MAX_REMOTE_FILES = 100_000


def iter_remote(uri: str) -> Iterator[SourceFile]:
    """The files ``uri`` names, each with its :class:`RemoteObject`; a source that cannot be
    listed is one source with a finding (MX-SCAN-012), never an empty, passing scan."""
    _quiet_client_logs()
    try:
        spec, prefix = resolve(uri)
        objects = list(itertools.islice(store_for(spec).walk(prefix), MAX_REMOTE_FILES + 1))
    except (ValueError, ImportError, RemoteReadError) as exc:
        yield _problem(uri, f"remote source not scanned: {exc}", {"error": type(exc).__name__})
        return
    for obj in objects[:MAX_REMOTE_FILES]:
        yield SourceFile(display_name(obj), None, obj.size, remote=obj)
    if len(objects) > MAX_REMOTE_FILES:  # the listing stops here: the rest is not a pass
        message = (
            f"more than {MAX_REMOTE_FILES} files under this source: the first {MAX_REMOTE_FILES}"
            " were listed and scanned, the rest were not (scan narrower prefixes)"
        )
        evidence = {"limit": "max_remote_files", "listed": MAX_REMOTE_FILES}
        yield SourceFile(scrub(uri), None, 0, [(scan_rules.INCOMPLETE, message, evidence)])


# ------------------------------------------------------------------------------ reading


class RemoteBlob:
    """One remote file's bytes, read by range requests through a small LRU block cache.

    ``fetched`` counts every byte received, in this process and in any forked child (the
    native HDF5 worker): the counter sits in an anonymous shared mapping.  ``failure`` is
    the last read error (scrubbed); a child's failure is flagged there too.
    """

    def __init__(self, obj: RemoteObject, shared: mmap.mmap | None = None) -> None:
        self.obj = obj
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        # bytes fetched (8 bytes) and a failure flag, shared with forked children and with the
        # blobs of sibling files read for this one (their bytes count for this file)
        self._shared = shared if shared is not None else mmap.mmap(-1, 16)
        self._failure: str | None = None
        self._siblings: list[RemoteBlob] = []

    @property
    def fetched(self) -> int:
        return int(struct.unpack_from("<Q", self._shared, 0)[0])

    @property
    def failure(self) -> str | None:
        for blob in (self, *self._siblings):
            if blob._failure is not None:
                return blob._failure
        if self._shared[8]:
            return "a read failed in a worker process"
        return None

    def folder(self) -> RemoteFolder:
        """The remote folder this file sits in, for readers of sibling files."""
        return RemoteFolder(self)

    def _fetch(self, start: int, end: int) -> bytes:
        store = store_for(self.obj.spec)
        try:
            data = _retrying(
                f"reading {display_name(self.obj)} bytes {start}-{end - 1}",
                lambda: store.read(self.obj, start, end),
            )
        except RemoteReadError as exc:
            self._failure = str(exc)
            self._shared[8] = 1
            raise
        struct.pack_into("<Q", self._shared, 0, self.fetched + len(data))
        return data

    def read(self, start: int, n: int) -> bytes:
        end = min(self.obj.size, start + n)
        if start >= end:
            return b""
        first, last = start // BLOCK, (end - 1) // BLOCK
        if last - first + 1 > CACHE_BLOCKS // 2:
            return self._fetch(start, end)  # a long read: not worth caching
        got: dict[int, bytes] = {}
        b = first
        while b <= last:
            if b in self._blocks:
                self._blocks.move_to_end(b)
                got[b] = self._blocks[b]
                b += 1
                continue
            run = b
            while run + 1 <= last and run + 1 not in self._blocks:
                run += 1
            lo, hi = b * BLOCK, min(self.obj.size, (run + 1) * BLOCK)
            data = self._fetch(lo, hi)
            for i in range(b, run + 1):
                got[i] = data[(i - b) * BLOCK : (i - b + 1) * BLOCK]
                self._blocks[i] = got[i]
            b = run + 1
        while len(self._blocks) > CACHE_BLOCKS:
            self._blocks.popitem(last=False)
        joined = b"".join(got[i] for i in range(first, last + 1))
        return joined[start - first * BLOCK : end - first * BLOCK]

    def open(self) -> IO[bytes]:
        return io.BufferedReader(_RangeStream(self), buffer_size=8192)

    def sha256(self, chunk: int = 1 << 20) -> str:
        """Hash the whole file, for files the source gives no hash of.  A file that fits the
        cache is hashed through it, so the readers then judge the very bytes hashed."""
        h = hashlib.sha256()
        size = self.obj.size
        if size <= CACHE_BLOCKS * BLOCK:
            step = (CACHE_BLOCKS // 2) * BLOCK
            for pos in range(0, size, step):
                h.update(self.read(pos, step))
            return h.hexdigest()
        for pos in range(0, size, chunk):
            h.update(self._fetch(pos, min(size, pos + chunk)))
        return h.hexdigest()


class RemoteFolder:
    """``artifact.Folder`` for a remote file: siblings looked up in the same store (one
    listing request each) and read by range requests, counted with the file that named them."""

    def __init__(self, blob: RemoteBlob) -> None:
        self._blob = blob
        key = blob.obj.key.split("?", 1)[0]
        self._prefix = key[: key.rfind("/") + 1]

    def _key(self, name: str) -> str:
        return (
            self._prefix + quote(name)
            if self._blob.obj.spec.scheme.startswith("http")
            else (self._prefix + name)
        )

    def reference(self, name: str) -> str:
        return display_name(RemoteObject(self._blob.obj.spec, self._key(name), 0))

    def file(self, name: str) -> Any:
        from modelxray.artifact import Artifact, note_sibling
        from modelxray.model import Location

        note_sibling(name)
        parts = name.split("/")
        if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            return None  # only names inside this folder
        key = self._key(name)
        try:
            found = [o for o in store_for(self._blob.obj.spec).walk(key) if o.key == key]
        except RemoteReadError as exc:
            if "HTTP 404" in str(exc) or "no file or folder" in str(exc):
                return None
            self._blob._failure = str(exc)
            raise
        if len(found) != 1:
            return None
        sibling = RemoteBlob(found[0], self._blob._shared)
        self._blob._siblings.append(sibling)
        base = posixpath.basename(name)
        artifact = Artifact(Location(display_name(found[0])), found[0].size, sibling.open, base)
        artifact.facts["loader_folder"] = self
        return artifact


class _RangeStream(PositionalReader):
    def __init__(self, blob: RemoteBlob) -> None:
        super().__init__(blob.obj.size)
        self._blob = blob

    def read_at(self, pos: int, n: int) -> bytes:
        return self._blob.read(pos, n)


def basename(obj: RemoteObject) -> str:
    return posixpath.basename(obj.key.split("?", 1)[0])
