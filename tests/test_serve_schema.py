"""schemathesis against the service's OpenAPI document (issue 18): generated requests to every
documented operation, each answer checked against the document (status codes, content types,
response schemas) and for server errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")
schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402

from tests.serve_support import ADMIN, Server  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("schema") / "data", None, "--max-upload-bytes", "4096")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api_schema(served: Server) -> object:
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case: object) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})  # type: ignore[attr-defined]
