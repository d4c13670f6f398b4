"""Raw pickle files: content sniffing, every stream, verdict mapping, evidence, policy."""

from __future__ import annotations

import pickle

import pytest

from modelxray.artifact import Artifact
from modelxray.engine import ScanOptions, scan
from modelxray.formats import identify
from modelxray.formats.pickle import pickle_score
from modelxray.model import Location, Severity
from modelxray.policy import AllowEntry, Policy
from tests import pickle_samples as ps
from tests.factories.pickle_models import BENIGN, MALICIOUS

SAMPLES = ps.build_samples()


def _scan_bytes(tmp_path, data: bytes, name: str = "x.bin", **opts):
    p = tmp_path / name
    p.write_bytes(data)
    return scan(str(p), ScanOptions(**opts)).files[0]


@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_every_sample_is_critical_with_evidence(tmp_path, key):
    sample = SAMPLES[key]
    r = _scan_bytes(tmp_path, sample.data)
    assert "pickle" in r.formats
    crit = [f for f in r.findings if f.severity == Severity.CRITICAL]
    assert crit, [(f.rule_id, f.message) for f in r.findings]
    hit = [f for f in crit if sample.expect in f.message or sample.expect in str(f.evidence)]
    assert hit, (sample.expect, [f.message for f in crit])
    f = hit[0]
    assert f.rule_id.startswith("MX-PICKLE-")
    assert any(part.startswith("pickle[") for part in f.location.inner)
    if f.rule_id in ("MX-PICKLE-001", "MX-PICKLE-004"):
        assert f.location.inner[-1].startswith("offset ")
        assert f.evidence["source"]


def test_broken_after_payload_is_critical_plus_malformed(tmp_path):
    r = _scan_bytes(tmp_path, SAMPLES["t15_broken_junk"].data)
    ids = {f.rule_id for f in r.findings}
    assert "MX-PICKLE-001" in ids and "MX-PICKLE-005" in ids


def test_stacked_pickles_all_scanned(tmp_path):
    benign = pickle.dumps({"a": 1}, protocol=2)
    data = benign + benign + SAMPLES["t01_system_p2"].data
    r = _scan_bytes(tmp_path, data, "stack.pkl")
    crit = [f for f in r.findings if f.severity == Severity.CRITICAL]
    assert any("pickle[2]" in f.location.inner for f in crit)


def test_more_than_five_streams_are_scanned(tmp_path):
    benign = pickle.dumps([1, 2], protocol=2)
    data = benign * 7 + SAMPLES["t01_system_p2"].data
    r = _scan_bytes(tmp_path, data, "many.pkl")
    assert any("pickle[7]" in f.location.inner and f.severity == Severity.CRITICAL
               for f in r.findings)  # fmt: skip


def test_frame_divergence_rule(tmp_path):
    r = _scan_bytes(tmp_path, SAMPLES["t17_frame_divergence"].data)
    ids = {f.rule_id for f in r.findings}
    assert "MX-PICKLE-006" in ids and "MX-PICKLE-001" in ids


def test_nested_payload_location_carries_nesting(tmp_path):
    r = _scan_bytes(tmp_path, SAMPLES["t35_nested_inner_call"].data)
    inner = [f for f in r.findings if f.evidence.get("global") == "posix.system"]
    assert inner and any("pickle.loads@" in p for p in inner[0].location.inner)
    assert inner[0].evidence["nesting"]


def test_marshal_code_payload_is_judged(tmp_path):
    r = _scan_bytes(tmp_path, SAMPLES["t05_marshal"].data)
    m = [f for f in r.findings if f.rule_id == "MX-PICKLE-008"]
    assert m and m[0].severity >= Severity.HIGH
    assert "verdict" in m[0].evidence


def test_unknown_callable_high_and_class_medium(tmp_path):
    call = ps.call1("mypkg.helpers", "build", "x")
    r = _scan_bytes(tmp_path, call)
    f = [f for f in r.findings if f.rule_id == "MX-PICKLE-002"]
    assert f and f[0].severity == Severity.HIGH
    newobj = ps.p4(ps.sg("mypkg.models", "Net") + ps.EMPTY_TUPLE + ps.NEWOBJ)
    r = _scan_bytes(tmp_path, newobj, "n.pkl")
    f = [f for f in r.findings if f.rule_id == "MX-PICKLE-003"]
    assert f and f[0].severity == Severity.MEDIUM
    assert r.max_severity == Severity.MEDIUM


def test_policy_allow_and_deny_reach_the_vm(tmp_path):
    call = ps.call1("mypkg.helpers", "build", "x")
    allow = Policy(allow_pickle_globals=(AllowEntry("mypkg.helpers.build", "ours"),))
    r = _scan_bytes(tmp_path, call, policy=allow)
    assert not [f for f in r.findings if f.rule_id.startswith("MX-PICKLE-00")]
    deny = Policy(deny_pickle_globals=(AllowEntry("mypkg.helpers.build", "no"),))
    r = _scan_bytes(tmp_path, call, "d.pkl", policy=deny)
    assert any(f.severity == Severity.CRITICAL for f in r.findings)
    r = _scan_bytes(tmp_path, pickle.dumps({"a": 1}), "b.pkl", policy=deny)
    assert not r.findings


def test_trailing_bytes_are_low(tmp_path):
    r = _scan_bytes(tmp_path, pickle.dumps({"a": 1}) + b"\x00garbage", "t.pkl")
    assert [f.rule_id for f in r.findings] == ["MX-PICKLE-007"]
    assert r.findings[0].severity == Severity.LOW


def test_unparseable_pickle_name_is_a_finding(tmp_path):
    r = _scan_bytes(tmp_path, b"\x80\x04\xff\xff\xff", "m.pkl")
    assert r.findings and r.max_severity is not None and r.max_severity >= Severity.MEDIUM


@pytest.mark.parametrize(
    "data",
    [b"Git v2.31.7 Release Notes\n====", b"Format: https://x\n", b"import os\nos.system('x')\n",
     b'{"a": 1}', b"# title\n\ntext", b"No such thing.", b"I like it.\n", b"0.5,1.5\n"],
)  # fmt: skip
def test_text_is_not_claimed(data):
    assert pickle_score(data, len(data)) == 0


@pytest.mark.parametrize("proto", range(6))
def test_real_pickles_are_claimed(proto):
    data = pickle.dumps({"w": [1.5, 2], "n": "x", "t": (1, None)}, protocol=proto)
    art = Artifact.from_bytes(data, Location("x"), "noext")
    reader = identify(art)
    assert reader is not None and reader.name == "pickle"


def test_real_library_corpus(pickle_corpus):
    for name, case in pickle_corpus.items():
        if name.startswith("raw_"):
            continue
        r = scan(case.path).files[0]
        if case.kind == BENIGN:
            assert r.max_severity is None or r.max_severity < Severity.HIGH, (
                name,
                [(f.rule_id, str(f.location), f.message) for f in r.findings],
            )
        else:
            assert case.kind == MALICIOUS
            crit = [f for f in r.findings if f.severity == Severity.CRITICAL]
            assert crit, (name, [(f.rule_id, f.message) for f in r.findings])
            assert any(case.expect in str(f.evidence) for f in crit), name
