"""The progress line the CLI shows on a terminal while a folder is scanned (stderr).

One line, redrawn in place: files judged / total, the share done, findings and blocked files so
far, and the file being judged.  It is a few lines of stdlib on purpose: ``rich.progress`` and
``tqdm`` each add tens of milliseconds of import time (``python -X importtime``) and a
dependency, for one line of text.  The CLI imports this module only when the line is shown: on a
terminal, outside CI, without ``--no-progress``.

File names come from the scanned content: they go through
:func:`~modelxray.reports.common.visible`, so a name cannot smuggle escape sequences into the
terminal.
"""

from __future__ import annotations

import shutil
import time
from typing import TextIO

from modelxray.model import FileResult, Verdict
from modelxray.reports.common import visible

_CLEAR = "\r\x1b[K"
_INTERVAL = 0.1  # seconds between redraws; the last state is always drawn on close


class Progress:
    """Files done / total, findings so far, the current file; drawn on ``stream``."""

    def __init__(self, stream: TextIO, total: int) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.findings = 0
        self.blocked = 0
        self.errors = 0
        self.current = ""
        self._drawn_at = 0.0
        self._shown = False

    def start(self, current: str) -> None:
        self.current = current
        self.draw(force=True)

    def advance(self, result: FileResult, current: str) -> None:
        """One more file judged; ``current`` is the next file (empty after the last)."""
        self.done += 1
        self.findings += len(result.findings)
        verdict = str(result.verdict)
        if verdict == str(Verdict.BLOCKED):
            self.blocked += 1
        elif verdict != str(Verdict.ALLOWED):
            self.errors += 1
        self.current = current
        self.draw()

    def text(self, width: int) -> str:
        share = f"{100 * self.done // self.total:3d}%" if self.total else "   -"
        head = (
            f"modelxray {self.done}/{self.total} files {share}  "
            f"{self.findings} finding{'s' if self.findings != 1 else ''}, "
            f"{self.blocked} blocked, {self.errors} error  "
        )
        room = width - len(head) - 1
        name = visible(self.current)
        if room < 8:
            return head[: max(0, width - 1)]
        if len(name) > room:
            name = "…" + name[-(room - 1) :]
        return head + name

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < _INTERVAL:
            return
        self._drawn_at = now
        width = shutil.get_terminal_size((80, 24)).columns
        self.stream.write(_CLEAR + self.text(width))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Take the line away (before other output goes to the same terminal)."""
        if self._shown:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self._shown = False
