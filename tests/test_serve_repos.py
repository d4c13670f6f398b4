"""Per-repository history on the service's pages: every scan of one hub repository (or
bucket), whatever revision or path it named, newest first; names shown escaped."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("sqlalchemy")

from fastapi.testclient import TestClient  # noqa: E402

from modelxray.serve.app import create_app  # noqa: E402
from modelxray.serve.config import ServeConfig  # noqa: E402
from modelxray.serve.models import Scan  # noqa: E402
from modelxray.serve.pages import repo_of  # noqa: E402


def test_repo_of_names_the_repository_not_the_revision_or_path() -> None:
    assert repo_of("hf://org/name@v1/sub/model.pt") == "hf://org/name"
    assert repo_of("hf://datasets/org/data") == "hf://datasets/org/data"
    assert repo_of("s3://bucket/prefix/x.pkl") == "s3://bucket"
    assert repo_of("hf://org") is None and repo_of("model.pkl") is None


def test_dashboard_lists_repositories_and_each_has_its_history(tmp_path: Path) -> None:
    app = create_app(ServeConfig(data_dir=str(tmp_path), open_pages=True), start_workers=False)
    now = dt.datetime.now(dt.timezone.utc)
    rows = [
        ("hf://org/name@v1", "allowed", 3),
        ("hf://org/name@v2/sub", "blocked", 2),
        ("hf://org/name-2", "allowed", 1),
        ("hf://org/<b>evil</b>", "blocked", 0),
    ]
    with TestClient(app) as client:
        with app.state.sessions() as session:
            for name, verdict, age in rows:
                session.add(
                    Scan(
                        id=str(uuid.uuid4()),
                        status="done",
                        kind="uri",
                        name=name,
                        target=name,
                        verdict=verdict,
                        created_at=now - dt.timedelta(hours=age),
                    )  # fmt: skip
                )
            session.commit()
        page = client.get("/").text
        assert "hf://org/name</a>" in page and "hf://org/name-2</a>" in page
        assert "<b>evil</b>" not in page and "&lt;b&gt;evil&lt;/b&gt;" in page
        history = client.get("/repos", params={"name": "hf://org/name@main/x.pt"})
        assert history.status_code == 200
        text = history.text
        assert text.index("hf://org/name@v2/sub") < text.index("hf://org/name@v1")  # newest first
        assert "name-2" not in text  # a prefix of another repository's name is not its history
        assert client.get("/repos", params={"name": "model.pkl"}).status_code == 404


def test_a_huge_offset_is_a_validation_error_not_a_server_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found by schemathesis: ``offset`` past a database integer was a 500."""
    monkeypatch.setenv("MODELXRAY_ADMIN_KEY", "k" * 40)
    app = create_app(ServeConfig(data_dir=str(tmp_path)), start_workers=False)
    with TestClient(app) as client:
        auth = {"Authorization": "Bearer " + "k" * 40}
        huge = client.get("/v1/scans", params={"offset": 10**29}, headers=auth)
        assert huge.status_code == 422
        assert client.get("/v1/scans", params={"offset": 5}, headers=auth).status_code == 200


def test_metrics_need_a_read_key_unless_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelxray.serve.auth import create_key

    monkeypatch.setenv("MODELXRAY_ADMIN_KEY", "k" * 40)
    app = create_app(ServeConfig(data_dir=str(tmp_path / "a")), start_workers=False)
    with TestClient(app) as client:
        with app.state.sessions() as session:
            read = create_key(session, "read", "prometheus")
        assert client.get("/metrics").status_code == 401
        assert (
            client.get("/metrics", headers={"Authorization": "Bearer mxk_nope"}).status_code == 401
        )
        answer = client.get("/metrics", headers={"Authorization": f"Bearer {read}"})
        assert answer.status_code == 200 and "modelxray_queue_depth 0" in answer.text
    opened = create_app(
        ServeConfig(data_dir=str(tmp_path / "b"), open_metrics=True), start_workers=False
    )
    with TestClient(opened) as client:
        answer = client.get("/metrics")
        assert answer.status_code == 200 and "modelxray_queue_depth 0" in answer.text
