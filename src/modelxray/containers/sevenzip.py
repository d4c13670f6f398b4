"""7z archives (the NullifAI wrapper), read with the optional ``py7zr`` extra.

``py7zr`` is LGPL-2.1-or-later, so it is never a hard dependency: install
``modelxray[7z]`` to scan 7z content.  Without it a 7z file is reported as
unscannable (MX-ARCHIVE-006), never skipped.  The archive header is checked like
every other archive (names, links, duplicates, declared sizes); members are
decompressed into memory one at a time (up to ``max_buffered_member_bytes``, the
rest of a larger member is not scanned and says so), scanned, and dropped —
nothing is written to disk.  py7zr extracts in one thread of this process that waits while
each member is scanned (see ``_extracted``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.rules import archive as archive_rules
from modelxray.rules import scan as scan_rules
from modelxray.scanning import Child, Reading

if TYPE_CHECKING:
    from modelxray.scanning import Sink

MAGIC = b"7z\xbc\xaf\x27\x1c"


def _load_py7zr() -> Any:
    try:
        import py7zr
        import py7zr.io
    except ImportError:
        return None
    return py7zr


def _missing(artifact: Artifact, ctx: Sink, why: str) -> None:
    ctx.report(
        archive_rules.MISSING_EXTRA,
        artifact.location,
        f"7z archive was not scanned: {why} (pip install modelxray[7z])",
        {"format": "7z", "module": "py7zr", "extra": "7z"},
    )


def _encrypted(artifact: Artifact, ctx: Sink, what: str) -> None:
    ctx.report(
        archive_rules.ENCRYPTED,
        artifact.location,
        f"7z archive is password-protected ({what}); its content cannot be scanned",
        {"format": "7z", "encrypted": what},
    )


class SevenZipReader(FormatReader):
    name = "7z"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        return 60 if head[:6] == MAGIC else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        py7zr = _load_py7zr()
        if py7zr is None:
            _missing(artifact, ctx, "the optional 'py7zr' module is not installed")
            return
        with artifact.open() as f:
            try:
                archive = py7zr.SevenZipFile(f, mode="r")
            except py7zr.exceptions.PasswordRequired:
                _encrypted(artifact, ctx, "encrypted header: member names are hidden too")
                return
            try:
                yield from self._scan_open(archive, py7zr, artifact, ctx)
            finally:
                archive.close()

    def _scan_open(self, archive: Any, py7zr: Any, artifact: Artifact, ctx: Sink) -> Reading:
        files = list(archive.files)
        if len(files) > ctx.limits.max_members:
            raise BudgetExceeded("max_members", f"archive declares {len(files)} members")
        from modelxray.containers.checks import MemberChecks

        checks = MemberChecks(ctx, artifact, "7z")
        # py7zr hands writers the output name, renaming repeats "name_0", "name_1"...
        by_outname: dict[str, tuple[Any, int]] = {}
        repeats: dict[str, int] = {}
        total = 0
        for entry in files:
            name = str(entry.filename)
            copy = checks.member(name)
            if name in repeats:
                outname = f"{name}_{repeats[name]}"
                repeats[name] += 1
            else:
                outname = name
                repeats[name] = 0
            by_outname[outname] = (entry, copy)
            if not entry.is_directory:
                total += int(entry.uncompressed or 0)
        checks.expansion(None, total, artifact.size, declared=True)
        if archive.needs_password():
            _encrypted(artifact, ctx, "encrypted content")
            return
        for outname, data, truncated in _extracted(archive, py7zr, ctx):
            entry, copy = by_outname.get(outname, (None, 1))
            name = str(entry.filename) if entry is not None else outname
            if entry is not None and entry.is_symlink:
                checks.link(name, data[:4096].decode("utf-8", "replace"), hard=False)
                continue
            loc = checks.location(name, copy)
            child = Artifact.from_bytes(data, loc, name.rsplit("/", 1)[-1], artifact.depth + 1)
            child.facts["container"] = "7z"
            if truncated:
                ctx.report(
                    scan_rules.INCOMPLETE,
                    loc,
                    f"7z member is larger than {ctx.limits.max_buffered_member_bytes} bytes; "
                    "only that much of it was scanned",
                    {"limit": "max_buffered_member_bytes", "format": "7z"},
                )
            yield Child(child)


_Member = tuple[str, bytes, bool]  # output name, buffered bytes, whether they were cut short


def _extracted(archive: Any, py7zr: Any, ctx: Sink) -> Generator[_Member, None, None]:
    """The archive's members one at a time, as py7zr finishes writing each.

    py7zr pushes members into writers from inside ``extract``; it runs in a thread that
    waits, after each member, until the reader has had it scanned, so one member is in memory
    at a time.  What the scan of a member raises is raised inside py7zr's writer (stopping the
    extraction, as when the scan ran in the writer itself), and then here.
    """
    import queue
    import threading

    members: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    replies: queue.Queue[BaseException | None] = queue.Queue(maxsize=1)

    def on_member(outname: str, data: bytes, truncated: bool) -> None:
        members.put(("member", (outname, data, truncated)))
        failure = replies.get()
        if failure is not None:
            raise failure

    def extract() -> None:
        try:
            archive.extract(factory=_factory(py7zr, ctx, on_member))
        except BaseException as exc:  # noqa: BLE001 - handed to the reader's thread
            members.put(("failed", exc))
        else:
            members.put(("done", None))

    worker = threading.Thread(target=extract, name="modelxray-7z", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = members.get()
            if kind == "done":
                return
            if kind == "failed":
                raise value
            try:
                yield value
            except BaseException as exc:
                replies.put(exc if isinstance(exc, Exception) else _Cancelled())
                raise
            replies.put(None)
    finally:
        if worker.is_alive():
            # Stopped early (a limit, or the reader was closed): let py7zr unwind.
            while worker.is_alive():
                try:
                    kind, _ = members.get(timeout=0.05)
                except queue.Empty:
                    continue
                if kind == "member":
                    replies.put(_Cancelled())
            worker.join()


class _Cancelled(Exception):
    """Stops py7zr's extraction when the reader stopped before the last member."""


