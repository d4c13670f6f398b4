"""Durable scan jobs: queued in the database, claimed and run by worker processes.

A scan is a row with status ``queued``.  A worker claims one with a conditional update
(``queued`` -> ``running`` with a fresh claim token; a second worker's update then matches no
row), scans it with every file parsed in an rlimited child (:mod:`modelxray.isolate`) and
completes it with another conditional update (``running`` with *its* claim -> ``done``), in
the same transaction as the rows of its judged files and rule hits.  A scan that was running
when the service died is queued again at start-up (:func:`requeue_running`): its first claim
never completed, so each accepted scan completes exactly once.

Workers are separate processes (``python -m modelxray.serve.jobs``), at most
``ServeConfig.workers``, started and restarted by :class:`WorkerPool`; each dies with the
service (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from modelxray.serve.models import RuleHit, Scan, ScanFile, utcnow
from modelxray.sources.uri_guard import UriGuard

log = logging.getLogger("modelxray.serve.jobs")

POLL_SECONDS = 0.2
MAX_ATTEMPTS = 3  # claims of one scan whose worker died before it was recorded: then failed


def requeue_running(session: Session) -> int:
    """At start-up: scans left running by a service that died go back to the queue."""
    result = session.execute(
        update(Scan).where(Scan.status == "running").values(status="queued", claim=None)
    )
    session.commit()
    return int(getattr(result, "rowcount", 0) or 0)


def requeue_worker(session: Session, pid: int) -> int:
    """A worker died: its claimed scan goes back to the queue, or fails after
    ``MAX_ATTEMPTS`` claims (a file that kills every worker must not loop for ever)."""
    mine = (Scan.status == "running", Scan.claim.startswith(f"{pid}:"))
    failed = session.execute(
        update(Scan)
        .where(*mine, Scan.attempts >= MAX_ATTEMPTS)
        .values(
            status="failed",
            verdict="error",
            claim=None,
            error=f"the scan worker died {MAX_ATTEMPTS} times scanning this",
            finished_at=utcnow(),
            completions=Scan.completions + 1,
        )
    )
    again = session.execute(update(Scan).where(*mine).values(status="queued", claim=None))
    session.commit()
    return int(getattr(failed, "rowcount", 0) or 0) + int(getattr(again, "rowcount", 0) or 0)


def claim_next(session: Session) -> tuple[Scan, str] | None:
    """Claim the oldest queued scan for this worker; None when the queue is empty."""
    for _ in range(20):
        candidate = session.scalar(
            select(Scan.id).where(Scan.status == "queued").order_by(Scan.created_at).limit(1)
        )
        if candidate is None:
            session.rollback()
            return None
        token = f"{os.getpid()}:{uuid.uuid4().hex[:24]}"  # which worker holds it
        result = session.execute(
            update(Scan)
            .where(Scan.id == candidate, Scan.status == "queued")
            .values(status="running", claim=token, started_at=utcnow(), attempts=Scan.attempts + 1)
        )
        session.commit()
        if getattr(result, "rowcount", 0) == 1:
            scan = session.get(Scan, candidate)
            assert scan is not None
            return scan, token
    return None


def complete(
    session: Session,
    scan_id: str,
    token: str,
    report: dict[str, Any] | None,
    html: str | None,
    error: str | None,
) -> bool:
    """Record a claimed scan's outcome once; False when the claim is no longer this one's."""
    verdict = report["verdict"] if report is not None else "error"
    result = session.execute(
        update(Scan)
        .where(Scan.id == scan_id, Scan.status == "running", Scan.claim == token)
        .values(
            status="done" if report is not None else "failed",
            verdict=verdict,
            report_json=json.dumps(report, ensure_ascii=False) if report is not None else None,
            report_html=html,
            error=error,
            finished_at=utcnow(),
            completions=Scan.completions + 1,
        )
    )
    if getattr(result, "rowcount", 0) != 1:
        session.rollback()
        return False
    now = utcnow()
    for f in (report or {}).get("files", []):
        session.add(
            ScanFile(scan_id=scan_id, path=f["path"], verdict=f["verdict"], sha256=f["sha256"])
        )
        for finding in f["findings"]:
            session.add(
                RuleHit(
                    scan_id=scan_id,
                    rule_id=finding["rule_id"],
                    severity=finding["severity"],
                    created_at=now,
                )
            )
    session.commit()
    return True


def run_scan(
    target: str, policy_path: str | None, folder: str | None = None
) -> tuple[dict[str, Any], str]:
    """Scan ``target`` (a file or a remote URI): the JSON report and the HTML report.
    ``folder``: the folder an uploaded file is named relative to, so its report shows the
    name it was uploaded with, not the service's upload folder."""
    from modelxray.engine import ScanOptions
    from modelxray.isolate import IsolationSettings, scan_isolated
    from modelxray.policy import Policy, configured_policy, load_policy
    from modelxray.reports import html, json_report

    policy = load_policy(policy_path) if policy_path else (configured_policy() or Policy())
    options = ScanOptions(policy=policy, compute_hash=True, jobs=1)
    if folder is None:
        report = scan_isolated([target], options, IsolationSettings())
    else:
        here = os.getcwd()
        os.chdir(folder)  # a worker process runs one scan at a time, on one thread
        try:
            report = scan_isolated([target], options, IsolationSettings())
        finally:
            os.chdir(here)
    return json_report.to_dict(report), html.to_html(report)


