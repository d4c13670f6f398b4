"""Sniffing by first bytes (issue 15 §2): a file is offered only to the readers that can claim
it, and the reader chosen is the one the exhaustive sniff (every reader asked) chooses.

A registry row's ``lead`` lists the first bytes its sniffer can claim a file with; every other
first byte (and an empty file) must score 0 -- checked here against the real sniffers, on every
byte value, on the heads of real files shifted behind a foreign byte, and on random heads.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import modelxray.formats  # noqa: F401 - registers the readers
from modelxray.artifact import Artifact
from modelxray.formats import base
from modelxray.formats.base import LazyReader, best_reader, candidates, identify, readers
from modelxray.formats.registry import BY_NAME, READERS, ReaderEntry
from modelxray.model import Location

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "data" / "verdict_record.json"


def _fixtures() -> list[Path]:
    """Every committed file the verdict record names, and every file under tests/data."""
    named = [ROOT / p for p in json.loads(RECORD.read_text(encoding="utf-8"))]
    data = [p for p in (ROOT / "tests" / "data").rglob("*") if p.is_file()]
    return sorted({p for p in (*named, *data) if p.is_file() and p.stat().st_size < 64 << 20})


FIXTURES = _fixtures()
# Real heads (signatures of every kind) to put behind a first byte a lead refuses.
HEADS = sorted({p.read_bytes()[:256] for p in FIXTURES[:: max(1, len(FIXTURES) // 120)]})
LEADS = [e for e in READERS if e.lead is not None]


def _real(name: str) -> base.FormatReader:
    reader = next(r for r in readers() if r.name == name)
    return reader.load() if isinstance(reader, LazyReader) else reader


def _artifact(head: bytes, name: str = "x.bin") -> Artifact:
    return Artifact.from_bytes(head, Location(name), name)


def _exhaustive(artifact: Artifact) -> base.FormatReader | None:
    return best_reader(artifact, artifact.head(), readers(), ())


def test_there_are_fixtures_and_leads() -> None:
    assert len(FIXTURES) > 100 and len(HEADS) > 50
    assert {e.name for e in LEADS} >= {"pickle", "json", "onnx", "gguf", "numpy", "compressed"}


@pytest.mark.parametrize("entry", LEADS, ids=lambda e: str(e.name))
def test_a_lead_refuses_only_what_its_sniffer_refuses(entry: ReaderEntry) -> None:
    reader = _real(entry.name)
    lead = entry.lead
    assert lead is not None
    assert reader.sniff(_artifact(b""), b"") == 0  # an empty file is no candidate's
    for first in (b for b in range(256) if b not in lead):
        for tail in (b"", *HEADS, *(h[1:] for h in HEADS)):
            head = bytes([first]) + tail
            for name in ("x.bin", "model.json", "saved_model.pb", "m.pkl"):
                assert reader.sniff(_artifact(head, name), head) == 0, (first, tail[:16], name)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dispatch_chooses_what_the_exhaustive_sniff_chooses_on_every_fixture(path: Path) -> None:
    artifact = Artifact.from_bytes(path.read_bytes(), Location(path.name), path.name)
    chosen = identify(artifact)
    expected = _exhaustive(artifact)
    assert (chosen and chosen.name) == (expected and expected.name)


@given(
    head=st.one_of(
        st.binary(max_size=300),
        st.tuples(st.sampled_from(HEADS), st.integers(0, 40), st.binary(max_size=8)).map(
            lambda t: t[2] + t[0][t[1] :]
        ),
    ),
    name=st.sampled_from(["x.bin", "config.json", "m.pkl", "saved_model.pb", "chat_template.jinja",
                          "MLmodel", "w.safetensors", "x.npy", "storages"]),
)  # fmt: skip
@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
def test_dispatch_chooses_what_the_exhaustive_sniff_chooses_on_random_heads(
    head: bytes, name: str
) -> None:
    artifact = _artifact(head, name)
    chosen = identify(artifact)
    expected = _exhaustive(artifact)
    assert (chosen and chosen.name) == (expected and expected.name)


def test_a_file_no_lead_holds_is_offered_only_to_the_rows_without_one() -> None:
    offered = {r.name for r in candidates(b"\x00\x01\x02")}
    assert offered == {e.name for e in READERS if e.lead is None}
    assert "pickle" in {r.name for r in candidates(b"\x80\x04")}
    assert "pickle" not in offered and "json" not in offered
    assert all(BY_NAME[r.name].lead is None for r in candidates(b""))


def _synthetic() -> list[tuple[str, bytes]]:
    """Files of the formats no small committed file is (made here: the stdlib's tarfile, and
    byte layouts of the formats' own specifications)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("model/config.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    return [
        ("m.tar", buf.getvalue()),
        ("w.safetensors", len(header).to_bytes(8, "little") + header + bytes(4)),
        ("m.ubj", b"{U\x07learner{}}"),
        ("m.txt", b"tree\nversion=v3\nnum_class=1\n"),
        ("m.gguf", b"GGUF" + (3).to_bytes(4, "little") + bytes(16)),
        ("m.7z", b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24)),
        ("m.msgpack", b"\x81\xa6params\x81\xa1w\xc4\x01\x00"),
    ]


SAMPLES = [(p.name, p.read_bytes()) for p in FIXTURES if p.stat().st_size < 4 << 20]
SAMPLES += _synthetic()
MAGICS = [e for e in READERS if e.magic is not None]
# Rows whose sniffers need a container fact or a sibling file: no lone file is theirs.
_NEED_CONTEXT = {"torchscript-code", "pytorch-legacy-tar-member", "torch-package-extern",
                 "tf-variables"}  # fmt: skip


@pytest.mark.parametrize("entry", MAGICS, ids=lambda e: str(e.name))
def test_a_magic_refuses_only_what_its_sniffer_refuses_on_every_fixture(entry: ReaderEntry) -> None:
    """A row's cheap check is necessary: on every committed file and sample (under its own
    name and a neutral one) that the real sniffer claims, the check holds."""
    reader = _real(entry.name)
    magic = entry.magic
    assert magic is not None
    claimed = 0
    for file_name, data in SAMPLES:
        for name in (file_name, "x.bin"):
            artifact = Artifact.from_bytes(data, Location(name), name)
            head = artifact.head()
            if reader.sniff(artifact, head) > 0:
                claimed += 1
                assert magic(artifact, head), (file_name, name)
    assert claimed or entry.name in _NEED_CONTEXT, entry.name
