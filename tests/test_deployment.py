"""The Dockerfile and compose.yaml (issue 18 §4), checked without Docker.

No image can be built on the machines this suite runs on (no Docker daemon, no registry for the
base image), so what the image *does* is replayed here: the files it copies exist, the extras it
installs exist, and its ``ENTRYPOINT``, compose's ``command`` and ``environment`` and the
``HEALTHCHECK`` command run for real against the installed code, with the image's environment.
A renamed option, environment variable or route fails here rather than in someone's deployment.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
yaml = pytest.importorskip("yaml")

from modelxray.compat import tomllib  # noqa: E402
from tests.serve_support import ADMIN, WAIT, Server, env, postgres_cluster  # noqa: E402
from tests.test_serve import evil_pickle, fresh_pg_db  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def image_env(data_dir: Path) -> dict[str, str]:
    """``ENV`` lines of the image, with the image's ``/data`` moved to ``data_dir``."""
    out: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                name, _, value = item.partition("=")
                out[name] = value.replace("/data", str(data_dir))
    return out


def compose_service() -> dict[str, object]:
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service: dict[str, object] = doc["services"]["modelxray"]
    return service


def test_the_image_copies_and_installs_what_exists() -> None:
    steps = instructions()
    copied = [p for word, rest in steps if word == "COPY" for p in rest.split()[:-1]]
    assert copied, "the Dockerfile copies nothing"
    for path in copied:
        assert (ROOT / path).exists(), f"COPY {path}: no such file in the repository"
    extras = tomllib().loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (installed,) = [m for _, rest in steps for m in re.findall(r"'\.\[([\w,-]+)\]'", rest)]
    for extra in installed.split(","):
        assert extra in extras, f"the image installs modelxray[{extra}], which pyproject lacks"
    (entry,) = [json.loads(rest) for word, rest in steps if word == "ENTRYPOINT"]
    (exposed,) = [rest for word, rest in steps if word == "EXPOSE"]
    assert entry[entry.index("--port") + 1] == exposed


@pytest.fixture(params=["image", "compose"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Server, Path, str]]:
    """The service started as the image (alone, SQLite in its volume) or compose (with
    PostgreSQL) starts it, on a free loopback port instead of 0.0.0.0:8000."""
    data = tmp_path / "data"
    data.mkdir()
    environment = {**env(), **image_env(data)}
    environment.pop("MODELXRAY_ADMIN_KEY")
    (entry,) = [json.loads(rest) for word, rest in instructions() if word == "ENTRYPOINT"]
    argv = list(entry)
    pg = None
    if request.param == "compose":
        pytest.importorskip("pg8000", reason="pg8000 (the postgres extra) is not installed")
        pg = postgres_cluster(tmp_path / "pg")
        url = fresh_pg_db(pg.__enter__())
        service = compose_service()
        for name, value in dict(service["environment"]).items():  # type: ignore[call-overload]
            value = str(value)
            if value.startswith("postgresql://"):
                value = url  # compose's "postgres" host is this test's cluster
            elif value.startswith("${"):
                value = ADMIN  # compose requires it from the caller's environment
            environment[name] = value
        argv += list(service["command"])  # type: ignore[call-overload]
    else:
        environment["MODELXRAY_ADMIN_KEY"] = ADMIN  # docker run -e MODELXRAY_ADMIN_KEY=...
    server = Server(data, None)
    argv[argv.index("--host") + 1] = "127.0.0.1"
    argv[argv.index("--port") + 1] = str(server.port)
    assert argv[0] == "modelxray"  # the console script pip installs; run as its module here
    cmd = [sys.executable, "-m", "modelxray", *argv[1:]]
    with open(server.log, "ab") as log:
        server.proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=environment, cwd=data)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert server.proc.poll() is None, server.log.read_text()
            assert time.monotonic() < deadline, server.log.read_text()
            try:
                if server.call("GET", "/readyz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        yield server, data, request.param
    finally:
        server.stop()
        if pg is not None:
            pg.__exit__(None, None, None)


def test_the_image_runs_scans_and_passes_its_own_healthcheck(
    deployment: tuple[Server, Path, str],
) -> None:
    server, data, kind = deployment
    (check,) = [rest for word, rest in instructions() if word == "HEALTHCHECK"]
    command = shlex.split(check.split(" CMD ", 1)[1].split(" || ")[0])
    command = [a.replace(":8000/", f":{server.port}/") for a in command]
    assert command[0] == "python"
    ok = subprocess.run([sys.executable, *command[1:]], capture_output=True, timeout=60)
    assert ok.returncode == 0, ok.stderr

    marker = data / "marker"
    status, created = server.upload("model.pkl", evil_pickle(marker))
    assert status == 202, created
    scan = server.wait_done([created["id"]])[created["id"]]
    assert scan["verdict"] == "blocked", scan
    assert not marker.exists()
    # Where the history went: SQLite in the image's volume, or compose's PostgreSQL.
    assert (data / "modelxray.db").exists() == (kind == "image")
