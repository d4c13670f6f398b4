"""A Hugging Face-compatible gateway that refuses unsafe models (issue 18, item 2).

Point ``HF_ENDPOINT`` at it and ``huggingface_hub`` (``hf_hub_download``,
``snapshot_download``, so ``transformers``) downloads through it:

* metadata routes (``/api/models/…``, trees, ``paths-info``, …) pass through to the upstream
  hub; ``Link`` and same-origin ``Location`` headers are rewritten to the gateway, so the
  client never talks to the upstream (or its LFS host) directly;
* ``resolve`` routes (``HEAD``/``GET``, ``Range`` included; models, ``datasets/``,
  ``spaces/``) are answered by the gateway itself:

  1. the revision is resolved to a commit and the file listed there (its LFS SHA-256 or git
     blob id: the file's *identity*);
  2. a verdict cached under (identity, policy fingerprint) is used; otherwise the file is
     scanned where it lives, by range reads (the ``hf://`` source pinned to the commit), and
     a blocked file is refused (403, JSON body with rule IDs, messages and links) without
     being downloaded;
  3. an allowed file is downloaded into the gateway's blob store, hashed while it streams:
     bytes that are not the listed identity (the upstream changed them) are discarded and
     refused, never served;
  4. the stored bytes are scanned again, locally (the range reads could have been answered
     with other bytes than the blob), and only then served, from the blob store, with the
     headers the client needs (``ETag``, ``X-Repo-Commit``, ``X-Linked-Etag``,
     ``X-Linked-Size``, ``Content-Length``, ``Accept-Ranges``).

The blob store is bounded (``GatewaySettings.blob_cap``): the least recently served blobs are
evicted, never one being served.  Verdicts outlive their blobs: an evicted file asked for
again is downloaded again, its hash checked against its identity and against the SHA-256 of
the bytes that were scanned, and served under the verdict already given.

Repositories on the allow-list skip both scans but are still verified by hash.  Policies can
be overridden per organisation and per repository.  Repository names and file paths with
traversal (``..``, ``.``, empty segments, backslashes, NUL) are refused with 400.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio
import httpx
from fastapi import APIRouter, FastAPI, Request
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from modelxray.engine import ScanOptions, scan_file
from modelxray.model import FileResult, Verdict
from modelxray.policy import Policy
from modelxray.serve.config import DEFAULT_GATEWAY_CACHE
from modelxray.sources.interface import RemoteObject, RemoteReadError, SourceFile, StoreSpec
from modelxray.sources.remote import TIMEOUT, HubStore, scrub

Scanner = Callable[[SourceFile, ScanOptions], FileResult]
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
# A hub repository name part: what the hub accepts (no "--" or ".." inside, checked below).
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?|[A-Za-z0-9]")
# Headers that belong to one hop, never forwarded (RFC 9110 7.6.1), plus what httpx redoes.
_HOP = frozenset(
    "connection keep-alive proxy-authenticate proxy-authorization te trailer trailers "
    "transfer-encoding upgrade host content-length content-encoding".split()
)
CHUNK = 1 << 20


@dataclass(frozen=True)
class GatewaySettings:
    """What the gateway serves and with which policy."""

    upstream: str = "https://huggingface.co"
    policy: Policy = field(default_factory=Policy)
    # "org" or "org/name" (a dataset or space: "datasets/org/name") -> its policy; the most
    # specific key wins.
    overrides: Mapping[str, Policy] = field(default_factory=dict)
    # Pre-approved repositories ("org/name", "datasets/org/name"): not scanned, still verified
    # by hash.
    allow: tuple[str, ...] = ()
    blob_dir: Path = Path(".modelxray-gateway/blobs")
    # Bytes of blobs kept; the least recently served are evicted first (never one being
    # served; a blob larger than the cap is kept while it is served).
    blob_cap: int = DEFAULT_GATEWAY_CACHE
    verdict_cache: Path = Path(".modelxray-gateway/verdicts.sqlite")
    # Where the 403 body's report link points ("" = this gateway's own verdict route).
    report_base: str = ""
    # Parse every file in a limited worker process (``modelxray.isolate``): a parser that
    # crashes or spins on a hostile file costs that file (an error: refused), not the gateway.
    isolate: bool = True


class Refused(Exception):
    """A request the gateway answers itself with ``status`` and a JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error", ""))
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Target:
    """A file named by a resolve URL, checked and resolved to a commit."""

    repo_type: str  # model, dataset, space
    repo_id: str
    revision: str
    path: str

    @property
    def typed(self) -> str:
        """The repository as the allow-list and overrides name it."""
        return self.repo_id if self.repo_type == "model" else f"{self.repo_type}s/{self.repo_id}"


