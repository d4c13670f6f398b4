"""The verdict cache: a file's judgement kept by what it is, so the same bytes are judged once.

A judgement (formats, status and findings *before* the policy decides on them) is stored in
an embedded SQLite file (default ``$MODELXRAY_CACHE``, else
``$XDG_CACHE_HOME/modelxray/verdicts.sqlite``, i.e. ``~/.cache/modelxray/verdicts.sqlite``;
``MODELXRAY_CACHE=off`` turns it off) under a key made of:

* what the bytes are: their SHA-256 -- computed for a local file up to 64 MiB (a larger one
  is keyed by its file-system identity: device, inode, size, modification and change times,
  so it is not read twice; ``--hash`` keys it by content too); for a remote one, the
  SHA-256 its source states without a download (the hub's LFS oid), namespaced by that
  source (a hub endpoint vouches only for its own hashes, so one source cannot poison
  another's entries).  A remote file whose source states no hash is keyed by its identity
  pinned to a version (store, key, commit, ETag): its reads are pinned to that version.
  A file with neither is not cached;
* the file's name (a name decides what content no reader knows is judged as);
* the scanner: its version and a digest of its own code and data files;
* everything else that changes findings: the analysis settings of the policy
  (:func:`modelxray.engine.analysis_settings`: allow/deny lists, ``show_code``) and the limits.

The policy's other parts (rule states, severities, suppressions, ``fail_on``) are applied to
the findings afresh on every hit, so changing them needs no new scan; changing anything in
the key misses, and the file is judged again.

Only complete judgements are stored: a file scanned or found unsupported, with no read
failure.  Never stored: unscannable results (a limit, a timeout, a dead worker), unreadable
files, remote reads that failed, files with source problems (links, special files), files a
reader looked beside for siblings (their verdict depends on more than these bytes), policy
files (judged against the policy in force), and local files that changed while being judged.
On a hit the result is rebuilt under the current path (locations re-rooted), with no bytes
fetched.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from modelxray.artifact import siblings_looked_up
from modelxray.model import FileResult, FileStatus, Finding, Location

if TYPE_CHECKING:
    from modelxray.budget import Limits
    from modelxray.scanning import AnalysisSettings
    from modelxray.sources import SourceFile

FILE_NAME = "verdicts.sqlite"
_SCHEMA = 1


def default_path() -> str | None:
    """``$MODELXRAY_CACHE`` (``off``: no cache), else the user cache dir's file."""
    named = os.environ.get("MODELXRAY_CACHE")
    if named:
        return None if named.lower() == "off" else named
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "modelxray", FILE_NAME)


_CODE_DIGEST: str | None = None


def code_digest() -> str:
    """SHA-256 of the package's own ``.py`` and data files (its version is in
    ``__init__.py``): a changed reader or table changes every key, released or not."""
    global _CODE_DIGEST
    if _CODE_DIGEST is None:
        root = os.path.dirname(os.path.abspath(__file__))
        h = hashlib.sha256()
        for folder, dirs, files in os.walk(root):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith((".pyc", ".pyo")):
                    continue
                path = os.path.join(folder, name)
                h.update(os.path.relpath(path, root).encode() + b"\0")
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
        _CODE_DIGEST = h.hexdigest()
    return _CODE_DIGEST


def settings_digest(settings: AnalysisSettings, limits: Limits) -> str:
    """What of the options changes findings: analysis settings and limits."""
    from dataclasses import asdict

    data = {"analysis": asdict(settings), "limits": asdict(limits)}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------ store


