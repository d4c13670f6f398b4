"""Sources: turn what the user named (files, folders, remote URIs) into the files to scan.

``local`` walks disk (symlinks never followed out, special files never opened); ``remote``
lists ``hf://``, ``s3://``, ``gs://``, ``az://`` and ``https://`` sources and reads them by
range requests.  The remote module and its client libraries are imported only when a URI is
given.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from modelxray.model import Disposition
from modelxray.rules import scan as scan_rules
from modelxray.sources.interface import (
    Problem,
    RemoteObject,
    RemoteReadError,
    SourceFile,
    StoreSpec,
    uri_scheme,
)
from modelxray.sources.local import (
    STDIN_NAME,
    hf_cache_blob,
    iter_local,
    open_regular,
    sha256_file,
    spool_stdin,
)

if TYPE_CHECKING:
    from modelxray.policy import Policy

__all__ = [
    "Problem",
    "RemoteObject",
    "RemoteReadError",
    "SourceFile",
    "StoreSpec",
    "hf_cache_blob",
    "iter_sources",
    "open_regular",
    "selected_sources",
    "sha256_file",
    "spool_stdin",
    "STDIN_NAME",
    "uri_scheme",
]


def iter_sources(paths: Iterable[str]) -> Iterator[SourceFile]:
    for p in paths:
        if uri_scheme(p) is not None:
            from modelxray.sources.remote import iter_remote

            yield from iter_remote(p)
        else:
            yield from iter_local([p])


def selected_sources(paths: Iterable[str], policy: Policy) -> Iterator[SourceFile]:
    """The sources the policy's include/exclude patterns select.

    A run that would judge no file at all (an empty folder, every file excluded) ends
    with one source that says so (MX-SCAN-009), unless the policy turns that rule off.
    """
    paths = list(paths)
    found = 0
    selected = 0
    for source in iter_sources(paths):
        found += 1
        if policy.selects(_pattern_path(source, policy), folder=source.folder):
            selected += 1
            yield source
    if selected or policy.rule_state(scan_rules.NOTHING_SCANNED.id) == Disposition.OFF:
        return
    named = ", ".join(paths) if paths else "(no path)"
    if found:
        message = (
            f"nothing was scanned: the policy's include/exclude patterns left out all {found} "
            f"file(s) found in {named}"
        )
    else:
        message = f"nothing was scanned: {named} holds no file"
    evidence: dict[str, Any] = {"paths": paths, "files_found": found, "files_selected": 0}
    if policy.include or policy.exclude:
        evidence.update(include=list(policy.include), exclude=list(policy.exclude))
        evidence["patterns_relative_to"] = policy.pattern_base()
    yield SourceFile(named, None, 0, [(scan_rules.NOTHING_SCANNED, message, evidence)])


def _pattern_path(source: SourceFile, policy: Policy) -> str:
    """The path include/exclude patterns judge: a remote file's key inside its bucket or
    repository is matched as a path relative to the policy's folder (``models/*.pkl``,
    ``*.txt`` mean the same in a repository as in its clone)."""
    if source.remote is None:
        return source.display
    import os

    return os.path.join(policy.pattern_base(), *source.remote.key.split("/"))
