"""Keras weights (``.keras`` archives and ``.h5`` files) → tensors, plus a defanged config.

Every numeric HDF5 dataset reached through hard links becomes a tensor named by its
HDF5 path (``layers/dense/vars/0``, ``model_weights/dense/dense/kernel:0``), so layer
and weight names are kept.  Datasets whose bytes live outside the file (external
storage, virtual datasets) are never read.  The model config is returned beside the
weights with every Lambda's function removed and every reference to a module outside
Keras flagged; nothing in it is deserialised.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from modelxray.artifact import Artifact
from modelxray.budget import Budget, Limits

from .common import CHUNK, ConvertError, Extraction, SourceBytes, SourceTensor
from .numpy_arrays import NUMPY_DTYPES

_LAMBDA_FIELDS = ("function", "output_shape", "mask", "function_type", "module")
_SAFE_MODULE_PREFIXES = ("keras", "tf_keras", "tensorflow.keras", "builtins")
_LAMBDA_CLASSES = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


def sanitize_config(doc: Any) -> tuple[Any, list[str], list[str]]:
    """A copy of a Keras config with Lambda code removed; returns (config, removed, flagged)."""
    removed: list[str] = []
    flagged: list[str] = []

    def walk(v: Any, path: str, depth: int) -> Any:
        if depth > 200:
            removed.append(f"{path}: nested too deeply; dropped")
            return None
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            is_lambda = v.get("class_name") in _LAMBDA_CLASSES
            for k, item in v.items():
                sub = f"{path}.{k}"
                if k == "config" and is_lambda and isinstance(item, dict):
                    cfg: dict[str, Any] = {}
                    for ck, cv in item.items():
                        if ck in _LAMBDA_FIELDS and cv is not None:
                            removed.append(f"{sub}.{ck}")
                            cfg[ck] = None
                        else:
                            cfg[ck] = walk(cv, f"{sub}.{ck}", depth + 1)
                    out[k] = cfg
                    continue
                if k == "module" and isinstance(item, str) and item:
                    if not item.startswith(_SAFE_MODULE_PREFIXES):
                        flagged.append(f"{sub}: module {item!r} is outside Keras")
                out[k] = walk(item, sub, depth + 1)
            if is_lambda:
                out["modelxray_removed"] = "Lambda function removed: rebuild it in code"
            return out
        if isinstance(v, list):
            return [walk(x, f"{path}[{i}]", depth + 1) for i, x in enumerate(v)]
        return v

    return walk(doc, "$", 0), removed, flagged


def _datasets(f: Any, budget: Budget, ext: Extraction) -> list[tuple[str, Any]]:
    import h5py

    out: list[tuple[str, Any]] = []
    todo: list[tuple[str, Any]] = [("", f)]
    seen = 0
    while todo:
        path, group = todo.pop()
        for key in sorted(group.keys()):
            seen += 1
            budget.require(seen <= budget.limits.max_hdf5_objects, "max_hdf5_objects", "too many")
            budget.tick()
            full = f"{path}/{key}" if path else key
            link = group.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                ext.dropped.append((full, f"{type(link).__name__} not followed"))
                continue
            obj = group.get(key)
            if isinstance(obj, h5py.Group):
                todo.append((full, obj))
            elif isinstance(obj, h5py.Dataset):
                out.append((full, obj))
    out.sort(key=lambda x: x[0])
    return out


def _extract_h5(
    opener: Callable[[], Any], limits: Limits, ext: Extraction, container: str = ""
) -> Any:
    """Tensors from an HDF5 weights file; returns the ``model_config`` attribute if any."""
    import h5py

    budget = Budget(limits)
    config: Any = None
    with h5py.File(opener(), "r") as f:
        raw = f.attrs.get("model_config")
        if raw is not None:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
            try:
                config = json.loads(text)
            except json.JSONDecodeError:
                ext.dropped.append(("model_config", "not JSON"))
        for path, ds in _datasets(f, budget, ext):
            if ds.is_virtual or ds.external:
                ext.dropped.append((path, "data stored outside the file: never read"))
                continue
            dt = ds.dtype
            st = NUMPY_DTYPES.get((dt.kind, dt.itemsize))
            if st is None or dt.hasobject or dt.fields:
                ext.dropped.append((path, f"dtype {dt} is not numeric"))
                continue
            shape = tuple(int(x) for x in ds.shape) if ds.shape is not None else ()
            # bytes the file really holds for it (a dataset never written is fill values)
            ext.source_bytes += int(ds.id.get_storage_size())
            ext.add(
                SourceTensor(
                    path,
                    st,
                    shape,
                    _dataset_chunks(opener, path),
                    path,
                    SourceBytes("hdf5", member=path, container=container),
                )
            )
    return config


def _dataset_chunks(opener: Callable[[], Any], path: str) -> Callable[[], Iterator[bytes]]:
    def produce() -> Iterator[bytes]:
        import h5py
        import numpy as np

        with h5py.File(opener(), "r") as f:
            ds = f[path]
            arr = np.asarray(ds[()])
        le = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        data = np.ascontiguousarray(arr.astype(le, copy=False)).tobytes()
        for i in range(0, len(data), CHUNK):
            yield data[i : i + CHUNK]

    return produce


def extract_h5(artifact: Artifact, limits: Limits) -> Extraction:
    ext = Extraction("keras-h5")
    config = _extract_h5(artifact.opener, limits, ext)
    _attach_config(ext, config)
    return ext


def extract_keras_zip(artifact: Artifact, limits: Limits) -> Extraction:
    from modelxray.containers.zip import member_data_offset, member_opener, read_central_directory

    ext = Extraction("keras-v3")
    with artifact.open() as f:
        listed = read_central_directory(f, artifact.size, limits)
        members = {m.name: m for m in listed}
        for wanted in ("model.weights.h5", "config.json"):
            if sum(m.name == wanted for m in listed) > 1:
                raise ConvertError(
                    f"duplicate archive member {wanted!r}: loaders disagree on which copy "
                    "they read; not converted"
                )
        offsets = {n: member_data_offset(f, m)[0] for n, m in members.items() if not m.is_dir}
    weights = members.get("model.weights.h5")
    if weights is None:
        raise ConvertError(".keras archive has no model.weights.h5")
    w_open = member_opener(artifact, weights, offsets[weights.name], limits)
    if weights.method != 0:  # h5py needs cheap seeks: hold a compressed member in memory
        size = weights.size
        if size > limits.max_buffered_member_bytes:
            raise ConvertError("compressed model.weights.h5 is larger than the buffer limit")
        with w_open() as wf:
            data = wf.read(size + 1)

        def w_open_mem() -> IO[bytes]:
            return io.BytesIO(data)

        opener: Callable[[], IO[bytes]] = w_open_mem
    else:
        opener = w_open
    _extract_h5(opener, limits, ext, weights.name)
    config: Any = None
    if "config.json" in members:
        cfg = members["config.json"]
        if cfg.size > limits.max_json_bytes:
            raise ConvertError("config.json is larger than the JSON limit")
        with member_opener(artifact, cfg, offsets["config.json"], limits)() as cf:
            try:
                config = json.loads(cf.read(limits.max_json_bytes).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                ext.dropped.append(("config.json", "not JSON"))
    _attach_config(ext, config)
    return ext


def _attach_config(ext: Extraction, config: Any) -> None:
    if config is None:
        return
    clean, removed, flagged = sanitize_config(config)
    ext.sidecar = {
        "modelxray": {
            "note": "Keras model config with Lambda code removed; references outside Keras "
            "are listed under 'flagged'. Nothing in it was deserialised.",
            "removed": removed,
            "flagged": flagged,
        },
        "config": clean,
    }
