"""API keys: random tokens stored as SHA-256, roles, per-key rate and upload limits."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelxray.serve.models import ApiKey

ROLES = ("read", "scan", "admin")  # each role may do what the ones before it may
TOKEN_PREFIX = "mxk_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def role_allows(role: str, needed: str) -> bool:
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass(frozen=True)
class Caller:
    key_id: int
    name: str
    role: str
    rate_per_minute: int
    max_upload_bytes: int


def create_key(
    session: Session,
    role: str,
    name: str,
    token: str | None = None,
    rate_per_minute: int | None = None,
    max_upload_bytes: int | None = None,
) -> str:
    """Store a new key (its hash only) and return the token, shown once."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = token or new_token()
    session.add(
        ApiKey(
            name=name,
            role=role,
            key_hash=hash_token(token),
            rate_per_minute=rate_per_minute,
            max_upload_bytes=max_upload_bytes,
            revoked=False,
        )
    )
    session.commit()
    return token


def ensure_admin(session: Session, token: str) -> None:
    """The first admin key, from the environment: stored once, by its hash."""
    digest = hash_token(token)
    if session.scalar(select(ApiKey).where(ApiKey.key_hash == digest)) is None:
        create_key(session, "admin", "MODELXRAY_ADMIN_KEY", token=token)


def lookup(
    factory: sessionmaker[Session], token: str, default_rate: int, default_max_upload: int
) -> Caller | None:
    digest = hash_token(token)
    with factory() as session:
        key = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
    if key is None or key.revoked or not hmac.compare_digest(key.key_hash, digest):
        return None
    return Caller(
        key.id,
        key.name,
        key.role,
        key.rate_per_minute if key.rate_per_minute is not None else default_rate,
        key.max_upload_bytes if key.max_upload_bytes is not None else default_max_upload,
    )


class RateLimiter:
    """A token bucket per key: ``rate`` requests a minute, bursts up to ``rate``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, key_id: int, rate: int) -> bool:
        if rate <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key_id, (float(rate), now))
            level = min(float(rate), level + (now - last) * rate / 60.0)
            if level < 1.0:
                self._buckets[key_id] = (level, now)
                return False
            self._buckets[key_id] = (level - 1.0, now)
            return True
