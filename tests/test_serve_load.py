"""A bounded concurrent load test of ``modelxray serve`` on loopback (issue 18): hundreds of
uploads from concurrent clients, no scan lost or duplicated; latency percentiles are written
to ``benchmarks/results/serve-load-<date>.md`` when ``MODELXRAY_WRITE_BENCH=1``.

Budget: the scans must all finish within ``BUDGET`` seconds (a hang guard on a shared 2-core
machine, generous by design; the measured figures go in the results file, never into an
assertion).  ``MODELXRAY_SERVE_LOAD_SCANS`` changes the number of scans (default 200).
"""

from __future__ import annotations

import datetime as _dt
import os
import pickle
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

from tests.serve_support import running  # noqa: E402
from tests.test_serve import _completions, evil_pickle  # noqa: E402

SCANS = int(os.environ.get("MODELXRAY_SERVE_LOAD_SCANS", "200"))
CLIENTS = 8
WORKERS = 2
BUDGET = 300.0
RESULTS = Path(__file__).parent.parent / "benchmarks" / "results"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def test_concurrent_load(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    benign = pickle.dumps({"weights": [0.5, 1.5], "step": 3})  # made by pickle, never loaded
    data = tmp_path / "data"
    with running(data, None, workers=WORKERS) as server:

        def submit(i: int) -> tuple[str, float]:
            payload = evil_pickle(marker) if i % 2 else benign
            started = time.perf_counter()
            status, scan = server.upload(f"load-{i}.pkl", payload)
            assert status == 202, scan
            return scan["id"], time.perf_counter() - started

        t0 = time.perf_counter()
        with ThreadPoolExecutor(CLIENTS) as pool:
            submitted = list(pool.map(submit, range(SCANS)))
        submit_seconds = time.perf_counter() - t0
        ids = [i for i, _ in submitted]
        assert len(set(ids)) == SCANS
        done = server.wait_done(ids)
        total_seconds = time.perf_counter() - t0
        assert total_seconds < BUDGET
    rows = _completions(data, None)
    assert set(rows) == set(ids)  # none lost, none added
    assert all(status == "done" and n == 1 for status, n in rows.values())  # none twice
    verdicts = [done[i]["verdict"] for i in ids]
    assert verdicts == ["allowed" if n % 2 == 0 else "blocked" for n in range(SCANS)]
    assert not marker.exists()

    def parse(s: str) -> _dt.datetime:
        return _dt.datetime.fromisoformat(s)

    accept = [s * 1000 for _, s in submitted]
    e2e = [
        (parse(d["finished_at"]) - parse(d["created_at"])).total_seconds() for d in done.values()
    ]
    scan_s = [
        (parse(d["finished_at"]) - parse(d["started_at"])).total_seconds() for d in done.values()
    ]
    if os.environ.get("MODELXRAY_WRITE_BENCH") == "1":
        today = _dt.date.today().isoformat()
        RESULTS.mkdir(parents=True, exist_ok=True)
        lines = [
            f"# modelxray serve: concurrent load on loopback ({today})",
            "",
            f"`tests/test_serve_load.py`: {SCANS} uploads (half a benign pickle, half a pickle "
            f"calling `posix.system`) from {CLIENTS} concurrent clients to one `modelxray serve` "
            f"with {WORKERS} scan workers (each file parsed in an rlimited child), SQLite. "
            f"Budget {BUDGET:.0f} s (a hang guard). Machine: {platform.machine()}, "
            f"{os.cpu_count()} cores shared with other jobs, Python {platform.python_version()}.",
            "",
            f"Result: {SCANS} accepted, {len(rows)} recorded, every one completed exactly once "
            f"(`completions == 1`), verdicts as expected; no marker file.",
            "",
            f"- all uploads accepted in {submit_seconds:.1f} s; all scans finished after "
            f"{total_seconds:.1f} s ({SCANS / total_seconds:.1f} scans/s)",
            "",
            "| latency | p50 | p90 | p99 | max |",
            "|---|---|---|---|---|",
        ]
        for name, values, unit in (
            ("upload accepted (HTTP 202), ms", accept, 1.0),
            ("scan (claimed to recorded), s", scan_s, 1.0),
            ("accepted to recorded (queueing included), s", e2e, 1.0),
        ):
            cells = [_pct(values, p) * unit for p in (50, 90, 99)] + [max(values) * unit]
            lines.append(f"| {name} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")
        lines += ["", f"Mean scan time {statistics.mean(scan_s):.3f} s.", ""]
        (RESULTS / f"serve-load-{today}.md").write_text("\n".join(lines), encoding="utf-8")
