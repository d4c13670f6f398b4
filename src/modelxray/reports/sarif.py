"""SARIF 2.1.0 report, shaped for GitHub code scanning.

* ``tool.driver.rules`` lists every rule in the catalogue (plus a stub for any rule ID this
  version does not know), each with ``shortDescription`` (the page's first paragraph),
  ``fullDescription``, ``help`` (the whole Markdown page), ``helpUri`` (the absolute URL of the
  rule's page, ``Rule.page_url``: SARIF requires an absolute URI there), and ``properties``
  with ``security-severity`` (a number as a string, as GitHub reads it: critical 9.5, high 8.0,
  medium 5.5, low 3.0, info 0.0), ``precision`` and ``tags`` (``security`` first, so GitHub
  treats the results as security alerts).
* Each finding is one ``result``: ``level`` from its severity, the file as an
  ``artifactLocation`` relative to ``SRCROOT`` (the scan root, by default the working
  directory) when it lies below it and as an absolute ``file:`` URI otherwise, the place inside
  the file as a ``logicalLocation``, a ``partialFingerprints`` hash that stays the same while
  rule, file, place and message do, and the evidence under ``properties``.
* Findings the policy suppressed are results too, with a SARIF ``suppressions`` entry (kind
  ``external``, the policy's reason as justification), so viewers list them as suppressed;
  findings the policy only warns on are never ``error``.
* ``run.artifacts`` lists every scanned file with its verdict, so clean and unsupported files
  are on record too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from modelxray import __version__
from modelxray.model import LOCATION_SEP, Disposition, FileResult, Finding, Report, Severity
from modelxray.reports.common import (
    clean_text,
    file_verdict,
    gate_text,
    interrupted_text,
    jsonable,
    policy_of,
)
from modelxray.rules.base import Rule

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
ROOT_ID = "SRCROOT"
FINGERPRINT_KEY = "modelxray/v1"

SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "3.0",
    Severity.INFO: "0.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
_PRECISION = {"high": "high", "medium": "medium", "low": "low"}


def _uri_path(path: str) -> str:
    """A path as the path part of a URI reference (``/`` kept, everything else escaped)."""
    return quote(os.fsencode(path).replace(os.sep.encode(), b"/"), safe="/")


def _section(page: str, heading: str) -> str:
    """The text under ``## heading`` in a rule page, up to the next heading."""
    lines = page.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("#"):
            if inside:
                break
            inside = line.lstrip("#").strip().lower() == heading.lower()
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()


def _rule_name(title: str) -> str:
    words = re.findall(r"[A-Za-z0-9]+", title)
    return "".join(w[:1].upper() + w[1:] for w in words) or "Rule"


def rule_descriptor(rule: Rule) -> dict[str, Any]:
    page = rule.page()
    summary = rule.summary()
    why = _section(page, "Why it is dangerous")
    full = f"{summary}\n\n{why}" if why else summary
    tags = ["security", f"modelxray/{rule.family}"]
    tags += [f"external/cwe/cwe-{c.split('-')[-1]}" for c in rule.cwes]
    tags += list(rule.cves)
    return {
        "id": rule.id,
        "name": _rule_name(rule.title),
        "shortDescription": {"text": summary},
        "fullDescription": {"text": full, "markdown": full},
        "help": {"text": page, "markdown": page},
        "helpUri": rule.page_url,  # SARIF's helpUri is an absolute URI
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {
            "security-severity": SECURITY_SEVERITY[rule.severity],
            "precision": _PRECISION.get(str(rule.confidence), "medium"),
            "problem.severity": LEVEL[rule.severity],
            "tags": tags,
            "title": rule.title,
            "severity": str(rule.severity),
        },
    }


def _unknown_descriptor(rule_id: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "shortDescription": {"text": f"{rule_id} (not in this modelxray's rule catalogue)"},
        "properties": {"tags": ["security"]},
    }


