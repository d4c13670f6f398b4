"""The pure-Python HDF5 structure reader (``formats/hdf5_struct.py``) against libhdf5.

* Agreement: on every HDF5 file the suite builds (the Keras corpora, the CVE corpus, the
  structure fixtures, the ``examples/``) and on files of every shape h5py writes (superblock
  0-3, user blocks, old- and new-style groups, dense link and attribute storage, creation
  order, every layout, external storage, virtual datasets, committed types, strings of every
  kind), and on random trees (hypothesis), the reader sees exactly what h5py sees: root string
  attributes, every link (kind, target, file, object address), every dataset's shape, type
  size, layout, external files, virtual sources and stored size.
* Hostile files: truncated at every length, bytes flipped, B-tree and continuation cycles, huge
  counts, deep trees: each ends in a format error or a limit (through the engine: a finding
  and verdict ``error``), never another exception, never an allow.
"""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelxray
from modelxray.budget import BudgetExceeded, Limits
from modelxray.engine import ScanOptions
from modelxray.formats.hdf5_struct import Hdf5File, Hdf5FormatError
from tests.hdf5_oracle import differences, own_structure

MAGIC = b"\x89HDF\r\n\x1a\n"
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _hdf5_blobs(path: Path) -> list[tuple[str, bytes]]:
    """The HDF5 files in ``path``: itself, or the HDF5 members of a zip / a folder."""
    if path.is_dir():
        return [b for p in sorted(path.rglob("*")) if p.is_file() for b in _hdf5_blobs(p)]
    data = path.read_bytes()
    if data[:8] == MAGIC or data[512:520] == MAGIC:
        return [(str(path), data)]
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = [(f"{path}!{n}", zf.read(n)) for n in zf.namelist()]
        return [(n, d) for n, d in members if d[:8] == MAGIC]
    return []


def _paths(corpus: dict[str, Any]) -> list[Path]:
    out = []
    for value in corpus.values():
        p = getattr(value, "path", value)
        if isinstance(p, (str, Path)):
            out.append(Path(p))
    return out


def _assert_agree(blobs: list[tuple[str, bytes]]) -> None:
    problems = {name: d for name, data in blobs if (d := differences(data))}
    assert not problems, problems


def test_agrees_with_h5py_on_the_keras_corpora(
    keras_corpus: dict[str, Any], cve_h5: dict[str, Any]
) -> None:
    blobs = [b for p in _paths(keras_corpus) + _paths(cve_h5) for b in _hdf5_blobs(p)]
    assert len(blobs) >= 10  # .h5 models, .weights.h5 and .keras members
    _assert_agree(blobs)


def test_agrees_with_h5py_on_the_examples() -> None:
    blobs = [b for p in sorted(EXAMPLES.iterdir()) for b in _hdf5_blobs(p)]
    assert blobs
    _assert_agree(blobs)


def _write(build: Any, **kw: Any) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w", **kw) as f:
        build(f)
    return buf.getvalue()


