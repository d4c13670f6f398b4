"""The service's settings (command line and environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from modelxray.sources.uri_guard import DEFAULT_ALLOW, UriGuard

ADMIN_KEY_ENV = "MODELXRAY_ADMIN_KEY"
DB_ENV = "MODELXRAY_DB"
DATA_ENV = "MODELXRAY_DATA_DIR"

DEFAULT_MAX_UPLOAD = 4 * 1024**3  # bytes per upload when a key names no limit of its own
DEFAULT_RATE = 120  # requests per minute per key when a key names no rate of its own
DEFAULT_GATEWAY_CACHE = 50 * 1024**3  # bytes of verified blobs the gateway keeps


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    db_url: str | None = None  # None: SQLite in data_dir
    data_dir: str = "modelxray-data"  # uploads waiting for their scan, the SQLite database
    upstream: str | None = None  # the Hugging Face gateway's upstream hub (gateway.py)
    policy_path: str | None = None  # None: the configured policy (MODELXRAY_POLICY, XDG …)
    workers: int = 2  # scan worker processes
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    rate_per_minute: int = DEFAULT_RATE
    open_pages: bool = False  # the HTML pages without a key (a trusted network only)
    allow_uri: bool = True  # accept {"uri": ...} scans of remote sources
    # The URIs a {"uri": ...} scan may name (prefixes; sources/uri_guard.py) and the
    # non-public networks an http(s) one may reach (CIDR; none: public addresses only).
    uri_allow: tuple[str, ...] = DEFAULT_ALLOW
    allow_networks: tuple[str, ...] = ()
    # /metrics without a key (a Prometheus scraper on a private network); else a read key.
    open_metrics: bool = False
    # The gateway's per-organisation / per-repository policies and pre-approved repositories
    # (a TOML file: ``allow = [...]`` and an ``[overrides]`` table of name -> policy file).
    gateway_config: str | None = None
    # Bytes of verified blobs the gateway keeps; the least recently served go first.
    gateway_cache_bytes: int = DEFAULT_GATEWAY_CACHE

    @property
    def uri_guard(self) -> UriGuard:
        """What {"uri": ...} scans may read (raises ValueError for a malformed setting)."""
        return UriGuard(self.uri_allow, self.allow_networks)

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return "sqlite:///" + os.path.abspath(os.path.join(self.data_dir, "modelxray.db"))

    @property
    def upload_dir(self) -> str:
        return os.path.join(os.path.abspath(self.data_dir), "uploads")


def admin_key_from_env() -> str | None:
    value = os.environ.get(ADMIN_KEY_ENV, "").strip()
    return value or None
