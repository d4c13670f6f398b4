"""Convert output equals what the real loaders return, on files the real libraries write.

Every source here is written by ``torch.save`` (zip and legacy layouts) or ``np.save`` /
``np.savez`` (a few ``.npy`` headers are written by hand, as NumPy writes them, to hold a
value NumPy itself refuses).  The expected tensors come from ``torch.load(weights_only=True)``
and ``np.load(allow_pickle=False)`` on those benign files: nothing is ever unpickled with
code.  Cases: shared storages and views with offsets, non-contiguous strides, overlapping
``as_strided`` views, channels-last, bfloat16, 0-dim and empty tensors, big-endian and
Fortran-order arrays, nested containers and the names they flatten to; values convert
cannot represent are dropped with a reason, and what the real loader rejects or what would
collide is refused.
"""

from __future__ import annotations

import struct
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from modelxray.convert import ConvertError, convert  # noqa: E402
from tests.tensors import flat_tensors, raw_bytes  # noqa: E402


def _torch_load(path: Path) -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return flat_tensors(torch.load(path, weights_only=True))


def _converted(src: Path, tmp_path: Path) -> tuple[dict[str, Any], Any]:
    dst = tmp_path / (src.name + ".safetensors")
    result = convert(src, dst, verify=True)
    assert result.verified is True
    return safetensors_torch.load_file(str(dst)), result


BASE = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4)

# name -> (object torch.save writes, layouts it applies to)
MATCHING: dict[str, tuple[Callable[[], Any], tuple[bool, ...]]] = {
    "root_tensor": (lambda: torch.arange(5.0), (False, True)),
    "root_list": (lambda: [torch.ones(2), {"a": torch.zeros(1)}, (torch.eye(2),)], (False, True)),
    "shared_offset_views": (
        lambda: {"a": BASE[1], "b": BASE[0, 1], "c": BASE.view(-1)[5:7], "d": BASE},
        (False, True),
    ),
    "offset_contiguous": (lambda: {"a": BASE.view(-1)[3:].view(3, 7)}, (False, True)),
    "permuted_and_sliced": (
        lambda: {"p": BASE.permute(2, 0, 1), "n": BASE[:, 1:, ::3], "t": BASE[0].t()},
        (False, True),
    ),
    "overlapping_as_strided": (
        lambda: {"b": BASE, "o": BASE.view(-1).as_strided((3, 3), (1, 1), 2)},
        (False, True),
    ),
    "expanded_stride_0": (lambda: {"e": torch.tensor([1.0, 2.0]).expand(4, 2)}, (False, True)),
    "channels_last": (
        lambda: {"w": torch.randn(2, 3, 4, 5).to(memory_format=torch.channels_last)},
        (False, True),
    ),
    "scalar_empty_bfloat16": (
        lambda: {
            "s": torch.tensor(2, dtype=torch.int64),
            "e": torch.empty(0, 3, dtype=torch.bfloat16),
            "e2": torch.empty(3, 0)[1:],
            "bf": torch.randn(3, 2).bfloat16().t(),
            "bf0": torch.tensor(1.5, dtype=torch.bfloat16),
        },
        (False, True),
    ),
    "int_keys_and_nesting": (
        lambda: {0: torch.ones(1), 2: {"x": [torch.zeros(2), (torch.ones(3),)]}},
        (False, True),
    ),
    "module_state": (
        lambda: {
            "p": torch.nn.Parameter(torch.ones(2, 2)),
            "bn": torch.nn.BatchNorm1d(3).state_dict(),
        },
        (False, True),
    ),
    "nested_reserved_name": (lambda: {"a": {"__metadata__": torch.ones(1)}}, (False, True)),
    "empty_keys": (
        lambda: {"": {"b": torch.ones(1)}, "b": torch.zeros(1), "c": {"": torch.ones(2)}},
        (False, True),
    ),
    # dtypes without a typed storage: only the zip layout can hold them
    "untyped_dtypes": (
        lambda: {
            "u16": torch.arange(3).to(torch.uint16),
            "fnuz": torch.ones(3).to(torch.float8_e4m3fnuz),
            "u16_view": torch.arange(6).to(torch.uint16).reshape(2, 3).t(),
        },
        (False,),
    ),
}


