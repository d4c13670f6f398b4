"""Isolated inspection: parse every file in a limited worker process.

A native parser (HDF5, protobuf, a decompressor) that crashes, leaks or spins on a hostile
file takes down only its worker: the parent records an MX-SCAN-008 finding for that file and
goes on with the next one.  Remote files (``hf://``, ``s3://``, ``https://`` …) are read and
parsed by the workers too: each worker makes its own client and reads its file by range
requests under the same limits (only what a source says without reading a byte, a listing's
failure, is judged in the parent).

The workers are a pool forked from the scanning process, so they start with the readers and
the policy already in memory (nothing about the policy is re-read or re-built).  Each worker
limits itself as it starts: ``RLIMIT_AS`` (its size at fork plus ``memory_mb``) and, before
every file, ``RLIMIT_CPU`` (its CPU time so far plus ``cpu_seconds``); it serves one file per
request (the index of the source, in) and answers with ``FileResult.to_dict()`` as one JSON
line (out), and is replaced after ``recycle_after`` files, so what one parse leaks cannot
reach the next worker's files.  A worker that dies, is killed, or overruns the wall-clock
deadline costs only the file it was reading.  Only modelxray's own data crosses the boundary
(JSON, never pickle).
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from modelxray.budget import Limits
from modelxray.children import die_with_parent, limit_cpu
from modelxray.engine import (
    ScanOptions,
    describe_exit,
    failed_result,
    link_model_data,
    preload_readers,
    scan_file,
)
from modelxray.model import (
    Disposition,
    FileResult,
    FileStatus,
    Finding,
    Report,
    Verdict,
)
from modelxray.policy import file_verdict
from modelxray.rules import scan as scan_rules
from modelxray.sources import SourceFile, selected_sources

DEFAULT_MEMORY_MB = 4096
DEFAULT_RECYCLE_AFTER = 64
_POLICY_MADE = frozenset({scan_rules.SUPPRESSION_EXPIRED.id, scan_rules.FORMAT_NOT_APPROVED.id})


@dataclass(frozen=True)
class IsolationSettings:
    # Address space a worker may add on top of its size when forked (interpreter + readers).
    memory_mb: int = DEFAULT_MEMORY_MB
    # CPU seconds per file; None: twice the per-file time limit, plus a margin.
    cpu_seconds: float | None = None
    # Files a worker serves before it is replaced by a fresh one.
    recycle_after: int = DEFAULT_RECYCLE_AFTER

    def cpu_limit(self, limits: Limits) -> int:
        if self.cpu_seconds is not None:
            return max(1, int(self.cpu_seconds + 0.999))
        return int(limits.max_seconds_per_file * 2 + 10)

    def wall_limit(self, limits: Limits) -> float:
        """Wall-clock seconds a file may take before its worker is killed."""
        return self.cpu_limit(limits) * 2 + 30


# ------------------------------------------------------------------------------ rebuild


def result_from_dict(d: dict[str, Any]) -> FileResult:
    """Rebuild a :class:`FileResult` from ``FileResult.to_dict()`` (suppressions included)."""
    # Findings the policy itself adds (expired suppression, format not approved) are added
    # again when the parent applies the policy: keep one.
    findings = [
        Finding.from_dict(f) for f in d.get("findings", []) if f["rule_id"] not in _POLICY_MADE
    ]
    suppressed = [Finding.from_dict(f) for f in d.get("suppressed", [])]
    r = FileResult(
        path=d["path"],
        size=int(d["size"]),
        sha256=d.get("sha256", ""),
        formats=list(d.get("formats", [])),
        status=FileStatus(d.get("status", FileStatus.SCANNED)),
        findings=findings + suppressed,  # the parent's policy decides again
        seconds=float(d.get("seconds", 0.0)),
        verdict=Verdict(d.get("verdict", Verdict.ALLOWED)),
        references=list(d.get("references", [])),
        bytes_fetched=d.get("bytes_fetched"),
        revision=d.get("revision"),
    )
    for f in r.findings:
        f.disposition = Disposition.BLOCK
        f.evidence.pop("suppressed_because", None)
    return r


# ------------------------------------------------------------------------------ parent


def _describe_status(status: int) -> tuple[str, str, int]:
    """What ended a worker (from ``waitpid``), the limit it points at, and its exit code
    (negative: the signal, as :mod:`subprocess` reports it)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return describe_exit(-sig), "cpu" if sig == signal.SIGXCPU else "crash", -sig
    code = os.WEXITSTATUS(status)
    return describe_exit(code), "crash", code


