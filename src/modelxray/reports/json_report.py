"""The JSON report: one document, versioned, with every finding's evidence."""

from __future__ import annotations

import json
from typing import Any, TextIO

from modelxray import __version__
from modelxray.model import Report

SCHEMA_VERSION = "1.0"


def to_dict(report: Report) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "modelxray", "version": __version__},
        "fail_on": str(report.fail_on) if report.fail_on is not None else None,
        "failed": report.failed,
        "seconds": round(report.seconds, 4),
        "summary": {
            "files": len(report.files),
            "findings": report.counts(),
        },
        "files": [r.to_dict() for r in report.files],
    }


def write(report: Report, out: TextIO) -> None:
    json.dump(to_dict(report), out, indent=2, ensure_ascii=False, default=repr)
    out.write("\n")
