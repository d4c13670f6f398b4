"""PyTorch files: zip checkpoints, legacy stacked pickles, the tar layout, TorchScript."""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile

from modelxray.engine import scan
from modelxray.model import Severity
from tests import pickle_samples as ps

MAL = ps.build_samples()["t01_system_p2"].data


def _crit(path: str) -> list:
    return [f for f in scan(path).files[0].findings if f.severity == Severity.CRITICAL]


def test_benign_torch_files_are_below_high(pickle_corpus):
    for name in ("state_dict.pt", "state_dict_legacy.pt", "whole_module.pt", "checkpoint.ckpt",
                 "scripted.pt", "many_tensors_20k.pt"):  # fmt: skip
        r = scan(pickle_corpus[name].path).files[0]
        assert r.max_severity is None or r.max_severity < Severity.HIGH, (name, r.findings)


def test_legacy_layout_is_recognised(pickle_corpus):
    r = scan(pickle_corpus["state_dict_legacy.pt"].path).files[0]
    assert "pytorch-legacy" in r.formats
    assert not r.findings  # raw storage bytes after the five pickles are not trailing data


def test_torchscript_archive_findings(pickle_corpus):
    r = scan(pickle_corpus["scripted.pt"].path).files[0]
    ids = [f.rule_id for f in r.findings]
    assert "torchscript" in r.formats
    assert ids.count("MX-TORCH-001") == 1
    ts = next(f for f in r.findings if f.rule_id == "MX-TORCH-001")
    assert ts.severity == Severity.MEDIUM
    code = [f for f in r.findings if f.rule_id == "MX-TORCH-002"]
    assert code and all("/code/" in f.location.inner[-1] for f in code)


def test_torchscript_custom_op_is_flagged(tmp_path):
    src = b"def forward(self, x):\n    return torch.ops.evil.run(x)\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("m/data.pkl", pickle.dumps({}, protocol=2))
        z.writestr("m/constants.pkl", pickle.dumps((), protocol=2))
        z.writestr("m/code/__torch__/m.py", src)
    p = tmp_path / "ts.pt"
    p.write_bytes(buf.getvalue())
    r = scan(str(p)).files[0]
    risky = [f for f in r.findings if f.rule_id == "MX-TORCH-003"]
    assert risky and "evil" in risky[0].message and risky[0].severity == Severity.HIGH


def test_zip_payloads_found_whatever_the_member_name(pickle_corpus):
    names = (
        "zip_plain.pt", "zip_deflated.pt", "zip_t23_data_txt.pt", "zip_t24_name_mismatch.pt",
        "zip_t25_flag_0x1.pt", "zip_t25_flag_0x20.pt", "zip_t25_flag_0x40.pt",
        "zip_t26_bad_crc.pt", "zip_t27_corrupt_first.pt", "archive.7z", "legacy_torch.pt",
        "legacy_t29_eval_magic.pt", "legacy_tar.pt",
    )  # fmt: skip
    for name in names:
        crit = _crit(pickle_corpus[name].path)
        assert crit, name
        assert any(f.evidence.get("global") == "posix.system" for f in crit), name


def test_member_and_offset_in_location(pickle_corpus):
    crit = _crit(pickle_corpus["zip_plain.pt"].path)
    inner = crit[0].location.inner
    assert inner[0] == "archive/data.pkl" and inner[1] == "pickle[0]"
    assert inner[-1].startswith("offset ")


def test_payload_in_storage_slot_is_still_scanned(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
        z.writestr("archive/data/0", MAL)
        z.writestr("archive/data/1", b"\x00" * 4096)
    p = tmp_path / "slot.pt"
    p.write_bytes(buf.getvalue())
    assert _crit(str(p))


def test_legacy_tar_storages_walk_skips_raw_bytes(tmp_path):
    def p2(v: object) -> bytes:
        return pickle.dumps(v, protocol=2)

    import torch

    record = p2(("0", "cpu", torch.FloatStorage))
    raw = (4).to_bytes(8, "little") + b"\x28" * 16  # '(' bytes would parse as opcodes
    storages = p2(1) + record + raw + p2([])
    tensors = p2(1) + p2("t0") + p2("0") + (1).to_bytes(4, "little") + b"\0" * 4 + b"\x28" * 24
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in (("sys_info", p2({})), ("pickle", p2({"w": 1})),
                           ("storages", storages), ("tensors", tensors)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    p = tmp_path / "old.pt"
    p.write_bytes(buf.getvalue())
    r = scan(str(p)).files[0]
    assert r.max_severity is None or r.max_severity < Severity.HIGH, r.findings
