"""The benchmark corpus: benign models made by the real libraries, harmless malicious samples of
every technique family, and the large inputs of the performance targets.

Nothing here ever loads a sample.  Malicious objects are pickled through ``__reduce__`` (which
only *names* the gadget) or assembled opcode by opcode (``tests/pickle_samples.py``); every
payload only writes ``/tmp/modelxray_marker_<name>`` or echoes ``MODELXRAY_MARKER``.

Large files are sparse: the multi-GB PyTorch checkpoint and the 1 GiB-payload pickle take a few
kilobytes of disk; their payload bytes are holes that read as zeros.
"""

from __future__ import annotations

import io
import os
import pickle
import random
import shutil
import struct
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests import pickle_samples as ps  # noqa: E402

BENIGN = "benign"
BENIGN_LAMBDA = "benign-lambda"  # a real model whose Lambda layer runs (harmless) code on load
MALICIOUS = "malicious"

# Technique families of shared/research/pickle-scanners.md §3.2, plus container baselines.
FAMILIES: dict[str, str] = {
    "T-00": "baseline `os.system` via `__reduce__` (protocols 0-5)",
    "T-01": "`pip.main` (CVE-2025-1716)",
    "T-02": "unlisted stdlib / torch gadgets",
    "T-03": "hidden-subprocess stdlib helpers",
    "T-04": "universal resolvers (getattr, import_module, …)",
    "T-05": "code-object construction / marshal",
    "T-06": "private / unusual stdlib modules",
    "T-07": "third-party gadgets",
    "T-08": "submodule of a listed module (CVE-2025-10157)",
    "T-09": "dotted attribute path through an innocent module",
    "T-10": "attribute planting via BUILD",
    "T-11": "STACK_GLOBAL operands via memo",
    "T-12": "memo spoofing",
    "T-13": "STRING operands, no PROTO",
    "T-14": "crash-the-parser after the payload",
    "T-15": "broken stream after the payload (nullifAI)",
    "T-16": "stacked pickles (incl. legacy `torch.save`)",
    "T-17": "FRAME-boundary divergence (cpython#154848)",
    "T-18": "OBJ call discarded by POP",
    "T-19": "INST / OBJ / NEWOBJ opcodes",
    "Z-00": "`torch.save` ZIP checkpoint with a payload (baseline)",
    "T-23": "ZIP pickle member with a non-pickle name (CVE-2025-1889)",
    "T-24": "ZIP local/central name mismatch (CVE-2025-1944)",
    "T-25": "ZIP flag bits 0x1/0x20/0x40 (CVE-2025-1945)",
    "T-26": "ZIP bad CRC (CVE-2025-10156)",
    "T-27": "corrupt first ZIP member (modelscan#354)",
    "T-28": "plain pickle named .bin/.pt (CVE-2025-10155)",
    "T-29": "legacy-torch magic made by `eval`",
    "T-30": "7z instead of ZIP (nullifAI)",
    "T-31": "compressed joblib / joblib with inline arrays",
    "T-32": "loader-accepted names in a folder (directory mode)",
    "T-33": "NumPy object arrays (.npy/.npz)",
    "T-34": "Keras Lambda / config module references",
    "T-35": "nested pickles",
    "T-36": "TorchScript archive (torch.load weights_only bypass)",
    "T-38": "sleepy pickle (patch the model in memory)",
}


@dataclass(frozen=True)
class Item:
    name: str
    path: Path
    group: str  # BENIGN | BENIGN_LAMBDA | MALICIOUS
    family: str  # a FAMILIES key for malicious items, a format label for benign ones
    note: str = ""


@dataclass
class Corpus:
    root: Path
    items: list[Item] = field(default_factory=list)
    perf: dict[str, Path] = field(default_factory=dict)  # input class -> path
    folder_files: int = 0
    folder_planted: set[str] = field(default_factory=set)  # relative names of planted payloads

    def add(self, name: str, data: bytes, group: str, family: str, note: str = "") -> Path:
        path = self.root / group / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.items.append(Item(name, path, group, family, note))
        return path

    def add_path(self, name: str, path: Path, group: str, family: str, note: str = "") -> None:
        self.items.append(Item(name, path, group, family, note))

    def of(self, group: str) -> list[Item]:
        return [i for i in self.items if i.group == group]


def _quiet() -> None:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    warnings.filterwarnings("ignore")


# --------------------------------------------------------------------------- payload objects