def _everything(f: Any) -> None:
    """One of each structure the HDF5 checks look at."""
    import h5py
    import numpy as np

    f.attrs["model_config"] = '{"class_name": "Sequential"}'  # vlen UTF-8
    f.attrs["keras_version"] = b"2.13.1"  # vlen ASCII
    f.attrs["backend"] = np.bytes_(b"tensorflow")  # fixed, null-padded
    f.attrs["one"] = np.array([b"x" * 40], dtype="S40")  # shape (1,)
    f.attrs["many"] = [b"a", b"b"]
    f.attrs["number"] = 7
    f.attrs.create("empty", h5py.Empty("S1"))
    f.attrs["utf8_\u00e9"] = "caf\u00e9"
    f.create_dataset("w/kernel", data=np.arange(12, dtype="f4").reshape(3, 4))
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_layout(h5py.h5d.COMPACT)
    space = h5py.h5s.create_simple((4,))
    h5py.h5d.create(f["w"].id, b"compact", h5py.h5t.STD_I16LE, space, dcpl=dcpl)
    f.create_dataset("w/chunked", shape=(64, 64), dtype="f8", chunks=(8, 8))
    f["w/chunked"][:16, :16] = 1.0
    f.create_dataset("w/gzip", data=np.zeros((32, 32)), chunks=(8, 8), compression="gzip")
    f.create_dataset("w/single", data=np.zeros((4, 4)), chunks=(4, 4))
    f.create_dataset("w/scalar", data=3.5)
    f.create_dataset("w/null", data=h5py.Empty("f4"))
    f.create_dataset("w/vlen", data=["a", "bc"], dtype=h5py.string_dtype())
    f.create_dataset("w/bomb", shape=(10**6, 10**6), dtype="f8", chunks=(1, 1024))
    f.create_dataset("w/ext", shape=(4,), dtype="f4", external=[("/tmp/a.bin", 0, 8), ("b", 8, 8)])
    f["named_type"] = np.dtype("<i8")
    f.create_dataset("w/typed", shape=(2,), dtype=f["named_type"])
    if f.id.get_access_plist().get_libver_bounds()[1] >= h5py.h5f.LIBVER_V110:
        layout = h5py.VirtualLayout(shape=(8,), dtype="f4")
        layout[:4] = h5py.VirtualSource("/tmp/other.h5", "w", shape=(4,))
        layout[4:] = h5py.VirtualSource(".", "/w/kernel", shape=(4,))
        f.create_virtual_dataset("w/vds", layout)
    f["soft_ok"] = h5py.SoftLink("/w/kernel")
    f["w/soft_rel"] = h5py.SoftLink("kernel")
    f["dangling"] = h5py.SoftLink("/nowhere")
    f["escape"] = h5py.ExternalLink("/tmp/modelxray_marker_ext.h5", "/")
    f["w/back"] = f["w"]  # hard-link cycle
    f.create_group("g").create_group("\u00fcber")
    for i in range(20):  # more than the 8 compact links: dense storage where libver allows
        f.create_group(f"many/{i:03d}")
    for i in range(12):
        f["many"].attrs[f"a{i}"] = "v" * 100


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"libver": "latest"},
        {"libver": ("earliest", "v112")},
        {"libver": ("v110", "v110")},
        {"track_order": True},
        {"libver": "latest", "track_order": True},
        {"userblock_size": 512},
        {"userblock_size": 4096, "libver": "latest"},
    ],
    ids=str,
)
def test_agrees_with_h5py_on_every_structure(options: dict[str, Any]) -> None:
    data = _write(_everything, **options)
    _check_everything(data)


def _check_everything(data: bytes) -> None:
    assert not differences(data)
    ours = own_structure(data)
    assert ours["links"]["/escape"] == ("external", "/", "/tmp/modelxray_marker_ext.h5")
    assert ours["datasets"]["/w/ext"]["external"] == [("/tmp/a.bin", 0, 8), ("b", 8, 8)]
    if "/w/vds" in ours["datasets"]:
        assert ours["datasets"]["/w/vds"]["virtual"] == [".", "/tmp/other.h5"]
    assert ours["attrs"]["model_config"].startswith("{")


@pytest.mark.parametrize("version", [0, 2, 3])
def test_every_superblock_version(version: int, tmp_path: Path) -> None:
    """Superblock 0 (default), 2 (1.8 format), 3 (1.10+).  (Version 1 differs from 0 only by a
    non-default chunk B-tree K, which h5py cannot set.)"""
    import h5py

    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    if version == 0:
        fapl.set_libver_bounds(h5py.h5f.LIBVER_EARLIEST, h5py.h5f.LIBVER_V112)
    if version == 2:
        fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_V18)
    if version == 3:
        fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    path = tmp_path / "sb.h5"
    fid = h5py.h5f.create(bytes(path), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
    with h5py.File(fid) as f:
        _everything(f)
    data = path.read_bytes()
    assert data[8] == version
    _check_everything(data)


def test_dense_attributes_and_links_are_read() -> None:
    """A new-style group past its compact limit keeps links in a fractal heap indexed by a
    v2 B-tree; an object header past its attribute limit keeps attributes the same way."""
    import h5py

    def build(f: Any) -> None:
        for i in range(3000):  # enough records for an internal v2 B-tree node
            f[f"l{i:05d}"] = h5py.SoftLink(f"/target{i}" + "x" * (i % 50))
        for i in range(40):
            f.attrs[f"attr{i:03d}"] = f"{i}" * 300
        f.attrs["model_config"] = "{}"

    data = _write(build, libver="latest")
    assert not differences(data)
    ours = own_structure(data)
    assert len(ours["links"]) == 3000 and len(ours["attrs"]) == 41


names = st.text(alphabet=st.sampled_from("abcXYZ_09.\u00e9 "), min_size=1, max_size=6).filter(
    lambda s: s not in (".", "..")
)


@st.composite
def trees(draw: Any) -> tuple[list[tuple[str, str, str]], dict[str, Any]]:
    ops = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["group", "dataset", "soft", "external", "hard", "attr"]),
                st.lists(names, min_size=1, max_size=3).map("/".join),
                st.lists(names, min_size=1, max_size=3).map(lambda p: "/" + "/".join(p)),
            ),
            max_size=40,
        )
    )
    options = draw(
        st.sampled_from([{}, {"libver": "latest"}, {"track_order": True}, {"userblock_size": 1024}])
    )
    return ops, options


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees())
def test_agrees_with_h5py_on_random_trees(tree: tuple[list[tuple[str, str, str]], Any]) -> None:
    import h5py
    import numpy as np

    ops, options = tree

    def build(f: Any) -> None:
        for kind, path, other in ops:
            try:
                if kind == "group":
                    f.require_group(path)
                elif kind == "dataset":
                    f.create_dataset(path, data=np.zeros(len(path), "f4"))
                elif kind == "soft":
                    f[path] = h5py.SoftLink(other)
                elif kind == "external":
                    f[path] = h5py.ExternalLink(other + ".h5", other)
                elif kind == "hard" and other in f:
                    f[path] = f[other]
                elif kind == "attr":
                    f.attrs[path] = other
            except (ValueError, KeyError, TypeError, OSError, RuntimeError):
                continue  # the name is taken, or a parent is a dataset: h5py refuses

    data = _write(build, **options)
    assert not differences(data)