@dataclass
class _Worker:
    """The parent's handle on one forked worker."""

    pid: int
    send_fd: int
    recv_fd: int
    buffer: bytes = b""
    served: int = 0
    index: int | None = None  # the source being read
    started: float = 0.0
    deadline: float = 0.0
    status: int | None = field(default=None)

    def send(self, index: int, wall: float) -> None:
        self.index = index
        self.started = time.monotonic()
        self.deadline = self.started + wall
        os.write(self.send_fd, f"{index}\n".encode("ascii"))

    def close(self, kill: bool) -> None:
        """Stop the worker (at once when ``kill``, else at its next read) and reap it."""
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for fd in (self.send_fd, self.recv_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.status is None:
            try:
                _, self.status = os.waitpid(self.pid, 0)
            except ChildProcessError:
                self.status = 0


class _Pool:
    """Workers forked on demand, at most ``size`` at once, each replaced after ``recycle``
    files or when it dies."""

    def __init__(
        self, sources: list[SourceFile], options: ScanOptions, settings: IsolationSettings
    ) -> None:
        self.sources = sources
        self.options = options
        self.settings = settings
        self.workers: list[_Worker] = []

    def fork(self) -> _Worker:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # worker: never returns
            os.close(to_child_w)
            os.close(from_child_r)
            for w in self.workers:  # the other workers' pipes are not this worker's business
                for fd in (w.send_fd, w.recv_fd):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            _serve(to_child_r, from_child_w, self.sources, self.options, self.settings, parent)
        os.close(to_child_r)
        os.close(from_child_w)
        worker = _Worker(pid, to_child_w, from_child_r)
        self.workers.append(worker)
        return worker

    def retire(self, worker: _Worker, kill: bool) -> None:
        worker.close(kill)
        self.workers.remove(worker)

    def close(self) -> None:
        for worker in list(self.workers):
            self.retire(worker, kill=True)


def _has_content(source: SourceFile) -> bool:
    """A file a parser reads (local or remote), not a listing's problem."""
    return source.path is not None or source.remote is not None


def _pooled(
    sources: list[SourceFile], options: ScanOptions, settings: IsolationSettings, jobs: int
) -> Iterator[FileResult]:
    """Every source's result, in source order; files with content are read by the pool."""
    preload_readers()
    pool = _Pool(sources, options, settings)
    wall = settings.wall_limit(options.limits)
    cpu = settings.cpu_limit(options.limits)
    evidence = {"memory_mb": settings.memory_mb, "cpu_seconds": cpu}
    results: dict[int, FileResult] = {}
    queue = [i for i, s in enumerate(sources) if _has_content(s)]
    queue.reverse()  # pop() takes the next in source order
    done = 0

    def died(index: int, worker: _Worker, why: str, more: dict[str, Any]) -> None:
        results[index] = failed_result(
            sources[index], options, why, {**evidence, **more}, time.monotonic() - worker.started
        )

    try:
        while done < len(sources):
            if done in results:
                yield results.pop(done)
                done += 1
                continue
            if not _has_content(sources[done]):  # nothing to parse: problems only
                results[done] = scan_file(sources[done], options)
                continue
            idle = [w for w in pool.workers if w.index is None]
            while queue and (idle or len(pool.workers) < jobs):
                worker = idle.pop() if idle else pool.fork()
                index = queue.pop()
                try:
                    worker.send(index, wall)
                except OSError as exc:  # the worker is gone: this file is charged, not retried
                    pool.retire(worker, kill=True)
                    why, cause, code = _describe_status(worker.status or 0)
                    died(
                        index,
                        worker,
                        f"the isolated parser {why} before it could read the file ({exc})",
                        {"exit": code, "cause": cause},
                    )
            busy = [w for w in pool.workers if w.index is not None]
            now = time.monotonic()
            for worker in [w for w in busy if w.deadline <= now]:
                pool.retire(worker, kill=True)
                assert worker.index is not None
                died(
                    worker.index,
                    worker,
                    f"the isolated parser did not finish within {wall:g}s of wall-clock time",
                    {"limit": "wall_clock", "seconds": wall},
                )
                busy.remove(worker)
            if not busy:
                continue
            timeout = max(0.0, min(w.deadline for w in busy) - now)
            ready, _, _ = select.select([w.recv_fd for w in busy], [], [], min(timeout, 1.0))
            for worker in [w for w in busy if w.recv_fd in ready]:
                assert worker.index is not None
                index = worker.index
                chunk = os.read(worker.recv_fd, 1 << 16)
                if not chunk:  # the worker died with this file
                    pool.retire(worker, kill=True)
                    why, cause, code = _describe_status(worker.status or 0)
                    died(
                        index,
                        worker,
                        f"the parser {why} in isolation (limits: {settings.memory_mb} MB "
                        f"address space, {cpu} CPU seconds per file)",
                        {"exit": code, "cause": cause},
                    )
                    continue
                worker.buffer += chunk
                if b"\n" not in worker.buffer:
                    continue
                line, _, worker.buffer = worker.buffer.partition(b"\n")
                worker.index = None
                worker.served += 1
                answer = json.loads(line.decode("utf-8"))
                if "ok" in answer:
                    result = result_from_dict(answer["ok"])
                    result.verdict = file_verdict(options.policy, result, date.today())
                    results[index] = result
                else:
                    died(
                        index,
                        worker,
                        f"the isolated parser failed ({answer['error']}: {answer['message']})",
                        {"cause": "memory" if answer["error"] == "MemoryError" else "crash"},
                    )
                if "ok" not in answer or worker.served >= settings.recycle_after:
                    pool.retire(worker, kill=False)
    finally:
        pool.close()


def iter_results_isolated(
    paths: Iterable[str],
    options: ScanOptions,
    settings: IsolationSettings,
    sources: Sequence[SourceFile] | None = None,
) -> Iterator[FileResult]:
    """Like :func:`modelxray.engine.iter_results`, every file parsed by a limited worker;
    ``sources``: the files when already listed (``engine.plan``).  Closing the iterator early
    (an interrupted run) stops the workers at once."""
    if sources is None:
        sources = list(selected_sources(paths, options.policy))
    todo = list(sources)
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    yield from _pooled(todo, options, settings, max(1, min(jobs, len(todo))))


def scan_isolated(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    options: ScanOptions | None = None,
    settings: IsolationSettings | None = None,
) -> Report:
    """:func:`modelxray.scan`, with every file parsed in a limited worker process."""
    options = options or ScanOptions()
    settings = settings or IsolationSettings()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    started = time.perf_counter()
    report = Report(gate=options.policy.gate())
    report.files.extend(iter_results_isolated([os.fspath(p) for p in paths], options, settings))
    link_model_data(report.files, options.policy)
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------------------------ worker


def _vm_size() -> int:
    """This process's current virtual size in bytes (0 when /proc is not available)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _limit_memory(memory_mb: int) -> None:
    """Limit the address space to what the worker has now plus ``memory_mb``; no core dumps."""
    import resource

    mem = _vm_size() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _serve(
    recv_fd: int,
    send_fd: int,
    sources: list[SourceFile],
    options: ScanOptions,
    settings: IsolationSettings,
    parent: int,
) -> None:
    """A worker's life: limit itself, then read one source index per line and answer one JSON
    line each (``{"ok": result}`` or ``{"error": type, "message": text}``) until told to stop."""
    code = 0
    try:
        die_with_parent(parent)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the CLI's handler, inherited
        _limit_memory(settings.memory_mb)
        cpu = settings.cpu_limit(options.limits)
        with os.fdopen(recv_fd, "rb") as requests, os.fdopen(send_fd, "wb") as answers:
            for line in requests:
                limit_cpu(cpu)
                try:
                    result = scan_file(sources[int(line)], options)
                    answer: dict[str, Any] = {
                        "ok": {**result.to_dict(), "references": result.references}
                    }
                    out = json.dumps(answer, default=str)
                except BaseException as exc:  # noqa: BLE001 - the parent records it for the file
                    out = json.dumps(
                        {"error": type(exc).__name__, "message": str(exc)[:300]}, default=repr
                    )
                answers.write(out.encode("utf-8") + b"\n")
                answers.flush()
    except BaseException:  # noqa: BLE001 - the parent sees the worker die
        code = 1
    finally:
        os._exit(code)
