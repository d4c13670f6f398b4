"""CycloneDX 1.6 JSON: a machine-learning bill of materials (ML-BOM) of the scanned files.

Written with ``cyclonedx-python-lib`` (Apache-2.0), an optional extra
(``pip install 'modelxray[sbom]'``) imported only when this format is chosen.

* ``metadata.tools`` names modelxray and its version; ``metadata.properties`` carry the run's
  verdict, the gate and the policy that decided it (its file and fingerprint).
* Each scanned file is one component, named by its path: type ``machine-learning-model``
  (``file`` for a file in no format modelxray knows), its SHA-256 under ``hashes`` (taken from
  the report; computed here from the file on disk when the report has none and the file is a
  regular file, not a link), and properties ``modelxray:format`` (one per detected format),
  ``modelxray:verdict``, ``modelxray:status``, ``modelxray:size`` and
  ``modelxray:max_severity``.
* Each finding is one vulnerability: ``id`` the rule ID, ``source`` modelxray with the rule
  page's URL, one rating (the finding's severity, method ``other``), ``cwes`` from the rule,
  ``description`` the finding's message, ``detail`` the rule's summary, ``references`` the
  rule's CVEs, ``affects`` the component's ``bom-ref``, and properties for the place inside
  the file (``modelxray:location``), the evidence (``modelxray:evidence``, JSON), the
  confidence and what the policy did with it (``modelxray:disposition``: block, warn or
  suppressed; a suppressed finding's reason is its ``analysis.detail``).
"""

from __future__ import annotations

import functools
import json
import os
from typing import TYPE_CHECKING, Any, TextIO

from modelxray import __version__
from modelxray.model import LOCATION_SEP, Disposition, FileResult, FileStatus, Finding, Report
from modelxray.reports.common import (
    ReportUnavailable,
    clean_text,
    file_verdict,
    gate_text,
    jsonable,
    policy_of,
)

if TYPE_CHECKING:
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component
    from cyclonedx.model.vulnerability import Vulnerability

SPEC_VERSION = "1.6"
PROPERTY_PREFIX = "modelxray:"
INSTALL_HINT = "pip install 'modelxray[sbom]'"
NVD_URL = "https://nvd.nist.gov/vuln/detail/"


def require() -> None:
    """Raise :class:`ReportUnavailable` (with the install command) unless the library is here."""
    try:
        import cyclonedx.output.json  # noqa: F401
    except ImportError as exc:
        raise ReportUnavailable(
            f"--format cyclonedx needs cyclonedx-python-lib: {INSTALL_HINT} ({exc})"
        ) from None


def _prop(name: str, value: object) -> Any:
    from cyclonedx.model import Property

    return Property(name=PROPERTY_PREFIX + name, value=clean_text(str(value)))


def _sha256(r: FileResult) -> str:
    """The report's hash of the file, or one computed now from a regular file (not a link:
    what a link pointed to may not be what was scanned, or not read at all)."""
    if r.sha256:
        return r.sha256
    from modelxray.sources import sha256_file

    try:
        if os.path.islink(r.path):
            return ""
        return sha256_file(r.path)
    except (OSError, ValueError):  # gone, unreadable, not a regular file, bad name
        return ""


