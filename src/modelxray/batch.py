"""Batch scans: a list of paths and URIs, results as they complete, resumable, on Dask.

* :func:`read_list`: a list file, one path or URI a line (blank lines and ``#`` comments
  skipped) -- ``modelxray scan --from-list URIS.txt``.
* :func:`iter_scan`: results as each file is judged (completion order), on this machine
  (``engine="local"``: the engine's own pool, ``ScanOptions.jobs``) or spread over a Dask
  cluster (``engine="dask"``: one task per file, on ``scheduler`` or on a ``LocalCluster``;
  imported only when chosen, extra ``[dask]``).
* ``resume``: a JSON Lines results file (``reports.jsonl``'s file lines).  The files it holds
  a judgement of are not judged again (a result that says the file could not be read --
  a remote read failure, a dead worker -- is judged again); every new judgement is appended
  to it, flushed, as soon as it is made, so an interrupted run loses nothing it judged.
* :func:`in_input_order`: the merged report's order (the sources' order), whatever the
  completion order.

On Dask, a task whose worker is lost is run again on another worker (the scheduler does
that by itself, up to ``distributed.scheduler.allowed-failures`` times); a task that raised
is retried (``retries``); a file whose task still fails (a file that kills every worker it
is given) is an error result (MX-SCAN-008), never a missing one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from modelxray.model import FileResult

if TYPE_CHECKING:
    from modelxray.engine import ScanOptions
    from modelxray.sources import SourceFile

ENGINES = ("local", "dask")
# Dask: retries of a task that raised (a lost worker's tasks are rescheduled by the scheduler)
DASK_RETRIES = 3
# Results that say the file was not read: judged again on resume.
_NOT_JUDGED = ("MX-SCAN-008", "MX-SCAN-012")


def read_list(path: str) -> list[str]:
    """The paths and URIs a list file names, in order."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            entry = line.strip()
            if entry and not entry.startswith("#"):
                out.append(entry)
    return out


# ------------------------------------------------------------------------------ resume


def load_results(path: str) -> dict[str, FileResult]:
    """The judgements a JSON Lines results file holds, by path (the first line of each; a
    file's ``revised`` line is remade when the report is merged).  A missing file holds none;
    a torn last line (the run was killed mid-write) is ignored."""
    from modelxray.isolate import result_from_dict

    out: dict[str, FileResult] = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if not isinstance(doc, dict) or doc.get("type") != "file" or doc.get("revised"):
                continue
            if any(f.get("rule_id") in _NOT_JUDGED for f in doc.get("findings", [])):
                continue
            out.setdefault(str(doc["path"]), result_from_dict(doc))
    return out


class _Journal:
    """Appends each new judgement to the results file, one flushed line each."""

    def __init__(self, path: str) -> None:
        from modelxray.reports.jsonl import JsonLinesWriter

        self._out: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed below
        if self._out.tell() > 0:
            self._out.write("\n")  # a torn last line stays on its own line
        self._writer = JsonLinesWriter(self._out)

    def write(self, result: FileResult) -> None:
        self._writer.file(result)

    def close(self) -> None:
        self._out.close()


# ------------------------------------------------------------------------------ engines


def _local(sources: Sequence[SourceFile], options: ScanOptions) -> Iterator[tuple[int, FileResult]]:
    from modelxray.engine import iter_results

    yield from enumerate(iter_results([], options, sources=sources))


def _scan_one(source: SourceFile, options: ScanOptions) -> FileResult:
    """A Dask task: one file judged on a worker."""
    from modelxray.engine import scan_file

    return scan_file(source, options)


