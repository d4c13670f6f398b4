"""Start-up stays light: a scan imports only what the file in front of it needs (issue 8).

Each check runs the real command line in a fresh interpreter and looks at ``sys.modules``
afterwards; nothing here is timed.
"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelxray.formats  # noqa: F401 - registers the readers
from modelxray.artifact import HEAD_BYTES, Artifact
from modelxray.formats import base as formats_base
from modelxray.formats.base import LazyReader
from modelxray.model import Location

# Analysers and libraries a small pickle has no use for.
HEAVY = (
    "modelxray.analysis.bytecode",
    "modelxray.analysis._generated.opcodes_data",
    "modelxray.analysis.marshal_reader",
    "modelxray.analysis.lambda_code",
    "modelxray.analysis.keras_config",
    "modelxray.analysis.tf_graph",
    "modelxray.formats.tf.savedmodel",
    "modelxray.analysis.jinja_template",
    "modelxray.analysis.callables",
    "modelxray.containers.checks",
    "modelxray.containers.stream",
    "modelxray.convert",
    "modelxray.formats.hdf5_struct",  # the HDF5 reader imports it inside scan
    # Readers behind a signature check (LazyReader stand-ins).
    "modelxray.formats.gguf",
    "modelxray.formats.tflite",
    "modelxray.formats.mlflow",
    "modelxray.formats.msgpack_flax",
    "modelxray.formats.numpy_npy",
    "modelxray.formats.torch",
    "modelxray.formats.manifest",
    "modelxray.analysis._generated.popular_packages",
    "modelxray.containers.sevenzip",
    # Readers behind a first-byte lead (issue 15 §2) that a pickle's first byte never offers.
    "modelxray.formats.onnx",
    "modelxray.containers.compressed",
    # JSON analysers load with the first JSON document, and Python's AST judge with Python.
    "modelxray.formats.notebook",
    "modelxray.formats.skops",
    "modelxray.analysis.python_ast",
    "modelxray.isolate",
    # Standard-library modules a one-pickle scan has no use for (issue 15 §3): the opcode
    # table is literal data, logging is set up only for ``--verbose``.
    "pickletools",
    "logging",
    "modelxray.reports.cyclonedx",
    "cyclonedx",
    # Readers a pickle's head fails the cheap check of (every registry row has one), the rule
    # catalogue (families load with their readers), the policy's entry classes, the service's
    # configuration.
    "modelxray.containers.zip",
    "modelxray.containers.tar",
    "modelxray.formats.hdf5",
    "modelxray.formats.savedmodel",
    "modelxray.formats.python_source",
    "modelxray.formats.xgboost",
    "modelxray.formats.safetensors",
    "modelxray.formats.chat_template",
    "modelxray.formats.json_doc",
    "modelxray.rules.keras",
    "modelxray.rules.gguf",
    "pkgutil",
    "modelxray.policy.entries",
    "modelxray.serve.config",
    # Remote sources and their clients: only for a URI (issue 17).
    "modelxray.sources.remote",
    "modelxray.pull",
    "huggingface_hub",
    "boto3",
    "botocore",
    "fsspec",
    "urllib.request",
    # The service (issue 18): its libraries only for `modelxray serve` / `keys`.
    "modelxray.serve.app",
    "modelxray.serve.api",
    "modelxray.serve.db",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "alembic",
    "python_multipart",
    "h5py",
    "numpy",
    "jinja2",
    "torch",
    "keras",
    "onnx",
)

_PROBE = """
import json, sys
from modelxray.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["code"], set(out["modules"])


def test_small_pickle_scan_imports_nothing_heavy(tmp_path: Path) -> None:
    path = tmp_path / "small.pkl"
    path.write_bytes(pickle.dumps({"weights": [1.0, 2.0], "name": "small"}, protocol=4))
    code, modules = _modules_after("scan", "--no-policy", str(path))
    assert code == 0
    assert "modelxray.analysis.pickle.vm" in modules  # the pickle really was analysed
    assert sorted(m for m in HEAVY if m in modules) == []


def test_scan_without_the_cache_imports_neither_sqlite_nor_the_cache(tmp_path: Path) -> None:
    path = tmp_path / "small.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    code, modules = _modules_after("scan", "--no-policy", "--no-cache", str(path))
    assert code == 0 and "modelxray.analysis.pickle.vm" in modules
    assert sorted(m for m in ("modelxray.cache", "sqlite3") if m in modules) == []