def _factory(py7zr: Any, ctx: Sink, on_member: Callable[[str, bytes, bool], None]) -> Any:
    """A py7zr WriterFactory whose writers keep a bounded prefix and scan it on close."""
    cap = ctx.limits.max_buffered_member_bytes
    written = [0]

    class Collector(py7zr.io.Py7zIO):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            self.name = name
            self.buf = bytearray()
            self.truncated = False
            self.done = False

        def write(self, s: bytes | bytearray) -> int:
            ctx.budget.check_time()
            ctx.budget.charge_decompressed(len(s))  # the file's budget, across nesting levels
            written[0] += len(s)
            if written[0] > ctx.limits.max_decompressed_bytes:
                raise BudgetExceeded(
                    "max_decompressed_bytes",
                    f"7z content expands beyond {ctx.limits.max_decompressed_bytes} bytes",
                )
            room = cap - len(self.buf)
            if len(s) > room:
                self.truncated = True
            self.buf += s[: max(0, room)]
            return len(s)

        def read(self, size: int | None = None) -> bytes:
            return b""

        def seek(self, offset: int, whence: int = 0) -> int:
            return 0

        def flush(self) -> None:
            return None

        def size(self) -> int:
            return len(self.buf)

        def close(self) -> None:
            if self.done:
                return
            self.done = True
            data = bytes(self.buf)
            self.buf = bytearray()
            on_member(self.name, data, self.truncated)

    class Factory(py7zr.io.WriterFactory):  # type: ignore[misc]
        def create(self, filename: str) -> Any:
            return Collector(filename)

    return Factory()


register(SevenZipReader())
