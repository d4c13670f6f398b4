"""Plain result types shared by every stage: findings, per-file results, the report."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

LOCATION_SEP = " › "


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of {names})") from None

    def __str__(self) -> str:
        return self.name.lower()


class Confidence(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Location:
    """Where something sits: the file on disk, then the path inside it.

    ``inner`` holds one entry per level: an archive member, an HDF5 attribute,
    a JSON path, a layer path, an opcode offset.
    """

    path: str
    inner: tuple[str, ...] = ()

    def child(self, *parts: str) -> Location:
        return Location(self.path, self.inner + tuple(p for p in parts if p))

    def __str__(self) -> str:
        return LOCATION_SEP.join((self.path, *self.inner))


@dataclass
class Finding:
    rule_id: str
    severity: Severity
    confidence: Confidence
    location: Location
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    help_uri: str = ""
    # What the policy does with it: "block" (counts toward the gate), "warn", "suppressed".
    disposition: str = "block"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Finding:
        """Rebuild a finding from :meth:`to_dict` (results sent back by a child process)."""
        return cls(
            rule_id=d["rule_id"],
            severity=Severity.parse(d["severity"]),
            confidence=Confidence[str(d["confidence"]).upper()],
            location=Location(d["path"], tuple(d.get("inner", ()))),
            message=d["message"],
            evidence=dict(d.get("evidence", {})),
            help_uri=d.get("help_uri", ""),
            disposition=d.get("disposition", "block"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": str(self.severity),
            "confidence": str(self.confidence),
            "location": str(self.location),
            "path": self.location.path,
            "inner": list(self.location.inner),
            "message": self.message,
            "evidence": self.evidence,
            "help_uri": self.help_uri,
            "disposition": self.disposition,
        }


class FileStatus:
    """How far a file got: fully scanned, a format we don't know, or one we could not read."""

    SCANNED = "scanned"
    UNSUPPORTED = "unsupported"
    UNSCANNABLE = "unscannable"


@dataclass
class FileResult:
    path: str
    size: int
    sha256: str
    formats: list[str] = field(default_factory=list)
    status: str = FileStatus.SCANNED
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    verdict: str = "allowed"  # allowed | blocked | error, set by the policy
    suppressed: list[Finding] = field(default_factory=list)
    # Real paths of other files this file's loader reads as its data (ONNX external data,
    # joblib sidecars): the engine marks those files as this model's data (not in reports).
    references: list[str] = field(default_factory=list)

    @property
    def max_severity(self) -> Severity | None:
        return max((f.severity for f in self.findings), default=None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "sha256": self.sha256,
            "formats": self.formats,
            "status": self.status,
            "verdict": self.verdict,
            "max_severity": str(self.max_severity) if self.max_severity is not None else None,
            "seconds": round(self.seconds, 4),
            "findings": [f.to_dict() for f in self.findings],
            "suppressed": [f.to_dict() for f in self.suppressed],
        }


@dataclass(frozen=True)
class Gate:
    """What decided the run, as plain values (from ``Policy.gate()``): the report shows it and
    decides whether the gate fails, without depending on the policy module."""

    fail_on: Severity | None = Severity.HIGH
    report_only: bool = False
    fail_on_unscannable: bool = True
    fail_on_unsupported: bool = False
    source: str | None = None
    fingerprint: str = ""


@dataclass
class Report:
    files: list[FileResult] = field(default_factory=list)
    gate: Gate | None = None  # None: the built-in defaults
    seconds: float = 0.0

    @property
    def findings(self) -> list[Finding]:
        return [f for r in self.files for f in r.findings]

    @property
    def fail_on(self) -> Severity | None:
        return self.gate.fail_on if self.gate is not None else Severity.HIGH

    @property
    def report_only(self) -> bool:
        return self.gate is not None and self.gate.report_only

    @property
    def verdict(self) -> str:
        """The run's verdict: the worst file verdict (error > blocked > allowed)."""
        verdicts = {r.verdict for r in self.files}
        for v in ("error", "blocked"):
            if v in verdicts:
                return v
        return "allowed"

    @property
    def failed(self) -> bool:
        """Whether the gate fails: any file blocked or in error, unless report-only."""
        return not self.report_only and self.verdict != "allowed"

    def counts(self) -> dict[str, int]:
        out = {str(s): 0 for s in reversed(Severity)}
        for f in self.findings:
            out[str(f.severity)] += 1
        return out
