"""Batch scans (issue 17 item 4): ``--from-list``, results as they complete, ``--resume``
from a JSON Lines results file, and ``--engine dask`` on a LocalCluster (two workers, a
1,000-entry list, a worker killed mid-run)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from modelxray import engine
from modelxray.batch import in_input_order, iter_indexed, iter_scan, read_list
from modelxray.cli import main
from modelxray.engine import ScanOptions, plan, scan
from modelxray.model import FileResult, Verdict
from modelxray.policy import Policy

ROOT = Path(__file__).resolve().parent.parent
N = 1000


def _safetensors(i: int) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})
    raw = header.encode()
    return struct.pack("<Q", len(raw)) + raw + struct.pack("<2f", i, -i)


def _malicious_pickle(i: int) -> bytes:
    # hand-assembled: os.system("echo <i>"), never loaded
    return b"cos\nsystem\n(S'echo " + str(i).encode() + b"'\ntR."


def write_corpus(folder: Path, n: int = N) -> list[str]:
    """``n`` small, distinct files of several kinds (a quarter of them blocked)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            p, data = folder / f"m{i:04}.safetensors", _safetensors(i)
        elif kind == 1:
            p, data = folder / f"m{i:04}.pkl", _malicious_pickle(i)
        elif kind == 2:
            p, data = folder / f"m{i:04}.pkl", pickle.dumps({"step": i, "lr": [0.1, i]})
        else:
            p, data = folder / f"c{i:04}.json", json.dumps({"model_type": "bert", "i": i}).encode()
        p.write_bytes(data)
        paths.append(str(p))
    return paths


