"""Report renderers: each turns a Report into text for one audience."""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from modelxray.model import Report

FORMATS = ("console", "json")


def render(report: Report, fmt: str, out: TextIO, *, color: bool = False) -> None:
    if fmt == "json":
        from modelxray.reports import json_report

        json_report.write(report, out)
    elif fmt == "console":
        from modelxray.reports import console

        console.write(report, out, color=color)
    else:
        raise ValueError(f"unknown report format {fmt!r}")