def _upload_folder(target: str, upload_dir: str) -> str | None:
    """The per-scan folder an uploaded file sits in (removed once the scan is recorded)."""
    folder = os.path.dirname(os.path.abspath(target))
    if os.path.dirname(folder) == os.path.abspath(upload_dir):
        return folder
    return None


def work(
    factory: sessionmaker[Session],
    upload_dir: str,
    policy_path: str | None,
    stop: threading.Event | None = None,
    once: bool = False,
) -> None:
    """A worker's loop: claim, scan, complete; poll while the queue is empty."""
    while stop is None or not stop.is_set():
        with factory() as session:
            claimed = claim_next(session)
        if claimed is None:
            if once:
                return
            time.sleep(POLL_SECONDS)
            continue
        scan, token = claimed
        started = time.perf_counter()
        report: dict[str, Any] | None = None
        page: str | None = None
        error: str | None = None
        try:
            if scan.kind == "upload":
                where, name = os.path.split(scan.target)
                report, page = run_scan(name, policy_path, where)
            else:
                from modelxray.sources import uri_guard

                guard = uri_guard.active()
                if guard is None:  # never a caller's URI without a guard
                    raise uri_guard.UriRefused("this worker has no URI guard")
                guard.check(scan.target)  # the allow-list of *this* service (it may change)
                report, page = run_scan(scan.target, policy_path)
        except Exception as exc:  # noqa: BLE001 - recorded as the scan's error, never lost
            error = f"{type(exc).__name__}: {exc}"[:2000]
        with factory() as session:
            done = complete(session, scan.id, token, report, page, error)
        if done and scan.kind == "upload":
            folder = _upload_folder(scan.target, upload_dir)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        log.info(
            "scan finished",
            extra={
                "scan_id": scan.id,
                "verdict": report["verdict"] if report else "error",
                "recorded": done,
                "seconds": round(time.perf_counter() - started, 4),
            },
        )


class WorkerPool:
    """``size`` worker processes, each restarted when it dies, all stopped with the pool."""

    def __init__(
        self,
        size: int,
        db_url: str,
        upload_dir: str,
        policy_path: str | None,
        factory: sessionmaker[Session] | None = None,
        guard: UriGuard | None = None,
    ) -> None:
        self.factory = factory
        self.size = max(1, size)
        self.argv = [sys.executable, "-m", "modelxray.serve.jobs", "--db", db_url]
        self.argv += ["--upload-dir", upload_dir, "--parent", str(os.getpid())]
        self.argv += ["--uri-guard", (guard or UriGuard()).to_json()]
        if policy_path:
            self.argv += ["--policy", policy_path]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="modelxray-workers", daemon=True)

    def start(self) -> None:
        self.procs = [self._spawn() for _ in range(self.size)]
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.argv, stdin=subprocess.DEVNULL)

    def _watch(self) -> None:
        while not self._stop.wait(1.0):
            for i, proc in enumerate(self.procs):
                if proc.poll() is not None and not self._stop.is_set():
                    requeued = 0
                    if self.factory is not None:
                        with self.factory() as session:
                            requeued = requeue_worker(session, proc.pid)
                    log.warning(
                        "worker died; restarted",
                        extra={"exit": proc.returncode, "pid": proc.pid, "requeued": requeued},
                    )
                    self.procs[i] = self._spawn()

    def alive(self) -> int:
        return sum(1 for p in self.procs if p.poll() is None)

    def stop(self) -> None:
        self._stop.set()
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="modelxray-serve-worker")
    p.add_argument("--db", required=True)
    p.add_argument("--upload-dir", required=True)
    p.add_argument("--policy")
    p.add_argument("--parent", type=int, required=True)
    p.add_argument("--uri-guard", help="what URI scans may read (UriGuard.to_json)")
    args = p.parse_args(argv)

    from modelxray.sources import uri_guard

    # every remote read of this worker and of its forked parsers goes through the guard
    uri_guard.install(UriGuard.from_json(args.uri_guard) if args.uri_guard else UriGuard())

    import signal

    from modelxray.children import die_with_parent
    from modelxray.serve.db import make_engine, sessions
    from modelxray.serve.logs import setup_logging

    die_with_parent(args.parent)
    setup_logging()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    engine = make_engine(args.db)
    work(sessions(engine), args.upload_dir, args.policy, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