def _bad(what: str) -> Refused:
    return Refused(400, {"error": f"refused: {what}", "code": "BadPath"})


def check_repo_part(part: str) -> str:
    if not _NAME.fullmatch(part) or ".." in part or "--" in part:
        raise _bad(f"not a repository name: {part!r}")
    return part


def check_file_path(path: str) -> str:
    """A path inside a repository: relative, no empty, ``.`` or ``..`` segment."""
    parts = path.split("/")
    if (
        not path
        or "\\" in path
        or "\0" in path
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 32 for c in path)
    ):
        raise _bad(f"not a file path inside a repository: {path!r}")
    return path


def check_raw_path(raw: str) -> None:
    """Any request path (pass-through ones too): no traversal segment, encoded or not."""
    decoded = unquote(unquote(raw))
    segments = re.split(r"[/\\]", decoded)
    if any(s in (".", "..") for s in segments) or "\0" in decoded:
        raise _bad(f"path traversal in {raw!r}")


def parse_resolve(raw_path: str) -> Target | None:
    """The file a raw (still percent-encoded) ``resolve`` path names, or None for another
    route.  ``/[datasets/|spaces/|models/][org/]name/resolve/{revision}/{path}``; the
    revision is one segment (``refs%2Fpr%2F1``).  Raises :class:`Refused` (400) for traversal
    in a repository or file name."""
    segments = raw_path.split("/")[1:]
    kind = "model"
    if segments and segments[0] in REPO_TYPES and len(segments) > 1:
        kind = REPO_TYPES[segments[0]]
        segments = segments[1:]
    # the repository is one (a legacy canonical name) or two segments before "resolve"
    at = next((k for k in (2, 1) if len(segments) > k + 2 and segments[k] == "resolve"), None)
    if at is None:
        return None
    repo_id = "/".join(check_repo_part(unquote(p)) for p in segments[:at])
    revision = unquote(segments[at + 1])
    if not revision or "\0" in revision or revision in (".", ".."):
        raise _bad(f"not a revision: {revision!r}")
    path = "/".join(segments[at + 2 :])
    return Target(kind, repo_id, revision, check_file_path(unquote(path)))


# The POST routes that only read (the client lists paths with them).
_READ_POST = re.compile(r"/api/(?:models|datasets|spaces)/(?:[^/]+/)?[^/]+/paths-info/[^/]+")

# Byte routes the gateway does not serve: passing them through would hand out unscanned bytes
# (raw git content, the hub's resolve cache, Xet storage tokens), so they are refused.
_NOT_SERVED = re.compile(
    r"/(?:(?:models|datasets|spaces)/)?(?:[^/]+/)?[^/]+/(?:raw|resolve|blob)/.*"
    r"|/api/(?:resolve-cache|.*/xet-(?:read|write)-token)(?:/.*)?"
)


# ------------------------------------------------------------------------------ verdict cache


