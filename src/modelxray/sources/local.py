"""Local sources: the files and folders on disk the user named, as files to scan.

Directories are walked recursively in a stable order.  Nothing on disk is skipped
without a word:

* a folder that cannot be listed is a finding (MX-SCAN-004);
* a FIFO, socket or device is a finding (MX-SCAN-010) and is never opened — opening
  a FIFO for reading blocks until a writer appears;
* symbolic links are never followed out of the directory being scanned: a link that
  escapes is a finding (MX-SCAN-005) and its content, not read, is a second one
  (MX-SCAN-004), so turning the escape rule off never makes the file read "ok";
* one escape is what a real loader reads: a Hugging Face cache snapshot
  (``<cache>/models--org--name/snapshots/<rev>/file -> ../../blobs/<sha>``, the layout
  ``huggingface_hub`` writes) links into the same repository's ``blobs`` folder.  The
  blob is scanned under the snapshot file's name;
* a link that stays inside is scanned as its target.

Files are opened only through :func:`open_regular`, which refuses anything but a
regular file without blocking, however the file changed since it was listed.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from typing import IO, Any

from modelxray.rules import scan as scan_rules
from modelxray.sources.interface import SourceFile

# ------------------------------------------------------------------------------ opening


def open_regular(path: str) -> IO[bytes]:
    """Open a regular file for reading; anything else raises OSError and is not read.

    The file is opened non-blocking (a FIFO swapped in after listing does not hang the
    scan) and checked with ``fstat`` on the open descriptor, so no race between a check
    and the open can hand a reader a FIFO, socket or device.
    """
    nonblock = getattr(os, "O_NONBLOCK", 0)
    flags = os.O_RDONLY | nonblock | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(f"not a regular file ({_kind(mode)}): {path}")
        if nonblock:
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: str) -> str:
    """The SHA-256 of a regular file's content (opened with :func:`open_regular`), hex."""
    import hashlib

    h = hashlib.sha256()
    with open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "FIFO (named pipe)"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISDIR, "folder"),
    ):
        if test(mode):
            return name
    return f"special file (mode {stat.S_IFMT(mode):#o})"


# ------------------------------------------------------------------------------ findings


def _special(display: str, mode: int, via: str = "") -> SourceFile:
    kind = _kind(mode)
    return SourceFile(
        display,
        None,
        0,
        [
            (
                scan_rules.SPECIAL_FILE,
                f"{via}a {kind}, not a regular file: not opened, its content cannot be judged",
                {"file_type": kind},
            )
        ],
    )


def _unreadable(
    display: str, message: str, evidence: dict[str, Any], folder: bool = False
) -> SourceFile:
    return SourceFile(display, None, 0, [(scan_rules.UNREADABLE, message, evidence)], folder)


def _os_error(exc: OSError) -> dict[str, Any]:
    return {"errno": exc.errno, "error": exc.strerror or str(exc)}


def _escape(display: str, link: str, target: str, folder: bool) -> SourceFile:
    what = "a folder" if folder else "a file"
    evidence = {"link_target": os.readlink(link), "resolved": target}
    return SourceFile(
        display,
        None,
        0,
        [
            (
                scan_rules.SYMLINK_ESCAPE,
                f"symbolic link to {what} outside the scanned folder: {target}",
                evidence,
            ),
            (
                scan_rules.UNREADABLE,
                f"not scanned: the link's target ({target}) lies outside the scanned folder",
                evidence,
            ),
        ],
        folder,
    )


# ------------------------------------------------------------------------------ links


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# huggingface_hub names a repository's cache folder f"{repo_type}s--{repo_id with / -> --}".
_HF_REPO_FOLDER = re.compile(r"(models|datasets|spaces)--.+")


def hf_cache_blob(link: str, target: str) -> bool:
    """Whether ``link`` -> ``target`` is a Hugging Face cache snapshot file and its blob.

    The layout ``huggingface_hub`` writes (``file_download._create_symlink``)::

        <cache>/models--org--name/blobs/<etag>
        <cache>/models--org--name/snapshots/<revision>/<path> -> ../../blobs/<etag>

    ``target`` (fully resolved) must be a file directly in the ``blobs`` folder of the
    same repository folder that holds the snapshot the link lives in.
    """
    here = os.path.realpath(os.path.dirname(os.path.abspath(link)))
    parent = os.path.dirname(target)
    while True:
        up = os.path.dirname(here)
        if up == here:
            return False
        if os.path.basename(up) == "snapshots":
            repo = os.path.dirname(up)
            if _HF_REPO_FOLDER.fullmatch(os.path.basename(repo)) and parent == os.path.join(
                repo, "blobs"
            ):
                return True
        here = up


