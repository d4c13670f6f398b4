"""Guarded loading: every wrapper and every patched loader blocks a harmless-malicious sample
before the real loader runs (the marker file never appears) and loads a clean one."""

from __future__ import annotations

import glob
import io
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelxray import guard
from modelxray.guard import ModelBlockedError
from modelxray.policy import Policy
from tests import pickle_samples


def marker(tag: str) -> str:
    return f"/tmp/modelxray_marker_guard_{tag}"


class Payload(pickle_samples.Payload):
    prefix = "/tmp/modelxray_marker_guard_"


@pytest.fixture(autouse=True)
def _no_marker_and_unhooked() -> Any:
    yield
    guard.uninstall()
    assert not glob.glob("/tmp/modelxray_marker_guard_*")


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    joblib = pytest.importorskip("joblib")
    d = tmp_path_factory.mktemp("guard")
    out = {
        "pkl_bad": d / "bad.pkl",
        "pkl_good": d / "good.pkl",
        "pt_bad": d / "bad.pt",
        "pt_good": d / "good.pt",
        "joblib_bad": d / "bad.joblib",
        "joblib_good": d / "good.joblib",
        "npy_bad": d / "bad.npy",
        "npy_good": d / "good.npy",
    }
    out["pkl_bad"].write_bytes(pickle.dumps(Payload("pkl")))
    out["pkl_good"].write_bytes(pickle.dumps({"a": [1, 2, 3]}))
    torch.save({"w": torch.ones(2), "x": Payload("pt")}, out["pt_bad"])
    torch.save({"w": torch.ones(2)}, out["pt_good"])
    joblib.dump({"m": Payload("joblib")}, out["joblib_bad"])
    joblib.dump({"m": np.arange(3)}, out["joblib_good"])
    np.save(out["npy_bad"], np.array([Payload("npy")], dtype=object), allow_pickle=True)
    np.save(out["npy_good"], np.arange(5, dtype=np.float32))
    return out


POLICY = Policy()


def test_pickle_wrappers(samples: dict[str, Path]) -> None:
    with pytest.raises(ModelBlockedError) as exc:
        with open(samples["pkl_bad"], "rb") as f:
            guard.pickle_load(f, policy=POLICY)
    assert any(f.severity >= 4 for f in exc.value.report.findings)
    with pytest.raises(ModelBlockedError):
        guard.pickle_loads(samples["pkl_bad"].read_bytes(), policy=POLICY)
    with open(samples["pkl_good"], "rb") as f:
        assert guard.pickle_load(f, policy=POLICY) == {"a": [1, 2, 3]}
    assert guard.pickle_loads(samples["pkl_good"].read_bytes()) == {"a": [1, 2, 3]}


def test_torch_wrapper(samples: dict[str, Path]) -> None:
    with pytest.raises(ModelBlockedError):
        guard.torch_load(samples["pt_bad"], weights_only=False, policy=POLICY)
    sd = guard.torch_load(str(samples["pt_good"]), policy=POLICY)
    assert list(sd) == ["w"]


def test_joblib_wrapper(samples: dict[str, Path]) -> None:
    with pytest.raises(ModelBlockedError):
        guard.joblib_load(samples["joblib_bad"], policy=POLICY)
    assert list(guard.joblib_load(samples["joblib_good"], policy=POLICY)["m"]) == [0, 1, 2]


def test_numpy_wrapper(samples: dict[str, Path]) -> None:
    with pytest.raises(ModelBlockedError):
        guard.numpy_load(samples["npy_bad"], allow_pickle=True, policy=POLICY)
    assert guard.numpy_load(samples["npy_good"], policy=POLICY).tolist() == [0, 1, 2, 3, 4]
    mm = guard.numpy_load(str(samples["npy_good"]), mmap_mode="r", policy=POLICY)
    assert mm.shape == (5,)


