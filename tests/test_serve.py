"""``modelxray serve`` over real HTTP on loopback (issue 18): the API end to end on SQLite and
PostgreSQL, keys and roles, limits, unsafe names, migrations, a SIGKILL mid-queue.

Needs the ``serve`` extra (FastAPI, uvicorn, SQLAlchemy, Alembic, python-multipart; pg8000
for PostgreSQL); PostgreSQL itself is a throwaway cluster started with ``initdb``/``pg_ctl``
(``tests/serve_support.py``), or the server named by ``MODELXRAY_TEST_PG_URL``.
"""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("sqlalchemy", reason="the serve extra is not installed")

from tests.serve_support import (  # noqa: E402
    ADMIN,
    WAIT,
    Server,
    modelxray,
    peak_rss_kib,
    postgres_cluster,
    running,
)

EXAMPLES = Path(__file__).parent.parent / "examples"


def evil_pickle(marker: Path) -> bytes:
    """A pickle that would run ``touch marker`` if loaded (it is never loaded)."""
    cmd = f"touch {marker}".encode()
    return b"cposix\nsystem\n(S'" + cmd + b"'\ntR."


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("pg8000", reason="pg8000 (the postgres extra) is not installed")
    with postgres_cluster(tmp_path_factory.mktemp("pg")) as url:
        yield url


def fresh_pg_db(url: str) -> str:
    from sqlalchemy import text

    from modelxray.serve.db import make_engine

    name = "mx_" + uuid.uuid4().hex[:12]
    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None  # the default: SQLite in the data folder
    return fresh_pg_db(request.getfixturevalue("pg_url"))


def test_api_end_to_end(tmp_path: Path, db_url: str | None) -> None:
    marker = tmp_path / "MARKER"
    with running(tmp_path / "data", db_url) as server:
        status, evil = server.upload("evil.pkl", evil_pickle(marker))
        assert status == 202 and evil["status"] == "queued"
        status, clean = server.upload("clean.keras", (EXAMPLES / "clean_dense.keras").read_bytes())
        assert status == 202
        done = server.wait_done([evil["id"], clean["id"]])
        bad, good = done[evil["id"]], done[clean["id"]]
        assert bad["verdict"] == "blocked" and good["verdict"] == "allowed"
        # per-file verdicts and findings, in the JSON report's shape
        (file,) = bad["report"]["files"]
        assert file["path"] == "evil.pkl" and file["verdict"] == "blocked"
        assert "MX-PICKLE-001" in {f["rule_id"] for f in file["findings"]}
        assert good["report"]["files"][0]["verdict"] == "allowed"
        # filters
        blocked = server.json("GET", "/v1/scans?verdict=blocked")["scans"]
        assert [s["id"] for s in blocked] == [evil["id"]]
        by_rule = server.json("GET", "/v1/scans?rule=MX-PICKLE-001")["scans"]
        assert [s["id"] for s in by_rule] == [evil["id"]]
        future = server.json("GET", "/v1/scans?since=2999-01-01T00:00:00Z")["scans"]
        assert future == []
        assert len(server.json("GET", "/v1/scans?until=2999-01-01T00:00:00Z")["scans"]) == 2
        # rules, a rule's page, the policy
        rules = server.json("GET", "/v1/rules")["rules"]
        assert "MX-PICKLE-001" in {r["id"] for r in rules}
        page = server.json("GET", "/v1/rules/MX-PICKLE-001")
        assert page["id"] == "MX-PICKLE-001" and "MX-PICKLE-001" in page["page"]
        assert server.call("GET", "/v1/rules/MX-NOPE-999", ADMIN)[0] == 404
        assert server.call("GET", f"/v1/scans/{uuid.uuid4()}", ADMIN)[0] == 404
        policy = server.json("GET", "/v1/policy")
        assert policy["fingerprint"] == bad["report"]["policy"]["fingerprint"]
        # the report page and the dashboard (with a key in the cookie or the header)
        status, html = server.call("GET", f"/scans/{evil['id']}", ADMIN)
        assert status == 200 and b"MX-PICKLE-001" in html
        status, html = server.call("GET", "/", ADMIN)
        assert status == 200 and b"evil.pkl" in html and b"MX-PICKLE-001" in html
        # metrics: a read key by default
        assert server.call("GET", "/metrics")[0] == 401
        status, metrics = server.call("GET", "/metrics", ADMIN)
        assert status == 200
        assert b'modelxray_verdicts_total{verdict="blocked"} 1' in metrics
        assert b'modelxray_rule_hits_total{rule="MX-PICKLE-001"}' in metrics
        assert b"modelxray_queue_depth 0" in metrics
        # the OpenAPI document lists the API
        spec = server.json("GET", "/openapi.json", key=None)
        assert {"/v1/scans", "/v1/scans/{scan_id}", "/v1/rules", "/v1/rules/{rule_id}",
                "/v1/policy"} <= set(spec["paths"])  # fmt: skip
        body = spec["paths"]["/v1/scans"]["post"]["requestBody"]["content"]
        assert {"multipart/form-data", "application/json"} <= set(body)
        # uploads are removed once judged
        assert list((tmp_path / "data" / "uploads").iterdir()) == []
    assert not marker.exists()


