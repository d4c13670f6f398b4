"""What every source hands the engine: a :class:`SourceFile` per file to judge.

A local file carries its path; a remote one (``hf://``, ``s3://``, ``gs://``, ``az://``,
``https://``) carries a :class:`RemoteObject`: where to read it by range requests and what the
source says about it without a download (its size, the hub's LFS SHA-256, the commit it was
listed at).  Both are plain, picklable values: worker processes rebuild their own clients
from a :class:`StoreSpec`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from modelxray.rules.base import Rule

Problem = tuple[Rule, str, dict[str, Any]]

# The schemes a path names a remote source with (``scheme://``).  Anything else is a path.
REMOTE_SCHEMES = ("hf", "s3", "gs", "gcs", "az", "abfs", "abfss", "http", "https")
_URI = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")


def uri_scheme(path: str) -> str | None:
    """The remote scheme ``path`` names (lower case), or None for a local path."""
    m = _URI.match(path)
    if m is None or m["scheme"].lower() not in REMOTE_SCHEMES:
        return None
    return m["scheme"].lower()


@dataclass(frozen=True)
class StoreSpec:
    """Enough to rebuild a client in any process: scheme, bucket/repository and the
    revision it is pinned to (a commit for ``hf://``; empty where the store has none)."""

    scheme: str
    root: str  # bucket, container, "repo_type/org/name", or "host[:port]" for http(s)
    revision: str = ""
    secure: bool = True  # http: False, https: True
    # hf: the hub to read from; empty: ``HF_ENDPOINT`` or the public hub (a gateway names
    # its upstream here, whatever ``HF_ENDPOINT`` its own process has)
    endpoint: str = ""


@dataclass(frozen=True)
class RemoteObject:
    spec: StoreSpec
    key: str  # the object's key/path inside the store
    size: int
    sha256: str | None = None  # given by the source without a download (the hub's LFS oid)
    etag: str | None = None  # what the store names this version by; reads are pinned to it


@dataclass
class SourceFile:
    display: str
    path: str | None  # the regular file to read; None: nothing to read, see problems
    size: int
    problems: list[Problem] = field(default_factory=list)
    # The display names a folder (one that could not be listed, or a link to one): include
    # patterns cannot judge what it holds, so only exclude patterns apply to it.
    folder: bool = False
    # Set for a file read by range requests from a remote store (``path`` is then None).
    remote: RemoteObject | None = None


class RemoteReadError(OSError):
    """A remote read or listing failed (after retries where the failure was transient).
    Its message is scrubbed of credentials."""


class Store(Protocol):
    """One remote store (a bucket, a hub repository at a commit, a web server)."""

    def walk(self, prefix: str) -> Iterator[RemoteObject]:
        """The files at or under ``prefix`` in a stable order; raises RemoteReadError."""
        ...

    def read(self, obj: RemoteObject, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of ``obj``, exactly; raises RemoteReadError."""
        ...
