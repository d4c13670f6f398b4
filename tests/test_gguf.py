"""GGUF: real files from gguf.GGUFWriter, and hand-built headers that lie."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import modelxray
from modelxray import Severity

DATA = Path(__file__).parent / "data" / "templates" / "chat_templates.json"
POPULAR: dict[str, str] = json.loads(DATA.read_text(encoding="utf-8"))["templates"]
SSTI = "{{ cycler.__init__.__globals__.os.popen('echo MODELXRAY_MARKER').read() }}"


def scan(path: Path) -> modelxray.FileResult:
    return modelxray.scan(path).files[0]


def ids(result: modelxray.FileResult) -> set[str]:
    return {f.rule_id for f in result.findings}


def write_real(path: Path, template: str | None = None, **kv: str) -> Path:
    import gguf

    w = gguf.GGUFWriter(str(path), arch="llama")
    if template is not None:
        w.add_chat_template(template)
    for key, value in kv.items():
        w.add_string(key, value)
    w.add_array("tokenizer.ggml.tokens", ["<s>", "{{", "}}", "hello", "{%", "%}"])
    w.add_tensor("tok_embd.weight", np.zeros((4, 32), dtype=np.float32))
    w.add_tensor("norm.weight", np.zeros((32,), dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# --------------------------------------------------------------------------- hand-built files


def s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def kv_str(key: str, value: str) -> bytes:
    return s(key) + struct.pack("<I", 8) + s(value)


def kv_u32(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<II", 4, value)


def tensor(name: str, dims: list[int], ggml_type: int, offset: int) -> bytes:
    out = s(name) + struct.pack("<I", len(dims))
    out += b"".join(struct.pack("<Q", d) for d in dims)
    return out + struct.pack("<IQ", ggml_type, offset)


def build(kvs: list[bytes], tensors: list[bytes], data: bytes = b"", version: int = 3,
          align: int = 32) -> bytes:  # fmt: skip
    body = b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs))
    body += b"".join(kvs) + b"".join(tensors)
    body += bytes(-len(body) % align)
    return body + data


def write(tmp_path: Path, data: bytes, name: str = "m.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# --------------------------------------------------------------------------- clean


@pytest.mark.parametrize("template", ["chatml", "llama3.1", "mistral-small-3.1", "gemma"])
def test_real_file_with_popular_template_is_clean(tmp_path: Path, template: str) -> None:
    result = scan(write_real(tmp_path / "m.gguf", POPULAR[template]))
    assert result.formats == ["gguf"]
    assert [f for f in result.findings if f.severity >= Severity.LOW] == []


def test_hand_built_clean_file(tmp_path: Path) -> None:
    data = build(
        [kv_str("general.architecture", "llama"), kv_u32("general.alignment", 32)],
        [tensor("a", [8], 0, 0), tensor("b", [32], 8, 32)],  # F32 x8 = 32 bytes; Q8_0 block = 34
        bytes(32 + 34),
    )
    result = scan(write(tmp_path, data, "model.bin"))
    assert result.formats == ["gguf"] and result.findings == []


def test_version_1_file(tmp_path: Path) -> None:
    def s1(t: str) -> bytes:
        return struct.pack("<I", len(t)) + t.encode()

    body = b"GGUF" + struct.pack("<III", 1, 1, 1)
    body += s1("general.name") + struct.pack("<I", 8) + s1("tiny")
    body += s1("w") + struct.pack("<II", 1, 4) + struct.pack("<IQ", 0, 0)
    body += bytes(-len(body) % 32) + bytes(16)
    assert scan(write(tmp_path, body)).findings == []


# --------------------------------------------------------------------------- templates


def test_ssti_chat_template(tmp_path: Path) -> None:
    result = scan(write_real(tmp_path / "ssti.gguf", SSTI))
    crit = [f for f in result.findings if f.rule_id == "MX-TEMPLATE-001"]
    assert crit and {f.severity for f in crit} == {Severity.CRITICAL}
    assert crit[0].location.inner[0] == "kv:tokenizer.chat_template"
    assert "popen" in {f.evidence["construct"] for f in crit}


def test_named_chat_template_and_other_strings(tmp_path: Path) -> None:
    path = write_real(
        tmp_path / "m.gguf",
        POPULAR["chatml"],
        **{"tokenizer.chat_template.tool_use": "{{ lipsum.__globals__ }}",
           "general.description": "A model. {{ x.__class__ }}",
           "general.license": "apache-2.0 {not a template}"},
    )  # fmt: skip
    result = scan(path)
    where = {f.location.inner[0] for f in result.findings if f.rule_id == "MX-TEMPLATE-001"}
    assert where == {"kv:tokenizer.chat_template.tool_use", "kv:general.description"}


def test_unparseable_chat_template(tmp_path: Path) -> None:
    result = scan(write_real(tmp_path / "m.gguf", "{% for m in messages %}"))
    assert ids(result) == {"MX-TEMPLATE-003"}


def test_template_inside_string_array(tmp_path: Path) -> None:
    arr = (s("tokenizer.ggml.merges") + struct.pack("<IIQ", 9, 8, 2) + s("a b")
           + s("{{ x.__globals__ }}"))  # fmt: skip
    result = scan(write(tmp_path, build([arr], [])))
    assert [f.location.inner[0] for f in result.findings] == ["kv:tokenizer.ggml.merges[1]"]


# --------------------------------------------------------------------------- lying headers


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"GGUF" + struct.pack("<IQQ", 3, 2**64 - 1, 0), "tensors"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2**62), "key/value"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40) + b"x" * 16, "key 0"),
        (b"GGUF" + struct.pack("<IQQ", 7, 0, 0), "version"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("k") + struct.pack("<I", 99) + bytes(8),
         "unknown value type"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 2) + kv_u32("a", 1) + kv_u32("a", 2), "twice"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + kv_u32("general.alignment", 3), "power of two"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("arr") + struct.pack("<IIQ", 9, 8, 2**50)
         + bytes(16), "elements of"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + s("arr")
         + struct.pack("<IIQ", 9, 9, 1) + struct.pack("<IQ", 9, 1) * 6 + bytes(40), "nests"),
        (b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + s("t") + struct.pack("<I", 9) + bytes(100),
         "dimensions"),
        (b"GGUF\x03", "magic"),
    ],
)  # fmt: skip
def test_malformed_headers(tmp_path: Path, data: bytes, needle: str) -> None:
    result = scan(write(tmp_path, data))
    assert result.findings, "a malformed GGUF must never be clean"
    f = result.findings[0]
    assert f.rule_id in ("MX-GGUF-001", "MX-SCAN-001", "MX-SCAN-003"), f
    if f.rule_id == "MX-GGUF-001":
        assert needle in f.message and "offset" in f.evidence


@pytest.mark.parametrize(
    ("tensors", "data_len", "needle"),
    [
        ([tensor("a", [8], 0, 0)], 16, "past the end"),
        ([tensor("a", [8], 0, 0), tensor("b", [4], 0, 16)], 32, "overlaps"),
        ([tensor("a", [8], 77, 0)], 32, "unknown ggml type"),
        ([tensor("a", [30], 8, 0)], 64, "block"),
        ([tensor("a", [4], 0, 8)], 64, "aligned"),
        ([tensor("a", [2**40, 2**40], 0, 0)], 64, "overflow"),
        ([tensor("a", [4], 0, 0), tensor("a", [4], 0, 32)], 64, "second tensor"),
    ],
)
def test_inconsistent_tensor_tables(
    tmp_path: Path, tensors: list[bytes], data_len: int, needle: str
) -> None:
    result = scan(write(tmp_path, build([], tensors, bytes(data_len))))
    msgs = [f.message for f in result.findings if f.rule_id == "MX-GGUF-002"]
    assert any(needle in m for m in msgs), [f.message for f in result.findings]


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6, 0.9])
def test_truncated_real_file_is_never_clean(tmp_path: Path, fraction: float) -> None:
    path = write_real(tmp_path / "m.gguf", POPULAR["chatml"])
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * fraction)])
    result = scan(path)
    assert {"MX-GGUF-001", "MX-GGUF-002"} & ids(result)


def test_big_endian_header_is_read(tmp_path: Path) -> None:
    data = b"GGUF" + struct.pack(">IQQ", 3, 0, 1) + struct.pack(">Q", 4) + b"name"
    data += struct.pack(">I", 8) + struct.pack(">Q", 2) + b"ok"
    assert scan(write(tmp_path, data)).findings == []


# --------------------------------------------------------------------------- vocabularies


def _vocab_with_templates(n: int, marked: dict[int, str]) -> list[str]:
    return [marked.get(i, f"tok{i}_" + "x" * (i % 40)) for i in range(n)]


@pytest.mark.parametrize("shift", [0, 3, 11])
def test_template_tokens_found_anywhere_in_a_large_vocabulary(tmp_path: Path, shift: int) -> None:
    """A vocabulary spans several read chunks: a template token at either end, on a chunk
    boundary or in a string too long for one chunk is still judged, by the real writer."""
    import gguf

    from modelxray.formats import gguf as reader

    n = 90_000 + shift
    tokens = _vocab_with_templates(n, {})
    # the element that holds the first chunk's last bytes, made longer: it straddles the chunk
    start, edge = 0, 0
    while start + 8 + len(tokens[edge]) <= reader._ARRAY_CHUNK - shift:
        start += 8 + len(tokens[edge])
        edge += 1
    marked = {0: SSTI, edge: SSTI, n - 1: SSTI, 500: "{{ '" + "y" * 600 + "' }}"}
    tokens = _vocab_with_templates(n, marked)
    tokens[700] = "z" * (reader._ARRAY_CHUNK + 5)  # longer than a chunk: read on its own
    path = tmp_path / "vocab.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_token_list(tokens)
    w.add_string("general.description", "after the vocabulary")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    result = scan(path)
    where = {f.location.inner[0] for f in result.findings if f.severity == Severity.CRITICAL}
    # the 600-byte element is over the 512-byte candidate bound, as before
    assert where == {f"kv:tokenizer.ggml.tokens[{i}]" for i in (0, edge, n - 1)}
    assert result.status.value == "scanned"


def test_vocabulary_element_running_past_the_end_is_malformed(tmp_path: Path) -> None:
    body = s("a") * 50_000 + struct.pack("<Q", 1000) + b"short"
    arr = s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 50_001) + body
    result = scan(write(tmp_path, build([arr], [])))
    f = result.findings[0]
    assert f.rule_id == "MX-GGUF-001" and "element 50000 of 'tokenizer.ggml.tokens'" in f.message