def _evil(tag: str) -> ps.Reduce:
    """An object whose pickle calls ``os.system(<harmless marker command>)``."""
    return ps.Reduce(os.system, (ps.cmd(tag),))


MAL = ps.call1("posix", "system", ps.cmd("bench"))


# --------------------------------------------------------------------------- ZIP byte surgery


def _zip_entries(data: bytes) -> list[tuple[str, int, int]]:
    """(name, local header offset, central directory entry offset) of every member."""
    zf = zipfile.ZipFile(io.BytesIO(data))
    cd = data.rindex(b"PK\x05\x06")
    (cd_offset,) = struct.unpack_from("<I", data, cd + 16)
    out, pos = [], cd_offset
    for info in zf.infolist():
        assert data[pos : pos + 4] == b"PK\x01\x02"
        nlen, xlen, clen = struct.unpack_from("<HHH", data, pos + 28)
        out.append((info.filename, info.header_offset, pos))
        pos += 46 + nlen + xlen + clen
    return out


def _find(entries: list[tuple[str, int, int]], suffix: str) -> tuple[str, int, int]:
    return next(e for e in entries if e[0].endswith(suffix))


def set_flag(data: bytes, member_suffix: str, bit: int) -> bytes:
    """Set a general-purpose flag bit in both the local header and the central directory."""
    buf = bytearray(data)
    _, local, central = _find(_zip_entries(data), member_suffix)
    for at in (local + 6, central + 8):
        (flags,) = struct.unpack_from("<H", buf, at)
        struct.pack_into("<H", buf, at, flags | bit)
    return bytes(buf)


def rename_local(data: bytes, member_suffix: str) -> bytes:
    """Change the member's name in its local header only (central directory keeps the name)."""
    buf = bytearray(data)
    name, local, _ = _find(_zip_entries(data), member_suffix)
    new = name[:-6] + name[-5:-4] + name[-6] + name[-4:]  # same length, different name
    buf[local + 30 : local + 30 + len(name)] = new.encode()
    return bytes(buf)


def zip_members(members: list[tuple[str, bytes]]) -> bytes:
    bio = io.BytesIO()
    with zipfile.ZipFile(bio, "w", zipfile.ZIP_STORED) as zf:
        for name, blob in members:
            zf.writestr(name, blob)
    return bio.getvalue()


def unzip(data: bytes) -> list[tuple[str, bytes]]:
    zf = zipfile.ZipFile(io.BytesIO(data))
    return [(i.filename, zf.read(i)) for i in zf.infolist()]


# --------------------------------------------------------------------------- builders


def _torch_bytes(obj: object, zip_format: bool = True) -> bytes:
    import torch

    bio = io.BytesIO()
    torch.save(obj, bio, _use_new_zipfile_serialization=zip_format)
    return bio.getvalue()


def _state_dict(seed: int) -> dict[str, object]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return {
        "layer.weight": torch.randn(8, 4, generator=g),
        "layer.bias": torch.randn(8, generator=g),
        "step": seed,
    }


def build_benign(c: Corpus, with_keras: bool) -> None:
    import joblib
    import numpy as np
    import safetensors.numpy
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    sd = _state_dict(1)
    c.add("torch_zip.pt", _torch_bytes(sd), BENIGN, "torch-zip")
    c.add("torch_legacy.pt", _torch_bytes(sd, zip_format=False), BENIGN, "torch-legacy")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(3))], lr=0.1, momentum=0.9)
    c.add(
        "torch_ckpt.pth",
        _torch_bytes({"model": _state_dict(2), "optim": opt.state_dict(), "epoch": 3}),
        BENIGN,
        "torch-zip",
        "state_dict + optimizer state",
    )
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    lr = LogisticRegression().fit(x, y)
    tree = DecisionTreeClassifier(max_depth=3).fit(x, y)
    c.add("sklearn_logreg.pkl", pickle.dumps(lr, protocol=5), BENIGN, "sklearn-pickle")
    c.add("sklearn_tree.pkl", pickle.dumps(tree, protocol=4), BENIGN, "sklearn-pickle")
    for name, kw in (("sklearn_tree.joblib", {}), ("sklearn_tree_z.joblib", {"compress": 3})):
        bio = io.BytesIO()
        joblib.dump(tree, bio, **kw)  # type: ignore[arg-type]
        c.add(name, bio.getvalue(), BENIGN, "joblib", "compressed" if kw else "")
    c.add("plain_dict.pkl", pickle.dumps({"a": [1, 2.5, "x"], "b": (1, 2)}), BENIGN, "pickle")
    bio = io.BytesIO()
    np.save(bio, np.arange(100, dtype=np.float32))
    c.add("array.npy", bio.getvalue(), BENIGN, "npy")
    for name, fn in (("arrays.npz", np.savez), ("arrays_z.npz", np.savez_compressed)):
        bio = io.BytesIO()
        fn(bio, a=np.ones((3, 3)), b=np.arange(5))
        c.add(name, bio.getvalue(), BENIGN, "npz")
    c.add(
        "model.safetensors",
        safetensors.numpy.save({"w": np.ones((4, 4), np.float32)}, metadata={"format": "np"}),
        BENIGN,
        "safetensors",
    )
    c.add("model.onnx", _onnx_bytes(0), BENIGN, "onnx")
    c.add("model.gguf", _gguf_bytes(0), BENIGN, "gguf")
    if with_keras:
        _keras(c)


