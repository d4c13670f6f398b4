"""The verdict cache (issue 17 item 3): the same bytes judged once, under the same scanner and
analysis settings; a remote rescan fetches nothing but metadata; a policy change that changes
findings misses; failures are never stored."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tests.remote_servers as rs
from modelxray import engine
from modelxray.cache import open_cache
from modelxray.engine import ScanOptions, scan
from modelxray.model import FileResult, Report, Verdict
from modelxray.policy import AllowEntry, Policy
from modelxray.sources import remote

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def _opts(cache: Path | None, policy: Policy | None = None, **kw: Any) -> ScanOptions:
    return ScanOptions(
        policy=policy or Policy(), jobs=1, cache=None if cache is None else str(cache), **kw
    )


def _plain(r: FileResult) -> dict[str, Any]:
    d = r.to_dict()
    d.pop("seconds")
    d.pop("bytes_fetched", None)
    return d


def _same(a: Report, b: Report) -> None:
    assert [_plain(r) for r in a.files] == [_plain(r) for r in b.files]


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files the engine actually judged (read), in order."""
    calls: list[str] = []
    real = engine.judge_file

    def counting(source: Any, options: ScanOptions) -> FileResult:
        calls.append(source.display)
        return real(source, options)

    monkeypatch.setattr(engine, "judge_file", counting)
    return calls


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    shutil.copytree(EXAMPLES, folder)
    return folder


def test_a_second_scan_reads_nothing_and_reports_the_same(
    corpus: Path, tmp_path: Path, judged: list[str]
) -> None:
    db = tmp_path / "v.sqlite"
    uncached = scan(str(corpus), _opts(None))
    judged.clear()
    first = scan(str(corpus), _opts(db))
    assert len(judged) == len(first.files) > 3
    judged.clear()
    second = scan(str(corpus), _opts(db))
    assert judged == []  # every file came from the cache
    _same(uncached, first)
    _same(first, second)
    assert any(r.verdict == Verdict.BLOCKED for r in second.files)  # findings came back too
    assert len(open_cache(str(db))) == len(first.files)


def test_identical_blobs_elsewhere_are_judged_once_under_their_own_path(
    corpus: Path, tmp_path: Path, judged: list[str]
) -> None:
    db = tmp_path / "v.sqlite"
    other = tmp_path / "elsewhere" / "rev2"
    shutil.copytree(corpus, other)
    scan(str(corpus), _opts(db))
    judged.clear()
    again = scan(str(other), _opts(db))
    assert judged == []
    fresh = scan(str(other), _opts(None))
    _same(fresh, again)  # locations name the new path, not the one first judged
    blocked = [r for r in again.files if r.findings]
    assert blocked and all(
        f.location.path == r.path and r.path.startswith(str(other))
        for r in blocked
        for f in r.findings
    )


def test_a_policy_change_that_changes_findings_misses_others_apply_afresh(
    corpus: Path, tmp_path: Path, judged: list[str]
) -> None:
    db = tmp_path / "v.sqlite"
    scan(str(corpus), _opts(db))
    judged.clear()
    looser = Policy(allow_pickle_globals=(AllowEntry("builtins.print", "test"),))
    scan(str(corpus), _opts(db, looser))
    assert len(judged) > 3  # analysis settings are in the key: judged again
    judged.clear()
    scan(str(corpus), _opts(db, show_code=True))
    assert len(judged) > 3
    judged.clear()
    # fail_on is applied to the findings on every hit: no new scan, the new verdicts
    report_only = scan(str(corpus), _opts(db, Policy(fail_on=None)))
    assert judged == []
    assert not report_only.failed and all(r.verdict != Verdict.BLOCKED for r in report_only.files)
    assert scan(str(corpus), _opts(db)).failed


def test_a_file_changed_is_judged_again(tmp_path: Path, judged: list[str]) -> None:
    db = tmp_path / "v.sqlite"
    model = tmp_path / "model.h5"
    shutil.copy(EXAMPLES / "clean_dense.keras", model)
    assert scan(str(model), _opts(db)).files[0].verdict == Verdict.ALLOWED
    shutil.copy(EXAMPLES / "malicious_lambda.h5", model)
    judged.clear()
    assert scan(str(model), _opts(db)).files[0].verdict == Verdict.BLOCKED
    assert judged == [str(model)]