class VerdictCache:
    """Verdicts by (file identity, policy fingerprint), in SQLite.

    Only a verdict on *verified* bytes (stored, hashed to the identity, scanned locally) is
    reused: a range-read scan cannot prove the bytes it was answered with are the identity's
    (an upstream changing them would pin its verdict on the listed hash), so its verdict is
    kept for the report page only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (identity TEXT, policy TEXT, verdict TEXT,"
                " body TEXT, verified INTEGER, PRIMARY KEY (identity, policy, verified))"
            )

    def get(
        self, identity: str, policy: str, verified: bool = True
    ) -> tuple[str, dict[str, Any]] | None:
        """The verdict on verified bytes; ``verified=False``: a range-read scan's *allowed*
        verdict (it saves a second range-read scan; the stored bytes are still scanned)."""
        extra = "" if verified else " AND verdict = 'allowed'"
        with self._lock:
            row = self._db.execute(
                "SELECT verdict, body FROM verdicts WHERE identity = ? AND policy = ?"
                " AND verified = ?" + extra,
                (identity, policy, int(verified)),
            ).fetchone()
        return None if row is None else (str(row[0]), json.loads(row[1]))

    def put(
        self, identity: str, policy: str, verdict: str, body: dict[str, Any], verified: bool
    ) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO verdicts VALUES (?, ?, ?, ?, ?)",
                (identity, policy, verdict, json.dumps(body), int(verified)),
            )

    def find(self, identity: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT body FROM verdicts WHERE identity = ? ORDER BY verified DESC", (identity,)
            ).fetchall()
        return [json.loads(r[0]) for r in rows]


# ------------------------------------------------------------------------------ blob store


class BlobStore:
    """Verified blobs by identity, at most ``cap`` bytes of them.

    A blob's modification time is when it was last served; :meth:`evict` removes the least
    recently served until the store fits its cap, skipping pinned blobs (being resolved or
    streamed).  Downloads in progress (``.part-*``) are not blobs yet."""

    def __init__(self, folder: Path, cap: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.cap = max(0, cap)
        self._lock = threading.Lock()
        self._pins: Counter[str] = Counter()

    def path(self, identity: str) -> Path:
        return self.folder / identity

    def pin(self, identity: str) -> None:
        with self._lock:
            self._pins[identity] += 1

    def unpin(self, identity: str) -> None:
        with self._lock:
            self._pins[identity] -= 1
            if self._pins[identity] <= 0:
                del self._pins[identity]

    def touch(self, identity: str) -> None:
        """Mark ``identity`` as served now (the eviction order)."""
        try:
            os.utime(self.path(identity))
        except FileNotFoundError:
            pass

    def evict(self) -> list[str]:
        """Remove least recently served, unpinned blobs until the store fits its cap; the
        identities removed."""
        removed: list[str] = []
        with self._lock:
            entries = []
            for p in self.folder.iterdir():
                if p.name.startswith(".part-"):
                    continue
                try:
                    st = p.stat()
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime_ns, p.name, st.st_size))
            total = sum(size for _, _, size in entries)
            for _, name, size in sorted(entries):
                if total <= self.cap:
                    break
                if self._pins[name] > 0:
                    continue
                (self.folder / name).unlink(missing_ok=True)
                removed.append(name)
                total -= size
        return removed


class _PinnedFile(FileResponse):
    """A blob served from the store, unpinned once sent (or the client went away)."""

    def __init__(self, path: Path, headers: dict[str, str], release: Callable[[], None]) -> None:
        super().__init__(path, headers=headers)
        self._release: Callable[[], None] | None = release

    def release(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.release()


# ------------------------------------------------------------------------------ the gateway


def isolated_scan(source: SourceFile, options: ScanOptions) -> FileResult:
    """One file judged in a limited worker process (the one pool of ``modelxray.isolate``)."""
    from modelxray.isolate import IsolationSettings, iter_results_isolated

    (result,) = iter_results_isolated([], options, IsolationSettings(), sources=[source])
    return result


def identity_of(obj: RemoteObject) -> str:
    """What names a file's bytes: the LFS SHA-256, else the git blob id (SHA-1)."""
    if obj.sha256:
        return f"sha256-{obj.sha256}"
    if obj.etag and re.fullmatch(r"[0-9a-f]{40}", obj.etag):
        return f"git-{obj.etag}"
    raise Refused(502, {"error": "the upstream named no hash for this file", "code": "NoHash"})


class _Hasher:
    """Hashes the bytes of a file as its identity names them."""

    def __init__(self, identity: str, size: int) -> None:
        self.kind, _, self.expected = identity.partition("-")
        self.h = hashlib.sha256() if self.kind == "sha256" else hashlib.sha1()  # noqa: S324
        if self.kind == "git":
            self.h.update(b"blob %d\0" % size)  # git's blob id covers this header

    def update(self, data: bytes) -> None:
        self.h.update(data)

    def matches(self) -> bool:
        return self.h.hexdigest() == self.expected


