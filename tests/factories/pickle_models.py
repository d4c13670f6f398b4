"""Pickle-family fixtures made by the real libraries, plus harmless malicious variants.

``build_pickle_corpus(outdir)`` returns ``{name: Case}``.  Benign files are written by torch,
joblib, scikit-learn, NumPy, dill and cloudpickle themselves; malicious ones wrap the opcode-built
samples of :mod:`tests.pickle_samples` (payloads only echo a marker or touch
``/tmp/modelxray_marker_<tag>``) in the containers loaders accept.  Nothing here loads anything.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.pickle_samples import build_samples

os.environ.setdefault("KERAS_BACKEND", "torch")

BENIGN = "benign"
MALICIOUS = "malicious"


@dataclass(frozen=True)
class Case:
    path: str
    kind: str  # BENIGN | MALICIOUS
    expect: str = ""  # for MALICIOUS: a dangerous global the critical finding names
    note: str = ""


def npy_object_bytes(pickled: bytes) -> bytes:
    """A version-1 .npy of one object element whose pickle is ``pickled``."""
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + pickled


def _set_flag(data: bytes, name: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit on ``name`` in both the local and central headers."""
    out = bytearray(data)
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        pos = out.find(sig)
        while pos >= 0:
            if out[pos + name_at : pos + name_at + len(name)] == name:
                (flags,) = struct.unpack("<H", out[pos + flag_at : pos + flag_at + 2])
                out[pos + flag_at : pos + flag_at + 2] = struct.pack("<H", flags | bit)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def _torch_zip(members: dict[str, bytes], compress: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def build_benign(out: Path) -> dict[str, Case]:
    import cloudpickle
    import dill
    import joblib
    import numpy as np
    import torch
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    cases: dict[str, Case] = {}

    def add(name: str) -> str:
        p = str(out / name)
        cases[name] = Case(p, BENIGN)
        return p

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    torch.save(net.state_dict(), add("state_dict.pt"))
    torch.save(net.state_dict(), add("state_dict_legacy.pt"), _use_new_zipfile_serialization=False)
    torch.save(net, add("whole_module.pt"))
    torch.save({"model": net.state_dict(), "epoch": 3, "opt": {"lr": 0.1}}, add("checkpoint.ckpt"))
    torch.jit.save(torch.jit.script(net), add("scripted.pt"))
    big = {f"layer{i}.weight": torch.zeros(2) for i in range(20_000)}
    torch.save(big, add("many_tensors_20k.pt"))

    X = np.random.RandomState(0).rand(40, 4)
    y = (X[:, 0] > 0.5).astype(int)
    lr = LogisticRegression().fit(X, y)
    pipe = Pipeline([("scale", StandardScaler()), ("rf", RandomForestClassifier(3))]).fit(X, y)
    with open(add("logreg.pkl"), "wb") as f:
        pickle.dump(lr, f)
    with open(add("pipeline_p2.pkl"), "wb") as f:
        pickle.dump(pipe, f, protocol=2)
    joblib.dump(pipe, add("pipeline.joblib"))
    for codec in ("zlib", "gzip", "bz2", "xz", "lz4"):
        joblib.dump(pipe, add(f"pipeline_{codec}.joblib"), compress=(codec, 3))

    np.save(add("numeric.npy"), np.arange(12, dtype=np.float32).reshape(3, 4))
    obj = np.empty(3, dtype=object)
    obj[:] = [1, "text", {"k": [1.5]}]
    np.save(add("object.npy"), obj, allow_pickle=True)
    np.savez(add("arrays.npz"), a=np.ones(3), b=np.arange(4))
    np.savez(add("object_arrays.npz"), a=np.ones(3), o=obj)
    with open(add("data.dill"), "wb") as f:
        dill.dump({"weights": [0.5, 1.5], "name": "m"}, f)
    with open(add("data.cloudpickle"), "wb") as f:
        cloudpickle.dump({"weights": np.ones(2), "tags": ("a", "b")}, f)
    return cases


def build_malicious(out: Path) -> dict[str, Case]:
    samples = build_samples()
    mal = samples["t01_system_p2"].data
    mal4 = samples["t01_system_p4"].data
    cases: dict[str, Case] = {}

    def add(name: str, data: bytes, expect: str = "posix.system", note: str = "") -> None:
        p = out / name
        p.write_bytes(data)
        cases[name] = Case(str(p), MALICIOUS, expect, note)

    # Every opcode-level sample, as a plain file with a loader-accepted name (T-28: .bin).
    for key, s in samples.items():
        add(f"raw_{key}.bin", s.data, s.expect, s.family)

    version = b"3\n"
    zip_members = {"archive/data.pkl": mal4, "archive/version": version}
    add("zip_plain.pt", _torch_zip(zip_members), note="pytorch zip")
    add("zip_deflated.pt", _torch_zip(zip_members, zipfile.ZIP_DEFLATED), note="deflate")
    add(
        "zip_t23_data_txt.pt",
        _torch_zip({"archive/data.txt": mal4, "archive/version": version}),
        note="T-23",
    )
    t24 = _torch_zip(zip_members)
    t24 = t24.replace(b"archive/data.pkl", b"archive/datap.kl", 1)  # local header only
    add("zip_t24_name_mismatch.pt", t24, note="T-24")
    for bit in (0x1, 0x20, 0x40):
        add(
            f"zip_t25_flag_{bit:#x}.pt",
            _set_flag(_torch_zip(zip_members), b"archive/data.pkl", bit),
            note="T-25",
        )
    t26 = bytearray(_torch_zip(zip_members))
    pos = bytes(t26).find(b"echo ")
    t26[pos + 5 : pos + 6] = b"E"  # payload edited after the CRC was computed
    add("zip_t26_bad_crc.pt", bytes(t26), note="T-26")
    t27 = _torch_zip({"archive/aaa_first": b"x" * 64, **zip_members})
    t27 = _set_flag(t27, b"archive/aaa_first", 0x1)
    t27b = bytearray(t27)
    cd = bytes(t27b).find(b"PK\x01\x02")
    t27b[cd + 16 : cd + 20] = b"\xef\xbe\xad\xde"  # bad CRC on the first member too
    add("zip_t27_corrupt_first.pt", bytes(t27b), note="T-27")

    # Legacy torch: magic, protocol, sys_info, payload object, storage keys, raw bytes.
    def p2(v: object) -> bytes:
        return pickle.dumps(v, protocol=2)

    legacy = p2(0x1950A86A20F9469CFC6C) + p2(1001) + p2({"little_endian": True})
    legacy += mal + p2([]) + b"\x10" + b"\0" * 7 + b"\x00" * 64
    add("legacy_torch.pt", legacy, note="legacy stacked pickles")
    add("legacy_t29_eval_magic.pt", samples["t16_three_stacked"].data + p2(None), note="T-29")

    # joblib compressed (T-31) and plain.
    add("joblib_zlib.joblib", zlib.compress(mal, 3), note="T-31")
    import bz2
    import gzip
    import lzma

    add("joblib_gzip.joblib", gzip.compress(mal), note="T-31")
    add("joblib_bz2.joblib", bz2.compress(mal), note="T-31")
    add("joblib_xz.joblib", lzma.compress(mal), note="T-31")
    try:
        import lz4.frame

        add("joblib_lz4.joblib", lz4.frame.compress(mal), note="T-31")
    except ImportError:  # pragma: no cover
        pass

    # NumPy object arrays (T-33) and npz.
    npy = npy_object_bytes(mal)
    add("object_payload.npy", npy, note="T-33")
    add("object_payload.npz", _torch_zip({"arr_0.npy": npy}), note="T-33 npz")
    add("weights.npy", mal, note="T-32: a plain pickle named .npy")

    # 7z (T-30).
    import py7zr

    p7 = out / "archive.7z"
    with py7zr.SevenZipFile(p7, "w") as z:
        z.writestr(mal4, "archive/data.pkl")
    cases["archive.7z"] = Case(str(p7), MALICIOUS, "posix.system", "T-30")

    # The very old tar layout.
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w") as t:
        for name, data in (
            ("sys_info", p2({"protocol_version": 1001})),
            ("pickle", mal),
            ("storages", p2(0) + p2([])),
            ("tensors", p2(0)),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    add("legacy_tar.pt", tbuf.getvalue(), note="torch tar layout")
    return cases


def build_pickle_corpus(outdir: Path) -> dict[str, Case]:
    ben = outdir / "benign"
    mal = outdir / "malicious"
    ben.mkdir(parents=True, exist_ok=True)
    mal.mkdir(parents=True, exist_ok=True)
    return {**build_benign(ben), **build_malicious(mal)}