def _component(r: FileResult, ref: str) -> Component:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    kind = (
        ComponentType.FILE
        if r.status == FileStatus.UNSUPPORTED
        else ComponentType.MACHINE_LEARNING_MODEL
    )
    properties = [_prop("format", f) for f in r.formats]
    properties += [
        _prop("verdict", file_verdict(r)),
        _prop("status", r.status),
        _prop("size", r.size),
    ]
    if r.max_severity is not None:
        properties.append(_prop("max_severity", r.max_severity))
    sha256 = _sha256(r)
    hashes = [HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else []
    return Component(
        name=clean_text(r.path) or "(unnamed)",
        type=kind,
        bom_ref=ref,
        hashes=hashes,
        properties=properties,
    )


@functools.cache
def _rule_facts(rule_id: str) -> tuple[str | None, tuple[int, ...], tuple[str, ...], str | None]:
    """A rule's page URL, CWE numbers, CVEs and summary (None/empty for an unknown rule)."""
    from modelxray.rules import ALL_RULES

    rule = ALL_RULES.get(rule_id)
    if rule is None:
        return None, (), (), None
    cwes = tuple(int(n) for c in rule.cwes if (n := c.rpartition("-")[2]).isdigit())
    return rule.page_url, cwes, rule.cves, rule.summary()


def _vulnerability(f: Finding, ref: str, target: str) -> Vulnerability:
    from cyclonedx.model import XsUri
    from cyclonedx.model.vulnerability import (
        BomTarget,
        Vulnerability,
        VulnerabilityAnalysis,
        VulnerabilityRating,
        VulnerabilityReference,
        VulnerabilityScoreSource,
        VulnerabilitySeverity,
        VulnerabilitySource,
    )

    page_url, cwes, cves, summary = _rule_facts(f.rule_id)
    source = VulnerabilitySource(name="modelxray", url=XsUri(page_url) if page_url else None)
    references = [
        VulnerabilityReference(
            id=cve, source=VulnerabilitySource(name="NVD", url=XsUri(NVD_URL + cve))
        )
        for cve in cves
    ]
    properties = [
        _prop("location", f.location),
        _prop("inner", LOCATION_SEP.join(f.location.inner)),
        _prop("confidence", f.confidence),
        _prop("disposition", f.disposition),
        _prop("evidence", json.dumps(jsonable(f.evidence), ensure_ascii=False, sort_keys=True)),
    ]
    analysis = None
    if f.disposition == Disposition.SUPPRESSED:
        reason = f.evidence.get("suppressed_because")
        detail = f"suppressed by the policy: {reason}" if isinstance(reason, str) else None
        analysis = VulnerabilityAnalysis(detail=clean_text(detail or "suppressed by the policy"))
    return Vulnerability(
        bom_ref=ref,
        id=f.rule_id,
        source=source,
        references=references,
        ratings=[
            VulnerabilityRating(
                source=VulnerabilitySource(name="modelxray"),
                severity=VulnerabilitySeverity(str(f.severity)),
                method=VulnerabilityScoreSource.OTHER,
            )
        ],
        cwes=cwes,
        description=clean_text(f.message) or f.rule_id,
        detail=summary,
        analysis=analysis,
        affects=[BomTarget(ref=target)],
        properties=properties,
    )


def to_bom(report: Report) -> Bom:
    """The report as a CycloneDX :class:`~cyclonedx.model.bom.Bom` (needs the ``sbom`` extra)."""
    from cyclonedx.model.bom import Bom
    from cyclonedx.model.component import Component, ComponentType

    policy = policy_of(report)
    bom = Bom()
    bom.metadata.tools.components.add(
        Component(name="modelxray", version=__version__, type=ComponentType.APPLICATION)
    )
    bom.metadata.properties.update(
        [
            _prop("verdict", report.verdict),
            _prop("failed", str(report.failed).lower()),
            _prop("fail_on", report.fail_on if report.fail_on is not None else "none"),
            _prop("report_only", str(report.report_only).lower()),
            _prop("gate", gate_text(report)),
            _prop("policy", policy.source or "built-in defaults"),
            _prop("policy_fingerprint", policy.fingerprint),
        ]
    )
    components, vulnerabilities = [], []
    for i, r in enumerate(report.files, 1):
        target = f"file-{i}"
        components.append(_component(r, target))
        for j, f in enumerate([*r.findings, *r.suppressed], 1):
            vulnerabilities.append(_vulnerability(f, f"{target}-finding-{j}", target))
    # The library keeps both in sorted sets (the document lists them in its own order).
    bom.components = components
    bom.vulnerabilities = vulnerabilities
    return bom


def to_dict(report: Report) -> dict[str, Any]:
    """The CycloneDX 1.6 JSON document as a dict."""
    loaded: dict[str, Any] = json.loads(_serialise(report))
    return loaded


def _serialise(report: Report) -> str:
    require()
    from cyclonedx.output.json import JsonV1Dot6

    return JsonV1Dot6(to_bom(report)).output_as_string(indent=2)


def write(report: Report, out: TextIO) -> None:
    out.write(_serialise(report))
    out.write("\n")
