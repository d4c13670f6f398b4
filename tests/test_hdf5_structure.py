"""HDF5 structure checks (MX-KERAS-30x): links, external storage, virtual datasets, shape
bombs — found from metadata only, never by following a link or reading data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import modelxray
from modelxray.budget import Limits
from modelxray.engine import ScanOptions
from modelxray.model import Finding, Severity


def _findings(path: object, limits: Limits | None = None) -> list[Finding]:
    options = ScanOptions(limits=limits) if limits else None
    return modelxray.scan(str(path), options).findings


def _rules(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def test_keras_weights_member_links_are_reported(cve_h5: dict[str, Any]) -> None:
    findings = _findings(cve_h5["cve_2026_1669_keras"].path)
    link = [f for f in findings if f.rule_id == "MX-KERAS-301"]
    assert link and link[0].evidence["file"] == "/tmp/modelxray_marker_secret.h5"
    # located inside the archive member
    assert "model.weights.h5" in link[0].location.inner
    storage = [f for f in findings if f.rule_id == "MX-KERAS-303"]
    assert storage[0].evidence["external"][0][0] == "/tmp/modelxray_marker_passwd"
    assert storage[0].evidence["cve"] == "CVE-2026-1669"
    assert storage[0].evidence["claimed_keras_version"].startswith("3.")


def test_legacy_h5_external_storage_and_virtual(cve_h5: dict[str, Any]) -> None:
    findings = _findings(cve_h5["cve_2026_1669_h5"].path)
    assert {"MX-KERAS-303", "MX-KERAS-304"} <= _rules(findings)
    (vds,) = [f for f in findings if f.rule_id == "MX-KERAS-304"]
    assert vds.evidence["source_files"] == ["/tmp/modelxray_marker_other.h5"]


def test_shape_bomb_is_reported_without_allocating(cve_h5: dict[str, Any]) -> None:
    findings = _findings(cve_h5["cve_2026_0897_h5"].path)
    (bomb,) = [f for f in findings if f.rule_id == "MX-KERAS-305"]
    assert bomb.evidence["declared_bytes"] == 10**15 * 8
    assert bomb.evidence["stored_bytes"] == 0
    assert bomb.severity == Severity.MEDIUM


def test_real_weights_files_have_no_structure_finding(cve_h5: dict[str, Any]) -> None:
    for name in ("base_keras", "base_h5", "base_weights_h5"):
        findings = _findings(cve_h5[name].path)
        assert not [f for f in findings if f.rule_id.startswith("MX-KERAS-3")], name


def _make(path: Path, build: Any) -> Path:
    import h5py

    with h5py.File(path, "w") as f:
        build(f)
    return path


def test_soft_links(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    def build(f: Any) -> None:
        f.create_dataset("data/kernel", data=np.zeros(3, "f4"))
        f["ok_abs"] = h5py.SoftLink("/data/kernel")
        f["data/ok_rel"] = h5py.SoftLink("kernel")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["loop_a"] = h5py.SoftLink("/loop_b")
        f["loop_b"] = h5py.SoftLink("/loop_a")
        f["escape"] = h5py.ExternalLink("/tmp/modelxray_marker_ext.h5", "/")
        f["via_external"] = h5py.SoftLink("/escape/data")

    findings = _findings(_make(tmp_path / "links.h5", build))
    soft = {
        f.evidence["link"]: f.evidence["problem"] for f in findings if f.rule_id == "MX-KERAS-302"
    }
    assert set(soft) == {"/dangling", "/loop_a", "/loop_b", "/via_external"}
    assert "dangles" in soft["/dangling"]
    assert "loop" in soft["/loop_a"]
    assert "external link" in soft["/via_external"]
    assert [f.evidence["link"] for f in findings if f.rule_id == "MX-KERAS-301"] == ["/escape"]


def test_hard_link_cycles_and_object_limit(tmp_path: Path) -> None:
    def build(f: Any) -> None:
        g = f.create_group("a")
        g["back"] = f["a"]  # hard link cycle: /a/back is /a
        for i in range(20):
            f.create_group(f"g{i}")

    path = _make(tmp_path / "cycle.h5", build)
    assert not [f for f in _findings(path) if f.severity >= Severity.LOW]
    limited = _findings(path, Limits(max_hdf5_objects=5))
    assert any(
        f.rule_id == "MX-SCAN-002" and f.evidence.get("limit") == "max_hdf5_objects"
        for f in limited
    )


def test_declared_size_limit_is_configurable(tmp_path: Path) -> None:
    def build(f: Any) -> None:
        f.create_dataset("w", shape=(1024, 1024), dtype="f8", chunks=(8, 8))  # 8 MiB, unwritten

    path = _make(tmp_path / "small.h5", build)
    assert "MX-KERAS-305" not in _rules(_findings(path))
    assert "MX-KERAS-305" in _rules(_findings(path, Limits(max_hdf5_declared_bytes=1 << 20)))


def test_references_out_of_a_file_keras_does_not_read_are_medium(tmp_path: Path) -> None:
    """An external link in an HDF5 data file (PyTables' own test files have them) is what
    h5py follows when that data is read: medium.  The same link where Keras reads the file
    (root ``model_config``/``layer_names`` or a ``model_weights`` group) keeps its severity."""
    import h5py

    def data(f: Any) -> None:
        f.attrs["CLASS"] = "GROUP"
        f.create_group("pep")
        f["pep/pep2"] = h5py.ExternalLink("elink2.h5", "/pep")

    def keras_attrs(f: Any) -> None:
        data(f)
        f.attrs["layer_names"] = [b"dense"]

    def keras_group(f: Any) -> None:
        f.create_group("model_weights")
        f["model_weights/w"] = h5py.ExternalLink("/tmp/modelxray_marker.h5", "/x")

    plain = _findings(_make(tmp_path / "data.h5", data))
    assert [(f.rule_id, f.severity) for f in plain] == [("MX-KERAS-301", Severity.MEDIUM)]
    assert "no Keras structure" in plain[0].message
    assert modelxray.scan(str(tmp_path / "data.h5")).files[0].verdict == "allowed"
    for name, build in (("attrs.h5", keras_attrs), ("group.h5", keras_group)):
        found = _findings(_make(tmp_path / name, build))
        assert [(f.rule_id, f.severity) for f in found] == [("MX-KERAS-301", Severity.HIGH)]


def test_values_h5py_cannot_convert_are_not_scan_errors(tmp_path: Path) -> None:
    """An empty root attribute (libhdf5 reports its 0-byte size as an error) and a dataset of a
    type NumPy has no equivalent for (quad precision) are read as structure, not errors."""
    import h5py

    def build(f: Any) -> None:
        f.attrs.create("TITLE", h5py.Empty("S1"))
        quad = h5py.h5t.IEEE_F64LE.copy()
        quad.set_size(16)
        quad.set_precision(128)
        quad.set_fields(127, 112, 15, 0, 112)
        quad.set_ebias(16383)
        h5py.h5d.create(f.id, b"quad", quad, h5py.h5s.create_simple((4,)))

    path = _make(tmp_path / "exotic.h5", build)
    report = modelxray.scan(str(path))
    assert report.files[0].findings == [] and report.files[0].verdict == "allowed"


def test_small_and_large_files_are_judged_alike(tmp_path: Path) -> None:
    """A file of up to a megabyte is read whole, a larger one page by page: the same hostile
    structure is reported the same either way."""
    import h5py
    import numpy as np

    def build(pad: int) -> Any:
        def make(f: Any) -> None:
            f.attrs["keras_version"] = "3.8.0"
            w = f.create_group("model_weights")
            w.create_dataset("pad", data=np.zeros(pad, "f8"))
            w["escape"] = h5py.ExternalLink("/tmp/modelxray_marker_ext.h5", "/")
            w["dangling"] = h5py.SoftLink("/nowhere")
            f.create_dataset("stored", shape=(4,), dtype="f4", external=[("/tmp/mx.bin", 0, 16)])
            layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
            layout[:] = h5py.VirtualSource("/tmp/mx_src.h5", "data", shape=(4,))
            f.create_virtual_dataset("virtual", layout)
            f.create_dataset("bomb", shape=(10**6, 10**6), dtype="f8", chunks=(1, 1000))

        return make

    small = _make(tmp_path / "small.h5", build(8))
    large = _make(tmp_path / "large.h5", build(300_000))
    assert small.stat().st_size < 1 << 20 < large.stat().st_size

    def seen(path: Path) -> list[tuple[str, str, str]]:
        return sorted(
            (f.rule_id, f.location.inner[-1], f.severity.name)
            for f in _findings(path)
            if f.rule_id.startswith("MX-KERAS-3")
        )

    expected = [
        ("MX-KERAS-301", "hdf5:/model_weights/escape", "HIGH"),
        ("MX-KERAS-302", "hdf5:/model_weights/dangling", "MEDIUM"),
        ("MX-KERAS-303", "hdf5:/stored", "HIGH"),
        ("MX-KERAS-304", "hdf5:/virtual", "HIGH"),
        ("MX-KERAS-305", "hdf5:/bomb", "MEDIUM"),
    ]
    assert seen(small) == expected
    assert seen(large) == expected