@pytest.fixture(scope="module")
def big_list(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("batch")
    paths = write_corpus(folder / "files")
    listing = folder / "uris.txt"
    listing.write_text("# a list of models\n\n" + "\n".join(paths) + "\n")
    return listing, paths


def _opts() -> ScanOptions:
    return ScanOptions(policy=Policy(), jobs=1)


def _plain(r: FileResult) -> dict[str, Any]:
    d = r.to_dict()
    d.pop("seconds")
    return d


@pytest.fixture(scope="module")
def local_results(big_list: tuple[Path, list[str]]) -> list[dict[str, Any]]:
    return [_plain(r) for r in scan(big_list[1], _opts()).files]


def _json_files(path: Path) -> list[dict[str, Any]]:
    files = json.loads(path.read_text())["files"]
    for f in files:
        f.pop("seconds")
    return list(files)


def test_read_list_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("# header\n a.pkl \n\n#b.pkl\nhf://org/name@main/x.bin\n")
    assert read_list(str(listing)) == ["a.pkl", "hf://org/name@main/x.bin"]


def test_cli_from_list_equals_the_paths_named(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "ex")
    names = sorted(str(p) for p in (tmp_path / "ex").iterdir())
    listing = tmp_path / "list.txt"
    listing.write_text("# models\n" + "\n".join(names) + "\n")
    assert main(["scan", *names, "-f", "json", "-o", str(tmp_path / "a.json")]) == 1
    assert (
        main(["scan", "--from-list", str(listing), "-f", "json", "-o", str(tmp_path / "b.json")])
        == 1
    )
    assert _json_files(tmp_path / "a.json") == _json_files(tmp_path / "b.json")
    assert main(["scan", "--from-list", str(tmp_path / "missing.txt")]) == 2
    assert main(["scan"]) == 2  # nothing named


def test_iter_scan_yields_every_result_and_ordered_merges_in_input_order(
    big_list: tuple[Path, list[str]], local_results: list[dict[str, Any]]
) -> None:
    paths = big_list[1][:40]
    got = list(iter_scan(paths, _opts()))
    assert sorted(r.path for r in got) == sorted(paths)
    ordered = [_plain(r) for r in iter_scan(paths, _opts(), ordered=True)]
    assert ordered == local_results[:40]
    shuffled = [(2, "c"), (0, "a"), (1, "b")]
    assert list(in_input_order(shuffled)) == ["a", "b", "c"]  # type: ignore[arg-type]


def test_an_interrupted_run_resumes_without_judging_an_entry_twice(
    big_list: tuple[Path, list[str]],
    local_results: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listing, paths = big_list
    journal = tmp_path / "results.jsonl"
    judged: list[str] = []
    real = engine.judge_file

    def counting(source: Any, options: ScanOptions) -> FileResult:
        judged.append(source.display)
        return real(source, options)

    monkeypatch.setattr(engine, "judge_file", counting)
    run = iter_scan(paths, _opts(), resume=str(journal))
    first = [next(run) for _ in range(300)]
    run.close()  # the run is stopped (Ctrl-C, a killed job)
    with journal.open("a") as f:
        f.write('{"type": "file", "path": "torn')  # killed mid-line
    assert len(judged) == 300
    judged.clear()
    out = tmp_path / "report.json"
    resume = ["--from-list", str(listing), "--resume", str(journal), "-j", "1"]
    code = main(["scan", *resume, "-f", "json", "-o", str(out)])
    assert code == 1
    assert len(judged) == N - 300 and not set(judged) & {r.path for r in first}
    assert _json_files(out) == [json.loads(json.dumps(d)) for d in _reported(local_results, out)]
    lines = [
        json.loads(x) for x in journal.read_text().splitlines() if x.startswith('{"type":"file"')
    ]
    assert sorted(d["path"] for d in lines) == sorted(paths)  # each judged once, none lost
    judged.clear()
    assert main(["scan", *resume, "-f", "json", "-o", str(out)]) == 1
    assert judged == []  # everything was judged already
    assert main(["scan", *resume, "-o", str(journal)]) == 2  # would overwrite what it resumes


def _reported(local: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """The local scan's results as the JSON report writes them."""
    report = scan([d["path"] for d in local], _opts())
    path = out.with_suffix(".local.json")
    from modelxray.reports import render

    with path.open("w") as f:
        render(report, "json", f)
    return _json_files(path)


# ------------------------------------------------------------------------------ dask

distributed = pytest.importorskip("distributed")


def test_dask_two_workers_scan_a_1000_entry_list_as_a_local_scan_does(
    big_list: tuple[Path, list[str]], tmp_path: Path
) -> None:
    listing, _ = big_list
    local, there = tmp_path / "local.json", tmp_path / "dask.json"
    assert (
        main(["scan", "--from-list", str(listing), "-j", "1", "-f", "json", "-o", str(local)]) == 1
    )
    code = main(["scan", "--from-list", str(listing), "--engine", "dask", "-j", "2", "-f", "json",
                 "-o", str(there)])  # fmt: skip
    assert code == 1
    files = _json_files(there)
    assert len(files) == N and files == _json_files(local)
    assert sum(f["verdict"] == "blocked" for f in files) == N // 4


def test_dask_a_worker_killed_mid_run_loses_no_result(
    big_list: tuple[Path, list[str]], local_results: list[dict[str, Any]]
) -> None:
    import signal

    _, paths = big_list
    sources = plan(paths, _opts())
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with distributed.Client(cluster) as client:  # one client in a process at a time
            pids = list(client.run(os.getpid).values())
        assert len(pids) == 2
        got: dict[int, FileResult] = {}
        killed = False
        for i, result in iter_indexed(
            sources, _opts(), engine="dask", scheduler=cluster.scheduler_address
        ):
            assert i not in got
            got[i] = result
            if len(got) == 100 and not killed:
                os.kill(pids[0], signal.SIGKILL)  # a lost machine
                killed = True
    assert killed and sorted(got) == list(range(N))
    assert [_plain(got[i]) for i in range(N)] == local_results
    assert not any(r.verdict == Verdict.ERROR for r in got.values())
