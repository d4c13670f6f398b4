"""The structure of an HDF5 file as h5py (libhdf5) sees it, and as modelxray's pure-Python
reader sees it, in one comparable shape.  Test-time only: h5py is the oracle."""

from __future__ import annotations

import io
from typing import Any

from modelxray.budget import Limits
from modelxray.formats.hdf5_struct import (
    LAYOUT_VIRTUAL,
    LINK_EXTERNAL,
    LINK_HARD,
    LINK_SOFT,
    Hdf5File,
    Hdf5FormatError,
)

Structure = dict[str, Any]


def _text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _h5py_attr_text(value: Any) -> str | None:
    """What the HDF5 reader took from h5py before it read HDF5 itself (its ``attr_text``)."""
    if not isinstance(value, (bytes, str)) and getattr(value, "shape", None) in ((), (1,)):
        value = value.reshape(-1)[0]
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value
    return None


def h5py_structure(data: bytes) -> Structure:
    import h5py

    out: Structure = {"attrs": {}, "links": {}, "datasets": {}}
    with h5py.File(io.BytesIO(data), "r") as f:
        for key in f.attrs:
            try:
                text = _h5py_attr_text(f.attrs[key])
            except (TypeError, ValueError, OSError, RuntimeError):
                continue
            if text is not None:
                out["attrs"][_text(key)] = text
        seen: set[int] = set()
        stack: list[tuple[Any, str]] = [(f, "/")]
        while stack:
            group, gpath = stack.pop()
            for name in group:
                path = gpath.rstrip("/") + "/" + _text(name)
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    out["links"][path] = ("external", _text(link.path), _text(link.filename))
                elif isinstance(link, h5py.SoftLink):
                    out["links"][path] = ("soft", _text(link.path), "")
                else:
                    obj = group[name]
                    addr = h5py.h5o.get_info(obj.id).addr
                    kind = (
                        "group"
                        if isinstance(obj, h5py.Group)
                        else "dataset"
                        if isinstance(obj, h5py.Dataset)
                        else "other"
                    )
                    out["links"][path] = ("hard", kind, addr)
                    if addr in seen:
                        continue
                    seen.add(addr)
                    if kind == "group":
                        stack.append((obj, path))
                    elif kind == "dataset":
                        out["datasets"][path] = _h5py_dataset(obj)
    return out


def _h5py_dataset(dset: Any) -> dict[str, Any]:
    dcpl = dset.id.get_create_plist()
    external = [
        (_text(n), int(o), int(s))
        for n, o, s in (dcpl.get_external(i) for i in range(dcpl.get_external_count()))
    ]
    virtual = (
        sorted({_text(s.file_name) for s in dset.virtual_sources()}) if dset.is_virtual else []
    )
    return {
        "shape": dset.shape,
        "itemsize": int(dset.id.get_type().get_size()),
        "layout": int(dcpl.get_layout()),
        "external": external,
        "virtual": virtual,
        "stored": int(dset.id.get_storage_size()),
    }


def own_structure(data: bytes, limits: Limits | None = None) -> Structure:
    from modelxray.formats.hdf5 import _MAX_ROOT_ATTRS

    at = 0
    while data[at : at + 8] != b"\x89HDF\r\n\x1a\n":
        at = 512 if at == 0 else at * 2
        if at >= len(data):
            raise Hdf5FormatError("no superblock")
    h5 = Hdf5File(io.BytesIO(data), len(data), at, limits or Limits())
    out: Structure = {"attrs": {}, "links": {}, "datasets": {}}
    root = h5.header(h5.root)
    for attr in h5.attributes(root)[:_MAX_ROOT_ATTRS]:
        text = h5.attribute_text(attr)
        if text is not None:
            out["attrs"][_text(attr.name)] = text
    seen: set[int] = set()
    stack = [(root, "/")]
    while stack:
        group, gpath = stack.pop()
        for link in h5.links(group):
            path = gpath.rstrip("/") + "/" + _text(link.name)
            if link.kind == LINK_EXTERNAL:
                out["links"][path] = ("external", _text(link.target), _text(link.filename))
            elif link.kind == LINK_SOFT:
                out["links"][path] = ("soft", _text(link.target), "")
            elif link.kind == LINK_HARD:
                obj = h5.header(link.address)
                kind = obj.kind if obj.kind in ("group", "dataset") else "other"
                out["links"][path] = ("hard", kind, link.address)
                if link.address in seen:
                    continue
                seen.add(link.address)
                if kind == "group":
                    stack.append((obj, path))
                elif kind == "dataset":
                    out["datasets"][path] = _own_dataset(h5, obj)
    return out


def _own_dataset(h5: Hdf5File, obj: Any) -> dict[str, Any]:
    layout, space, dtype = h5.layout(obj), h5.dataspace(obj), h5.datatype(obj)
    if layout is None or space is None or dtype is None:
        raise Hdf5FormatError("a dataset without layout, dataspace or datatype")
    virtual = (
        sorted({_text(f) for f, _ in h5.virtual_sources(layout)})
        if layout.cls == LAYOUT_VIRTUAL
        else []
    )
    return {
        "shape": space.shape,
        "itemsize": dtype.memory_size,
        "layout": layout.cls,
        "external": [(_text(n), o, s) for n, o, s in h5.external_files(obj)],
        "virtual": virtual,
        "stored": h5.storage_size(
            layout, space.shape or (), dtype.size, bool(h5.external_files(obj))
        ),
    }


def differences(data: bytes) -> list[str]:
    """Where the two readers disagree (empty: they agree).  A storage size the own reader
    does not compute (None: chunk indexes it does not walk) is not a disagreement."""
    theirs, ours = h5py_structure(data), own_structure(data)
    out = []
    for key in ("attrs", "links"):
        if theirs[key] != ours[key]:
            missing = set(theirs[key].items()) ^ set(ours[key].items())
            out.append(f"{key}: {sorted(missing, key=str)[:10]}")
    if set(theirs["datasets"]) != set(ours["datasets"]):
        out.append(f"datasets: {set(theirs['datasets']) ^ set(ours['datasets'])}")
    for path, want in theirs["datasets"].items():
        got = ours["datasets"].get(path)
        if got is None:
            continue
        if got["stored"] is None:
            got = {**got, "stored": want["stored"]}
        if got != want:
            out.append(f"dataset {path}: h5py {want} != own {got}")
    return out