def _dask(
    sources: Sequence[SourceFile],
    options: ScanOptions,
    scheduler: str | None,
    workers: int | None,
) -> Iterator[tuple[int, FileResult]]:
    import importlib

    try:
        # typed as Any: the engine runs whether or not dask ships type information
        distributed: Any = importlib.import_module("distributed")
    except ImportError as exc:
        raise ImportError(
            "--engine dask needs dask.distributed: pip install 'modelxray[dask]'"
        ) from exc
    from modelxray.engine import failed_result

    cluster = None
    if scheduler is None:
        n = workers or max(1, os.cpu_count() or 1)
        cluster = distributed.LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None
        )
    client = distributed.Client(scheduler if scheduler is not None else cluster)
    try:
        futures = client.map(
            _scan_one,
            list(sources),
            options=options,
            key=[f"modelxray-scan-{i}" for i in range(len(sources))],
            retries=DASK_RETRIES,
            pure=False,
        )
        index = {f.key: i for i, f in enumerate(futures)}
        for future in distributed.as_completed(futures):
            i = index[future.key]
            try:
                result: FileResult = future.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, a task that kept failing
                result = failed_result(
                    sources[i],
                    options,
                    f"the Dask task scanning this file failed ({type(exc).__name__}: "
                    f"{str(exc)[:300]}); the file was not scanned",
                    {"cause": type(exc).__name__, "engine": "dask"},
                    0.0,
                )
            future.release()
            yield i, result
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def iter_indexed(
    sources: Sequence[SourceFile],
    options: ScanOptions,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    resume: str | None = None,
) -> Iterator[tuple[int, FileResult]]:
    """``(index in sources, result)`` for every source, each as soon as it is judged: the
    ones ``resume`` already holds first, then the new ones (each appended to ``resume``)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: {', '.join(ENGINES)}")
    todo = list(range(len(sources)))
    journal = None
    if resume is not None:
        done = load_results(resume)
        todo = []
        for i, source in enumerate(sources):
            previous = done.get(source.display)
            if previous is None:
                todo.append(i)
            else:
                from modelxray.policy import file_verdict

                previous.verdict = file_verdict(options.policy, previous)
                yield i, previous
        journal = _Journal(resume)
    batch = [sources[i] for i in todo]
    try:
        if engine == "dask":
            judged = _dask(batch, options, scheduler, workers)
        else:
            judged = _local(batch, options)
        try:
            for j, result in judged:
                if journal is not None:
                    journal.write(result)
                yield todo[j], result
        finally:
            getattr(judged, "close", lambda: None)()
    finally:
        if journal is not None:
            journal.close()


def in_input_order(indexed: Iterable[tuple[int, FileResult]]) -> Iterator[FileResult]:
    """Results in their sources' order, each as soon as it and those before it are in."""
    waiting: dict[int, FileResult] = {}
    following = 0
    for i, result in indexed:
        waiting[i] = result
        while following in waiting:
            yield waiting.pop(following)
            following += 1
    for i in sorted(waiting):  # never reached when every index came
        yield waiting[i]


def iter_scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    options: ScanOptions | None = None,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    resume: str | None = None,
    ordered: bool = False,
) -> Iterator[FileResult]:
    """Scan files, folders and URIs; yield each file's result as soon as it is judged
    (``ordered``: in the order of the files instead).  ``engine="dask"`` spreads files over a
    Dask cluster (``scheduler``: its address; none: a ``LocalCluster`` of ``workers``
    processes); ``resume``: a JSON Lines results file to continue from and append to."""
    from modelxray.engine import ScanOptions, plan

    options = options or ScanOptions()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    sources = plan([os.fspath(p) for p in paths], options)
    indexed = iter_indexed(
        sources, options, engine=engine, scheduler=scheduler, workers=workers, resume=resume
    )
    if ordered:
        yield from in_input_order(indexed)
    else:
        for _, result in indexed:
            yield result


def scan_sources(
    sources: Sequence[SourceFile], options: ScanOptions, **kw: Any
) -> list[FileResult]:
    """Every source's result, in the sources' order (the merged report's files)."""
    return list(in_input_order(iter_indexed(sources, options, **kw)))