@dataclass(frozen=True)
class Served:
    """A verified blob and the headers it is served with."""

    path: Path | None  # None: a HEAD answered before the file is stored
    headers: dict[str, str]
    # The blob stays pinned (not evicted) until this is called (once it has been sent).
    release: Callable[[], None] = lambda: None


class Gateway:
    def __init__(self, settings: GatewaySettings, scanner: Scanner | None = None) -> None:
        self.settings = settings
        self.upstream = settings.upstream.rstrip("/")
        self.scanner: Scanner = scanner or (isolated_scan if settings.isolate else scan_file)
        self.cache = VerdictCache(settings.verdict_cache)
        self.blobs = BlobStore(settings.blob_dir, settings.blob_cap)
        self.blobs.evict()  # the cap may have been lowered since the last run
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # -- policy

    def policy_for(self, target: Target) -> Policy:
        """The most specific override: the repository (``[datasets/]org/name``), its
        organisation with the type (``datasets/org``), the organisation (``org``)."""
        org = target.repo_id.split("/")[0] if "/" in target.repo_id else None
        typed_org = target.typed.rsplit("/", 1)[0] if org else None
        for key in (target.typed, typed_org, org):
            if key is None:
                continue
            if key in self.settings.overrides:
                return self.settings.overrides[key]
        return self.settings.policy

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    # -- resolve

    def commit_for(self, target: Target, authorization: str | None) -> str:
        """The commit ``target.revision`` names, asked with the *client's* credentials: a
        client the upstream would refuse (a private or gated repository) is refused with the
        upstream's answer, whatever the gateway's own token can read."""
        from urllib.parse import quote

        url = (
            f"{self.upstream}/api/{target.repo_type}s/{target.repo_id}/revision/"
            f"{quote(target.revision, safe='')}"
        )
        headers = {"Authorization": authorization} if authorization else {}
        try:
            r = httpx.get(url, headers=headers, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise Refused(
                502, {"error": f"upstream unreachable: {type(exc).__name__}", "code": "Upstream"}
            ) from None
        if r.status_code != 200:
            code = r.headers.get("X-Error-Code") or "UpstreamError"
            message = r.headers.get("X-Error-Message") or f"upstream answered HTTP {r.status_code}"
            raise Refused(r.status_code if r.status_code < 500 else 502, {
                "error": scrub(message), "code": code})  # fmt: skip
        try:
            sha = r.json()["sha"]
        except (ValueError, KeyError, TypeError):
            sha = None
        if not isinstance(sha, str) or not re.fullmatch(r"[0-9a-f]{40}", sha):
            raise Refused(502, {"error": "the upstream named no commit", "code": "UpstreamError"})
        return sha

    def locate(self, target: Target, commit: str) -> tuple[HubStore, RemoteObject]:
        """The file listed at ``commit`` (its size and hashes)."""
        root = f"{target.repo_type}/{target.repo_id}"
        try:
            store = HubStore(StoreSpec("hf", root, commit, endpoint=self.upstream))
            found = [o for o in store.walk(target.path) if o.key == target.path]
        except RemoteReadError as exc:
            status = 404 if re.search(r"HTTP 40[14]|no file or folder", str(exc)) else 502
            code = "EntryNotFound" if status == 404 else "UpstreamError"
            raise Refused(status, {"error": scrub(str(exc)), "code": code}) from None
        if len(found) != 1:
            raise Refused(404, {"error": f"{target.path}: no such file", "code": "EntryNotFound"})
        return store, found[0]

    def resolve(
        self, target: Target, base_url: str, head: bool = False, authorization: str | None = None
    ) -> Served:
        """The blob to serve for ``target`` (``path`` None for a ``HEAD`` answered before the
        file is stored), or :class:`Refused`.

        A ``HEAD`` answers as soon as the range-read scan allows the file (the client's
        metadata request is short-timed); the ``GET`` then stores, verifies and rescans it."""
        store, obj = self.locate(target, self.commit_for(target, authorization))
        identity = identity_of(obj)
        policy = self.policy_for(target)
        approved = target.typed in self.settings.allow
        blob = self.blobs.path(identity)
        self.blobs.pin(identity)  # from here until it is sent: not evicted
        try:
            with self._lock(identity):
                verified = self.cache.get(identity, policy.fingerprint)
                if approved:
                    if not head and not blob.is_file():
                        self._fetch(store, obj, identity, blob)
                elif verified is not None and verified[0] != Verdict.ALLOWED:
                    raise Refused(403, verified[1])
                elif verified is None:
                    self._vet(store, obj, target, identity, policy, blob, base_url, head)
                elif not head and not blob.is_file():  # allowed, then evicted
                    self._refetch(store, obj, target, identity, policy, blob, base_url, verified[1])
        except BaseException:
            self.blobs.unpin(identity)
            raise
        headers = {
            "ETag": f'"{obj.etag}"',
            "X-Repo-Commit": store.spec.revision,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Length": str(obj.size),
        }
        if obj.sha256:
            headers["X-Linked-Etag"] = f'"{obj.sha256}"'
            headers["X-Linked-Size"] = str(obj.size)
            headers["ETag"] = f'"{obj.sha256}"'
        if head or not blob.is_file():
            self.blobs.unpin(identity)
            return Served(None, headers)
        self.blobs.touch(identity)
        self.blobs.evict()  # others, this one being pinned
        return Served(blob, headers, lambda: self.blobs.unpin(identity))

    def _vet(
        self,
        store: HubStore,
        obj: RemoteObject,
        target: Target,
        identity: str,
        policy: Policy,
        blob: Path,
        base_url: str,
        head: bool,
    ) -> None:
        """Scan by range reads (once per identity and policy), then (not for a ``HEAD``)
        fetch, verify the hash and scan the stored bytes; only that verdict is reused."""
        options = ScanOptions(policy=policy, jobs=1)
        display = _display(target)
        if self.cache.get(identity, policy.fingerprint, verified=False) is None:
            remote = self.scanner(SourceFile(display, None, obj.size, remote=obj), options)
            self._judge(remote, target, store, identity, policy, base_url, verified=False)
            body = self._body(remote, target, store, identity, policy, base_url)
            self.cache.put(identity, policy.fingerprint, str(remote.verdict), body, False)
        if head:
            return
        digest = self._fetch(store, obj, identity, blob)
        self._scan_stored(store, obj, target, identity, policy, blob, base_url, digest)

    def _scan_stored(
        self,
        store: HubStore,
        obj: RemoteObject,
        target: Target,
        identity: str,
        policy: Policy,
        blob: Path,
        base_url: str,
        digest: str,
    ) -> None:
        """Judge the stored bytes (SHA-256 ``digest``); only this verdict is reused."""
        options = ScanOptions(policy=policy, jobs=1)
        local = self.scanner(SourceFile(_display(target), str(blob), obj.size), options)
        try:
            self._judge(local, target, store, identity, policy, base_url, verified=True)
        except Refused:
            blob.unlink(missing_ok=True)
            raise
        body = self._body(local, target, store, identity, policy, base_url)
        body["sha256"] = digest  # what a download after eviction must hash to
        self.cache.put(identity, policy.fingerprint, str(local.verdict), body, verified=True)

    def _refetch(
        self,
        store: HubStore,
        obj: RemoteObject,
        target: Target,
        identity: str,
        policy: Policy,
        blob: Path,
        base_url: str,
        verdict: dict[str, Any],
    ) -> None:
        """An allowed file whose blob was evicted: downloaded again and served under its
        verdict only when its bytes hash to the identity *and* to the SHA-256 of the bytes
        that were scanned; a verdict that names no SHA-256 is given again by a new scan."""
        digest = self._fetch(store, obj, identity, blob)
        scanned = verdict.get("sha256")
        if scanned is None:
            self._scan_stored(store, obj, target, identity, policy, blob, base_url, digest)
        elif scanned != digest:
            blob.unlink(missing_ok=True)
            raise Refused(502, {
                "error": "the upstream's bytes are not the bytes scanned for this file "
                f"(SHA-256 {digest}, scanned {scanned}); refused, not served",
                "code": "ContentChanged", "identity": identity})  # fmt: skip

    def _body(
        self,
        result: FileResult,
        target: Target,
        store: HubStore,
        identity: str,
        policy: Policy,
        base_url: str,
    ) -> dict[str, Any]:
        from modelxray.rules import get_rule

        findings = []
        for f in result.findings:
            try:
                page = get_rule(f.rule_id).page_url
            except KeyError:
                page = f.help_uri
            findings.append({
                "rule_id": f.rule_id, "severity": str(f.severity), "message": f.message,
                "location": str(f.location),
                "disposition": str(f.disposition), "rule_page": page,
            })  # fmt: skip
        report_base = self.settings.report_base or f"{base_url.rstrip('/')}/gateway/verdicts"
        return {
            "error": (
                f"modelxray gateway: {target.path} in {target.typed} is {result.verdict}"
                + (f" ({', '.join(sorted({f['rule_id'] for f in findings}))})" if findings else "")
            ),
            "code": "ModelxrayBlocked" if result.verdict != Verdict.ALLOWED else "",
            "verdict": str(result.verdict),
            "repo": target.typed,
            "revision": store.spec.revision,
            "path": target.path,
            "identity": identity,
            "policy": policy.fingerprint,
            "rule_ids": sorted({f["rule_id"] for f in findings if f["disposition"] == "block"}),
            "findings": findings,
            "report": f"{report_base}/{identity}",
        }

    def _judge(
        self,
        result: FileResult,
        target: Target,
        store: HubStore,
        identity: str,
        policy: Policy,
        base_url: str,
        verified: bool,
    ) -> None:
        if result.verdict == Verdict.ALLOWED:
            return
        body = self._body(result, target, store, identity, policy, base_url)
        self.cache.put(identity, policy.fingerprint, str(result.verdict), body, verified)
        raise Refused(403, body)

    def _fetch(self, store: HubStore, obj: RemoteObject, identity: str, blob: Path) -> str:
        """Download ``obj`` at the store's commit into ``blob``, hashing as it streams; bytes
        that are not the listed identity are discarded and refused.  The SHA-256 of the bytes
        stored."""
        from huggingface_hub import get_session
        from huggingface_hub.utils._headers import build_hf_headers

        headers = {**build_hf_headers(), "Accept-Encoding": "identity"}
        hasher = _Hasher(identity, obj.size)
        sha256 = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=blob.parent, prefix=".part-")
        got = 0
        try:
            with os.fdopen(fd, "wb") as out:
                with get_session().stream(
                    "GET", store.url(obj.key), headers=headers, follow_redirects=True,
                    timeout=TIMEOUT,
                ) as r:  # fmt: skip
                    if r.status_code != 200:
                        raise Refused(502, {
                            "error": f"upstream answered HTTP {r.status_code} for the file",
                            "code": "UpstreamError"})  # fmt: skip
                    for chunk in r.iter_bytes(CHUNK):
                        got += len(chunk)
                        if got > obj.size:
                            break
                        hasher.update(chunk)
                        sha256.update(chunk)
                        out.write(chunk)
            if got != obj.size or not hasher.matches():
                raise Refused(502, {
                    "error": "the upstream's bytes are not the bytes listed (and scanned) at "
                    f"this commit: expected {identity}, {obj.size} bytes; refused, not served",
                    "code": "ContentChanged", "identity": identity})  # fmt: skip
            os.replace(tmp, blob)
            return sha256.hexdigest()
        except Refused:
            raise
        except Exception as exc:  # noqa: BLE001 - network libraries raise many types
            raise Refused(
                502, {"error": scrub(f"download failed: {exc}"), "code": "UpstreamError"}
            ) from None
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    # -- pass-through

    def rewrite(self, value: str, base_url: str) -> str:
        """Upstream URLs in a header, as the gateway's."""
        return value.replace(self.upstream, base_url.rstrip("/"))