class _Locator:
    """Turns report paths into SARIF artifact locations relative to the scan root."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self._roots = (self.root, os.path.realpath(root))

    def root_uri(self) -> str:
        return Path(self.root).as_uri().rstrip("/") + "/"

    def _relative(self, full: str) -> str | None:
        for root in self._roots:
            try:
                rel = os.path.relpath(full, root)
            except ValueError:  # another drive on Windows
                continue
            if rel != os.curdir and rel != os.pardir and not rel.startswith(os.pardir + os.sep):
                return rel
        return None

    def artifact_location(self, path: str) -> dict[str, Any]:
        full = os.path.abspath(path)
        # The folder may be reached through a link: try its real path too (never the file's).
        anchored = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
        for candidate in (full, anchored):
            rel = self._relative(candidate)
            if rel is not None:
                return {"uri": _uri_path(rel), "uriBaseId": ROOT_ID}
        return {"uri": Path(full).as_uri()}


def _logical_kind(part: str) -> str:
    if part.startswith("attr:"):
        return "attribute"
    if part.startswith("layer:"):
        return "object"
    if part.startswith("$"):
        return "property"
    if part.startswith(("op@", "offset", "@")):
        return "value"
    return "member"


def _fingerprint(finding: Finding, uri: str) -> str:
    key = "\x1f".join((finding.rule_id, uri, *finding.location.inner, finding.message))
    return hashlib.sha256(clean_text(key).encode("utf-8")).hexdigest()


def _level(finding: Finding) -> str:
    level = LEVEL[finding.severity]
    if finding.disposition == Disposition.WARN and level == "error":
        return "warning"  # the policy reports it but never blocks on it
    return level


def _result(
    finding: Finding, rule_index: int, artifact: dict[str, Any], artifact_index: int
) -> dict[str, Any]:
    inner = [clean_text(p) for p in finding.location.inner]
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": {**artifact, "index": artifact_index}},
    }
    if inner:
        location["logicalLocations"] = [
            {
                "name": inner[-1],
                "fullyQualifiedName": LOCATION_SEP.join(inner),
                "kind": _logical_kind(inner[-1]),
            }
        ]
    result: dict[str, Any] = {
        "ruleId": finding.rule_id,
        "ruleIndex": rule_index,
        "level": _level(finding),
        "message": {"text": clean_text(finding.message) or finding.rule_id},
        "locations": [location],
        "partialFingerprints": {FINGERPRINT_KEY: _fingerprint(finding, artifact["uri"])},
        "properties": {
            "severity": str(finding.severity),
            "confidence": str(finding.confidence),
            "disposition": str(finding.disposition),
            "security-severity": SECURITY_SEVERITY[finding.severity],
            "location": clean_text(str(finding.location)),
            "inner": inner,
            "evidence": jsonable(finding.evidence),
        },
    }
    if finding.disposition == Disposition.SUPPRESSED:
        reason = finding.evidence.get("suppressed_because")
        suppression: dict[str, Any] = {"kind": "external", "status": "accepted"}
        if isinstance(reason, str) and reason:
            suppression["justification"] = clean_text(reason)
        result["suppressions"] = [suppression]
    return result


def _artifact(r: FileResult, location: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "location": location,
        "length": r.size,
        "properties": {
            "path": clean_text(r.path),
            "verdict": file_verdict(r),
            "status": r.status,
            "formats": list(r.formats),
        },
    }
    if r.sha256:
        entry["hashes"] = {"sha-256": r.sha256}
    return entry


def to_dict(report: Report, *, root: str | None = None) -> dict[str, Any]:
    """The SARIF log; file URIs are relative to ``root`` (default: the working directory)."""
    from modelxray.rules import ALL_RULES

    locator = _Locator(root if root is not None else os.getcwd())
    descriptors = [rule_descriptor(r) for r in ALL_RULES.values()]
    rule_index = {d["id"]: i for i, d in enumerate(descriptors)}
    artifacts: list[dict[str, Any]] = []
    artifact_index: dict[str, int] = {}
    results: list[dict[str, Any]] = []
    for r in report.files:
        location = locator.artifact_location(r.path)
        uri = location["uri"]
        if uri not in artifact_index:
            artifact_index[uri] = len(artifacts)
            artifacts.append(_artifact(r, location))
        for f in [*r.findings, *r.suppressed]:
            if f.rule_id not in rule_index:
                rule_index[f.rule_id] = len(descriptors)
                descriptors.append(_unknown_descriptor(f.rule_id))
            results.append(_result(f, rule_index[f.rule_id], location, artifact_index[uri]))
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "modelxray",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": descriptors,
                    }
                },
                "invocations": [_invocation(report)],
                "originalUriBaseIds": {ROOT_ID: {"uri": locator.root_uri()}},
                "artifacts": artifacts,
                "results": results,
                "columnKind": "unicodeCodePoints",
                "properties": {
                    "failOn": str(report.fail_on) if report.fail_on is not None else None,
                    "reportOnly": report.report_only,
                    "failed": report.failed,
                    "verdict": report.verdict,
                    "gate": gate_text(report),
                    "policy": policy_of(report).source,
                    "policyFingerprint": policy_of(report).fingerprint,
                    "complete": report.complete,
                    "filesJudged": len(report.files),
                    "filesTotal": report.total,
                    "findings": report.counts(),
                },
            }
        ],
    }


def _invocation(report: Report) -> dict[str, Any]:
    """Whether the run finished; an interrupted one names its signal and says how far it got."""
    if report.complete:
        return {"executionSuccessful": True}
    return {
        "executionSuccessful": False,
        "exitSignalName": report.interrupted,
        "toolExecutionNotifications": [
            {"level": "error", "message": {"text": f"incomplete: {interrupted_text(report)}"}}
        ],
    }


def write(report: Report, out: TextIO, *, root: str | None = None) -> None:
    json.dump(to_dict(report, root=root), out, indent=2, ensure_ascii=False, allow_nan=False)
    out.write("\n")
