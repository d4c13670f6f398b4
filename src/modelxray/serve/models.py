"""The database tables (SQLAlchemy 2 declarative); their history is in ``migrations/``."""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))  # admin | scan | read
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    rate_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_upload_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(default=False)


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # queued|running|done|failed
    kind: Mapped[str] = mapped_column(String(8))  # upload | uri
    name: Mapped[str] = mapped_column(Text)  # the upload's file name or the URI
    target: Mapped[str] = mapped_column(Text)  # what the worker scans (a path or the URI)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"), nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    report_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    report_html: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    claim: Mapped[str | None] = mapped_column(String(36), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    completions: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[_dt.datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, index=True
    )
    started_at: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[_dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class ScanFile(Base):
    """One judged file of a scan (for the dashboard's blocked files and the filters)."""

    __tablename__ = "scan_files"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class RuleHit(Base):
    """One finding's rule in a scan (for filtering by rule and the rule-hit counts)."""

    __tablename__ = "rule_hits"
    __table_args__ = (Index("ix_rule_hits_rule_scan", "rule_id", "scan_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[str] = mapped_column(ForeignKey("scans.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[_dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
