"""The JSON report: one document, versioned, with every finding's evidence.

The shape is documented by the JSON Schema shipped as ``modelxray/data/report.schema.json``
(:func:`schema` loads it).  ``schema_version`` changes its major number when a field is removed
or changes meaning, its minor number when a field is added.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, TextIO

from modelxray import __version__
from modelxray.model import Disposition, FileResult, Finding, Report
from modelxray.reports.common import (
    clean_text,
    file_verdict,
    jsonable,
    policy_of,
    rule_title,
    verdict_counts,
)

SCHEMA_VERSION = "1.1"
SCHEMA_RESOURCE = "report.schema.json"


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the document :func:`to_dict` returns."""
    text = (resources.files("modelxray") / "data" / SCHEMA_RESOURCE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _finding(f: Finding) -> dict[str, Any]:
    d = f.to_dict()
    out: dict[str, Any] = {
        "rule_id": d["rule_id"],
        "rule_title": rule_title(f.rule_id),
        "severity": d["severity"],
        "confidence": d["confidence"],
        "location": clean_text(d["location"]),
        "path": clean_text(d["path"]),
        "inner": [clean_text(p) for p in d["inner"]],
        "message": clean_text(d["message"]),
        "evidence": jsonable(d["evidence"]),
        "help_uri": d["help_uri"],
        "disposition": d.get("disposition", str(Disposition.BLOCK)),
    }
    # Fields added to Finding.to_dict later are passed through (and must enter the schema).
    for key, value in d.items():
        out.setdefault(key, jsonable(value))
    return out


def file_dict(r: FileResult) -> dict[str, Any]:
    """One file's entry (``$defs/file`` in the schema; the JSON Lines report streams them)."""
    d = r.to_dict()
    out: dict[str, Any] = {
        "path": clean_text(d["path"]),
        "size": d["size"],
        "sha256": d["sha256"],
        "formats": d["formats"],
        "status": d["status"],
        "verdict": file_verdict(r),
        "max_severity": d["max_severity"],
        "seconds": d["seconds"],
        "findings": [_finding(f) for f in r.findings],
        "suppressed": [_finding(f) for f in r.suppressed],
    }
    for key, value in d.items():
        out.setdefault(key, jsonable(value))
    return out


def _interrupted(report: Report) -> dict[str, Any] | None:
    if report.complete:
        return None
    return {
        "signal": report.interrupted,
        "files_judged": len(report.files),
        "files_total": report.total,
    }


def to_dict(report: Report) -> dict[str, Any]:
    policy = policy_of(report)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "modelxray", "version": __version__},
        "fail_on": str(report.fail_on) if report.fail_on is not None else None,
        "failed": report.failed,
        "verdict": report.verdict,
        "complete": report.complete,
        "interrupted": _interrupted(report),
        "policy": {
            "source": clean_text(policy.source) if policy.source else None,
            "fingerprint": policy.fingerprint,
            "report_only": policy.report_only,
            "fail_on_unscannable": policy.fail_on_unscannable,
            "fail_on_unsupported": policy.fail_on_unsupported,
        },
        "seconds": round(report.seconds, 4),
        "summary": {
            "files": len(report.files),
            "findings": report.counts(),
            "verdicts": verdict_counts(report),
            "suppressed": sum(len(r.suppressed) for r in report.files),
        },
        "files": [file_dict(r) for r in report.files],
    }


def write(report: Report, out: TextIO) -> None:
    json.dump(to_dict(report), out, indent=2, ensure_ascii=False, allow_nan=False)
    out.write("\n")