def _from_path(path: str, display: str, root: str | None) -> SourceFile | None:
    """One non-folder entry; None for a link to a folder inside ``root`` (walked there)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        return _unreadable(display, f"could not read: {exc.strerror or exc}", _os_error(exc))
    via = ""
    if stat.S_ISLNK(st.st_mode):
        target = os.path.realpath(path)
        try:
            st = os.stat(target)
        except OSError as exc:
            if root is not None and not _inside(target, root):
                return _escape(display, path, target, False)
            return _unreadable(
                display,
                f"symbolic link to a missing file: {target}",
                {"link_target": os.readlink(path), "resolved": target, **_os_error(exc)},
            )
        folder = stat.S_ISDIR(st.st_mode)
        if root is not None and not _inside(target, root):
            if folder or not hf_cache_blob(path, target):
                return _escape(display, path, target, folder)
        elif folder:
            return None  # inside the scanned folder: its files are scanned where they are
        path, via = target, "symbolic link to "
    if not stat.S_ISREG(st.st_mode):
        return _special(display, st.st_mode, via)
    return SourceFile(display, path, st.st_size)


def _walk(root: str) -> Iterator[SourceFile]:
    """Depth-first, entries sorted by name, each folder's files before its sub-folders.

    In a Hugging Face cache repository folder, ``snapshots`` is walked before ``blobs``,
    and a blob already scanned under a snapshot file's name is not scanned again under
    its hash (no loader opens it by that name).
    """
    real_root = os.path.realpath(root)
    through_links: set[str] = set()  # regular files already scanned under a link's name
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield _unreadable(
                folder,
                f"folder could not be listed: {exc.strerror or exc}; nothing in it was scanned",
                _os_error(exc),
                folder=True,
            )
            continue
        name = os.path.basename(os.path.normpath(folder))
        hf_repo = _HF_REPO_FOLDER.fullmatch(name) is not None
        hf_blobs = name == "blobs" and _HF_REPO_FOLDER.fullmatch(
            os.path.basename(os.path.dirname(os.path.realpath(folder)))
        )
        subfolders = []
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False  # _from_path reports what lstat says
            if is_folder:
                subfolders.append(entry)
                continue
            if hf_blobs and os.path.realpath(entry.path) in through_links:
                continue
            source = _from_path(entry.path, entry.path, real_root)
            if source is None:
                continue
            if source.path is not None and source.path != entry.path:
                through_links.add(source.path)
            yield source
        if hf_repo:
            subfolders.sort(key=lambda e: (e.name == "blobs", e.name))
        stack.extend(e.path for e in reversed(subfolders))


def iter_local(paths: Iterable[str]) -> Iterator[SourceFile]:
    for p in paths:
        if os.path.isdir(p):
            yield from _walk(p)
        elif os.path.lexists(p):
            source = _from_path(p, p, None)
            if source is not None:
                yield source
        else:
            yield SourceFile(p, None, 0, [(scan_rules.UNREADABLE, "no such file or folder", {})])


STDIN_NAME = "<stdin>"


def spool_stdin(stream: IO[bytes], max_bytes: int) -> SourceFile:
    """What was piped in (``modelxray scan -``), copied to a private temporary file so every
    reader sees it as it sees a file on disk.  At most ``max_bytes`` are kept; more is a
    finding (MX-SCAN-002) and nothing is judged, never a silent cut.  The caller removes
    ``path`` when the scan is done."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="modelxray-stdin-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while size <= max_bytes:
                chunk = stream.read(min(1 << 20, max_bytes + 1 - size))
                if not chunk:
                    return SourceFile(STDIN_NAME, path, size)
                out.write(chunk)
                size += len(chunk)
    except BaseException:
        os.unlink(path)
        raise
    os.unlink(path)
    message = f"standard input is larger than {max_bytes} bytes (max_member_bytes): not judged"
    return SourceFile(
        STDIN_NAME, None, 0, [(scan_rules.INCOMPLETE, message, {"limit": "max_member_bytes"})]
    )