def _onnx_bytes(k: int) -> bytes:
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 4], [float(k), 1.0, 2.0, 3.0])
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], f"g{k}", [inp], [out], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _gguf_bytes(k: int) -> bytes:
    import tempfile

    import gguf
    import numpy as np

    with tempfile.TemporaryDirectory() as td:
        path = Path(td) / "m.gguf"
        w = gguf.GGUFWriter(str(path), "llama")
        w.add_name(f"tiny-{k}")
        w.add_uint32("tiny.id", k)
        w.add_tensor("w", np.full((4, 4), k, dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return path.read_bytes()


def _keras(c: Corpus) -> None:
    _quiet()
    from tests.factories.keras_models import BENIGN as K_BENIGN
    from tests.factories.keras_models import CLEAN as K_CLEAN
    from tests.factories.keras_models import build_keras_corpus

    samples = build_keras_corpus(c.root / "keras")
    for name, s in sorted(samples.items()):
        group = {K_CLEAN: BENIGN, K_BENIGN: BENIGN_LAMBDA}.get(s.expect, MALICIOUS)
        family = "T-34" if group == MALICIOUS else f"keras ({s.kind})"
        c.add_path(f"keras_{name}", s.path, group, family, s.note)


def build_malicious(c: Corpus) -> None:
    import joblib
    import numpy as np

    for name, s in sorted(ps.SAMPLES.items()):
        c.add(f"{name}.pkl", s.data, MALICIOUS, s.family, s.note)

    # --- Z-00 / T-23 .. T-27: a real torch.save ZIP whose data.pkl carries a payload
    base = _torch_bytes({"w": _state_dict(3)["layer.weight"], "cfg": _evil("torchzip")})
    c.add("z00_torch_save_payload.pt", base, MALICIOUS, "Z-00", "torch.save of a __reduce__ obj")
    members = unzip(base)
    renamed = [(n.replace("data.pkl", "data.txt"), b) for n, b in members]
    c.add("t23_member_named_txt.pt", zip_members(renamed), MALICIOUS, "T-23")
    c.add("t24_local_name_mismatch.pt", rename_local(base, "data.pkl"), MALICIOUS, "T-24")
    for bit in (0x1, 0x20, 0x40):
        c.add(f"t25_flag_{bit:#04x}.pt", set_flag(base, "data.pkl", bit), MALICIOUS, "T-25")
    marker = ps.marker_path("torchzip").encode()
    c.add(
        "t26_bad_crc.pt",
        base.replace(marker, marker[:-1] + b"X", 1),
        MALICIOUS,
        "T-26",
        "payload bytes edited after the CRC was computed",
    )
    first = [("archive/aaa_first", b"x" * 64), *members]
    plain = zip_members(first)
    c.add("t27_first_member_flag.pt", set_flag(plain, "aaa_first", 0x1), MALICIOUS, "T-27")
    bad_method = bytearray(plain)
    _, local, central = _find(_zip_entries(plain), "aaa_first")
    struct.pack_into("<H", bad_method, local + 8, 99)
    struct.pack_into("<H", bad_method, central + 10, 99)
    c.add("t27_first_member_method99.pt", bytes(bad_method), MALICIOUS, "T-27")

    # --- T-28: plain pickle under torch names
    proto2 = pickle.dumps(_evil("ext"), protocol=2)
    c.add("t28_plain_pickle.bin", proto2, MALICIOUS, "T-28")
    c.add("t28_plain_pickle.pt", proto2, MALICIOUS, "T-28")

    # --- T-29: legacy torch layout whose magic number is produced by eval
    magic = ps.glob("builtins", "eval") + ps.unicode0("0x1950A86A20F9469CFC6C") + ps.TUPLE1
    stacked = ps.PROTO + b"\x02" + magic + ps.REDUCE + ps.STOP
    stacked += pickle.dumps(1001, 2) + pickle.dumps({}, 2) + MAL + pickle.dumps([], 2)
    c.add("t29_eval_magic_legacy.pt", stacked, MALICIOUS, "T-29")
    # --- T-16: real legacy torch.save; the payload is the 4th pickle of the stream
    legacy = _torch_bytes({"w": _state_dict(4)["layer.bias"], "cfg": _evil("legacy")}, False)
    c.add("t16_legacy_torch_save.pt", legacy, MALICIOUS, "T-16", "payload in the 4th pickle")

    # --- T-30: 7z
    import py7zr

    for ext in ("7z", "pt"):
        bio = io.BytesIO()
        with py7zr.SevenZipFile(bio, "w") as z:
            for n, b in members:
                z.writestr(b, n)
        c.add(f"t30_7z_archive.{ext}", bio.getvalue(), MALICIOUS, "T-30")

    # --- T-31: joblib, compressed with each codec joblib offers, and with inline arrays
    for codec in ("zlib", "gzip", "bz2", "xz", "lz4"):
        bio = io.BytesIO()
        joblib.dump({"cfg": _evil(f"joblib_{codec}")}, bio, compress=(codec, 3))
        c.add(f"t31_joblib_{codec}.joblib", bio.getvalue(), MALICIOUS, "T-31")
    bio = io.BytesIO()
    joblib.dump({"cfg": _evil("joblib_arr"), "w": np.arange(1000.0)}, bio)
    c.add("t31_joblib_inline_array.joblib", bio.getvalue(), MALICIOUS, "T-31",
          "payload before inline numpy data")  # fmt: skip

    # --- T-32: loader-accepted names, scanned as a folder (one payload per folder)
    for i, name in enumerate(
        ("weights.npy", "checkpoint.pth.tar", "model", "model.pkl3", "pytorch_model.safetensors")
    ):
        d = c.root / MALICIOUS / f"t32_dir_{i}"
        d.mkdir(parents=True, exist_ok=True)
        (d / name).write_bytes(ps.call1("posix", "system", ps.cmd(f"dir{i}")))
        c.add_path(f"t32_dir_{i}/{name}", d, MALICIOUS, "T-32", "folder target")

    # --- T-33: object arrays saved by numpy itself (saving pickles, never calls the payload)
    arr = np.empty(1, dtype=object)
    arr[0] = _evil("npy")
    bio = io.BytesIO()
    np.save(bio, arr, allow_pickle=True)
    c.add("t33_object_array.npy", bio.getvalue(), MALICIOUS, "T-33")
    bio = io.BytesIO()
    np.savez(bio, w=np.arange(4.0), cfg=arr)
    c.add("t33_object_array.npz", bio.getvalue(), MALICIOUS, "T-33")

    # --- T-36: TorchScript archive (scripting compiles forward; it does not run it)
    import torch

    class M(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            print("MODELXRAY_MARKER")
            return x

    bio = io.BytesIO()
    torch.jit.save(torch.jit.script(M()), bio)
    c.add("t36_torchscript.pt", bio.getvalue(), MALICIOUS, "T-36", "forward() prints a marker")


# --------------------------------------------------------------------------- large inputs


def _crc_zeros(n: int) -> int:
    crc, chunk = 0, bytes(1 << 24)
    while n:
        k = min(n, len(chunk))
        crc = zlib.crc32(chunk[:k] if k < len(chunk) else chunk, crc)
        n -= k
    return crc


def sparse_torch_checkpoint(path: Path, huge: int) -> None:
    """A real ``torch.save`` ZIP whose tensor record ``archive/data/0`` is replaced by ``huge``
    stored zero bytes (a hole): local header, seek, central directory, end record."""
    src = _torch_bytes({"w": _state_dict(5)["layer.weight"]})
    zf = zipfile.ZipFile(io.BytesIO(src))
    crc = _crc_zeros(huge)
    with open(path, "wb") as f:
        central = []
        for info in zf.infolist():
            blob = zf.read(info)
            name = info.filename.encode()
            big = info.filename.endswith("/data/0")
            size = huge if big else len(blob)
            ccrc = crc if big else zlib.crc32(blob)
            offset = f.tell()
            # torch aligns record data to 64 bytes with an extra field (id 0xFB1E, "FB").
            pad = (-(offset + 30 + len(name) + 4)) % 64
            extra = struct.pack("<HH", 0xFB1E, pad) + b"Z" * pad
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, ccrc, size, size,
                                len(name), len(extra)))  # fmt: skip
            f.write(name + extra)
            if big:
                f.seek(size, os.SEEK_CUR)
            else:
                f.write(blob)
            central.append(
                struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, ccrc, size,
                            size, len(name), 0, 0, 0, 0, 0, offset)
                + name
            )  # fmt: skip
        cd_start = f.tell()
        for entry in central:
            f.write(entry)
        cd_size = f.tell() - cd_start
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), cd_size,
                            cd_start, 0))  # fmt: skip


