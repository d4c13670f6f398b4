"""Session fixtures: corpora made by the real libraries, and the harmless-payload tripwire."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every harmless malicious sample's payload writes (or echoes into) a file matching this.
MARKER_GLOB = "/tmp/modelxray_marker*"


@pytest.fixture(scope="session", autouse=True)
def payload_tripwire() -> Iterator[None]:
    """Fails the run if any harmless payload ever executed during the tests."""
    for stale in glob.glob(MARKER_GLOB):
        os.remove(stale)
    yield
    ran = glob.glob(MARKER_GLOB)
    assert not ran, f"a sample's payload executed during the tests: {ran}"


@pytest.fixture(scope="session")
def keras_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.factories.keras_models import build_keras_corpus

    return dict(build_keras_corpus(tmp_path_factory.mktemp("keras")))


@pytest.fixture()
def assert_no_marker() -> Iterator[None]:
    yield
    assert not glob.glob(MARKER_GLOB)


def data_path(*parts: str) -> Path:
    return Path(__file__).parent.joinpath("data", *parts)


@pytest.fixture(scope="session")
def pickle_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    from tests.factories.pickle_models import build_pickle_corpus

    return dict(build_pickle_corpus(tmp_path_factory.mktemp("pickle")))