def test_remote_uri_scans_only_remote_sources(tmp_path: Path) -> None:
    with running(tmp_path / "data", None) as server:
        for uri in ("/etc/passwd", "file:///etc/passwd", "../x", ""):
            status, body = server.call(
                "POST", "/v1/scans", ADMIN, json.dumps({"uri": uri}).encode(), "application/json"
            )
            assert status == 400, (uri, body)
        status, _ = server.call("POST", "/v1/scans", ADMIN, b"{", "application/json")
        assert status == 400
        status, _ = server.call("POST", "/v1/scans", ADMIN, b"x", "text/plain")
        assert status == 415


def test_keys_and_roles(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, None)
    read_key = modelxray("keys", "create", "--role", "read", *server.db_args())
    scan_key = modelxray("keys", "create", "--role", "scan", *server.db_args())
    assert read_key.startswith("mxk_") and read_key != scan_key
    # stored hashed: the token is nowhere in the database file
    db_bytes = b"".join(p.read_bytes() for p in data.glob("modelxray.db*"))
    assert read_key.encode() not in db_bytes and scan_key.encode() not in db_bytes
    server.start()
    try:
        assert server.call("GET", "/v1/scans")[0] == 401
        assert server.call("GET", "/v1/scans", "mxk_wrong")[0] == 401
        assert server.call("GET", "/v1/scans", read_key)[0] == 200
        assert server.upload("a.pkl", b"\x80\x04K\x01.", key=read_key)[0] == 403
        status, scan = server.upload("a.pkl", b"\x80\x04K\x01.", key=scan_key)
        assert status == 202
        assert server.call("GET", f"/v1/scans/{scan['id']}", read_key)[0] == 200
        # pages want a key too, and send a browser to the sign-in form without one
        assert server.call("GET", "/")[0] in (200, 303)  # urllib follows the redirect
        assert b"API key" in server.call("GET", "/")[1]
        server.wait_done([scan["id"]])
    finally:
        server.stop()