class VerdictCache:
    """One SQLite file; a connection per process and thread (forked workers, Dask threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS verdicts (key TEXT PRIMARY KEY, schema INTEGER, "
                "result TEXT NOT NULL)"
            )
            self._local.db, self._local.pid = db, os.getpid()
        return db

    def get(self, key: str) -> dict[str, Any] | None:
        row = (
            self._db()
            .execute("SELECT result FROM verdicts WHERE key = ? AND schema = ?", (key, _SCHEMA))
            .fetchone()
        )
        return None if row is None else dict(json.loads(row[0]))

    def put(self, key: str, result: dict[str, Any]) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO verdicts (key, schema, result) VALUES (?, ?, ?)",
            (key, _SCHEMA, json.dumps(result, separators=(",", ":"))),
        )

    def __len__(self) -> int:
        return int(self._db().execute("SELECT COUNT(*) FROM verdicts").fetchone()[0])


_OPEN: dict[str, VerdictCache] = {}


def open_cache(path: str) -> VerdictCache:
    cache = _OPEN.get(path)
    if cache is None:
        cache = _OPEN[path] = VerdictCache(path)
    return cache


# ------------------------------------------------------------------------------ keys


def _stat(path: str) -> tuple[int, ...]:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


# Local files up to this size are keyed by their SHA-256 (identical bytes anywhere are judged
# once); larger ones by their file-system identity, unless the hash is wanted anyway (--hash).
HASH_AT_MOST = 64 * 1024 * 1024


def content_id(source: SourceFile, want_hash: bool = False) -> tuple[str, str | None] | None:
    """(what the bytes are, their SHA-256 where known) or None when ``source`` is not cached."""
    obj = source.remote
    if obj is not None:
        from modelxray.sources.remote import display_base

        if obj.sha256:
            endpoint = os.environ.get("HF_ENDPOINT", "") if obj.spec.scheme == "hf" else ""
            authority = f"{obj.spec.scheme}:{endpoint or obj.spec.root}"
            return f"sha256@{authority}:{obj.sha256.lower()}", obj.sha256
        pinned = obj.spec.revision if obj.spec.scheme == "hf" else ""
        if obj.etag and not obj.etag.startswith("W/"):
            pinned += "#" + obj.etag
        if not pinned:
            return None
        return f"object:{display_base(obj.spec)}/{obj.key}@{pinned}", None
    if source.path is None:
        return None
    if source.size > HASH_AT_MOST and not want_hash:
        # A large local file is not read a second time just to name it: it is keyed by what
        # the file system says of it (device, inode, size, modification and change times;
        # any write changes the change time), so only the same file unchanged is a hit.
        st = _stat(source.path)
        return f"stat:{os.path.realpath(source.path)}:{':'.join(map(str, st))}", None
    from modelxray.sources import sha256_file

    digest = sha256_file(source.path)
    return f"sha256:{digest}", digest


def _name(source: SourceFile) -> str:
    if source.remote is not None:
        from modelxray.sources.remote import basename

        return basename(source.remote)
    return os.path.basename(source.display)


def cache_key(source: SourceFile, content: str, settings: str) -> str:
    parts = [content, _name(source), code_digest(), settings]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


# ------------------------------------------------------------------------------ judge


def _storable(result: FileResult) -> bool:
    from modelxray.rules import scan as scan_rules

    if result.status not in (FileStatus.SCANNED, FileStatus.UNSUPPORTED):
        return False
    failed = {scan_rules.UNREADABLE.id, scan_rules.REMOTE_READ_FAILED.id}
    return not any(f.rule_id in failed for f in result.findings) and not result.references


def _stored(result: FileResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "formats": list(result.formats),
        "status": str(result.status),
        "findings": [f.to_dict() for f in result.findings],
    }


def _rebuilt(stored: dict[str, Any], source: SourceFile, result: FileResult) -> FileResult:
    """The stored judgement under the current path: locations on the stored path re-rooted."""
    old = stored["path"]
    result.formats = list(stored["formats"])
    result.status = FileStatus(stored["status"])
    for d in stored["findings"]:
        f = Finding.from_dict(d)
        if f.location.path == old:
            f.location = Location(source.display, f.location.inner)
        result.findings.append(f)
    result.bytes_fetched = 0 if source.remote is not None else None
    if source.remote is not None:
        result.revision = source.remote.spec.revision or None
    return result


def judged(
    source: SourceFile,
    path: str,
    settings: tuple[AnalysisSettings, Limits],
    want_hash: bool,
    judge: Callable[[SourceFile], FileResult],
) -> FileResult:
    """``judge(source)`` (a result before the policy decides), or the stored judgement of the
    same bytes under the same scanner and ``settings`` from the cache file at ``path``; a new
    complete judgement is stored.  ``want_hash``: the result records the file's SHA-256."""
    from modelxray.policy import POLICY_FILE_NAMES

    if source.problems or _name(source) in POLICY_FILE_NAMES:
        return judge(source)
    try:
        before = _stat(source.path) if source.path is not None else None
        found = content_id(source, want_hash)
    except OSError:
        return judge(source)  # unreadable: the scan reports it
    if found is None:
        return judge(source)
    content, digest = found
    store = open_cache(path)
    key = cache_key(source, content, settings_digest(*settings))
    try:
        stored = store.get(key)
    except (sqlite3.Error, OSError, ValueError):
        stored = None  # a broken cache file only costs a scan
    if stored is not None:
        result = FileResult(path=source.display, size=source.size, sha256="")
        if source.remote is not None and source.remote.sha256:
            result.sha256 = source.remote.sha256
        elif digest and want_hash:
            result.sha256 = digest
        return _rebuilt(stored, source, result)
    seen: list[str] = []
    token = siblings_looked_up.set(seen)
    try:
        result = judge(source)
    finally:
        siblings_looked_up.reset(token)
    if seen or not _storable(result):
        return result
    if before is not None and source.path is not None:
        try:
            if _stat(source.path) != before:
                return result  # changed while judged: these may not be the bytes hashed
        except OSError:
            return result
    try:
        store.put(key, _stored(result))
    except (sqlite3.Error, OSError):
        pass
    return result
