"""Checks every archive reader applies to its members: names, links, duplicates, bombs.

What an extractor would do with a member depends only on the member's header
(name, link target, type, sizes), so these checks never look at content.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modelxray.model import Location
from modelxray.rules import archive as archive_rules

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.scanning import Sink

_DRIVE = re.compile(r"^[A-Za-z]:")


def _climb(parts: list[str], start: list[str] | None = None) -> tuple[list[str], bool]:
    """Resolve ``.``/``..`` components; True when they climb above the top."""
    out = list(start or [])
    escaped = False
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
            else:
                escaped = True
        else:
            out.append(part)
    return out, escaped


def _is_absolute(path: str) -> str | None:
    if path.startswith("/"):
        return "an absolute path"
    if path.startswith("\\"):
        return "an absolute Windows path (or UNC share)"
    if _DRIVE.match(path):
        return "a Windows drive-letter path"
    return None


def _plain(name: str) -> bool:
    """A name with nothing for :func:`name_problems` to find that :func:`normalised` leaves as
    it is: no NUL, no backslash, not absolute or drive-lettered, and every ``/``-separated
    component non-empty and neither ``.`` nor ``..`` (the common case, checked without
    splitting the name)."""
    return not (
        not name
        or "\0" in name
        or "\\" in name
        or "//" in name
        or "/." in name
        or name[0] in "./"
        or name[-1] == "/"
        or name[1:2] == ":"
    )


def name_problems(name: str) -> list[str]:
    """Why extracting a member with this name would write outside the target folder."""
    problems = []
    if "\0" in name:
        problems.append("contains a NUL byte (names are cut there by C-level extractors)")
    absolute = _is_absolute(name)
    if absolute:
        problems.append(f"is {absolute}")
    if _climb(name.split("/"))[1]:
        problems.append("climbs out of the folder with '..' components")
    elif _climb(re.split(r"[\\/]", name))[1]:
        problems.append("climbs out of the folder with backslash-separated '..' (on Windows)")
    return problems


def normalised(name: str) -> str:
    """The path an extractor writes to, relative to its folder (``/``-separated)."""
    return "/".join(_climb(name.replace("\\", "/").split("/"))[0])


def link_problem(member: str, target: str, hard: bool) -> str | None:
    """Why a link would point outside the folder (None when it stays inside)."""
    absolute = _is_absolute(target)
    if absolute:
        return f"link target {target!r} is {absolute}"
    # A symbolic link resolves from its own folder; tar hard links from the archive's top.
    base = [] if hard else _climb(member.replace("\\", "/").split("/"))[0][:-1]
    if _climb(target.replace("\\", "/").split("/"), base)[1]:
        return f"link target {target!r} climbs out of the folder"
    return None


class MemberChecks:
    """Per-archive state for the header checks (duplicates, link prefixes)."""

    def __init__(self, ctx: Sink, archive: Artifact, fmt: str) -> None:
        self.ctx = ctx
        self.archive = archive
        self.fmt = fmt
        self._seen: dict[str, int] = {}
        self._links: set[str] = set()

    def location(self, name: str, copy: int = 1) -> Location:
        return self.archive.location.child(name if copy == 1 else f"{name} [copy {copy}]")

    def member(self, name: str) -> int:
        """Check a member's name; returns its copy number (1 unless the name repeats)."""
        if _plain(name):  # no problems, and the name is its own normalised form
            key = name
        else:
            problems = name_problems(name)
            if problems:
                self.ctx.report(
                    archive_rules.PATH_TRAVERSAL,
                    self.archive.location.child(name),
                    f"{self.fmt} member name {name!r} " + "; ".join(problems),
                    {"member": name, "format": self.fmt, "problems": problems},
                )
            key = normalised(name)
        copy = self._seen.get(key, 0) + 1
        self._seen[key] = copy
        if copy > 1:
            self.ctx.report(
                archive_rules.DUPLICATE_NAME,
                self.location(name, copy),
                f"{self.fmt} member {name!r} appears {copy} times; extractors and loaders "
                "disagree on which copy wins (every copy is scanned)",
                {"member": name, "normalised": key, "copy": copy, "format": self.fmt},
            )
        if not self._links:
            return copy
        parts = key.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in self._links:
                self.ctx.report(
                    archive_rules.LINK_ESCAPE,
                    self.archive.location.child(name),
                    f"{self.fmt} member {name!r} is written through the link member "
                    f"{prefix!r}: extracting it writes wherever the link points",
                    {"member": name, "through_link": prefix, "format": self.fmt},
                )
                break
        return copy

    def link(self, name: str, target: str, hard: bool) -> None:
        kind = "hard link" if hard else "symbolic link"
        loc = self.archive.location.child(name)
        evidence: dict[str, Any] = {
            "member": name,
            "link_type": kind,
            "link_target": target,
            "format": self.fmt,
        }
        if not hard:
            self._links.add(normalised(name))
        problem = link_problem(name, target, hard)
        if problem:
            self.ctx.report(
                archive_rules.LINK_ESCAPE,
                loc,
                f"{self.fmt} member {name!r} is a {kind}: {problem}",
                evidence,
            )
        else:
            self.ctx.report(
                archive_rules.LINK_MEMBER,
                loc,
                f"{self.fmt} member {name!r} is a {kind} to {target!r}",
                evidence,
            )

    def special(self, name: str, kind: str) -> None:
        self.ctx.report(
            archive_rules.LINK_MEMBER,
            self.archive.location.child(name),
            f"{self.fmt} member {name!r} is a {kind}; extracting it creates a {kind}",
            {"member": name, "member_type": kind, "format": self.fmt},
        )

    def expansion(self, name: str | None, size: int, compressed: int, declared: bool) -> bool:
        """Report a bomb when ``size`` from ``compressed`` bytes breaks a limit."""
        return report_expansion(
            self.ctx, self.archive.location.child(name or ""), self.fmt, size, compressed, declared
        )


def report_expansion(
    ctx: Sink, loc: Location, fmt: str, size: int, compressed: int, declared: bool
) -> bool:
    limits = ctx.limits
    ratio = size / max(1, compressed)
    how = "declares" if declared else "expands to"
    evidence: dict[str, Any] = {
        "format": fmt,
        "uncompressed_bytes": size,
        "compressed_bytes": compressed,
        "ratio": round(ratio, 1),
        "declared": declared,
    }
    if size > limits.max_decompressed_bytes:
        ctx.report(
            archive_rules.BOMB,
            loc,
            (
                f"{fmt} content declares {size} bytes"
                if declared
                else f"{fmt} content expands to more than {limits.max_decompressed_bytes} bytes"
            )
            + f" (limit {limits.max_decompressed_bytes}); content past the limit is not scanned",
            {**evidence, "limit": "max_decompressed_bytes"},
        )
        return True
    if size >= limits.bomb_min_bytes and ratio > limits.max_compression_ratio:
        ctx.report(
            archive_rules.BOMB,
            loc,
            f"{fmt} content {how} {size} bytes from {compressed} "
            f"(ratio {ratio:.0f}:1, limit {limits.max_compression_ratio:g}:1)",
            {**evidence, "limit": "max_compression_ratio"},
        )
        return True
    return False