def sparse_big_pickle(path: Path, payload: int) -> None:
    """``{"weights": <payload zero bytes>, "cfg": os.system(...)}``: the gadget sits *after* the
    huge BINBYTES8 argument, so only a scanner that gets past it sees the payload."""
    head = ps.PROTO + b"\x04" + ps.EMPTY_DICT + ps.MARK + ps.u("weights")
    head += b"\x8e" + struct.pack("<Q", payload)  # BINBYTES8
    tail = ps.u("cfg") + ps.sg("posix", "system") + ps.u(ps.cmd("bigpickle")) + ps.TUPLE1
    tail += ps.REDUCE + ps.SETITEMS + ps.STOP
    with open(path, "wb") as f:
        f.write(head)
        f.seek(payload, os.SEEK_CUR)
        f.write(tail)


def opcode_heavy_pickle(path: Path) -> None:
    """About 10 MB of opcodes: a flat list of 2 million ints (protocol 4, framed)."""
    path.write_bytes(pickle.dumps(list(range(2_000_000)), protocol=4))


def distinct_folder(root: Path, n: int, planted: int = 10) -> tuple[int, set[str]]:
    """``n`` small benign files of mixed formats, every one with distinct content, plus
    ``planted`` malicious pickles under ordinary names."""
    import h5py
    import numpy as np
    import safetensors.numpy
    import torch

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rnd = random.Random(7)
    writers: list[tuple[int, str, Callable[[int, Path], None]]] = []

    def w_pickle(k: int, p: Path) -> None:
        obj = {"id": k, "w": [rnd.random() for _ in range(16)], "name": f"layer{k}"}
        p.write_bytes(pickle.dumps(obj, protocol=k % 6))

    def w_npy(k: int, p: Path) -> None:
        np.save(p, np.arange(32, dtype=np.float32) + k)

    def w_npz(k: int, p: Path) -> None:
        np.savez(p, a=np.arange(8) + k)

    def w_st(k: int, p: Path) -> None:
        safetensors.numpy.save_file({"w": np.full((4, 4), k, np.float32)}, str(p))

    def w_torch(k: int, p: Path) -> None:
        torch.save({"w": torch.full((4,), float(k)), "step": k}, p)

    def w_json(k: int, p: Path) -> None:
        p.write_text(f'{{"model_type": "bert", "hidden_size": {64 + k}, "id": {k}}}\n')

    def w_onnx(k: int, p: Path) -> None:
        p.write_bytes(_onnx_bytes(k))

    def w_gguf(k: int, p: Path) -> None:
        p.write_bytes(_gguf_bytes(k))

    def w_h5(k: int, p: Path) -> None:
        with h5py.File(p, "w") as f:
            f.create_dataset("dense/kernel", data=np.full((4, 4), k, np.float32))
            f.attrs["id"] = k

    share = [
        (0.30, "pkl", w_pickle), (0.15, "npy", w_npy), (0.04, "npz", w_npz),
        (0.13, "safetensors", w_st), (0.10, "pt", w_torch), (0.10, "json", w_json),
        (0.06, "onnx", w_onnx), (0.04, "gguf", w_gguf), (0.08, "h5", w_h5),
    ]  # fmt: skip
    k = 0
    for frac, ext, fn in share:
        for _ in range(round(n * frac)):
            writers.append((k, ext, fn))
            k += 1
    for k, ext, fn in writers:
        fn(k, root / f"file_{k:05d}.{ext}")
    names = sorted(ps.SAMPLES)
    planted_names = set()
    for j, sample in enumerate(names[:: max(1, len(names) // planted)][:planted]):
        rel = f"model_{j:03d}.pkl"
        (root / rel).write_bytes(ps.SAMPLES[sample].data)
        planted_names.add(rel)
    return len(writers) + len(planted_names), planted_names


def keras_mix_folder(root: Path, n: int = 720) -> dict[str, int]:
    """``n`` distinct benign model files of every common format, made by the real libraries,
    with Keras (``.keras`` and legacy ``.h5``) at least 30 % of them: the mix a gate in front of a
    model hub sees.  Every file differs from every other (seeded sizes and values).  Returns the
    count per extension."""
    import joblib
    import numpy as np
    import safetensors.numpy
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    _quiet()
    from tests.factories.keras_models import import_keras, save_model

    keras = import_keras()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    rng = np.random.default_rng(11)

    def keras_model(k: int) -> object:
        layers = keras.layers
        inp = keras.Input(shape=(4 + k % 5,), name="input")
        x = inp
        for j in range(1 + k % 3):
            x = layers.Dense(2 + (k + j) % 7, activation=("relu", "tanh", None)[j % 3],
                             name=f"dense_{j}")(x)  # fmt: skip
        if k % 4 == 0:
            x = layers.Dropout(0.1, name="dropout")(x)
        if k % 5 == 0:
            x = layers.BatchNormalization(name="norm")(x)
        model = keras.Model(inp, layers.Dense(1, name="head")(x), name=f"mix_{k}")
        if k % 2:
            model.compile(optimizer="adam", loss="mse")
        return model

    def w_keras(k: int, p: Path) -> None:
        save_model(keras_model(k), p)

    def w_torch(k: int, p: Path) -> None:
        g = torch.Generator().manual_seed(k)
        sd = {f"l{j}.weight": torch.randn(2 + k % 5, 3, generator=g) for j in range(1 + k % 4)}
        torch.save({"state_dict": sd, "epoch": k}, p)

    def w_torch_legacy(k: int, p: Path) -> None:
        g = torch.Generator().manual_seed(k)
        torch.save({"w": torch.randn(3, 2 + k % 5, generator=g)}, p,
                   _use_new_zipfile_serialization=False)  # fmt: skip

    def w_torchscript(k: int, p: Path) -> None:
        module = torch.nn.Sequential(torch.nn.Linear(3 + k % 4, 2), torch.nn.ReLU())
        torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3 + k % 4)), str(p))

    def w_pickle(k: int, p: Path) -> None:
        obj = {"id": k, "weights": rng.normal(size=8 + k % 9).tolist(), "name": f"m{k}"}
        p.write_bytes(pickle.dumps(obj, protocol=2 + k % 4))

    def w_joblib(k: int, p: Path) -> None:
        x, y = rng.normal(size=(30, 3)), np.arange(30) % 2
        est = DecisionTreeClassifier(max_depth=1 + k % 4) if k % 2 else LogisticRegression()
        joblib.dump(est.fit(x, y), p, compress=k % 3)

    def w_npy(k: int, p: Path) -> None:
        np.save(p, rng.normal(size=(4, 4 + k % 7)).astype(np.float32))

    def w_npz(k: int, p: Path) -> None:
        np.savez(p, a=np.arange(8 + k), b=rng.normal(size=3))

    def w_st(k: int, p: Path) -> None:
        safetensors.numpy.save_file({"w": rng.normal(size=(4, 2 + k % 6)).astype(np.float32)},
                                    str(p), metadata={"format": "np"})  # fmt: skip

    def w_onnx(k: int, p: Path) -> None:
        p.write_bytes(_onnx_bytes(k))

    def w_gguf(k: int, p: Path) -> None:
        p.write_bytes(_gguf_bytes(k))

    share: list[tuple[float, str, Callable[[int, Path], None]]] = [
        (0.20, "keras", w_keras), (0.12, "h5", w_keras), (0.12, "pt", w_torch),
        (0.05, "bin", w_torch_legacy), (0.06, "torchscript.pt", w_torchscript),
        (0.10, "pkl", w_pickle), (0.07, "joblib", w_joblib), (0.06, "npy", w_npy),
        (0.04, "npz", w_npz), (0.08, "safetensors", w_st), (0.06, "onnx", w_onnx),
        (0.04, "gguf", w_gguf),
    ]  # fmt: skip
    counts: dict[str, int] = {}
    k = 0
    for frac, ext, fn in share:
        for _ in range(round(n * frac)):
            fn(k, root / f"model_{k:05d}.{ext}")
            counts[ext] = counts.get(ext, 0) + 1
            k += 1
    return counts