def test_keras_wrapper(keras_corpus: dict[str, Any]) -> None:
    bad = [s for s in keras_corpus.values() if s.expect == "malicious" and s.kind == "keras3-zip"]
    good = next(
        s
        for s in keras_corpus.values()
        if s.expect == "clean" and s.kind == "keras3-zip" and s.reloadable
    )
    for s in bad[:3]:
        with pytest.raises(ModelBlockedError):
            guard.keras_load_model(s.path, policy=POLICY)
    model = guard.keras_load_model(good.path, policy=POLICY)
    assert model is not None


def test_unrecognised_content_fails_closed(tmp_path: Path) -> None:
    f = tmp_path / "mystery.bin"
    f.write_bytes(os.urandom(64))
    with pytest.raises(ModelBlockedError):
        guard.check_path(f, POLICY)
    assert guard.check_path(f, Policy(report_only=True)).files[0].status == "unsupported"


def test_install_patches_every_loader(samples: dict[str, Path]) -> None:
    import _pickle

    import joblib
    import torch

    bad = samples["pkl_bad"].read_bytes()
    guard.install(POLICY)
    assert guard.installed()
    for loads in (pickle.loads, pickle._loads, _pickle.loads):
        with pytest.raises(ModelBlockedError):
            loads(bad)
    for load in (pickle.load, pickle._load, _pickle.load):
        with pytest.raises(ModelBlockedError):
            load(io.BytesIO(bad))
    for cls in (pickle.Unpickler, pickle._Unpickler, _pickle.Unpickler):
        with pytest.raises(ModelBlockedError):
            cls(io.BytesIO(bad)).load()
    with pytest.raises(ModelBlockedError):
        torch.load(samples["pt_bad"], weights_only=False)
    with pytest.raises(ModelBlockedError):
        joblib.load(samples["joblib_bad"])
    with pytest.raises(ModelBlockedError):
        np.load(samples["npy_bad"], allow_pickle=True)
    # clean files still load through the patched loaders
    assert pickle.loads(samples["pkl_good"].read_bytes()) == {"a": [1, 2, 3]}
    assert pickle.Unpickler(io.BytesIO(samples["pkl_good"].read_bytes())).load()["a"] == [1, 2, 3]
    assert list(torch.load(samples["pt_good"])) == ["w"]
    assert list(joblib.load(samples["joblib_good"])["m"]) == [0, 1, 2]
    assert np.load(samples["npy_good"]).shape == (5,)
    guard.uninstall()
    assert not guard.installed()
    assert pickle.loads is _pickle.loads and torch.load is torch.serialization.load


def test_install_keras(keras_corpus: dict[str, Any]) -> None:
    from tests.factories.keras_models import import_keras

    keras = import_keras()
    bad = next(
        s for s in keras_corpus.values() if s.expect == "malicious" and s.kind == "keras3-zip"
    )
    guard.install(POLICY)
    with pytest.raises(ModelBlockedError):
        keras.saving.load_model(bad.path)
    with pytest.raises(ModelBlockedError):
        keras.models.load_model(bad.path)


SCRIPT = """
import pickle, sys
try:
    pickle.loads(open(sys.argv[1], "rb").read())
except Exception as e:
    print(type(e).__name__)
import joblib  # imported after install: patched on import
try:
    joblib.load(sys.argv[2])
except Exception as e:
    print(type(e).__name__)
"""


def test_whole_process_runner(samples: dict[str, Path], tmp_path: Path) -> None:
    script = tmp_path / "victim.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "modelxray.guard",
            str(script),
            str(samples["pkl_bad"]),
            str(samples["joblib_bad"]),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.stdout.split() == ["ModelBlockedError", "ModelBlockedError"], proc.stderr


def test_install_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(guard.ENV_VAR, raising=False)
    assert guard.install_from_env() is False
    monkeypatch.setenv(guard.ENV_VAR, "1")
    assert guard.install_from_env() is True
    assert guard.installed()
