"""Conversion to SafeTensors: round trips with the real libraries, refusal, verification.

Torch checkpoints are written by ``torch.save`` (zip and legacy layouts) and converted in a
subprocess where ``import torch`` is blocked, then loaded back with ``safetensors`` and
compared with the original tensors.  Nothing malicious is ever loaded: the refusal samples'
payloads would write ``/tmp/modelxray_marker_convert_*`` and the session tripwire checks
they never do.
"""

from __future__ import annotations

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

from tests import pickle_samples

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
safetensors_numpy = pytest.importorskip("safetensors.numpy")

from modelxray.convert import ConvertError, ConvertRefused, convert  # noqa: E402
from modelxray.convert import extract as extract_source  # noqa: E402
from modelxray.convert.safetensors_writer import read_file_header  # noqa: E402
from modelxray.convert.verify import verify  # noqa: E402
from tests.tensors import flat_tensors, raw_bytes  # noqa: E402

DTYPES = [
    torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64, torch.uint16,
    torch.uint32, torch.uint64, torch.float8_e4m3fn, torch.float8_e5m2,
]  # fmt: skip


class Payload(pickle_samples.Payload):
    prefix = "/tmp/modelxray_marker_convert_"


def _tensor(dtype: Any, shape: tuple[int, ...], seed: int) -> Any:
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    if dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=dtype)
    if dtype.is_floating_point:
        return torch.randn(shape, generator=g).to(dtype)
    return torch.randint(0, 100, shape, generator=g).to(dtype)


def _checkpoint() -> dict[str, Any]:
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
    return {
        "dtypes": {str(dt).split(".")[-1]: _tensor(dt, (3, 5), i) for i, dt in enumerate(DTYPES)},
        "views": {
            "base": base,
            "row": base[2],  # storage_offset != 0, shares base's storage
            "transposed": base.t(),  # non-contiguous
            "strided": base[::2, 1::3],  # non-contiguous view with an offset
            "expanded": torch.tensor([1.0, 2.0]).expand(3, 2),  # stride 0
            "scalar": torch.tensor(3.5),
            "empty": torch.zeros(0, 4),
        },
        "model": model.state_dict(),  # an OrderedDict
        "param": torch.nn.Parameter(torch.ones(2, 2)),
        "epoch": 7,
        "lr": 0.125,
        "name": "run-1",
        "flags": [True, None],
    }


