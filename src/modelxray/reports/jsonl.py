"""The JSON Lines report: one JSON object per line, written as the scan goes.

A line ``{"type": "file", ...}`` for each file as soon as it is judged (in source order,
flushed, so ``tail -f`` or a pipe sees it at once; its fields are the JSON report's file entry,
``$defs/file`` in ``modelxray/data/report.schema.json``), then one ``{"type": "summary", ...}``
line with everything the JSON report holds but ``files``.  A file whose judgement changed once
every file was in (data read by a model in the same scan, MX-SCAN-011) is written again, with
``"revised": true``, before the summary.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from modelxray.model import FileResult, Report
from modelxray.reports.json_report import file_dict, to_dict


def _line(out: TextIO, doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n")
    out.flush()


class JsonLinesWriter:
    """Writes the report line by line: :meth:`file` per judged file, then :meth:`summary`."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def file(self, result: FileResult, *, revised: bool = False) -> None:
        doc: dict[str, Any] = {"type": "file", **file_dict(result)}
        if revised:
            doc["revised"] = True
        _line(self.out, doc)

    def summary(self, report: Report) -> None:
        doc = to_dict(report)
        del doc["files"]
        _line(self.out, {"type": "summary", **doc})


def write(report: Report, out: TextIO) -> None:
    """The whole report at once (what the streaming writer produces for a finished run)."""
    writer = JsonLinesWriter(out)
    for r in report.files:
        writer.file(r)
    writer.summary(report)