def test_cli_cache_flags(corpus: Path, tmp_path: Path, judged: list[str]) -> None:
    from modelxray.cli import main

    db = tmp_path / "cli.sqlite"
    assert main(["scan", str(corpus), "--cache", str(db), "-f", "json", "-o", "/dev/null"]) == 1
    judged.clear()
    assert main(["scan", str(corpus), "--cache", str(db), "-f", "json", "-o", "/dev/null"]) == 1
    assert judged == []
    assert main(["scan", str(corpus), "--no-cache", "-f", "json", "-o", "/dev/null"]) == 1
    assert len(judged) > 3
    assert main(["scan", str(corpus), "--no-cache", "--cache", str(db)]) == 2


# ------------------------------------------------------------------------------ remote


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[rs.FakeHub]:
    monkeypatch.setattr(remote, "BACKOFF", 0.01)
    server = rs.FakeHub()
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    yield server
    server.close()


def test_a_second_scan_of_the_same_remote_blobs_fetches_only_metadata(
    hub: rs.FakeHub, corpus: Path, tmp_path: Path
) -> None:
    db = tmp_path / "v.sqlite"
    (corpus / "config.json").write_text('{"model_type": "bert"}\n')  # a non-LFS file
    repo = hub.add(rs.hub_repo("org/models", corpus))
    first = scan("hf://org/models", _opts(db))
    assert sum(hub.served.values()) > 0
    assert any(r.sha256 for r in first.files)  # LFS oids: keyed by content
    hub.reset()
    second = scan("hf://org/models", _opts(db))
    # the server's own record: no content route was asked for (requests are recorded as they
    # arrive; its byte counts only once sent, so the first scan's may still come in)
    assert hub.httpd.requests and not [
        r for r in hub.httpd.requests if "/resolve/" in r[1] or "/lfs-cdn/" in r[1]
    ]
    assert all(r.bytes_fetched == 0 and r.revision == repo.commit for r in second.files)
    _same(first, second)
    # the same LFS blobs in another repository (a fork) are not fetched either
    fork_repo = hub.add(rs.hub_repo("someone/fork", corpus))
    hub.reset()
    fork = scan("hf://someone/fork", _opts(db))
    fetched = {r.path for r in fork.files if r.bytes_fetched}
    not_lfs = {f"hf://someone/fork/{k}" for k, f in fork_repo.files.items() if not f.lfs_sha256}
    assert fetched == not_lfs == {"hf://someone/fork/config.json"}
    assert [r.verdict for r in fork.files] == [r.verdict for r in first.files]


def test_a_remote_read_failure_is_never_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote, "BACKOFF", 0.01)
    db = tmp_path / "v.sqlite"
    server = rs.StaticServer(EXAMPLES)
    try:
        url = f"{server.url}/malicious_lambda.h5"
        server.fail_next = 10_000
        (failed,) = scan(url, _opts(db)).files
        server.fail_next = 0
        assert failed.verdict == Verdict.ERROR
        assert len(open_cache(str(db))) == 0
        (r,) = scan(url, _opts(db)).files
        assert r.verdict == Verdict.BLOCKED and r.bytes_fetched
        server.reset()
        (again,) = scan(url, _opts(db)).files  # pinned to the server's ETag
        assert again.verdict == Verdict.BLOCKED and again.bytes_fetched == 0
        # only the one-byte range probe that lists the file (its size and ETag); requests are
        # recorded as they arrive (byte counts only once sent: those of the scan before may
        # still come in)
        assert [r[2] for r in server.httpd.requests] == ["bytes=0-0"]
    finally:
        server.close()


def test_a_large_local_file_is_keyed_by_its_identity_not_read_twice(
    tmp_path: Path, judged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over ``HASH_AT_MOST`` is not hashed for the cache (a 50 GB folder is not read
    twice): the same file unchanged is a hit, any write to it a miss."""
    import pickle

    from modelxray import cache, sources

    hashed: list[str] = []
    real_hash = sources.sha256_file
    monkeypatch.setattr(sources, "sha256_file", lambda p: hashed.append(p) or real_hash(p))
    monkeypatch.setattr(cache, "HASH_AT_MOST", 1024)
    db = tmp_path / "v.sqlite"
    big = tmp_path / "big.pkl"
    big.write_bytes(pickle.dumps(list(range(2000))))  # over the (lowered) threshold
    first = scan(str(big), _opts(db))
    assert first.files[0].verdict == Verdict.ALLOWED and judged == [str(big)]
    judged.clear()
    _same(first, scan(str(big), _opts(db)))
    assert judged == [] and hashed == []  # a hit, and the file was never hashed
    big.write_bytes(b"cos\nsystem\n(S'echo x'\ntR." + b"#" * 2000)
    assert scan(str(big), _opts(db)).files[0].verdict == Verdict.BLOCKED
    assert judged == [str(big)]
