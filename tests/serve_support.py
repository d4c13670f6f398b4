"""Helpers of the service tests: ``modelxray serve`` in a subprocess on loopback, a throwaway
PostgreSQL cluster, small HTTP calls with the standard library (no test-only client)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

SRC = str(Path(__file__).resolve().parent.parent / "src")
ADMIN = "mxk_test_admin_" + "a" * 24
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/nonexistent"))
WAIT = 120.0  # seconds a wait loop gives up after (a hang guard, not an assertion on speed)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env() -> dict[str, str]:
    e = {**os.environ, "MODELXRAY_ADMIN_KEY": ADMIN}
    e["PYTHONPATH"] = SRC + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("MODELXRAY_POLICY", None)
    e["XDG_CONFIG_HOME"] = e["XDG_CONFIG_DIRS"] = "/nonexistent"
    return e


def modelxray(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "modelxray", *args], capture_output=True, text=True, env=env()
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


class Server:
    def __init__(self, data_dir: Path, db: str | None, *extra: str, workers: int = 2) -> None:
        self.data_dir = data_dir
        self.db = db
        self.extra = list(extra)
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def db_args(self) -> list[str]:
        out = ["--data-dir", str(self.data_dir)]
        return out + (["--db", self.db] if self.db else [])

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "modelxray", "serve", "--port", str(self.port)]
        cmd += [*self.db_args(), "--workers", str(self.workers), "--rate-per-minute", "0"]
        cmd += self.extra  # a later option wins
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env())
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if self.call("GET", "/readyz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError("the service did not become ready:\n" + self.log.read_text())

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)
        self.proc = None

    def call(
        self,
        method: str,
        path: str,
        key: str | None = None,
        body: bytes | None = None,
        ctype: str | None = None,
    ) -> tuple[int, bytes]:
        headers = {}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if ctype is not None:
            headers["Content-Type"] = ctype
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, method: str, path: str, key: str | None = ADMIN, **kw: Any) -> Any:
        status, body = self.call(method, path, key, **kw)
        assert status < 300, (status, body)
        return json.loads(body)

    def upload(self, name: str, data: bytes, key: str = ADMIN) -> tuple[int, Any]:
        boundary = uuid.uuid4().hex
        body = multipart(boundary, name, data)
        status, out = self.call(
            "POST", "/v1/scans", key, body, f"multipart/form-data; boundary={boundary}"
        )
        return status, json.loads(out)

    def wait_done(self, ids: list[str], key: str = ADMIN) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT * 3
        done: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for scan_id in ids:
                if scan_id not in done:
                    scan = self.json("GET", f"/v1/scans/{scan_id}", key)
                    if scan["status"] in ("done", "failed"):
                        done[scan_id] = scan
            if len(done) == len(ids):
                return done
            time.sleep(0.2)
        raise AssertionError(f"{len(ids) - len(done)} scans never finished")


def multipart(boundary: str, name: str, data: bytes) -> bytes:
    quoted = name.replace("\\", "\\\\").replace('"', '\\"')
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode()


@contextmanager
def running(data_dir: Path, db: str | None, *extra: str, workers: int = 2) -> Iterator[Server]:
    server = Server(data_dir, db, *extra, workers=workers)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _as_postgres(*cmd: str) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        cmd = ("runuser", "-u", "postgres", "--", *cmd)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@contextmanager
def postgres_cluster(root: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on loopback: its URL (trust authentication)."""
    url = os.environ.get("MODELXRAY_TEST_PG_URL")
    if url:  # a server .ci/run (or the developer) started
        yield url
        return
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); set "
                    "MODELXRAY_TEST_PG_URL to test against a running server")  # fmt: skip
    # Not under pytest's temporary folder: its parent is private to root, and the server
    # runs as the postgres user when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="modelxray-pg-"))
    data = root / "pgdata"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    init = _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    if init.returncode != 0:
        pytest.skip(f"initdb failed: {init.stderr[-500:]}")
    port = free_port()
    opts = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    start = _as_postgres(
        str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "pg.log"), "-w",
        "start",
    )  # fmt: skip
    if start.returncode != 0:
        pytest.skip(f"pg_ctl start failed: {start.stderr[-500:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")