BLOCK_TORCH = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ImportError("torch is blocked in this process")
            return None

    sys.meta_path.insert(0, BlockTorch())
    from modelxray.convert import convert
    r = convert(sys.argv[1], sys.argv[2], verify=True)
    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules)
    print(json.dumps(r.to_dict()))
    """
)


def _convert_without_torch(src: Path, dst: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, str(src), str(dst)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("torch_ckpt")
    ckpt = _checkpoint()
    zip_path, legacy_path = d / "ckpt.pt", d / "ckpt_legacy.pt"
    torch.save(ckpt, zip_path)
    # torch cannot load back the dtypes without a typed storage (uint16...) from a legacy file
    v3 = {"uint16", "uint32", "uint64", "float8_e4m3fn", "float8_e5m2"}
    ckpt["dtypes"] = {k: v for k, v in ckpt["dtypes"].items() if k not in v3}
    torch.save(ckpt, legacy_path, _use_new_zipfile_serialization=False)
    return {"zip": zip_path, "legacy": legacy_path}


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_torch_round_trip_without_torch(
    torch_files: dict[str, Path], tmp_path: Path, layout: str
) -> None:
    src = torch_files[layout]
    dst = tmp_path / "out.safetensors"
    result = _convert_without_torch(src, dst)
    assert result["verified"] is True
    assert result["format"] == f"pytorch-{layout}"

    original = flat_tensors(torch.load(src, weights_only=True))
    loaded = safetensors_torch.load_file(str(dst))
    # complex64 converts; every dtype listed is in the output with identical values
    assert set(loaded) == set(original)
    for name, want in original.items():
        got = loaded[name]
        assert got.dtype == want.dtype, name
        assert got.shape == want.shape, name
        assert raw_bytes(got) == raw_bytes(want), name
    assert result["metadata"] == {"epoch": "7", "lr": "0.125", "name": "run-1", "flags.0": "true",
                                  "format": "pt"}  # fmt: skip
    assert {d["name"] for d in result["dropped"]} == {"flags.1"}
    assert "model.0.weight" in loaded and "views.row" in loaded and "param" in loaded


def test_torch_views_share_values(torch_files: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "v.safetensors"
    convert(torch_files["zip"], dst)
    t = safetensors_torch.load_file(str(dst))
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    assert torch.equal(t["views.row"], base[2])
    assert torch.equal(t["views.transposed"], base.t().contiguous())
    assert torch.equal(t["views.strided"], base[::2, 1::3].contiguous())
    assert torch.equal(t["views.expanded"], torch.tensor([[1.0, 2.0]] * 3))


def test_complex128_is_dropped_with_reason(tmp_path: Path) -> None:
    src = tmp_path / "c.pt"
    torch.save({"ok": torch.ones(2), "c128": torch.ones(2, dtype=torch.complex128)}, src)
    r = convert(src, tmp_path / "c.safetensors", verify=True)
    assert r.tensors == ["ok"]
    assert r.dropped and r.dropped[0][0] == "c128" and "SafeTensors" in r.dropped[0][1]


def test_numpy_round_trip(tmp_path: Path) -> None:
    arrays = {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f64be": np.arange(6, dtype=">f8").reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
        "flags": np.array([True, False, True]),
        "i8": np.array([-1, 2, -3], dtype=np.int8),
        "c64": np.array([1 + 2j, 3 - 4j], dtype=np.complex64),
        "u64": np.array([2**63], dtype=np.uint64),
    }
    npz = tmp_path / "a.npz"
    np.savez(npz, **arrays)
    r = convert(npz, tmp_path / "a.safetensors", verify=True)
    assert r.verified is True
    out = safetensors_numpy.load_file(str(tmp_path / "a.safetensors"))
    assert set(out) == set(arrays)
    for k, v in arrays.items():
        assert out[k].shape == v.shape and np.array_equal(out[k], v), k
        assert out[k].dtype == v.dtype.newbyteorder("<") or out[k].dtype == v.dtype

    npy = tmp_path / "weights.npy"
    np.save(npy, arrays["fortran"])
    convert(npy, tmp_path / "w.safetensors", verify=True)
    assert np.array_equal(safetensors_numpy.load_file(str(tmp_path / "w.safetensors"))["weights"],
                          arrays["fortran"])  # fmt: skip


def test_numpy_object_array_is_never_loaded(tmp_path: Path) -> None:
    npz = tmp_path / "o.npz"
    np.savez(npz, good=np.ones(3), objs=np.array([Payload("npz")], dtype=object))
    with pytest.raises(ConvertRefused):
        convert(npz, tmp_path / "o.safetensors")
    r = convert(npz, tmp_path / "o.safetensors", force=True, verify=True)
    assert r.tensors == ["good"]
    assert ("objs", "array of Python objects (a pickle): never loaded") in r.dropped


def test_refuses_critical_then_force_converts_inertly(tmp_path: Path) -> None:
    src = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(3), "boom": Payload("torch")}, src)
    dst = tmp_path / "evil.safetensors"
    with pytest.raises(ConvertRefused) as exc:
        convert(src, dst)
    assert exc.value.findings and not dst.exists()
    r = convert(src, dst, force=True, verify=True)
    assert r.forced and r.critical
    assert r.tensors == ["w"]
    assert [n for n, _ in r.dropped] == ["boom"]
    assert "posix.system" in r.dropped[0][1] or "system" in r.dropped[0][1]
    assert not os.path.exists("/tmp/modelxray_marker_convert_torch")


def test_legacy_refusal(tmp_path: Path) -> None:
    src = tmp_path / "evil_legacy.pt"
    torch.save({"w": torch.ones(3), "boom": Payload("legacy")}, src,
               _use_new_zipfile_serialization=False)  # fmt: skip
    with pytest.raises(ConvertRefused):
        convert(src, tmp_path / "x.safetensors")


def test_verify_detects_a_changed_byte(torch_files: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "t.safetensors"
    convert(torch_files["zip"], dst)
    header = read_file_header(str(dst))
    entry = header.tensors["views.base"]
    with open(dst, "r+b") as f:
        f.seek(header.data_start + entry.begin)
        b = f.read(1)
        f.seek(header.data_start + entry.begin)
        f.write(bytes([b[0] ^ 0xFF]))
    ext = extract_source(str(torch_files["zip"]))
    meta = {**ext.metadata, "format": "pt"}
    with open(dst, "rb") as f:
        v = verify(ext, meta, f, dst.stat().st_size, str(torch_files["zip"]))
    assert not v.ok
    assert v.problems == ["views.base: bytes differ from the source"]


def test_unsupported_source(tmp_path: Path) -> None:
    src = tmp_path / "notes.pt"
    src.write_text("just text")
    with pytest.raises(ConvertError):
        convert(src, tmp_path / "n.safetensors")


def _h5_datasets(path: Any) -> dict[str, np.ndarray]:
    import h5py

    out: dict[str, np.ndarray] = {}

    def visit(name: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            out[name] = obj[()]

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return out


def test_keras_round_trip(keras_corpus: dict[str, Any], tmp_path: Path) -> None:
    import io
    import zipfile

    done = 0
    for name, sample in keras_corpus.items():
        if sample.expect != "clean" or sample.kind not in ("keras3-zip", "keras3-h5",
                                                            "keras3-weights-h5"):  # fmt: skip
            continue
        dst = tmp_path / f"{name}.safetensors"
        r = convert(sample.path, dst, verify=True)
        out = safetensors_numpy.load_file(str(dst))
        if sample.kind == "keras3-zip":
            with zipfile.ZipFile(sample.path) as z:
                data = z.read("model.weights.h5")
            want = _h5_datasets(io.BytesIO(data))
            assert r.config_path is not None and os.path.exists(r.config_path)
        else:
            want = _h5_datasets(sample.path)
        want = {k: v for k, v in want.items() if v.dtype.kind in "fiub"}
        assert set(out) == set(want), name
        for k, v in want.items():
            assert np.array_equal(out[k], v), (name, k)
        done += 1
    assert done >= 2


def test_keras_lambda_config_is_defanged(keras_corpus: dict[str, Any], tmp_path: Path) -> None:
    sample = next(
        s for s in keras_corpus.values() if s.expect == "malicious" and s.kind == "keras3-zip"
    )
    dst = tmp_path / "m.safetensors"
    with pytest.raises(ConvertRefused):
        convert(sample.path, dst)
    r = convert(sample.path, dst, force=True, verify=True)
    assert r.config_path is not None
    side = json.loads(Path(r.config_path).read_text())
    assert side["modelxray"]["removed"] or side["modelxray"]["flagged"]
    text = json.dumps(side["config"])
    assert "marshal" not in text or "modelxray_removed" in text


def test_cli_convert(torch_files: dict[str, Path], tmp_path: Path) -> None:
    from modelxray.cli import main

    dst = tmp_path / "cli.safetensors"
    assert main(["convert", str(torch_files["zip"]), str(dst), "--verify"]) == 0
    assert dst.exists()
    evil = tmp_path / "evil.pt"
    torch.save({"boom": Payload("cli")}, evil)
    assert main(["convert", str(evil), str(tmp_path / "e.safetensors")]) == 1
    assert main(["convert", str(tmp_path / "missing.pt"), str(dst)]) == 2


@pytest.mark.parametrize("missing", ["numpy", "h5py"])
def test_cli_convert_without_the_convert_extra(
    torch_files: dict[str, Path], tmp_path: Path, missing: str
) -> None:
    """numpy and h5py are the [convert] extra, not core dependencies: without them, convert
    says what to install (exit 2) and scanning is unaffected."""
    import subprocess
    import sys

    keras = Path(__file__).parent.parent / "examples" / "clean_dense.keras"
    src = torch_files["zip"] if missing == "numpy" else keras
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"  # as if not installed
        "from modelxray.cli import main\n"
        "rc = main(['scan', '--no-cache', '--no-policy', sys.argv[1]])\n"
        "assert rc == 0, rc\n"
        "sys.exit(main(['convert', sys.argv[1], sys.argv[2]]))\n"
    )
    dst = tmp_path / "out.safetensors"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(src), str(dst)], capture_output=True, text=True
    )
    assert proc.returncode == 2, proc.stderr
    assert f"convert needs {missing}" in proc.stderr
    assert "pip install 'modelxray[convert]'" in proc.stderr
    assert not dst.exists()


def _real_loader(path: str) -> dict[str, Any] | None:
    """What the real loader returns for ``path`` without running pickle code: tensors by
    flattened name (``torch.load(weights_only=True)``; ``np.load(allow_pickle=False)``,
    member by member, an ``.npz`` member it refuses left out); None when it refuses the file
    or the file is no format convert handles (joblib, plain pickles)."""
    import warnings

    head = Path(path).read_bytes()[:8]
    if head[:6] == b"\x93NUMPY":
        try:
            return {Path(path).stem: np.load(path, allow_pickle=False)}
        except ValueError:  # an object array: needs pickle
            return None
    if head[:4] == b"PK\x03\x04" and Path(path).suffix == ".npz":
        out: dict[str, Any] = {}
        with np.load(path, allow_pickle=False) as npz:
            for k in npz.files:
                try:
                    out[k] = npz[k]
                except ValueError:  # an object array: needs pickle
                    pass
        return out
    if head[:4] == b"PK\x03\x04" or head[:2] == b"\x80\x02":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = torch.load(path, weights_only=True)
        except (RuntimeError, pickle.UnpicklingError):  # TorchScript, or needs pickle code
            return None
        return flat_tensors(loaded)
    return None


def test_every_benign_fixture_converts_to_what_the_real_loader_returns(
    pickle_corpus: dict[str, Any], torch_files: dict[str, Path], tmp_path: Path
) -> None:
    """Each real-library fixture the real loader opens without pickle code (torch.load
    weights_only, np.load allow_pickle=False) converts to exactly the tensors it returns:
    names, dtypes, shapes and bytes."""
    cases = {name: c.path for name, c in pickle_corpus.items() if c.kind == "benign"}
    cases.update({f"ckpt-{k}": str(v) for k, v in torch_files.items()})
    compared = 0
    for name, path in sorted(cases.items()):
        want = _real_loader(path)
        dst = tmp_path / f"{name}.safetensors"
        if not want:  # nothing the real loader returns without pickle code to compare
            continue
        r = convert(path, dst, verify=True)
        assert r.verified is True, name
        got = safetensors_torch.load_file(str(dst))
        assert set(got) == set(want), name
        for k, v in want.items():
            _assert_same_tensor(got[k], v, f"{name}:{k}")
        compared += 1
    assert compared >= 7, compared


def _assert_same_tensor(g: Any, v: Any, label: str) -> None:
    """SafeTensors tensor ``g`` holds exactly the torch tensor / NumPy array ``v``."""
    if isinstance(v, torch.Tensor):
        assert g.dtype == v.dtype and tuple(g.shape) == tuple(v.shape), label
        assert raw_bytes(g) == raw_bytes(v), label
    else:
        assert tuple(g.shape) == v.shape, label
        assert str(g.dtype).split(".")[-1] == v.dtype.name, label
        little = np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<"))
        assert raw_bytes(g) == little.tobytes(), label
