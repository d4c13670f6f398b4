"""Files written into the output folder, never through a link.

The folder the output path names is opened once; every file is written as a new
temporary name inside it (``O_CREAT | O_EXCL | O_NOFOLLOW``: never an existing file,
never through a symlink) and renamed over the final name only if that name is free or
a regular file.  A symlink (or any other non-regular file) already at an output name is
left untouched and the conversion is refused: a model folder can plant
``model.config.json -> ~/.bashrc``, and following it would overwrite the target.
Symlinks in the folder's own path are the caller's choice and are followed once, when
the folder is opened.
"""

from __future__ import annotations

import os
import secrets
import stat
from types import TracebackType
from typing import IO

from .common import ConvertError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_BINARY = getattr(os, "O_BINARY", 0)


class OutputDir:
    """The output folder; use as a context manager (closes the folder, removes leftovers)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder or "."
        self._dirfd: int | None = None
        if os.open in os.supports_dir_fd and _DIRECTORY:
            try:
                self._dirfd = os.open(self.folder, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
            except OSError as exc:
                raise ConvertError(f"output folder {self.folder}: {exc.strerror}") from None
        elif not os.path.isdir(self.folder):
            raise ConvertError(f"output folder {self.folder} does not exist")
        self._temps: list[str] = []

    def __enter__(self) -> OutputDir:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _path(self, name: str) -> str:
        return name if self._dirfd is not None else os.path.join(self.folder, name)

    def check_free(self, name: str) -> None:
        """Refuse when ``name`` exists as anything but a regular file (it stays untouched)."""
        try:
            st = os.stat(self._path(name), dir_fd=self._dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise ConvertError(
                f"{os.path.join(self.folder, name)} is a symbolic link; it is left untouched "
                "and nothing is written through it (remove it or choose another output)"
            )
        if not stat.S_ISREG(st.st_mode):
            raise ConvertError(f"{os.path.join(self.folder, name)} exists and is not a file")

    def create_temp(self, name: str) -> tuple[str, IO[bytes]]:
        """A new file beside ``name`` (open for reading and writing), never following links."""
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
        for _ in range(16):
            temp = f".{name}.{secrets.token_hex(6)}.modelxray-tmp"
            try:
                fd = os.open(self._path(temp), flags, 0o644, dir_fd=self._dirfd)
            except FileExistsError:
                continue
            self._temps.append(temp)
            return temp, os.fdopen(fd, "w+b")
        raise ConvertError("could not create a temporary file in the output folder")

    def publish(self, temp: str, name: str) -> None:
        """Rename ``temp`` over ``name`` (a rename replaces a directory entry, never follows)."""
        self.check_free(name)
        os.replace(
            self._path(temp), self._path(name), src_dir_fd=self._dirfd, dst_dir_fd=self._dirfd
        )
        self._temps.remove(temp)

    def close(self) -> None:
        for temp in self._temps:
            try:
                os.unlink(self._path(temp), dir_fd=self._dirfd)
            except OSError:
                pass
        self._temps.clear()
        if self._dirfd is not None:
            os.close(self._dirfd)
            self._dirfd = None
