"""Report renderers: each turns a Report into text for one audience.

``console`` (people at a terminal), ``json`` (machines; schema in ``modelxray/data``),
``jsonl`` (the same, one line per file as the scan goes, then a summary line),
``sarif`` (SARIF 2.1.0 for GitHub code scanning and other SARIF viewers), ``html`` (one
self-contained page to read or attach) and ``cyclonedx`` (a CycloneDX 1.6 ML-BOM; needs the
``sbom`` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from modelxray.reports.common import ReportUnavailable

__all__ = ["FORMATS", "ReportUnavailable", "check_available", "render"]

if TYPE_CHECKING:
    from modelxray.model import Report

FORMATS = ("console", "json", "jsonl", "sarif", "html", "cyclonedx")


def check_available(fmt: str) -> None:
    """Raise ``ReportUnavailable`` (with the install command) if ``fmt`` needs a library that
    is not installed; call it before scanning so a missing extra fails before any work."""
    if fmt == "cyclonedx":
        from modelxray.reports import cyclonedx

        cyclonedx.require()


def render(
    report: Report,
    fmt: str,
    out: TextIO,
    *,
    color: bool = False,
    quiet: bool = False,
    root: str | None = None,
) -> None:
    """Write ``report`` to ``out`` as ``fmt`` (one of :data:`FORMATS`).

    ``color`` and ``quiet`` apply to the console report; ``root`` is the folder SARIF file
    locations are made relative to (default: the working directory).
    """
    if fmt == "json":
        from modelxray.reports import json_report

        json_report.write(report, out)
    elif fmt == "jsonl":
        from modelxray.reports import jsonl

        jsonl.write(report, out)
    elif fmt == "console":
        from modelxray.reports import console

        console.write(report, out, color=color, quiet=quiet)
    elif fmt == "sarif":
        from modelxray.reports import sarif

        sarif.write(report, out, root=root)
    elif fmt == "html":
        from modelxray.reports import html

        html.write(report, out)
    elif fmt == "cyclonedx":
        from modelxray.reports import cyclonedx

        cyclonedx.write(report, out)
    else:
        raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")