def test_a_cached_verdict_loads_no_reader(tmp_path: Path) -> None:
    """The second scan of the same bytes is answered by the verdict cache: no reader loads."""
    path = tmp_path / "small.pkl"
    path.write_bytes(pickle.dumps({"cached": True}, protocol=4))
    cache = str(tmp_path / "verdicts.sqlite")
    assert _modules_after("scan", "--no-policy", "--cache", cache, str(path))[0] == 0
    code, modules = _modules_after("scan", "--no-policy", "--cache", cache, str(path))
    assert code == 0
    assert sorted(m for m in modules if m.startswith("modelxray.formats")) == []


def test_remote_scan_imports_only_its_own_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A URI loads the remote module and the client of its scheme, never another's."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # loopback, nothing listens
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, modules = _modules_after("scan", "--no-policy", "s3://no-such-bucket-x/")
    assert code == 1  # nothing reachable: an error finding, never a pass
    assert "modelxray.sources.remote" in modules
    assert not {"huggingface_hub", "fsspec"} & modules


def test_version_imports_no_reader(tmp_path: Path) -> None:
    code, modules = _modules_after("--version")
    assert code == 0
    loaded = sorted(m for m in modules if m.startswith(("modelxray.formats", "modelxray.engine")))
    assert loaded == []


def test_safetensors_scan_leaves_pickle_and_template_analysers_unloaded(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "w.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0\0\x80?")
    code, modules = _modules_after("scan", "--no-policy", str(path))
    assert code == 0
    assert "modelxray.formats.safetensors" in modules
    own = ("modelxray.formats.safetensors",)  # (the one reader this file needs)
    unloaded = ("modelxray.analysis.pickle", "modelxray.analysis.jinja_template", *HEAVY)
    unloaded = tuple(m for m in unloaded if m not in own)
    assert sorted(m for m in unloaded if m in modules) == []


class _Counting:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.opens = 0

    def __call__(self) -> io.BytesIO:
        self.opens += 1
        return io.BytesIO(self.data)


@pytest.mark.parametrize("size", [0, 5, 21, 22, 23, 500, HEAD_BYTES - 1, HEAD_BYTES, 9000])
@pytest.mark.parametrize("n", [1, 22, 48, 5000])
def test_tail_after_head_matches_the_content_and_reuses_the_cached_head(size: int, n: int) -> None:
    data = bytes(i * 7 % 251 for i in range(size))
    opener = _Counting(data)
    artifact = Artifact(Location("x"), size, opener, "x")
    assert artifact.head() == data[:HEAD_BYTES]
    assert artifact.tail(n) == data[max(0, size - n) :][:n]
    if size < HEAD_BYTES:
        assert opener.opens == 1  # the whole file came with the head


def test_tail_without_head_still_reads_the_end() -> None:
    data = bytes(range(256)) * 40
    artifact = Artifact(Location("x"), len(data), _Counting(data), "x")
    assert artifact.tail(22) == data[-22:]


def test_every_registry_row_has_a_cheap_check() -> None:
    """A row without ``magic`` or ``lead`` would load its module at start-up and sniff every
    file (CONTRIBUTING.md, "Adding a format")."""
    from modelxray.formats.registry import READERS

    assert [e.name for e in READERS if e.magic is None and e.lead is None] == []


# The stand-ins as first registered (a test that loads a module replaces its stand-in).
_STAND_INS = [r for r in formats_base._REGISTRY if isinstance(r, LazyReader)]


def test_each_stand_in_loads_the_reader_of_its_name() -> None:
    assert {r.name for r in _STAND_INS} >= {"gguf", "7z", "tflite", "numpy", "flax-msgpack"}
    for stand_in in _STAND_INS:
        real = stand_in.load()
        assert not isinstance(real, LazyReader)
        assert real.name == stand_in.name and stand_in.extensions == real.extensions
        assert real in formats_base._REGISTRY and stand_in not in formats_base._REGISTRY


_MAGICS = (b"GGUF", b"7z\xbc\xaf\x27\x1c", b"\0\0\0\0TFL3", b"\x93NUMPY", b"\x81\xa1a", b"\xde\0\1",
           b"flavors:\n", b"artifact_path: m\nflavors:\n  python_function:\n",
           b"channels:\n- x\ndependencies:\n- numpy\n", b"python: 3.10\ndependencies:\n- a\n",
           b"[build-system]\nrequires = []\n", b"numpy==1.0\nscipy==1.0\n",
           # Rows whose files have no fixed first byte: zip, HDF5, SafeTensors, Python, Jinja,
           # XGBoost / LightGBM, text SavedModel, a TensorFlow table footer.
           b"PK\x03\x04", b"PK\x05\x06", b"\x89HDF\r\n\x1a\n", b"\x08\0\0\0\0\0\0\0{}",
           b"\x10\0\0\0\0\0\0\0 {\"a\":{}}", b"import os\nos.system('x')\n",
           b"#!/usr/bin/env python\n", b"{{ x }}", b"{% if x %}", b"tree\nversion=v3\n",
           b"{U\x07learner", b"saved_model_schema_version: 1\n",
           bytes(40) + (0xDB4775248B80FB57).to_bytes(8, "little"))  # fmt: skip


