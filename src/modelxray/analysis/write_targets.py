"""Where a written file makes code run later without anyone asking: the judge of write targets.

A notebook's ``%%writefile -a ~/.bashrc`` or ``!echo … >> ~/.ssh/authorized_keys`` changes what
runs at the next shell, login, Python or Jupyter start.  The places are data (one record per
mechanism, with the reason shown to the reviewer); :func:`judge_target` matches a path the way the
writing program would resolve it: ``~``/``$HOME`` and a user's home directory are the same place,
``..`` is folded, and a path built at run time (``{var}``, ``$VAR``) cannot be judged.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from modelxray.model import Severity


@dataclass(frozen=True, slots=True)
class AutoRun:
    """A place whose files run code later: matched on the path's last component (``names``,
    ``suffixes``), on a component anywhere in it (``dirs``), on a run of components
    (``segments``) or on an absolute prefix (``prefixes``)."""

    what: str
    names: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    dirs: tuple[str, ...] = ()
    segments: tuple[tuple[str, ...], ...] = ()
    prefixes: tuple[str, ...] = ()


# fmt: off
AUTORUN: tuple[AutoRun, ...] = (
    AutoRun("a shell start-up file (runs at every shell or login)",
            names=(".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".profile",
                   ".zshrc", ".zshenv", ".zprofile", ".zlogin", ".zlogout", ".cshrc", ".tcshrc",
                   ".kshrc", ".mkshrc", "config.fish", ".xprofile", ".xinitrc", ".xsession")),
    AutoRun("SSH configuration or keys (remote login, commands on connect)", dirs=(".ssh",)),
    AutoRun("a Python path hook (its import lines run at every interpreter start)",
            suffixes=(".pth",)),
    AutoRun("a Python start-up hook", names=("sitecustomize.py", "usercustomize.py")),
    AutoRun("an installed Python package (its code runs on import)",
            dirs=("site-packages", "dist-packages")),
    AutoRun("IPython/Jupyter configuration or start-up scripts (run when they start)",
            dirs=(".ipython", ".jupyter")),
    AutoRun("a Git hook or configuration (runs on Git commands)",
            names=(".gitconfig",), segments=((".git", "hooks"), (".git", "config"))),
    AutoRun("package-index configuration (redirects later installs)",
            names=("pip.conf", "pip.ini", ".pypirc", ".condarc", ".npmrc", ".netrc",
                   "uv.toml")),
    AutoRun("a login-session autostart or user service",
            segments=((".config", "autostart"), (".config", "systemd"))),
    AutoRun("a system location (/etc, cron, system binaries and libraries)",
            prefixes=("/etc/", "/var/spool/cron", "/usr/", "/bin/", "/sbin/", "/lib/",
                      "/lib64/", "/boot/")),
    AutoRun("a directory of executables on PATH", segments=((".local", "bin"),)),
)
# fmt: on

_DYNAMIC = re.compile(r"[{}$`]|\$\(")
_HOME = re.compile(r"^(?:~[^/]*|\$HOME|\$\{HOME\}|/root|/home/[^/]+|/Users/[^/]+)(?=/|$)")


@dataclass(frozen=True, slots=True)
class TargetVerdict:
    severity: Severity
    why: str
    #: The matched record's description when the target is a place where code runs later.
    autorun: str | None = None


def normalise(path: str) -> str:
    """``~``, ``$HOME`` and home directories become ``~``; ``..`` and ``.`` are folded."""
    path = path.strip().strip("'\"")
    home = _HOME.match(path)
    if home:
        path = "/HOME" + path[home.end() :]
    norm = posixpath.normpath(path) if path else path
    return "~" + norm[len("/HOME") :] if home else norm


def autorun_place(path: str) -> AutoRun | None:
    """The record a write to ``path`` matches, or None."""
    norm = normalise(path)
    parts = [p for p in norm.split("/") if p not in ("", ".", "~")]
    if not parts:
        return None
    last = parts[-1]
    for rec in AUTORUN:
        if last in rec.names or last.endswith(rec.suffixes or ("\0",)):
            return rec
        if any(d in parts[:-1] or d == last for d in rec.dirs):
            return rec
        for seg in rec.segments:
            n = len(seg)
            if any(tuple(parts[i : i + n]) == seg for i in range(len(parts) - n + 1)):
                return rec
        if norm.startswith(rec.prefixes or ("\0",)):
            return rec
    return None


def judge_target(path: str) -> TargetVerdict:
    """How much writing ``path`` matters."""
    target = path.strip().strip("'\"")
    if not target:
        return TargetVerdict(Severity.MEDIUM, "writes a file whose name is missing")
    place = autorun_place(target)
    if place is not None:
        return TargetVerdict(Severity.HIGH, f"writes {place.what}", place.what)
    if _DYNAMIC.search(target):
        return TargetVerdict(Severity.MEDIUM, "writes a file whose name is computed at run time")
    norm = normalise(target)
    if norm.startswith(("/", "~")) or norm.startswith(".."):
        return TargetVerdict(Severity.LOW, "writes a file outside the working directory")
    return TargetVerdict(Severity.INFO, "writes a file in the working directory")
