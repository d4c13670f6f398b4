"""The guard under attack: policy provenance, scanned bytes are loaded bytes, coverage.

Malicious samples carry a harmless payload (``echo`` into a marker file); every test asserts
the marker never appears.  Nothing malicious is ever loaded without the guard in front.
"""

from __future__ import annotations

import glob
import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelxray import guard
from modelxray.guard import ModelBlockedError
from modelxray.policy import PolicyError, load_policy
from tests import pickle_samples

MARKER_GLOB = "/tmp/modelxray_marker_gattack_*"


def marker(tag: str) -> str:
    return f"/tmp/modelxray_marker_gattack_{tag}"


class Payload(pickle_samples.Payload):
    prefix = "/tmp/modelxray_marker_gattack_"


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    # No user/site configuration of the machine running the tests leaks in.
    monkeypatch.delenv("MODELXRAY_POLICY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-home"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg-site"))
    for old in glob.glob(MARKER_GLOB):
        os.unlink(old)
    yield
    guard.uninstall()
    assert not glob.glob(MARKER_GLOB), "a payload ran"


def _bad(tag: str) -> bytes:
    return pickle.dumps(Payload(tag))


# ------------------------------------------------------------------------ policy provenance


def _loosening_repo(root: Path) -> Path:
    repo = root / "evil-model"
    repo.mkdir()
    (repo / "model.pkl").write_bytes(_bad("repo"))
    (repo / "modelxray.toml").write_text("report_only = true\n")
    (repo / "pyproject.toml").write_text('[tool.modelxray]\nfail_on = "none"\n')
    return repo


def test_guard_ignores_policy_in_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _loosening_repo(tmp_path)
    monkeypatch.chdir(repo)  # the user runs code inside the clone
    with pytest.raises(ModelBlockedError):
        with open("model.pkl", "rb") as f:
            guard.pickle_load(f)
    guard.install()
    with pytest.raises(ModelBlockedError):
        pickle.loads((repo / "model.pkl").read_bytes())


def test_guard_policy_from_explicit_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _bad("cfg")
    user = tmp_path / "xdg-home" / "modelxray"
    user.mkdir(parents=True)
    (user / "policy.toml").write_text("report_only = true\n")
    # The user's own configuration may loosen the guard (their decision, not the model's).
    report = guard.check_bytes(bad, "x.pkl")
    assert report.gate is not None and report.gate.source == str(user / "policy.toml")
    strict = tmp_path / "strict.toml"
    strict.write_text('fail_on = "medium"\n')
    monkeypatch.setenv("MODELXRAY_POLICY", str(strict))
    with pytest.raises(ModelBlockedError) as exc:
        guard.check_bytes(bad, "x.pkl")
    assert exc.value.report.gate is not None
    assert exc.value.report.gate.source == str(strict)
    monkeypatch.setenv("MODELXRAY_POLICY", str(tmp_path / "typo.toml"))
    with pytest.raises(PolicyError):
        guard.check_bytes(bad, "x.pkl")


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``modelxray ARGS`` run from ``cwd`` in a child process (the CLI's own policy lookup)."""
    return subprocess.run(
        [sys.executable, "-m", "modelxray", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_ignores_and_reports_policy_inside_scanned_folder(tmp_path: Path) -> None:
    repo = _loosening_repo(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / ".git").mkdir()
    out = work / "r.json"
    proc = _cli(work, "scan", "--format", "json", "-o", str(out), str(repo))
    assert proc.returncode == 1, proc.stderr
    data = json.loads(out.read_text())
    assert data["policy"]["source"] is None
    assert len(data["policy"]["fingerprint"]) == 64
    by_path = {Path(f["path"]).name: f for f in data["files"]}
    assert by_path["model.pkl"]["verdict"] == "blocked"
    for name in ("modelxray.toml", "pyproject.toml"):
        ids = {(f["rule_id"], f["severity"]) for f in by_path[name]["findings"]}
        assert ("MX-REPO-106", "high") in ids, (name, ids)


def test_cli_policy_discovery_walks_up_to_project_root(tmp_path: Path) -> None:
    project = tmp_path / "project"
    sub = project / "models" / "deep"
    sub.mkdir(parents=True)
    (project / ".git").mkdir()
    (project / "modelxray.toml").write_text('fail_on = "critical"\n')
    (sub / "m.pkl").write_bytes(pickle.dumps({"a": 1}))
    proc = _cli(sub, "scan", "--format", "json", "m.pkl")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["policy"]["source"] == str(project / "modelxray.toml")
    assert data["fail_on"] == "critical"
    # Above the project root nothing is looked for.
    outer = tmp_path / "modelxray.toml"
    outer.write_text("report_only = true\n")
    (project / "modelxray.toml").unlink()
    proc = _cli(sub, "scan", "--format", "json", "m.pkl")
    assert json.loads(proc.stdout)["policy"]["source"] is None


def test_policy_in_effect_is_not_reported_as_embedded(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "modelxray.toml").write_text('fail_on = "high"\n')
    (tmp_path / "m.pkl").write_bytes(pickle.dumps([1, 2]))
    proc = _cli(tmp_path, "scan", "--format", "json", ".")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [f["rule_id"] for r in json.loads(proc.stdout)["files"] for f in r["findings"]]
    assert "MX-REPO-106" not in ids


def test_fingerprint_follows_what_the_policy_decides(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    b = tmp_path / "b.toml"
    a.write_text('fail_on = "high"\n')
    b.write_text('# same decisions, other bytes\nfail_on = "high"\n')
    assert load_policy(str(a)).fingerprint == load_policy(str(b)).fingerprint
    b.write_text('fail_on = "medium"\n')
    assert load_policy(str(a)).fingerprint != load_policy(str(b)).fingerprint


# ------------------------------------------------------------------- scanned bytes are loaded


def _swap_after_scan(monkeypatch: pytest.MonkeyPatch, path: Path, evil: bytes) -> None:
    """Rewrite ``path`` right after the guard's scan returns: the fixed point of a TOCTOU race."""
    import modelxray.engine as engine

    for name in ("scan", "scan_bytes"):
        real = getattr(engine, name)

        def swapped(*args: Any, _real: Any = real, **kw: Any) -> Any:
            out = _real(*args, **kw)
            path.write_bytes(evil)
            return out

        monkeypatch.setattr(engine, name, swapped)


def test_file_rewritten_after_scan_is_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = pickle.dumps({"ok": True})
    target = tmp_path / "m.pkl"
    target.write_bytes(good)
    _swap_after_scan(monkeypatch, target, _bad("swap1"))
    guard.install()
    with open(target, "rb") as f:
        assert pickle.Unpickler(f).load() == {"ok": True}
    target.write_bytes(good)
    with open(target, "rb") as f:
        assert pickle.load(f) == {"ok": True}


def test_npz_rewritten_after_scan_with_mmap_is_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good, evil = tmp_path / "good.npz", tmp_path / "evil.npz"
    np.savez(good, a=np.arange(3))
    np.savez(evil, a=np.array([Payload("npz")], dtype=object))
    _swap_after_scan(monkeypatch, good, evil.read_bytes())
    loaded = guard.numpy_load(str(good), mmap_mode="r", allow_pickle=True)
    assert loaded["a"].tolist() == [0, 1, 2]


def test_keras_path_rewritten_after_scan_is_not_loaded(
    keras_corpus: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = next(
        s
        for s in keras_corpus.values()
        if s.expect == "clean" and s.kind == "keras3-zip" and s.reloadable
    )
    bad = next(
        s for s in keras_corpus.values() if s.expect == "malicious" and s.kind == "keras3-zip"
    )
    target = tmp_path / "model.keras"
    target.write_bytes(Path(good.path).read_bytes())
    _swap_after_scan(monkeypatch, target, Path(bad.path).read_bytes())
    assert guard.keras_load_model(str(target)) is not None
    assert target.read_bytes() == Path(bad.path).read_bytes()  # the swap did happen


# ------------------------------------------------------------------------------ coverage


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    d = tmp_path_factory.mktemp("gtorch")

    class Small(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x):  # an unannotated argument is a Tensor to TorchScript
            if x.shape[0] > 100:
                raise ValueError("too many rows")
            return self.lin(x)

    out = {"script": d / "scripted.pt", "zip": d / "sd.pt", "legacy": d / "legacy.pt"}
    torch.jit.save(torch.jit.script(Small()), str(out["script"]))
    torch.save({"w": torch.arange(4.0)}, out["zip"])
    torch.save(
        {"w": torch.arange(4.0), "n": 3}, out["legacy"], _use_new_zipfile_serialization=False
    )
    return out


def test_torch_jit_load_blocked_by_default(torch_files: dict[str, Path], tmp_path: Path) -> None:
    import torch

    guard.install()
    with pytest.raises(ModelBlockedError) as exc:
        torch.jit.load(str(torch_files["script"]))
    assert any(f.rule_id == "MX-TORCH-001" for f in exc.value.report.findings)
    with pytest.raises(ModelBlockedError):
        torch.load(str(torch_files["script"]), weights_only=False)
    with pytest.raises(ModelBlockedError):
        guard.torch_load(str(torch_files["script"]), weights_only=False)
    guard.uninstall()
    allow = tmp_path / "allow-ts.toml"
    allow.write_text('[rules."MX-TORCH-001"]\nstate = "warn"\n')
    guard.install(load_policy(str(allow)))
    module = torch.jit.load(str(torch_files["script"]))
    assert module(torch.ones(1, 2)).shape == (1, 2)


def test_stacked_pickles_and_legacy_torch_load_under_install(
    torch_files: dict[str, Path], tmp_path: Path
) -> None:
    import torch

    stacked = tmp_path / "stacked.pkl"
    with open(stacked, "wb") as f:
        pickle.dump({"first": 1}, f)
        pickle.dump([2, 3], f, protocol=5)
        f.write(b"trailing raw bytes the caller reads itself")
    expected_legacy = torch.load(torch_files["legacy"], weights_only=False)
    guard.install()
    with open(stacked, "rb") as f:
        assert pickle.load(f) == {"first": 1}
        assert pickle.load(f) == [2, 3]
        assert f.read() == b"trailing raw bytes the caller reads itself"
    with open(stacked, "rb") as f:
        u = pickle.Unpickler(f)
        assert u.load() == {"first": 1}
        assert u.load() == [2, 3]
    loaded = torch.load(torch_files["legacy"], weights_only=False)
    assert loaded["n"] == 3 and torch.equal(loaded["w"], expected_legacy["w"])
    with open(torch_files["legacy"], "rb") as f:  # the legacy reader seeks within the file
        assert torch.equal(torch.load(f, weights_only=False)["w"], expected_legacy["w"])


def test_stacked_pickle_payload_in_second_pickle_is_blocked(tmp_path: Path) -> None:
    stacked = tmp_path / "stacked.pkl"
    with open(stacked, "wb") as f:
        pickle.dump({"first": 1}, f)
        f.write(_bad("second"))
    guard.install()
    with open(stacked, "rb") as f:
        assert pickle.load(f) == {"first": 1}
        with pytest.raises(ModelBlockedError):
            pickle.load(f)


def test_torch_load_mmap(torch_files: dict[str, Path]) -> None:
    import torch

    sd = guard.torch_load(str(torch_files["zip"]), mmap=True, weights_only=True)
    assert torch.equal(sd["w"], torch.arange(4.0))
    guard.install()
    sd = torch.load(str(torch_files["zip"]), mmap=True, weights_only=True)
    assert torch.equal(sd["w"], torch.arange(4.0))


def test_pandas_dataframes_load_under_guard(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "i": [1, 2, 3],
            "f": [0.5, 1.5, np.nan],
            "s": pd.array(["a", None, "c"], dtype="string"),
            "c": pd.Categorical(["x", "y", "x"]),
            "t": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        }
    )
    path = tmp_path / "df.pkl"
    df.to_pickle(path)
    guard.install()
    back = pd.read_pickle(path)
    pd.testing.assert_frame_equal(back, df)
    for fixture in sorted(Path(__file__).parent.glob("data/pandas/*.pkl")):
        with open(fixture, "rb") as f:
            frame = guard.pickle_load(f)
        assert list(frame.columns), fixture  # written by pandas 2 (see data/pandas/make.py)


def test_dill_cloudpickle_shelve_are_guarded(tmp_path: Path) -> None:
    dill = pytest.importorskip("dill")
    cloudpickle = pytest.importorskip("cloudpickle")
    import shelve

    bad = _bad("libs")
    guard.install()
    for loads in (dill.loads, cloudpickle.loads):
        with pytest.raises(ModelBlockedError):
            loads(bad)
    with pytest.raises(ModelBlockedError):
        dill.load(io.BytesIO(bad))
    assert dill.loads(dill.dumps({"k": [1]})) == {"k": [1]}
    assert cloudpickle.loads(cloudpickle.dumps({"k": [1]})) == {"k": [1]}
    guard.uninstall()
    db = str(tmp_path / "shelf")
    with shelve.open(db) as sh:
        sh["good"] = {"k": 1}
        sh["bad"] = Payload("shelve")
    guard.install()
    with shelve.open(db) as sh:
        assert sh["good"] == {"k": 1}
        with pytest.raises(ModelBlockedError):
            sh["bad"]


REFS_SCRIPT = textwrap.dedent(
    """
    import importlib, io, pickle, sys, warnings
    from pickle import loads as early_loads

    class EarlyUnpickler(pickle.Unpickler):
        pass

    import modelxray.guard as guard
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guard.install()
    bad = open(sys.argv[1], "rb").read()
    print("warned", any("EarlyUnpickler" in str(w.message) for w in caught))
    print("listed", any("EarlyUnpickler" in r for r in guard.unguarded_references()))
    try:
        early_loads(bad)
        print("early_loads ran")
    except guard.ModelBlockedError:
        print("early_loads blocked")
    importlib.reload(pickle)
    try:
        pickle.loads(bad)
        print("reloaded ran")
    except guard.ModelBlockedError:
        print("reloaded blocked")
    """
)


def test_references_taken_before_install(tmp_path: Path) -> None:
    script = tmp_path / "victim.py"
    script.write_text(REFS_SCRIPT)
    sample = tmp_path / "bad.pkl"
    sample.write_bytes(_bad("refs"))
    proc = subprocess.run(
        [sys.executable, str(script), str(sample)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "none")},
    )
    assert proc.stdout.split("\n")[:4] == [
        "warned True",
        "listed True",
        "early_loads blocked",
        "reloaded blocked",
    ], proc.stdout + proc.stderr