@given(
    prefix=st.sampled_from((b"", *_MAGICS)),
    body=st.binary(max_size=64),
    cut=st.integers(0, 12),
    torchscript=st.booleans(),
)
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_a_stand_in_never_rejects_what_its_reader_would_claim(
    prefix: bytes, body: bytes, cut: int, torchscript: bool
) -> None:
    head = (prefix + body)[cut:] if cut < 4 else prefix[: len(prefix) - cut % 4] + body
    artifact = Artifact.from_bytes(head, Location("m/code/x.py"), "x.py")
    if torchscript:
        artifact.facts["container"] = "torchscript"
    for stand_in in _STAND_INS:
        if not stand_in.may_match(artifact, head):
            assert stand_in.load().sniff(artifact, head) == 0, stand_in.name


def test_hdf5_scan_imports_neither_h5py_nor_numpy(tmp_path: Path) -> None:
    """HDF5 is read by the pure-Python structure reader: no libhdf5, no numpy."""
    import h5py

    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("layers/dense/vars/0", data=[1.0, 2.0])
        f.attrs["keras_version"] = "3.10.0"
    code, modules = _modules_after("scan", "--no-policy", str(path))
    assert code == 0
    assert "modelxray.formats.hdf5_struct" in modules
    assert sorted(m for m in ("h5py", "numpy") if m in modules) == []


@pytest.mark.parametrize("size", [HEAD_BYTES + 1, 9000, 70_000])
def test_the_end_of_a_large_file_is_read_once_for_every_small_tail(size: int) -> None:
    """Sniffers that look at the end (a zip's end record, a TensorFlow table footer) share one
    read of it; a larger tail is read again, and every answer matches the content."""
    data = bytes(i * 13 % 251 for i in range(size))
    opener = _Counting(data)
    artifact = Artifact(Location("x"), size, opener, "x")
    artifact.head()
    for n in (22, 8, 48, 64, 0, 1):
        assert artifact.tail(n) == (data[-n:] if n else b"")
    assert opener.opens == 2  # the head, then the end once
    assert artifact.tail(500) == data[-500:] and opener.opens == 3
    assert artifact.tail(64) == data[-64:] and opener.opens == 3


@pytest.mark.parametrize("actual", [10, 5000, 20_000])
def test_a_tail_of_a_member_whose_declared_size_lies_reads_as_asked(actual: int) -> None:
    data = bytes(i * 7 % 251 for i in range(actual))
    declared = 10_000
    artifact = Artifact(Location("x"), declared, _Counting(data), "x")
    for n in (22, 8, 100):
        start = max(0, declared - n)
        assert artifact.tail(n) == data[start : start + n]


def test_read_of_a_small_file_is_served_by_the_head_that_reached_its_end() -> None:
    from modelxray.budget import BudgetExceeded

    data = b"numpy==1.0\nscipy==1.0\n"
    opener = _Counting(data)
    artifact = Artifact(Location("x"), len(data), opener, "x")
    assert artifact.head() == data and opener.opens == 1
    assert artifact.read(1 << 20) == data and opener.opens == 1
    with pytest.raises(BudgetExceeded):
        artifact.read(5)
    big = bytes(HEAD_BYTES + 10)  # a head that did not reach the end: read again
    opener = _Counting(big)
    artifact = Artifact(Location("y"), len(big), opener, "y")
    artifact.head()
    assert artifact.read(1 << 20) == big and opener.opens == 2


@pytest.mark.parametrize("offset", [0, 512, 2048, 4096, 65536, 1 << 19])
def test_the_hdf5_row_finds_a_signature_after_any_user_block(offset: int) -> None:
    """The HDF5 row's check probes the user-block offsets the sniffer probes, beyond the head
    through one open stream, and agrees with the sniffer."""
    from modelxray.formats.registry import BY_NAME, HDF5_SIGNATURE

    data = bytearray(offset + 2048)
    data[offset : offset + 8] = HDF5_SIGNATURE
    magic = BY_NAME["hdf5"].magic
    assert magic is not None
    for content, expected in ((bytes(data), True), (bytes(len(data)), False)):
        opener = _Counting(content)
        artifact = Artifact(Location("w.h5"), len(content), opener, "w.h5")
        head = artifact.head()
        assert magic(artifact, head) is expected
        assert opener.opens <= 2  # the head, and one stream for every probe beyond it
        hdf5 = next(r for r in formats_base.readers() if r.name == "hdf5")
        real = hdf5.load() if isinstance(hdf5, LazyReader) else hdf5
        assert (real.sniff(artifact, head) > 0) is expected
