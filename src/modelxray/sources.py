"""Sources: turn what the user named (files, directories) into the files to scan.

Directories are walked recursively in a stable order.  Symbolic links are never
followed out of the directory being scanned: a link that escapes is reported as
a finding of its own, and a link that stays inside is scanned as its target.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from modelxray.rules import scan as scan_rules
from modelxray.rules.base import Rule


@dataclass
class SourceFile:
    display: str
    path: str | None
    size: int
    problems: list[tuple[Rule, str, dict[str, Any]]] = field(default_factory=list)


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _from_path(path: str, display: str, root: str | None) -> SourceFile:
    if os.path.islink(path):
        target = os.path.realpath(path)
        if root is not None and not _inside(target, root):
            return SourceFile(
                display,
                None,
                0,
                [
                    (
                        scan_rules.SYMLINK_ESCAPE,
                        f"symbolic link points outside the scanned folder, to {target}",
                        {"link_target": os.readlink(path), "resolved": target},
                    )
                ],
            )
        if not os.path.isfile(target):
            return SourceFile(
                display,
                None,
                0,
                [(scan_rules.UNREADABLE, "symbolic link to a missing or special file", {})],
            )
        path = target
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        return SourceFile(display, None, 0, [(scan_rules.UNREADABLE, str(exc), {})])
    return SourceFile(display, path, size)


def _walk(root: str) -> Iterator[SourceFile]:
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames.sort()
        # Linked directories are not descended into; report those that escape.
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if os.path.islink(full):
                target = os.path.realpath(full)
                if not _inside(target, real_root):
                    yield SourceFile(
                        full,
                        None,
                        0,
                        [
                            (
                                scan_rules.SYMLINK_ESCAPE,
                                f"symbolic link to a folder outside the scanned folder: {target}",
                                {"link_target": os.readlink(full), "resolved": target},
                            )
                        ],
                    )
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            if not os.path.islink(full) and not os.path.isfile(full):
                continue  # sockets, fifos, devices: not files a model lives in
            yield _from_path(full, full, real_root)


def iter_sources(paths: Iterable[str]) -> Iterator[SourceFile]:
    for p in paths:
        if os.path.isdir(p):
            yield from _walk(p)
        elif os.path.lexists(p):
            yield _from_path(p, p, None)
        else:
            yield SourceFile(p, None, 0, [(scan_rules.UNREADABLE, "no such file or folder", {})])