def _display(target: Target) -> str:
    typed = "" if target.repo_type == "model" else f"{target.repo_type}s/"
    return f"hf://{typed}{target.repo_id}/{target.path}"


def _refusal(exc: Refused, head: bool) -> Response:
    message = exc.body.get("error", "")
    headers = {
        "X-Error-Code": str(exc.body.get("code") or "Refused"),
        # the client shows this for a HEAD (no body); header values are ASCII
        "X-Error-Message": str(message).encode("ascii", "replace").decode()[:1000],
    }
    if head:
        return Response(status_code=exc.status, headers=headers)
    return JSONResponse(exc.body, status_code=exc.status, headers=headers)


def gateway_router(settings: GatewaySettings, scanner: Scanner | None = None) -> APIRouter:
    """The gateway's routes.  Its catch-all pass-through must be included after every other
    route of an app (it answers every path it is given)."""
    gw = Gateway(settings, scanner)
    router = APIRouter()
    client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)

    @router.get("/gateway/verdicts/{identity}", include_in_schema=False)
    def verdict(identity: str) -> Response:
        if not re.fullmatch(r"(sha256-[0-9a-f]{64}|git-[0-9a-f]{40})", identity):
            return _refusal(_bad("not a file identity"), False)
        found = gw.cache.find(identity)
        if not found:
            return JSONResponse({"error": "no verdict for this file"}, status_code=404)
        return JSONResponse({"identity": identity, "verdicts": found})

    @router.api_route(
        "/{anything:path}",
        methods=["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
        include_in_schema=False,
    )
    async def route(request: Request, anything: str) -> Response:
        raw = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or "/"
        head = request.method == "HEAD"
        base = str(request.base_url).rstrip("/")
        try:
            check_raw_path(raw)
            target = parse_resolve(raw)
            if target is not None and request.method in ("GET", "HEAD"):
                with anyio.CancelScope(shield=True):  # a blob pinned is always released
                    served = await run_in_threadpool(
                        gw.resolve, target, base, head, request.headers.get("authorization")
                    )
                if served.path is None:
                    return Response(status_code=200, headers=served.headers)
                headers = {k: v for k, v in served.headers.items() if k != "Content-Length"}
                return _PinnedFile(served.path, headers, served.release)
            if target is not None:
                return JSONResponse({"error": "method not allowed"}, status_code=405)
            if not raw.startswith("/api/") or _NOT_SERVED.fullmatch(raw):
                # only metadata passes through; file bytes come from the resolve route
                return JSONResponse(
                    {"error": "not served by the modelxray gateway", "code": "NotServed"},
                    status_code=404,
                    headers={"X-Error-Code": "EntryNotFound"},
                )
            if request.method not in ("GET", "HEAD") and not _READ_POST.fullmatch(raw):
                # a download gateway: nothing is written to the upstream through it
                return JSONResponse(
                    {"error": "read-only gateway", "code": "ReadOnly"}, status_code=405
                )
        except Refused as exc:
            return _refusal(exc, head)
        return await _pass_through(request, raw, base)

    async def _pass_through(request: Request, raw: str, base: str) -> Response:
        url = gw.upstream + raw + (f"?{request.url.query}" if request.url.query else "")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
        body = await request.body()
        try:
            upstream = await client.send(
                client.build_request(request.method, url, headers=headers, content=body),
                stream=True,
            )
        except httpx.HTTPError as exc:
            return JSONResponse(
                {"error": scrub(f"upstream unreachable: {type(exc).__name__}")}, status_code=502
            )
        out: dict[str, str] = {}
        for k, v in upstream.headers.items():
            if k.lower() in _HOP:
                continue
            if k.lower() in ("link", "location"):
                v = gw.rewrite(v, base)
                if k.lower() == "location" and urlsplit(v).netloc not in (
                    "",
                    urlsplit(base).netloc,
                ):
                    await upstream.aclose()
                    return JSONResponse(
                        {"error": "the upstream redirected off the hub; not followed"},
                        status_code=502,
                    )
            out[k] = v
        return StreamingResponse(
            upstream.aiter_bytes(),
            status_code=upstream.status_code,
            headers=out,
            background=BackgroundTask(upstream.aclose),
        )

    return router


def create_gateway_app(settings: GatewaySettings, scanner: Scanner | None = None) -> FastAPI:
    """A FastAPI app that is only the gateway (the service includes :func:`gateway_router`)."""
    app = FastAPI(title="modelxray gateway", openapi_url=None, docs_url=None, redoc_url=None)
    app.include_router(gateway_router(settings, scanner))
    return app
