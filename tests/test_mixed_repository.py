"""A model repository as users point the scanner at it: every format in one folder.

Each file is judged; nothing is silently dropped (a file in no known format is listed as
unsupported); clean files stay clean; the malicious ones are found.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

import modelxray
from modelxray.model import Severity
from tests import protobuf_builders as pb

ROOT = Path(__file__).parent
EXAMPLES = ROOT.parent / "examples"


def _malicious_lambda_metadata() -> bytes:
    """keras_metadata.pb whose Lambda (tf.keras SavedModel form) would run a shell command."""
    from tests.factories.keras_models import host_blob

    blob = host_blob("lambda x: __import__('os').system('echo MODELXRAY_MARKER') or x")
    meta = json.loads(pb.lambda_layer_metadata())
    meta["config"]["function"]["items"][0] = base64.encodebytes(blob.raw).decode("ascii")
    seq = json.dumps({"name": "sequential", "class_name": "Sequential", "config": {}})
    return pb.keras_metadata(
        [(0, "root", "_tf_keras_sequential", seq), (1, "root.layer-0", "_tf_keras_layer",
                                                    json.dumps(meta))]
    )  # fmt: skip


def test_savedmodel_keras_metadata_lambda_is_decoded(tmp_path: Path) -> None:
    p = tmp_path / "keras_metadata.pb"
    p.write_bytes(_malicious_lambda_metadata())
    report = modelxray.scan(str(p))
    crit = [f for f in report.findings if f.severity == Severity.CRITICAL]
    assert [f.rule_id for f in crit] == ["MX-KERAS-101"]
    assert "node:1:root.layer-0" in str(crit[0].location)
    assert any("system('echo MODELXRAY_MARKER')" in c for c in crit[0].evidence["calls"])


def test_torch_module_wrapper_pickle_reaches_the_pickle_engine(tmp_path: Path) -> None:
    from tests.factories.keras_cves import build_cve_corpus

    corpus = build_cve_corpus(tmp_path)
    sample = next(s for s in corpus.values() if s.cve == "CVE-2025-49655")
    rules = {f.rule_id for f in modelxray.scan(str(sample.path)).findings}
    assert {"MX-KERAS-207", "MX-PICKLE-001"} <= rules


def _build_repo(repo: Path, pickle_corpus: dict[str, Any]) -> dict[str, str]:
    """One file per format; returns name -> "clean" | "benign" | "bad" | "unsupported"."""
    import gguf
    import onnx
    from onnx import TensorProto, helper
    from safetensors.numpy import save_file

    expect: dict[str, str] = {}

    def put(name: str, src: Path | None, how: str, data: bytes | None = None) -> None:
        dst = repo / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src is not None:
            shutil.copy(src, dst)
        else:
            dst.write_bytes(data or b"")
        expect[name] = how

    put("keras/clean.keras", EXAMPLES / "clean_dense.keras", "clean")
    put("keras/lambda.h5", EXAMPLES / "malicious_lambda.h5", "bad")
    put("tf/keras_metadata.pb", None, "bad", _malicious_lambda_metadata())
    # A standard graph whose object metadata holds a tensor-math Lambda: low at most.
    put("tf/saved_model.pb", None, "benign", pb.plain_saved_model())
    put("tf/evil/saved_model.pb", None, "bad", pb.malicious_saved_model("read_file"))
    benign = [c for c in pickle_corpus.values() if c.kind == "BENIGN"]
    malicious = [c for c in pickle_corpus.values() if c.kind == "MALICIOUS"]
    for i, case in enumerate(benign[:12]):
        put(f"pickles/benign_{i}_{Path(case.path).name}", Path(case.path), "clean")
    for i, case in enumerate(malicious[:12]):
        put(f"pickles/bad_{i}_{Path(case.path).name}", Path(case.path), "bad")
    st = repo / "weights.safetensors"
    save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, str(st))
    expect["weights.safetensors"] = "clean"
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(repo / "model.onnx"))
    expect["model.onnx"] = "clean"
    writer = gguf.GGUFWriter(str(repo / "model.gguf"), "llama")
    writer.add_string("tokenizer.chat_template", "{% for m in messages %}{{ m['content'] }}"
                      "{% endfor %}")  # fmt: skip
    writer.add_tensor("t", np.zeros(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    expect["model.gguf"] = "clean"
    for name in ("add.tflite",):
        put(f"lite/{name}", ROOT / "data" / "tflite" / name, "clean")
    (repo / "config.json").write_text(json.dumps({"model_type": "llama", "architectures":
                                                  ["LlamaForCausalLM"]}))  # fmt: skip
    expect["config.json"] = "clean"
    (repo / "README.md").write_text("# A model\n\nNothing to see.\n")
    expect["README.md"] = "unsupported"
    return expect


def test_a_folder_of_every_format_is_judged_completely(
    tmp_path: Path, pickle_corpus: dict[str, Any]
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    expect = _build_repo(repo, pickle_corpus)
    report = modelxray.scan(str(repo))
    by_name = {str(Path(r.path).relative_to(repo)): r for r in report.files}
    assert set(by_name) == set(expect)  # every file is listed, none silently dropped
    for name, how in expect.items():
        r = by_name[name]
        worst = r.max_severity
        if how == "clean":
            assert r.status == "scanned" and (worst is None or worst < Severity.LOW), (
                name, [(f.rule_id, f.message) for f in r.findings])  # fmt: skip
        elif how == "benign":
            assert r.status == "scanned" and worst is not None and worst < Severity.MEDIUM, name
        elif how == "bad":
            assert r.verdict == "blocked", (name, [(f.rule_id, f.message) for f in r.findings])
        else:
            assert r.status == "unsupported" and r.verdict == "allowed", name
    assert report.failed