# --------------------------------------------------------------------------- entry point


def build(
    root: Path,
    *,
    with_keras: bool = True,
    big: bool = True,
    folder_files: int = 1200,
    huge_checkpoint: int = 3 << 30,
    huge_payload: int = 1 << 30,
    log: Callable[[str], None] = print,
) -> Corpus:
    """Build everything under ``root`` (wiped first)."""
    _quiet()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    c = Corpus(root)
    log("corpus: benign models")
    build_benign(c, with_keras)
    log("corpus: malicious samples")
    build_malicious(c)
    perf = root / "perf"
    perf.mkdir()
    small = perf / "small.pkl"
    small.write_bytes(ps.SAMPLES["t01_system_p4"].data)
    c.perf["small-pickle"] = small
    if folder_files:
        log(f"corpus: folder of {folder_files} distinct files")
        c.folder_files, c.folder_planted = distinct_folder(perf / "folder", folder_files)
        c.perf["folder"] = perf / "folder"
    if big:
        log("corpus: opcode-heavy pickle, sparse 1 GiB-payload pickle and multi-GB checkpoint")
        opcode_heavy_pickle(perf / "opcodes_10mb.pkl")
        c.perf["opcode-pickle"] = perf / "opcodes_10mb.pkl"
        sparse_big_pickle(perf / "payload_1gb.pkl", huge_payload)
        c.perf["big-pickle"] = perf / "payload_1gb.pkl"
        sparse_torch_checkpoint(perf / "checkpoint_3gb.pt", huge_checkpoint)
        c.perf["big-checkpoint"] = perf / "checkpoint_3gb.pt"
    return c