# ------------------------------------------------------------------------------ hostile files


def _read_all(data: bytes, limits: Limits | None = None) -> None:
    own_structure(data, limits)


def _sample() -> bytes:
    def build(f: Any) -> None:
        import numpy as np

        f.attrs["model_config"] = '{"class_name": "Sequential"}'
        for i in range(12):
            f.create_dataset(f"g{i % 3}/d{i}", data=np.zeros(3, "f4"))

    return _write(build)


def _dense_sample() -> bytes:
    import h5py

    def build(f: Any) -> None:
        f.attrs["model_config"] = '{"class_name": "Sequential"}'
        for i in range(40):
            f[f"l{i}"] = h5py.SoftLink(f"/t{i}")

    return _write(build, libver="latest")


@pytest.mark.parametrize("make", [_sample, _dense_sample], ids=["v0", "latest"])
def test_truncated_and_mutated_files_end_in_an_error_or_a_limit(make: Any) -> None:
    data = make()
    rng = random.Random(15)
    cases = [data[:n] for n in range(0, len(data), 7)]
    for _ in range(400):
        b = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        cases.append(bytes(b))
    for case in cases:
        if case[:8] != MAGIC:
            continue
        try:
            _read_all(case, Limits(max_structure_items=20_000))
        except (Hdf5FormatError, BudgetExceeded):
            pass  # any other exception fails the test: a parser bug


def _engine(data: bytes, tmp_path: Path, limits: Limits | None = None) -> Any:
    p = tmp_path / "hostile.h5"
    p.write_bytes(data)
    options = ScanOptions(limits=limits) if limits else None
    return modelxray.scan(str(p), options)


def _find(data: bytes, sig: bytes) -> int:
    at = data.find(sig)
    assert at >= 0, sig
    return at


def test_a_btree_node_that_points_to_itself_is_a_format_error(tmp_path: Path) -> None:
    data = bytearray(_sample())
    tree = _find(bytes(data), b"TREE")
    data[tree + 5] = 1  # level 1: its children are B-tree nodes ...
    data[tree + 32 : tree + 40] = tree.to_bytes(8, "little")  # ... and the first is itself
    with pytest.raises(Hdf5FormatError, match="cycle"):
        _read_all(bytes(data))
    report = _engine(bytes(data), tmp_path)
    assert [f.rule_id for f in report.findings] == ["MX-SCAN-001"]
    assert report.verdict == "error"


def test_an_object_header_continuation_loop_is_a_format_error(tmp_path: Path) -> None:
    """A version 1 object header whose continuation message points back at its own block."""
    data = bytearray(_sample())
    root = Hdf5File(io.BytesIO(bytes(data)), len(data), 0, Limits()).root
    assert data[root] == 1
    p, end = root + 16, root + 16 + int.from_bytes(data[root + 8 : root + 12], "little")
    while p + 8 <= end:
        mtype, msize = (int.from_bytes(data[p + i : p + i + 2], "little") for i in (0, 2))
        if mtype == 0x10 or (mtype == 0 and msize >= 16):  # a continuation (or padding) ...
            data[p : p + 2] = (0x10).to_bytes(2, "little")
            data[p + 8 : p + 16] = (root + 16).to_bytes(8, "little")  # ... into its own block
            data[p + 16 : p + 24] = (end - root - 16).to_bytes(8, "little")
            break
        p += 8 + msize
    else:
        raise AssertionError("no continuation or padding message in the root group's header")
    with pytest.raises(Hdf5FormatError, match="continuation loops"):
        _read_all(bytes(data))
    assert _engine(bytes(data), tmp_path).verdict == "error"


