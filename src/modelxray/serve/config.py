"""The service's settings (command line and environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

ADMIN_KEY_ENV = "MODELXRAY_ADMIN_KEY"
DB_ENV = "MODELXRAY_DB"
DATA_ENV = "MODELXRAY_DATA_DIR"

DEFAULT_MAX_UPLOAD = 4 * 1024**3  # bytes per upload when a key names no limit of its own
DEFAULT_RATE = 120  # requests per minute per key when a key names no rate of its own


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
    # The gateway's per-organisation / per-repository policies and pre-approved repositories
    # (a TOML file: ``allow = [...]`` and an ``[overrides]`` table of name -> policy file).
    gateway_config: str | None = None

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
