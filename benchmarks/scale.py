"""Throughput per worker on loopback remote sources, for the hub-scale cost model (docs/scale.md).

Serves the real-world corpus (``benchmarks/realworld``: model files third parties ship, one
package = one repository) from the tests' fake Hugging Face hub on loopback, and scans every
repository by ``hf://`` URI from a list:

* one worker (one process, no cache): files/s, bytes fetched/s, range requests per file,
  CPU seconds per file -- the numbers the cost model scales;
* ``--engine dask`` on a LocalCluster of two workers: files/s;
* the same list again with a warm verdict cache: what a rescan costs (metadata only).

    PYTHONPATH=$PWD/src python benchmarks/scale.py [--out benchmarks/results/scale.json]

Nothing leaves the machine: the hub, its "CDN" and the Dask cluster bind 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tests.remote_servers as rs  # noqa: E402

from modelxray.batch import iter_indexed  # noqa: E402
from modelxray.engine import ScanOptions, plan  # noqa: E402
from modelxray.policy import Policy  # noqa: E402

CORPUS = Path(
    os.environ.get("MODELXRAY_REALWORLD_CACHE", Path.home() / ".cache/modelxray-realworld")
)


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _run(hub: rs.FakeHub, uris: list[str], options: ScanOptions, **kw: object) -> dict[str, float]:
    hub.reset()
    cpu, wall = _cpu(), time.perf_counter()
    sources = plan(uris, options)
    listed = time.perf_counter() - wall
    results = [r for _, r in iter_indexed(sources, options, **kw)]  # type: ignore[arg-type]
    wall = time.perf_counter() - wall
    cpu = _cpu() - cpu
    fetched = sum(r.bytes_fetched or 0 for r in results)
    content_requests = sum(
        1 for r in hub.httpd.requests if "/resolve/" in r[1] or "/lfs-cdn/" in r[1]
    )
    return {
        "files": len(results),
        "bytes_total": sum(r.size for r in results),
        "bytes_fetched": fetched,
        "served_by_hub": sum(hub.served.values()),
        "requests": len(hub.httpd.requests),
        "content_requests": content_requests,
        "seconds": round(wall, 3),
        "listing_seconds": round(listed, 3),
        "cpu_seconds_client": round(cpu, 3),
        "files_per_second": round(len(results) / wall, 1),
        "bytes_fetched_per_second": round(fetched / wall),
        "errors": sum(r.verdict == "error" for r in results),
        "blocked": sum(r.verdict == "blocked" for r in results),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/scale.json"))
    ap.add_argument("--dask-workers", type=int, default=2)
    ap.add_argument("--repos", type=int, default=12, help="the first N package folders")
    args = ap.parse_args()
    packages = sorted(p for p in CORPUS.iterdir() if p.is_dir() and p.name != "dists")
    packages = packages[: args.repos]
    if not packages:
        print(f"no corpus in {CORPUS}: run benchmarks/realworld/fetch.py", file=sys.stderr)
        return 2
    hub = rs.FakeHub(page_size=1000)
    os.environ["HF_ENDPOINT"] = hub.url
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    uris = []
    for p in packages:
        repo = hub.add(rs.hub_repo(f"realworld/{p.name}", p))
        if repo.files:
            uris.append(f"hf://{repo.repo_id}")
    out: dict[str, object] = {"repositories": len(uris), "cores": os.cpu_count()}
    try:
        one = ScanOptions(policy=Policy(), jobs=1)
        out["one_worker"] = _run(hub, uris, one)
        print(out, file=sys.stderr, flush=True)
        out["dask"] = _run(hub, uris, one, engine="dask", workers=args.dask_workers)
        with tempfile.TemporaryDirectory() as tmp:
            cached = ScanOptions(policy=Policy(), jobs=1, cache=os.path.join(tmp, "v.sqlite"))
            out["cache_cold"] = _run(hub, uris, cached)
            out["cache_warm"] = _run(hub, uris, cached)
    finally:
        hub.close()
    text = json.dumps(out, indent=2)
    print(text)
    Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