@pytest.mark.parametrize(
    ("case", "legacy"),
    [(c, legacy) for c in sorted(MATCHING) for legacy in MATCHING[c][1]],
    ids=[f"{c}-{'legacy' if lg else 'zip'}" for c in sorted(MATCHING) for lg in MATCHING[c][1]],
)
def test_torch_checkpoint_converts_to_what_torch_load_returns(
    case: str, legacy: bool, tmp_path: Path
) -> None:
    make = MATCHING[case][0]
    src = tmp_path / f"{case}.pt"
    torch.save(make(), src, _use_new_zipfile_serialization=not legacy)
    want = _torch_load(src)
    got, result = _converted(src, tmp_path)
    assert result.dropped == []
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and tuple(got[k].shape) == tuple(v.shape), k
        assert raw_bytes(got[k]) == raw_bytes(v), k


# name -> (object; names convert leaves out, each with a reason)
DROPPED: dict[str, tuple[Callable[[], Any], set[str]]] = {
    "conj_bit": (lambda: {"c": torch.randn(3, dtype=torch.complex64).conj()}, {"c"}),
    "neg_bit": (lambda: {"c": torch._neg_view(torch.randn(3))}, {"c"}),
    "sparse": (lambda: {"s": torch.eye(3).to_sparse()}, {"s"}),
    "quantized": (
        lambda: {"q": torch.quantize_per_tensor(torch.randn(3), 0.1, 0, torch.qint8)},
        {"q"},
    ),
    "meta_device": (lambda: {"m": torch.empty(3, device="meta")}, {"m"}),
    "non_text_keys": (
        lambda: {(1, 2): torch.ones(1), 1.5: torch.ones(1), None: torch.ones(1)},
        {"<root>[a tuple]", "<root>[1.5]", "<root>[None]"},
    ),
}


@pytest.mark.parametrize("case", sorted(DROPPED))
def test_values_convert_cannot_represent_are_dropped_with_a_reason(
    case: str, tmp_path: Path
) -> None:
    make, dropped = DROPPED[case]
    src = tmp_path / f"{case}.pt"
    torch.save({**make(), "kept": torch.arange(4.0)}, src)
    got, result = _converted(src, tmp_path)
    assert {name for name, why in result.dropped if why} == dropped
    assert set(got) == {"kept"}
    assert torch.equal(got["kept"], _torch_load(src)["kept"])


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({1: torch.ones(1), "1": torch.zeros(1)}, "colliding names"),
        ({"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}}, "colliding names"),
        ({"__metadata__": torch.ones(1)}, "reserves"),
    ],
    ids=["int_and_text_key", "dotted_and_nested", "reserved_name"],
)
def test_names_that_collide_or_are_reserved_are_refused(
    obj: Any, match: str, legacy: bool, tmp_path: Path
) -> None:
    src = tmp_path / "c.pt"
    torch.save(obj, src, _use_new_zipfile_serialization=not legacy)
    dst = tmp_path / "c.safetensors"
    with pytest.raises(ConvertError, match=match):
        convert(src, dst)
    assert not dst.exists()


def test_legacy_untyped_storage_torch_cannot_read_is_refused(tmp_path: Path) -> None:
    """torch.save writes dtypes without a typed storage (uint16) to the legacy layout as an
    UntypedStorage record, which torch.load cannot read back: convert refuses it too."""
    src = tmp_path / "u16.pt"
    torch.save({"u": torch.arange(3).to(torch.uint16)}, src, _use_new_zipfile_serialization=False)
    with pytest.raises(AttributeError):
        _torch_load(src)
    with pytest.raises(ConvertError, match="UntypedStorage"):
        convert(src, tmp_path / "u16.safetensors")
    assert not (tmp_path / "u16.safetensors").exists()


# ------------------------------------------------------------------ NumPy

A = np.arange(24, dtype=np.float32).reshape(2, 3, 4)

ARRAYS: dict[str, Callable[[], Any]] = {
    "big_endian_f4": lambda: A.astype(">f4"),
    "big_endian_f2": lambda: A.astype(">f2"),
    "big_endian_i8": lambda: A.astype(">i8"),
    "big_endian_c8": lambda: (A + 1j).astype(">c8"),
    "bool": lambda: A > 3,
    "fortran": lambda: np.asfortranarray(A),
    "fortran_big_endian": lambda: np.asfortranarray(A.astype(">f8")),
    "scalar_0d": lambda: np.float64(3.5),
    "empty": lambda: np.zeros((0, 3), np.int16),
    "fortran_empty": lambda: np.asfortranarray(np.zeros((3, 0, 2))),
    "non_contiguous": lambda: A[:, ::2, 1:],
}


def _assert_same_array(g: Any, v: Any, label: str) -> None:
    assert tuple(g.shape) == v.shape, label
    assert str(g.dtype).split(".")[-1] == v.dtype.name, label
    assert raw_bytes(g) == np.ascontiguousarray(v).astype(v.dtype.newbyteorder("<")).tobytes(), (
        label
    )


