"""Seed corpora for the fuzz harnesses, built from the test fixtures.

Sources: ``tests/data/**``, ``examples/``, the pickle samples of ``tests/pickle_samples.py``,
optionally the Keras corpus of ``tests/factories/keras_models.py`` (slow: it trains nothing
but builds ~100 models), and small files written here with the real libraries (zipfile,
tarfile, gzip, h5py, gguf, safetensors, onnx, msgpack) when they are installed.

Every seed is built, never loaded: nothing here unpickles or unmarshals anything.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "examples"
MAX_SEED_BYTES = 1 << 20  # seeds are small: libFuzzer mutates better and runs faster

Seeds = dict[str, bytes]


def _files(root: Path, patterns: Iterable[str]) -> Seeds:
    out: Seeds = {}
    if not root.is_dir():
        return out
    for pattern in patterns:
        for p in sorted(root.glob(pattern)):
            if p.is_file() and p.stat().st_size <= MAX_SEED_BYTES:
                out[str(p.relative_to(ROOT))] = p.read_bytes()
    return out


# --------------------------------------------------------------------------- per kind


def pickle_seeds() -> Seeds:
    from tests import pickle_samples as ps

    out: Seeds = {f"sample:{k}": v.data for k, v in ps.SAMPLES.items()}
    out["dos:billion_laughs"] = ps.billion_laughs(12)
    out["dos:self_ref"] = ps.self_referencing_list()
    out["dos:deep"] = ps.deep_nesting(200)
    out["dos:marks"] = ps.many_marks(200)
    for proto in range(6):
        benign = {"w": [1.5, 2, None, True], "name": "layer", "t": (1, b"x"), "s": {1, 2}}
        out[f"benign:p{proto}"] = pickle.dumps(benign, protocol=proto)
    # The harness's first byte picks the joblib mode.
    return {k: bytes([i % 3]) + v for i, (k, v) in enumerate(out.items())}


def marshal_seeds() -> Seeds:
    return _files(DATA / "marshal", ["*.bin"])


def savedmodel_seeds() -> Seeds:
    out: Seeds = {}
    for name, data in _files(DATA, ["savedmodel*/**/*.pb", "savedmodel*/**/*.pbtxt"]).items():
        if name.endswith(".pbtxt"):
            sel = 3
        elif name.endswith("keras_metadata.pb"):
            sel = 2
        elif name.endswith("frozen_graph.pb"):
            sel = 1
        else:
            sel = 0
        out[name] = bytes([sel]) + data
    return out


def protobuf_seeds() -> Seeds:
    out = _files(DATA, ["savedmodel*/**/*.pb"])
    out.update(onnx_seeds())
    return out


def _keras_configs_from(path: Path) -> Seeds:
    out: Seeds = {}
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for n in z.namelist():
                if n.endswith(".json"):
                    out[f"{path.name}:{n}"] = z.read(n)
    elif data[:8] == b"\x89HDF\r\n\x1a\n":
        import h5py  # reading attribute strings is parsing, not loading

        with h5py.File(path, "r") as f:
            for key in ("model_config", "training_config"):
                v = f.attrs.get(key)
                if v is not None:
                    out[f"{path.name}:{key}"] = v if isinstance(v, bytes) else str(v).encode()
    elif path.suffix == ".json":
        out[path.name] = data
    return out


def keras_json_seeds(corpus: Iterable[Path] = ()) -> Seeds:
    out: Seeds = {}
    for p in [*sorted(EXAMPLES.glob("*")), *corpus]:
        if p.is_file():
            try:
                out.update(_keras_configs_from(p))
            except Exception:  # noqa: BLE001 - a seed we cannot extract is just skipped
                continue
    return {k: v for k, v in out.items() if len(v) <= MAX_SEED_BYTES}


def hdf5_seeds(corpus: Iterable[Path] = ()) -> Seeds:
    out = _files(EXAMPLES, ["*.h5"])
    for p in corpus:
        if p.suffix == ".h5" and p.stat().st_size <= MAX_SEED_BYTES:
            out[p.name] = p.read_bytes()
    try:
        import h5py
        import numpy as np
    except ImportError:
        return out
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "small.h5")
        with h5py.File(path, "w") as f:
            f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {}})
            f.attrs["keras_version"] = "2.15.0"
            g = f.create_group("model_weights/dense")
            g.attrs["weight_names"] = [b"dense/kernel:0"]
            g.create_dataset("kernel", data=np.zeros((2, 2), dtype="float32"))
        out["synthetic:small.h5"] = Path(path).read_bytes()
    return out


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as t:  # type: ignore[call-overload]
        for n, d in members.items():
            info = tarfile.TarInfo(n)
            info.size = len(d)
            t.addfile(info, io.BytesIO(d))
        link = tarfile.TarInfo("link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../etc/passwd"
        t.addfile(link)
    return buf.getvalue()


_PK = pickle.dumps({"a": [1, 2, 3]}, protocol=2)
_JSON = b'{"class_name": "Sequential", "config": {"layers": []}, "keras_version": "3.5.0"}'


def zip_seeds() -> Seeds:
    out = _files(EXAMPLES, ["*.keras"])
    out.update(_files(DATA / "torch_package", ["*.pt"]))  # torch.package layouts
    out["synthetic:torch-like"] = _zip({"archive/data.pkl": _PK, "archive/version": b"3\n"})
    out["synthetic:stored"] = _zip({"config.json": _JSON, "a/../../x": b"x"}, zipfile.ZIP_STORED)
    out["synthetic:nested"] = _zip({"inner.zip": _zip({"data.pkl": _PK})})
    return out


def tar_seeds() -> Seeds:
    members = {"model/config.json": _JSON, "model/data.pkl": _PK, "../escape": b"x"}
    return {"synthetic:tar": _tar(members), "synthetic:tar.gz": _tar(members, "w:gz")}


def compressed_seeds() -> Seeds:
    return {
        "gz": gzip.compress(_PK),
        "bz2": bz2.compress(_JSON),
        "xz": lzma.compress(_PK),
        "gz-tar": gzip.compress(_tar({"m.pkl": _PK})),
    }


def gguf_seeds() -> Seeds:
    def s(raw: bytes) -> bytes:
        return struct.pack("<Q", len(raw)) + raw

    def kv_str(k: str, v: str) -> bytes:
        return s(k.encode()) + struct.pack("<I", 8) + s(v.encode())

    kvs = [
        kv_str("general.architecture", "llama"),
        kv_str("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}"),
        s(b"tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2) + s(b"<s>") + s(b"{{"),
        s(b"general.alignment") + struct.pack("<II", 4, 32),
    ]
    tensors = [s(b"w") + struct.pack("<I", 2) + struct.pack("<QQ", 4, 4) + struct.pack("<IQ", 0, 0)]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    body = head + b"".join(kvs) + b"".join(tensors)
    body += b"\x00" * (-len(body) % 32) + b"\x00" * 64
    out = {"hand:v3": body}
    try:
        import gguf
        import numpy as np
    except ImportError:
        return out
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.gguf")
        w = gguf.GGUFWriter(path, arch="llama")
        w.add_chat_template("{{ messages[0].content }}")
        w.add_tensor("norm.weight", np.zeros((8,), dtype=np.float16))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        out["gguf-lib"] = Path(path).read_bytes()
    return out


def safetensors_seeds() -> Seeds:
    header = {
        "__metadata__": {"format": "pt", "chat_template": "{{ x }}"},
        "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]},
    }
    raw = json.dumps(header).encode()
    out = {"hand": struct.pack("<Q", len(raw)) + raw + b"\x00" * 20}
    try:
        import numpy as np
        from safetensors.numpy import save
    except ImportError:
        return out
    out["lib"] = save({"a": np.zeros((3, 2), dtype=np.float32), "i": np.arange(4)})
    return out


def onnx_seeds() -> Seeds:
    try:
        from onnx import TensorProto, helper
    except ImportError:
        return {}
    node = helper.make_node("Add", ["x", "w"], ["y"])
    ext = TensorProto()
    ext.name = "w"
    ext.data_type = TensorProto.FLOAT
    ext.dims.extend([2])
    ext.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "8")):
        e = ext.external_data.add()
        e.key, e.value = k, v
    graph = helper.make_graph(
        [node, helper.make_node("Custom", ["y"], ["z"], domain="com.example")],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
        [ext],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return {"onnx:external": model.SerializeToString()}


def tflite_seeds() -> Seeds:
    return _files(DATA / "tflite", ["*.tflite"])


def msgpack_seeds() -> Seeds:
    try:
        import msgpack
    except ImportError:
        return {}
    state = {"params": {"dense": {"kernel": {"__msgpack_ndarray__": [1, 2]}, "bias": [0.0]}}}
    return {"flax": msgpack.packb(state), "list": msgpack.packb([1, "a", b"b", {"k": None}])}


def manifest_seeds() -> Seeds:
    """tests/data/manifests files, each behind the byte that picks its reader."""
    picks = {".txt": 0, ".yaml": 1, ".yml": 1, ".toml": 2}
    out: Seeds = {}
    for name, data in _files(DATA / "manifests", ["**/*.txt", "**/*.yaml", "**/*.yml",
                                                 "**/*.toml"]).items():  # fmt: skip
        pick = 3 if name.endswith("python_env.yaml") else picks[Path(name).suffix]
        out[name] = bytes([pick]) + data
    return out


def template_seeds() -> Seeds:
    """Real chat templates (llama.cpp's copies of Hugging Face repositories' files)."""
    return _files(DATA / "templates" / "llama_cpp", ["*.jinja"])


def hub_config_seeds() -> Seeds:
    """Hub configs written by peft, diffusers, sentence-transformers and transformers."""
    return _files(DATA / "hubconfigs", ["**/*.json"])


def notebook_seeds() -> Seeds:
    """Notebooks with the constructs the notebook analyser reads (cell magics, get_ipython()
    calls, script-bearing outputs, widget state); harmless payloads."""
    cells = [
        {
            "cell_type": "code",
            "source": "%%writefile -a ~/.bashrc\necho hi\n",
            "outputs": [
                {
                    "output_type": "display_data",
                    "data": {
                        "text/html": "<iframe srcdoc='<script>x</script>'></iframe><img onerror=x>",
                        "application/javascript": "IPython.notebook.kernel.execute('1')",
                        "image/svg+xml": "<svg><a href='javascript:x'>a</a></svg>",
                    },
                }
            ],
        },
        {"cell_type": "code", "source": "%%capture\n%%bash\necho hi >> ~/.profile\n"},
        {
            "cell_type": "code",
            "source": "ip = get_ipython()\nip.run_cell_magic('sh', '', 'ls')\n"
            "%timeit -n 1 x\n%run https://example.invalid/x.py\n",
        },
        {"cell_type": "markdown", "source": "[x](javascript:alert(1))"},
    ]
    widgets = {
        "application/vnd.jupyter.widget-state+json": {
            "state": {"m": {"model_module": "x-widgets", "state": {"value": "<b onclick=x>b</b>"}}}
        }
    }
    v4 = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"widgets": widgets}, "cells": cells}
    v3 = {
        "nbformat": 3,
        "worksheets": [
            {
                "cells": [
                    {
                        "cell_type": "code",
                        "input": "!ls > ~/.ssh/x",
                        "outputs": [{"html": "<script>"}],
                    }
                ]
            }
        ],
    }
    return {"v4": json.dumps(v4).encode(), "v3": json.dumps(v3).encode()}  # fmt: skip


def yaml_config_seeds() -> Seeds:
    """Hydra/NeMo-style configs: _target_ keys, interpolations, resolvers, Python tags, aliases,
    a Hydra override list (the shapes formats/yaml_config.py claims)."""
    return {
        "hydra": b"defaults:\n  - _self_\nmodel:\n  _target_: torch.nn.Linear\n"
        b"  in_features: ${trainer.n}\n  _partial_: true\ntrainer:\n  n: 4\n"
        b"  home: ${oc.env:HOME,/tmp}\n",
        "flow": b"a: &x {_target_: x.Y, l: [1, 2, {b: c}]}\nb: *x\nc: ${eval:'1+1'}\n",
        "tags": b"--- !!python/object/apply:os.path.join ['a', 'b']\n...\n"
        b"--- {t: !!python/tuple [1, 2], n: !!python/name:builtins.len}\n",
        "overrides": b"- model._target_=x.Y\n- '+cb={_target_: a.B}'\n- trainer.max_epochs=3\n",
        "nemo": b"target: nemo.collections.asr.models.EncDecCTCModel\nencoder:\n"
        b"  _target_: nemo.collections.asr.modules.ConformerEncoder\n  feat_in: 80\n"
        b"  text: |\n    block ${a.b}\n",
    }


_BUILDERS = {
    "pickle": pickle_seeds,
    "marshal": marshal_seeds,
    "savedmodel": savedmodel_seeds,
    "protobuf": protobuf_seeds,
    "keras_json": keras_json_seeds,
    "hdf5": hdf5_seeds,
    "zip": zip_seeds,
    "tar": tar_seeds,
    "compressed": compressed_seeds,
    "gguf": gguf_seeds,
    "safetensors": safetensors_seeds,
    "onnx": onnx_seeds,
    "tflite": tflite_seeds,
    "msgpack": msgpack_seeds,
    "template": template_seeds,
    "hub_config": hub_config_seeds,
    "notebook": notebook_seeds,
    "manifest": manifest_seeds,
    "yaml_config": yaml_config_seeds,
}


def seeds(kinds: Iterable[str], corpus: Iterable[Path] = ()) -> Seeds:
    """Every seed of the given kinds (``"*"`` = all; the engine harness starts from all)."""
    corpus = list(corpus)
    wanted = list(_BUILDERS) if "*" in kinds else list(kinds)
    out: Seeds = {}
    for kind in wanted:
        builder = _BUILDERS[kind]
        if kind in ("keras_json", "hdf5"):
            got = builder(corpus)  # type: ignore[operator]
        else:
            got = builder()
        for k, v in got.items():
            # The engine harness's first byte picks a file name; keep seeds' own bytes whole.
            out[f"{kind}:{k}"] = (b"\x00" + v) if "*" in kinds else v
    return out


def keras_corpus_files(outdir: Path) -> list[Path]:
    """Build the Keras fixture corpus (slow; needs keras + torch) and list its files."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    from tests.factories.keras_models import build_keras_corpus

    samples = build_keras_corpus(outdir)
    return sorted({s.path for s in samples.values() if s.path.is_file()})