def build_tiny(root: Path, log: Callable[[str], None] = print) -> Corpus:
    """A few inputs of each kind, cheap enough for CI: benign files from the real libraries and
    the shipped examples, a handful of malicious samples, and miniature versions of every
    performance input (the sparse builders included)."""
    import numpy as np
    import safetensors.numpy

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    c = Corpus(root)
    examples = REPO / "examples"
    bio = io.BytesIO()
    np.save(bio, np.arange(10, dtype=np.float32))
    c.add("array.npy", bio.getvalue(), BENIGN, "npy")
    c.add("plain_dict.pkl", pickle.dumps({"a": [1, 2.5, "x"]}, protocol=4), BENIGN, "pickle")
    c.add("model.safetensors", safetensors.numpy.save({"w": np.ones((2, 2), np.float32)}),
          BENIGN, "safetensors")  # fmt: skip
    c.add("clean_dense.keras", (examples / "clean_dense.keras").read_bytes(), BENIGN, "keras")
    c.add("malicious_lambda.h5", (examples / "malicious_lambda.h5").read_bytes(), MALICIOUS,
          "T-34")  # fmt: skip
    for name in ("t01_system_p4", "t02_eval", "t09_pathlib_dotted"):
        if name in ps.SAMPLES:
            s = ps.SAMPLES[name]
            c.add(f"{name}.pkl", s.data, MALICIOUS, s.family)
    c.add("t28_plain_pickle.bin", pickle.dumps(_evil("ext"), protocol=2), MALICIOUS, "T-28")
    perf = root / "perf"
    perf.mkdir()
    (perf / "small.pkl").write_bytes(ps.SAMPLES["t01_system_p4"].data)
    c.perf["small-pickle"] = perf / "small.pkl"
    c.folder_files, c.folder_planted = distinct_folder(perf / "folder", 20, planted=2)
    c.perf["folder"] = perf / "folder"
    sparse_big_pickle(perf / "payload.pkl", 8 << 20)
    c.perf["big-pickle"] = perf / "payload.pkl"
    sparse_torch_checkpoint(perf / "checkpoint.pt", 16 << 20)
    c.perf["big-checkpoint"] = perf / "checkpoint.pt"
    log(f"tiny corpus: {len(c.items)} items, folder of {c.folder_files}")
    return c


def iter_files(path: Path) -> Iterator[Path]:
    if path.is_dir():
        yield from (p for p in sorted(path.rglob("*")) if p.is_file())
    else:
        yield path