def test_huge_counts_end_in_a_limit(tmp_path: Path) -> None:
    import h5py

    def build(f: Any) -> None:
        for i in range(300):
            f.create_group(f"g{i}")

    data = _write(build)
    for limits, name in (
        (Limits(max_structure_items=100), "max_structure_items"),
        (Limits(max_hdf5_metadata_bytes=1 << 14), "max_hdf5_metadata_bytes"),
        (Limits(max_hdf5_objects=50), "max_hdf5_objects"),
    ):
        report = _engine(data, tmp_path, limits)
        assert [(f.rule_id, f.evidence.get("limit")) for f in report.findings] == [
            ("MX-SCAN-002", name)
        ]
        assert report.verdict == "error"
    # a symbol table node claiming 65535 entries runs past the end of the file
    raw = bytearray(data)
    snod = _find(data, b"SNOD")
    raw[snod + 6 : snod + 8] = b"\xff\xff"
    with pytest.raises(Hdf5FormatError):
        _read_all(bytes(raw))
    assert h5py  # the builder's library


def test_a_v2_btree_deeper_than_the_limit_is_a_limit() -> None:
    data = bytearray(_dense_sample())
    bthd = _find(bytes(data), b"BTHD")
    data[bthd + 12 : bthd + 14] = (60000).to_bytes(2, "little")
    with pytest.raises(BudgetExceeded) as exc:
        _read_all(bytes(data))
    assert exc.value.limit == "max_structure_depth"


def test_a_user_defined_link_is_a_finding(tmp_path: Path) -> None:
    """HDF5 resolves a user-defined link class with a plugin: reported, not skipped."""
    data = bytearray(_dense_sample())
    # a soft link message body: version 1, flags (type present), type 1 -> type 65
    at = data.find(b"\x01\x08\x01\x02l0")
    if at < 0:
        at = data.find(b"\x01\x09\x01")
    assert at >= 0
    data[at + 2] = 65
    findings = _engine(bytes(data), tmp_path).findings
    assert any(f.rule_id == "MX-KERAS-301" and "user-defined" in f.message for f in findings), [
        (f.rule_id, f.message) for f in findings
    ]


def test_hdf5_is_read_without_a_process(
    cve_h5: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No fork, no worker, no libhdf5: a .keras (whose model.weights.h5 is a zip member) and
    an .h5 are read in-process, with the same findings."""
    import os
    import sys

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("the HDF5 reader started a process")

    monkeypatch.setattr(os, "fork", refuse)
    monkeypatch.setattr(os, "posix_spawn", refuse, raising=False)
    monkeypatch.delitem(sys.modules, "h5py", raising=False)
    monkeypatch.setitem(sys.modules, "h5py", None)  # importing it would fail
    keras = modelxray.scan(str(cve_h5["cve_2026_1669_keras"].path))
    assert {"MX-KERAS-301", "MX-KERAS-303"} <= {f.rule_id for f in keras.findings}
    legacy = modelxray.scan(str(cve_h5["cve_2026_1669_h5"].path))
    assert {"MX-KERAS-303", "MX-KERAS-304"} <= {f.rule_id for f in legacy.findings}
    clean = modelxray.scan(str(cve_h5["base_keras"].path))
    assert clean.verdict == "allowed" and not clean.failed


def test_agrees_with_h5py_on_the_real_world_hdf5_files() -> None:
    """Every HDF5 file of the real-world corpus the suite scans (PyTables' test files: old
    formats, big-endian and compound types, dense groups, user blocks; Keras weights)."""
    from tests.test_realworld import FAST, _folder

    blobs = []
    for key in FAST:
        for p in sorted(_folder(key).rglob("*")):
            if p.is_file() and not p.is_symlink():
                with p.open("rb") as f:
                    head = f.read(8)
                if head == MAGIC:
                    blobs.extend(_hdf5_blobs(p))
    assert len(blobs) >= 40
    _assert_agree(blobs)