@pytest.mark.parametrize("case", sorted(ARRAYS))
def test_npy_converts_to_what_np_load_returns(case: str, tmp_path: Path) -> None:
    src = tmp_path / f"{case}.npy"
    np.save(src, ARRAYS[case]())
    want = np.load(src, allow_pickle=False)
    got, _ = _converted(src, tmp_path)
    assert set(got) == {case}
    _assert_same_array(got[case], want, case)


@pytest.mark.parametrize("version", [(2, 0), (3, 0)])
def test_npy_format_versions(version: tuple[int, int], tmp_path: Path) -> None:
    src = tmp_path / "v.npy"
    with open(src, "wb") as f:
        np.lib.format.write_array(f, A, version=version)
    got, _ = _converted(src, tmp_path)
    _assert_same_array(got["v"], np.load(src, allow_pickle=False), "v")


@pytest.mark.parametrize("compressed", [False, True], ids=["stored", "deflated"])
def test_npz_converts_member_by_member_to_what_np_load_returns(
    compressed: bool, tmp_path: Path
) -> None:
    src = tmp_path / "a.npz"
    save = np.savez_compressed if compressed else np.savez
    arrays = {name: make() for name, make in ARRAYS.items()}
    save(src, **arrays, **{"x/y": A[0], "w.npy": A[1]})
    save(tmp_path / "u.npz", a=A, text=np.array(["x"]), rec=np.zeros(2, dtype=[("f", "<f4")]))
    with np.load(src, allow_pickle=False) as npz:
        want = {k: npz[k] for k in npz.files}
    got, result = _converted(src, tmp_path)
    assert result.dropped == []
    assert set(got) == set(want)
    for k, v in want.items():
        _assert_same_array(got[k], v, k)
    # arrays NumPy loads without pickle but SafeTensors cannot hold: dropped, with a reason
    got, result = _converted(tmp_path / "u.npz", tmp_path)
    assert set(got) == {"a"}
    assert {n for n, why in result.dropped if "no SafeTensors equivalent" in why} == {"text", "rec"}


def _npy_by_hand(path: Path, header: str, data: bytes) -> Path:
    """A version 1.0 ``.npy`` laid out as NumPy writes it, with ``header`` as its dict."""
    h = header.encode("latin1")
    h += b" " * (64 - (10 + len(h) + 1) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data)
    return path


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }" + " " * 12000, "too large"),
        ("{'descr': '<f4', 'fortran_order': 0, 'shape': (6,), }", "fortran_order"),
        ("{'descr': '<f4', 'fortran_order': 1, 'shape': (2, 3), }", "fortran_order"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': [6], }", "shape"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }", "truncated"),
        ("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1, " * 65 + "), }", "64"),
    ],
    ids=[
        "header_over_np_load_limit",
        "fortran_order_0",
        "fortran_order_1",
        "list_shape",
        "short",
        "over_64_dims",
    ],
)
def test_npy_np_load_rejects_is_refused_without_verify(
    header: str, match: str, tmp_path: Path
) -> None:
    src = _npy_by_hand(tmp_path / "a.npy", header, np.arange(6, dtype="<f4").tobytes())
    with pytest.raises(ValueError):
        np.load(src, allow_pickle=False)
    dst = tmp_path / "a.safetensors"
    with pytest.raises(ConvertError, match=match):
        convert(src, dst)  # the extraction itself refuses: --verify is not what catches it
    assert not dst.exists()


def test_npy_by_hand_matches_np_load(tmp_path: Path) -> None:
    """The hand-written layout above is one NumPy reads (the refusals are about the values)."""
    src = _npy_by_hand(
        tmp_path / "a.npy",
        "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
        np.arange(6, dtype="<f4").tobytes(),
    )
    got, _ = _converted(src, tmp_path)
    _assert_same_array(got["a"], np.load(src, allow_pickle=False), "a")


def test_npz_member_name_np_load_reads_otherwise_is_refused(tmp_path: Path) -> None:
    """zipfile (so np.load) cuts a member name at its first NUL: "w\\0x.npy" is the array
    np.load calls "w", not the name convert would otherwise write."""
    src = tmp_path / "n.npz"
    np.savez(src, wZx=np.ones(2))
    src.write_bytes(src.read_bytes().replace(b"wZx.npy", b"w\0x.npy"))
    with np.load(src, allow_pickle=False) as npz:
        assert npz.files == ["w"] and npz["w"].tolist() == [1.0, 1.0]
    dst = tmp_path / "n.safetensors"
    with pytest.raises(ConvertError, match="not the name np.load reads"):
        convert(src, dst)
    assert not dst.exists()
