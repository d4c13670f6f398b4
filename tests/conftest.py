"""Session fixtures: corpora made by the real libraries, and the harmless-payload tripwire."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The CLI's verdict cache (``modelxray.cache``) is off in tests unless a test names one: a
# test's monkeypatched reader must never be answered from another test's judgement.
os.environ["MODELXRAY_CACHE"] = "off"

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


@pytest.fixture(scope="session")
def cve_h5(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The Keras CVE corpus (``.keras`` / ``.h5`` files edited into each advisory's shape)."""
    from tests.factories.keras_cves import build_cve_corpus
    from tests.factories.keras_models import quiet_keras

    with quiet_keras():
        return build_cve_corpus(tmp_path_factory.mktemp("keras_h5"))


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