def test_rate_limit(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, None)
    slow = modelxray("keys", "create", "--role", "read", "--rate-per-minute", "3",
                     *server.db_args())  # fmt: skip
    with running(data, None) as server:
        codes = [server.call("GET", "/v1/rules", slow)[0] for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert server.call("GET", "/v1/rules", ADMIN)[0] == 200  # per key


def _raw_post(port: int, headers: str, chunks: Iterator[bytes]) -> tuple[int, int]:
    """Send a request on a raw socket, as much of the body as the server takes; the status
    line of the answer and how many body bytes went out."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(headers.encode())
        try:
            for chunk in chunks:
                s.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while b"\r\n" not in answer:
                more = s.recv(4096)
                if not more:
                    break
                answer += more
        except ConnectionResetError:
            pass
    return int(answer.split(b" ", 2)[1]), sent


def test_oversized_upload_refused_without_buffering(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = Server(data, None)
    small = modelxray("keys", "create", "--role", "scan", "--max-upload-bytes", str(1 << 20),
                      *server.db_args())  # fmt: skip
    with running(data, None) as server:
        assert server.proc is not None
        boundary = "b" * 16
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.bin"\r\n\r\n'
        ).encode()
        # a declared length over the limit: refused before a byte of the body is read
        status, _ = _raw_post(
            server.port,
            f"POST /v1/scans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {small}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {1 << 30}\r\n\r\n",
            iter([]),
        )
        assert status == 413
        before = peak_rss_kib(server.proc.pid)

        def body() -> Iterator[bytes]:  # 64 MiB, chunked: no length to refuse it by
            chunk = b"\0" * (1 << 16)
            yield b"%x\r\n%s\r\n" % (len(head), head)
            for _ in range(1024):
                yield b"%x\r\n%s\r\n" % (len(chunk), chunk)
            yield b"0\r\n\r\n"

        status, sent = _raw_post(
            server.port,
            f"POST /v1/scans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {small}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
            body(),
        )
        assert status == 413
        assert sent > 2 << 20  # the limit was enforced on a body streaming past it
        # the peak memory of the service grew by far less than the body
        assert peak_rss_kib(server.proc.pid) - before < 16 * 1024
        assert list((data / "uploads").iterdir()) == []  # nothing kept
        # within the limit: accepted
        assert server.upload("ok.bin", b"\0" * 1000, key=small)[0] == 202


@pytest.mark.parametrize(
    "name", ["../evil.pkl", "../../etc/cron.d/x", "a/b.pkl", "..\\evil.pkl", "..", ".", "x\0y"]
)
def test_path_traversal_in_names_refused(tmp_path: Path, name: str) -> None:
    with running(tmp_path / "data", None, workers=1) as server:
        status, body = server.upload(name, evil_pickle(tmp_path / "MARKER"))
        assert status == 400 and "file name" in body["detail"]
        assert list((tmp_path / "data" / "uploads").iterdir()) == []
        assert not (tmp_path / "data" / "evil.pkl").exists()
        assert not (tmp_path / "evil.pkl").exists()


def test_migrations_from_empty_database(tmp_path: Path, db_url: str | None) -> None:
    from sqlalchemy import inspect

    from modelxray.serve.db import current_revision, make_engine, migrate

    url = db_url or f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    assert current_revision(engine) is None
    migrate(engine)
    assert current_revision(engine) == "0001"
    assert {"api_keys", "scans", "scan_files", "rule_hits"} <= set(
        inspect(engine).get_table_names()
    )
    migrate(engine)  # idempotent
    assert current_revision(engine) == "0001"
    engine.dispose()


def _completions(data: Path, db: str | None) -> dict[str, tuple[str, int]]:
    from sqlalchemy import select

    from modelxray.serve.config import ServeConfig
    from modelxray.serve.db import make_engine, sessions
    from modelxray.serve.models import Scan

    engine = make_engine(db or ServeConfig(data_dir=str(data)).database_url)
    with sessions(engine)() as session:
        rows = {s.id: (s.status, s.completions) for s in session.scalars(select(Scan))}
    engine.dispose()
    return rows


def test_sigkill_mid_queue_then_restart(tmp_path: Path, db_url: str | None) -> None:
    data = tmp_path / "data"
    marker = tmp_path / "MARKER"
    server = Server(data, db_url, workers=1)
    server.start()
    accepted = []
    for i in range(24):
        status, scan = server.upload(f"m{i}.pkl", evil_pickle(marker))
        assert status == 202
        accepted.append(scan["id"])
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:  # kill once some are done and some are waiting
        states = [server.json("GET", f"/v1/scans/{i}")["status"] for i in accepted]
        if "done" in states:
            break
        time.sleep(0.1)
    assert "queued" in states, "the queue drained before the kill; nothing to resume"
    server.stop(signal.SIGKILL)
    server.start()
    try:
        done = server.wait_done(accepted)
        assert {s["verdict"] for s in done.values()} == {"blocked"}
    finally:
        server.stop()
    rows = _completions(data, db_url)
    assert set(rows) == set(accepted)  # none lost, none added
    assert all(status == "done" and n == 1 for status, n in rows.values()), rows
    assert not marker.exists()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as f:
        return [int(p) for p in f.read().split()]


def test_worker_killed_mid_scan_is_requeued(tmp_path: Path) -> None:
    """A worker process dies (SIGKILL) while the service lives: its claimed scan goes back to
    the queue and is completed once by the worker started in its place."""
    data = tmp_path / "data"
    with running(data, None, workers=1) as server:
        assert server.proc is not None
        accepted = [server.upload(f"w{i}.pkl", evil_pickle(tmp_path / "M"))[1]["id"]
                    for i in range(24)]  # fmt: skip
        deadline = time.monotonic() + WAIT
        killed = 0
        while time.monotonic() < deadline and killed < 3:
            states = [server.json("GET", f"/v1/scans/{i}")["status"] for i in accepted]
            if not {"queued", "running"} & set(states):
                break
            if "running" in states:
                for pid in _children(server.proc.pid):
                    signal_pid(pid)
                    killed += 1
            time.sleep(0.05)
        assert killed, "no scan was seen running"
        done = server.wait_done(accepted)
        assert {s["status"] for s in done.values()} == {"done"}
    rows = _completions(data, None)
    assert set(rows) == set(accepted)
    assert all(n == 1 for _, n in rows.values())


def signal_pid(pid: int) -> None:
    import os

    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
