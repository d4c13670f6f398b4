"""``modelxray pull hf://org/name``: scan a Hugging Face repository by range reads, download it
only when the policy allows every file, and keep only bytes whose SHA-256 is the one scanned.

1. The revision is resolved to a commit once; the scan and every download name that commit,
   so the repository cannot move between them.
2. Every file gets a SHA-256 during the scan: the hub's LFS oid where it has one, else the hash
   of the bytes the readers judged (such a file is small enough to be hashed through the
   scan's block cache, so the hash and the judgement see the same bytes).
3. Nothing is written unless every scanned file is ``allowed`` (and only the scanned files are
   downloaded: what the policy's include/exclude left out is not fetched).
4. Each file written is hashed; one mismatch deletes everything this pull wrote and fails.
5. The files written are scanned again, locally: every one must still be ``allowed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from modelxray.engine import ScanOptions, scan
from modelxray.model import Report, Verdict
from modelxray.sources import sha256_file
from modelxray.sources.remote import display_base, parse_hf, resolve, scrub, store_for


@dataclass(frozen=True)
class PullResult:
    report: Report
    commit: str
    files: tuple[str, ...] = ()  # local paths written (snapshot paths in the HF cache)
    refused: str | None = None  # why nothing was kept; None when everything was written

    @property
    def ok(self) -> bool:
        return self.refused is None


class PullError(Exception):
    """The repository could not be pulled (a bad URI, a missing extra, the hub unreachable)."""


def _remove(path: str) -> None:
    """Remove a written file; in the HF cache also the blob its snapshot link points to."""
    real = os.path.realpath(path)
    for p in {path, real}:
        try:
            os.remove(p)
        except FileNotFoundError:
            pass


def pull(
    uri: str,
    revision: str | None = None,
    local_dir: str | None = None,
    options: ScanOptions | None = None,
    cache_dir: str | None = None,
) -> PullResult:
    """Scan ``uri`` (``hf://…``) and download it if the policy allows every file: into
    ``local_dir``, or else into the Hugging Face cache (``cache_dir``, default: the one
    ``huggingface_hub`` uses)."""
    try:
        repo_type, repo_id, in_uri, path = parse_hf(uri)
    except (ValueError, IndexError) as exc:
        raise PullError(str(exc)) from None
    if not uri.startswith("hf://"):
        raise PullError(f"pull takes an hf:// URI, not {scrub(uri)}")
    if revision and in_uri and revision != in_uri:
        raise PullError(f"two revisions given: {in_uri!r} in the URI and {revision!r}")
    typed = "" if repo_type == "model" else f"{repo_type}s/"
    from urllib.parse import quote

    wanted = revision or in_uri
    at = f"@{quote(wanted, safe='')}" if wanted else ""
    try:
        spec, _ = resolve(f"hf://{typed}{repo_id}{at}")
    except (ValueError, ImportError, OSError) as exc:
        raise PullError(str(exc)) from None
    commit = spec.revision
    pinned = f"hf://{typed}{repo_id}@{commit}" + (f"/{path}" if path else "")
    options = replace(options or ScanOptions(), compute_hash=True)
    report = scan([pinned], options)
    not_allowed = [f for f in report.files if f.verdict != Verdict.ALLOWED]
    if not_allowed:
        names = ", ".join(f"{f.path} ({f.verdict})" for f in not_allowed[:5])
        return PullResult(report, commit, (), f"not downloaded: {names}")
    base = display_base(spec) + "/"
    keys = {f.path[len(base) :]: f.sha256 for f in report.files}
    if any(not k or not sha for k, sha in keys.items()):
        return PullResult(report, commit, (), "not downloaded: a file has no scanned SHA-256")
    return _download(report, spec.root, commit, keys, local_dir, cache_dir, options)


def _download(
    report: Report,
    root: str,
    commit: str,
    keys: dict[str, str],
    local_dir: str | None,
    cache_dir: str | None,
    options: ScanOptions,
) -> PullResult:
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    from modelxray.sources.interface import StoreSpec
    from modelxray.sources.remote import HubStore

    store = store_for(StoreSpec("hf", root, commit))
    assert isinstance(store, HubStore)
    written: list[str] = []
    fresh: list[str] = []  # written by this pull (not already there before it)
    new_dir = local_dir is not None and not os.path.lexists(local_dir)

    def undo(*also: str) -> None:
        for p in (*also, *fresh):
            _remove(p)
        if local_dir is None:
            return
        if new_dir:
            import shutil

            shutil.rmtree(local_dir, ignore_errors=True)
            return
        meta = os.path.join(local_dir, ".cache", "huggingface", "download")
        for key in keys:
            for ext in (".metadata", ".lock"):
                _remove(os.path.join(meta, *key.split("/")) + ext)

    for key, sha in sorted(keys.items()):
        if local_dir is not None:
            existed = os.path.lexists(os.path.join(local_dir, *key.split("/")))
        else:
            cached = try_to_load_from_cache(
                store.repo_id, key, cache_dir=cache_dir, revision=commit, repo_type=store.repo_type
            )
            existed = isinstance(cached, str)
        try:
            got = hf_hub_download(
                store.repo_id,
                key,
                repo_type=store.repo_type,
                revision=commit,
                local_dir=local_dir,
                cache_dir=cache_dir,
                endpoint=store.endpoint,
            )
        except Exception as exc:  # noqa: BLE001 - any failure: remove what was written
            undo()
            return PullResult(report, commit, (), scrub(f"download of {key} failed: {exc}"))
        written.append(got)
        if not existed:
            fresh.append(got)
        try:
            actual = sha256_file(got)  # a regular file only: anything else is refused
        except OSError as exc:
            undo(got)
            return PullResult(
                report, commit, (), scrub(f"{key}: cannot read what was written: {exc}")
            )
        if actual != sha:
            undo(got)
            return PullResult(
                report,
                commit,
                (),
                f"{key}: the bytes downloaded (sha256 {actual}) are not the bytes scanned "
                f"(sha256 {sha}); everything this pull wrote was removed",
            )
    # The hashes prove the files are the blobs listed; scanning what was written proves the
    # bytes on disk are judged as the range reads were (a hub serving other ranges during the
    # scan than in the blob it names would otherwise go unseen).
    mine = replace(options.policy, include=(), exclude=())  # the paths are local ones now
    again = scan(written, replace(options, policy=mine))
    wrong = [f for f in again.files if f.verdict != Verdict.ALLOWED]
    if wrong:
        undo()
        names = ", ".join(f"{f.path} ({f.verdict})" for f in wrong[:5])
        return PullResult(
            report, commit, (), f"the files written do not pass the scan: {names}; removed"
        )
    return PullResult(report, commit, tuple(written))
