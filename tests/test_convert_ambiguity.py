"""Convert refuses ambiguous sources, bounds its output and never writes through a link.

Every torch archive here is assembled by hand (``zipfile`` + a pickle program written
opcode by opcode, the way ``torch.save`` writes it) and holds only plain storage records:
nothing in them names code.  Where the test states what the real loader does with such a
file, it loads that benign hand-made file with ``torch.load(weights_only=True)`` or
``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelxray.cli import main
from modelxray.convert import ConvertError, convert
from modelxray.convert import common as convert_common
from tests.pickle_samples import (
    BINPERSID,
    EMPTY_DICT,
    EMPTY_TUPLE,
    MARK,
    REDUCE,
    SETITEMS,
    TUPLE,
    binint,
    glob,
)

F32 = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)

# ------------------------------------------------------------------ hand-written programs


def text(s: str) -> bytes:
    b = s.encode("utf-8")
    return b"X" + struct.pack("<I", len(b)) + b


def push(v: object) -> bytes:
    if v is None:
        return b"N"
    if isinstance(v, str):
        return text(v)
    if isinstance(v, bool):
        return b"\x88" if v else b"\x89"
    if isinstance(v, int):
        return binint(v) if -(2**31) <= v < 2**31 else b"\x8a\x08" + struct.pack("<q", v)
    if isinstance(v, tuple):
        return MARK + b"".join(push(x) for x in v) + TUPLE
    raise TypeError(type(v))


def storage(stype: str, key: str | int, numel: int, view: bytes | None = None) -> bytes:
    """The persistent id ``("storage", torch.<stype>, key, "cpu", numel[, view])``."""
    body = text("storage") + glob("torch", stype) + push(key) + text("cpu") + push(numel)
    if view is not None:
        body += view
    return MARK + body + TUPLE + BINPERSID


def tensor(pid: bytes, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    """``torch._utils._rebuild_tensor_v2(pid, offset, size, stride, False, OrderedDict())``."""
    return (
        glob("torch._utils", "_rebuild_tensor_v2")
        + MARK
        + pid
        + push(offset)
        + push(size)
        + push(stride)
        + push(False)
        + glob("collections", "OrderedDict")
        + EMPTY_TUPLE
        + REDUCE
        + TUPLE
        + REDUCE
    )


def mapping(items: list[tuple[object, bytes]]) -> bytes:
    body = EMPTY_DICT + MARK
    for k, v in items:
        body += push(k) + v
    return body + SETITEMS


def program(body: bytes) -> bytes:
    return b"\x80\x02" + body + b"."


def torch_zip(
    pkl: bytes,
    storages: list[tuple[str, bytes]],
    byteorder: bytes | None = b"little",
    extra: list[tuple[str, bytes]] | None = None,
) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        if byteorder is not None:
            z.writestr("archive/byteorder", byteorder)
        for key, data in storages:
            z.writestr(f"archive/data/{key}", data)
        z.writestr("archive/version", b"3\n")
        for name, data in extra or []:
            z.writestr(name, data)
    return buf.getvalue()


def legacy_file(root: bytes, records: list[tuple[str, int, bytes]], little: bool = True) -> bytes:
    """A legacy ``torch.save`` file: magic, protocol, sys_info, ``root``, keys, storages."""
    head = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    head += pickle.dumps(1001, protocol=2)
    head += pickle.dumps(
        {"protocol_version": 1001, "little_endian": little, "type_sizes": {}}, protocol=2
    )
    data = b"".join(struct.pack("<q", n) + raw for _k, n, raw in records)
    return head + root + pickle.dumps([k for k, _n, _r in records], protocol=2) + data


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def torch_load(path: Path) -> Any:
    """The real loader on a benign hand-made file (weights only, nothing to execute)."""
    torch = pytest.importorskip("torch")
    return torch.load(path, weights_only=True)


def refused(src: Path, dst: Path, match: str, **kw: Any) -> None:
    with pytest.raises(ConvertError, match=match):
        convert(src, dst, **kw)
    assert not dst.exists()


# ------------------------------------------------------------------ torch zip archives


def test_plain_hand_made_archive_converts_like_torch(tmp_path: Path) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 1, (2,), (2,)))]))
    src = write(tmp_path, "ok.pt", torch_zip(pkl, [("0", F32)]))
    r = convert(src, tmp_path / "ok.safetensors", verify=True)
    assert r.verified is True
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "ok.safetensors"))
    assert st["a"].tolist() == torch_load(src)["a"].tolist() == [2.0, 4.0]


def test_conflicting_storage_records_are_refused(tmp_path: Path) -> None:
    # Two records of storage "0": torch keeps the first (float), a naive reader the second.
    pkl = program(
        mapping(
            [
                ("a", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,))),
                ("b", tensor(storage("DoubleStorage", "0", 2), 0, (2,), (1,))),
            ]
        )
    )
    src = write(tmp_path, "conflict.pt", torch_zip(pkl, [("0", F32)]))
    assert torch_load(src)["b"].tolist() == [1.0, 2.0]  # read as float32, the first record
    refused(src, tmp_path / "c.safetensors", "conflicting storage records for key '0'")


def test_conflicting_record_under_a_dropped_tensor_is_refused(tmp_path: Path) -> None:
    # The first record is complex128 (not convertible, dropped); it still decides the dtype.
    pkl = program(
        mapping(
            [
                ("c", tensor(storage("ComplexDoubleStorage", "0", 1), 0, (1,), (1,))),
                ("f", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,))),
            ]
        )
    )
    src = write(tmp_path, "conflict2.pt", torch_zip(pkl, [("0", F32)]))
    refused(src, tmp_path / "c.safetensors", "conflicting storage records")


def test_mismatched_element_sizes_under_one_key_are_refused(tmp_path: Path) -> None:
    pkl = program(
        mapping(
            [
                ("a", tensor(storage("FloatStorage", "0", 2), 0, (2,), (1,))),
                ("b", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,))),
            ]
        )
    )
    src = write(tmp_path, "sizes.pt", torch_zip(pkl, [("0", F32)]))
    with pytest.raises(RuntimeError, match="record size"):
        torch_load(src)
    refused(src, tmp_path / "s.safetensors", "conflicting storage records")


def test_storage_record_size_must_match_the_member(tmp_path: Path) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 2), 0, (2,), (1,)))]))
    src = write(tmp_path, "long.pt", torch_zip(pkl, [("0", F32)]))
    with pytest.raises(RuntimeError, match="record size"):
        torch_load(src)
    refused(src, tmp_path / "l.safetensors", "declares 8")


@pytest.mark.parametrize("order", [b"big\n", b"little\n", b" little", b"LITTLE"])
def test_byteorder_torch_rejects_is_refused(tmp_path: Path, order: bytes) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,)))]))
    src = write(tmp_path, "bo.pt", torch_zip(pkl, [("0", F32)], byteorder=order))
    with pytest.raises(ValueError, match="Unknown endianness"):
        torch_load(src)
    refused(src, tmp_path / "bo.safetensors", "unknown byteorder")


def test_big_endian_archive_converts_as_torch_swaps(tmp_path: Path) -> None:
    data = struct.pack(">4f", 1.0, 2.0, 3.0, 4.0)
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (2, 2), (1, 2)))]))
    src = write(tmp_path, "be.pt", torch_zip(pkl, [("0", data)], byteorder=b"big"))
    r = convert(src, tmp_path / "be.safetensors", verify=True)
    assert r.verified is True
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "be.safetensors"))
    assert st["a"].tolist() == torch_load(src)["a"].tolist() == [[1.0, 3.0], [2.0, 4.0]]


def test_big_endian_untyped_storage_under_a_wider_dtype_is_refused(tmp_path: Path) -> None:
    # torch swaps a storage by its own dtype: an untyped (byte) storage is never swapped,
    # so a uint16 tensor on it comes out in neither byte order.
    pid = storage("UntypedStorage", "0", 4)
    v3 = (
        glob("torch._utils", "_rebuild_tensor_v3")
        + MARK
        + pid
        + push(0)
        + push((2,))
        + push((1,))
        + push(False)
        + glob("collections", "OrderedDict")
        + EMPTY_TUPLE
        + REDUCE
        + glob("torch", "uint16")
        + TUPLE
        + REDUCE
    )
    src = write(
        tmp_path,
        "u16.pt",
        torch_zip(program(mapping([("u", v3)])), [("0", b"\x01\x02\x03\x04")], b"big"),
    )
    refused(src, tmp_path / "u.safetensors", "byte-swap")


@pytest.mark.parametrize("second", ["archive/data/0", "archive/DATA/0"])
def test_duplicate_storage_members_are_refused(tmp_path: Path, second: str) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,)))]))
    other = struct.pack("<4f", 9.0, 9.0, 9.0, 9.0)
    with (
        pytest.warns(UserWarning, match="Duplicate name")
        if second == "archive/data/0"
        else (_nothing())
    ):
        data = torch_zip(pkl, [("0", F32)], extra=[(second, other)])
    src = write(tmp_path, "dup.pt", data)
    # The scan does not rate this critical; convert refuses it regardless.
    refused(src, tmp_path / "d.safetensors", "duplicate archive member")


def test_duplicate_pickle_member_is_refused(tmp_path: Path) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,)))]))
    with pytest.warns(UserWarning):
        data = torch_zip(pkl, [("0", F32)], extra=[("archive/data.pkl", program(mapping([])))])
    refused(write(tmp_path, "dup.pt", data), tmp_path / "d.safetensors", "duplicate archive")


def test_archive_torch_cannot_read_is_refused(tmp_path: Path) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,)))]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("other/readme", b"hi")  # torch takes the archive folder from this one
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", F32)
        z.writestr("archive/version", b"3\n")
    src = write(tmp_path, "folder.pt", buf.getvalue())
    with pytest.raises(RuntimeError):
        torch_load(src)
    refused(src, tmp_path / "f.safetensors", "no other/data.pkl")


def test_missing_storage_member_is_refused(tmp_path: Path) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "7", 4), 0, (4,), (1,)))]))
    src = write(tmp_path, "missing.pt", torch_zip(pkl, [("0", F32)]))
    refused(src, tmp_path / "m.safetensors", "missing")


def test_int_and_text_keys_that_print_alike_are_refused(tmp_path: Path) -> None:
    pkl = program(
        mapping(
            [
                (1, tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,))),
                ("1", tensor(storage("FloatStorage", "0", 4), 0, (2,), (2,))),
            ]
        )
    )
    src = write(tmp_path, "keys.pt", torch_zip(pkl, [("0", F32)]))
    assert set(torch_load(src)) == {1, "1"}  # two entries in the real dict
    refused(src, tmp_path / "k.safetensors", "colliding names")


def test_dotted_key_colliding_with_a_nested_one_is_refused(tmp_path: Path) -> None:
    inner = mapping([("b", tensor(storage("FloatStorage", "0", 4), 0, (2,), (1,)))])
    pkl = program(
        mapping([("a.b", tensor(storage("FloatStorage", "0", 4), 2, (2,), (1,))), ("a", inner)])
    )
    src = write(tmp_path, "dots.pt", torch_zip(pkl, [("0", F32)]))
    refused(src, tmp_path / "d.safetensors", "colliding names")


def test_repeated_key_keeps_the_last_value_as_a_dict_does(tmp_path: Path) -> None:
    pkl = program(
        mapping(
            [
                ("w", tensor(storage("FloatStorage", "0", 4), 0, (2,), (1,))),
                ("w", tensor(storage("FloatStorage", "0", 4), 2, (2,), (1,))),
            ]
        )
    )
    src = write(tmp_path, "repeat.pt", torch_zip(pkl, [("0", F32)]))
    r = convert(src, tmp_path / "r.safetensors", verify=True)
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "r.safetensors"))
    assert r.tensors == ["w"]
    assert st["w"].tolist() == torch_load(src)["w"].tolist() == [3.0, 4.0]


def test_reserved_tensor_name_is_refused_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pkl = program(
        mapping([("__metadata__", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,)))])
    )
    src = write(tmp_path, "meta.pt", torch_zip(pkl, [("0", F32)]))
    refused(src, tmp_path / "m.safetensors", "reserves")
    assert main(["convert", str(src), str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "reserves" in err and "internal error" not in err


def test_view_past_its_storage_is_refused(tmp_path: Path) -> None:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (3, 3), (1, 1)))]))
    src = write(tmp_path, "oob.pt", torch_zip(pkl, [("0", F32)]))
    with pytest.raises(RuntimeError):
        torch_load(src)
    refused(src, tmp_path / "o.safetensors", "reach byte 20 of a 16-byte storage")


def test_stride_zero_amplification_is_refused_without_allocating(tmp_path: Path) -> None:
    # One float, viewed 2**31 times: torch.load makes a lazy view, a copy would be 8 GiB.
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 1), 0, (2**31,), (0,)))]))
    src = write(tmp_path, "amp.pt", torch_zip(pkl, [("0", F32[:4])]))
    assert src.stat().st_size < 2048
    refused(src, tmp_path / "a.safetensors", "8589934592 bytes written out, from 4 bytes")


def test_many_views_of_one_storage_are_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(convert_common, "AMPLIFICATION_ALLOWANCE", 0)
    n = 1024  # floats in the storage
    raw = np.arange(n, dtype="<f4").tobytes()
    views = [(f"v{i}", tensor(storage("FloatStorage", "0", n), 0, (n,), (1,))) for i in range(10)]
    src = write(tmp_path, "views.pt", torch_zip(program(mapping(views)), [("0", raw)]))
    refused(src, tmp_path / "v.safetensors", "more than 4x")
    r = convert(src, tmp_path / "v.safetensors", verify=True, max_amplification=10)
    assert r.verified is True and len(r.tensors) == 10
    loaded = torch_load(src)
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "v.safetensors"))
    assert all(st[k].tobytes() == loaded[k].numpy().tobytes() for k in loaded)


def test_overlapping_expanded_views_match_torch(tmp_path: Path) -> None:
    pkl = program(
        mapping(
            [
                ("e", tensor(storage("FloatStorage", "0", 4), 1, (3, 2), (0, 2))),
                ("o", tensor(storage("FloatStorage", "0", 4), 0, (3, 2), (1, 1))),
            ]
        )
    )
    src = write(tmp_path, "overlap.pt", torch_zip(pkl, [("0", F32)]))
    r = convert(src, tmp_path / "o.safetensors", verify=True)
    assert r.verified is True
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "o.safetensors"))
    want = torch_load(src)
    assert st["e"].tolist() == want["e"].tolist() == [[2.0, 4.0]] * 3
    assert st["o"].tolist() == want["o"].tolist() == [[1.0, 2.0], [2.0, 3.0], [3.0, 4.0]]


def test_large_transposed_view_streams_in_blocks(tmp_path: Path) -> None:
    rows, cols = 700, 600  # 1.6 MiB: more than one gather block
    raw = np.arange(rows * cols, dtype="<f4").tobytes()
    pkl = program(
        mapping(
            [("t", tensor(storage("FloatStorage", "0", rows * cols), 0, (cols, rows), (1, cols)))]
        )
    )
    src = write(tmp_path, "t.pt", torch_zip(pkl, [("0", raw)]))
    r = convert(src, tmp_path / "t.safetensors", verify=True)
    assert r.verified is True
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "t.safetensors"))
    assert np.array_equal(st["t"], torch_load(src)["t"].numpy())


# ------------------------------------------------------------------ legacy files


def legacy_root(numel: int) -> bytes:
    pid = storage("FloatStorage", "0", numel, view=push(None))
    return program(mapping([("w", tensor(pid, 0, (numel,), (1,)))]))


def test_legacy_hand_made_file_converts_like_torch(tmp_path: Path) -> None:
    src = write(tmp_path, "leg.pt", legacy_file(legacy_root(4), [("0", 4, F32)]))
    r = convert(src, tmp_path / "leg.safetensors", verify=True)
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "leg.safetensors"))
    assert r.verified is True
    assert st["w"].tolist() == torch_load(src)["w"].tolist() == [1.0, 2.0, 3.0, 4.0]


def _legacy_view(offset: int, numel: int, size: int) -> bytes:
    """A legacy file whose tensor ``w`` (``size`` elements) sits on the storage view
    ``("v", offset, numel)`` of the 4-float storage ``"0"``."""
    pid = storage("FloatStorage", "0", 4, view=push(("v", offset, numel)))
    return legacy_file(program(mapping([("w", tensor(pid, 0, (size,), (1,)))])), [("0", 4, F32)])


def test_legacy_storage_view_converts_like_torch(tmp_path: Path) -> None:
    src = write(tmp_path, "leg.pt", _legacy_view(1, 2, 2))
    r = convert(src, tmp_path / "leg.safetensors", verify=True)
    st = pytest.importorskip("safetensors.numpy").load_file(str(tmp_path / "leg.safetensors"))
    assert r.verified is True
    assert st["w"].tolist() == torch_load(src)["w"].tolist() == [2.0, 3.0]


@pytest.mark.parametrize(("offset", "numel"), [(3, 2), (0, 5)])
def test_legacy_storage_view_outside_its_storage_is_refused(
    tmp_path: Path, offset: int, numel: int
) -> None:
    src = write(tmp_path, "leg.pt", _legacy_view(offset, numel, numel))
    with pytest.raises(RuntimeError):
        torch_load(src)
    refused(src, tmp_path / "l.safetensors", "reaches outside its 4-element storage")


def test_legacy_storage_size_mismatch_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path, "leg.pt", legacy_file(legacy_root(2), [("0", 4, F32)]))
    with pytest.raises(RuntimeError):
        torch_load(src)
    refused(src, tmp_path / "l.safetensors", "4 elements in the file, 2 in its record")


def test_legacy_big_endian_claim_is_refused(tmp_path: Path) -> None:
    src = write(tmp_path, "leg.pt", legacy_file(legacy_root(4), [("0", 4, F32)], little=False))
    refused(src, tmp_path / "l.safetensors", "little-endian")


# ------------------------------------------------------------------ npz


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_duplicate_npz_members_are_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.npy", _npy(np.array([1.0, 2.0])))
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr("w.npy", _npy(np.array([9.0, 9.0])))
    src = write(tmp_path, "dup.npz", buf.getvalue())
    with np.load(src, allow_pickle=False) as npz:
        assert npz["w"].tolist() == [9.0, 9.0]  # numpy returns the last copy
    refused(src, tmp_path / "d.safetensors", "duplicate archive members")


def test_npz_names_that_collide_after_a_nul_are_refused(tmp_path: Path) -> None:
    # zipfile (and so np.load) cuts a member name at its first NUL: "w.npy\0.npy" is
    # read as a second "w.npy", and np.load returns that one.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("w.npy", _npy(np.array([1.0])))
        z.writestr("w.npyZ.npy", _npy(np.array([2.0])))
    src = write(tmp_path, "c.npz", buf.getvalue().replace(b"w.npyZ.npy", b"w.npy\0.npy"))
    with np.load(src, allow_pickle=False) as npz:
        assert npz["w"].tolist() == [2.0]
    refused(src, tmp_path / "c.safetensors", "duplicate archive members")


def test_npz_member_named_metadata_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "m.npz"
    np.savez(src, __metadata__=np.ones(2))
    refused(src, tmp_path / "m.safetensors", "reserves")


# ------------------------------------------------------------------ output folder


def _plain_src(tmp_path: Path) -> Path:
    pkl = program(mapping([("a", tensor(storage("FloatStorage", "0", 4), 0, (4,), (1,)))]))
    return write(tmp_path, "plain.pt", torch_zip(pkl, [("0", F32)]))


def test_symlink_at_the_output_name_is_left_untouched(tmp_path: Path) -> None:
    src = _plain_src(tmp_path)
    target = tmp_path / "victim.txt"
    target.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    link = out / "model.safetensors"
    link.symlink_to(target)
    refused_link = pytest.raises(ConvertError, match="symbolic link")
    with refused_link:
        convert(src, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text() == "keep me\n"
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors"]  # no temp left


def test_symlink_at_the_keras_sidecar_is_left_untouched(
    keras_corpus: dict[str, Any], tmp_path: Path
) -> None:
    sample = next(
        s for s in keras_corpus.values() if s.expect == "clean" and s.kind == "keras3-zip"
    )
    target = tmp_path / "bashrc"
    target.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.config.json").symlink_to(target)
    with pytest.raises(ConvertError, match="symbolic link"):
        convert(sample.path, out / "model.safetensors")
    assert target.read_text() == "keep me\n"
    assert (out / "model.config.json").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["model.config.json"]
    # without the link both files are written, as regular files
    (out / "model.config.json").unlink()
    r = convert(sample.path, out / "model.safetensors", verify=True)
    assert r.config_path is not None
    assert not os.path.islink(r.config_path) and os.path.isfile(r.config_path)


def test_existing_regular_output_is_replaced(tmp_path: Path) -> None:
    src = _plain_src(tmp_path)
    dst = tmp_path / "o.safetensors"
    dst.write_bytes(b"old")
    convert(src, dst, verify=True)
    assert dst.read_bytes() != b"old" and not dst.is_symlink()


# ------------------------------------------------------------------ verification


def test_verify_reads_the_source_not_the_extraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A converter bug that produces other bytes is caught: nothing is written."""
    from modelxray.convert import torch_checkpoint

    real = torch_checkpoint.tensor_chunks

    def wrong(*args: Any, **kw: Any) -> Any:
        produce = real(*args, **kw)
        return lambda: [bytes(reversed(b"".join(produce())))]

    monkeypatch.setattr(torch_checkpoint, "tensor_chunks", wrong)
    src = _plain_src(tmp_path)
    dst = tmp_path / "v.safetensors"
    with pytest.raises(ConvertError, match="a: bytes differ from the source"):
        convert(src, dst, verify=True)
    assert not dst.exists() and list(tmp_path.glob(".v.safetensors*")) == []


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
