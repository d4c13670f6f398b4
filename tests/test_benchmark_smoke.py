"""Smoke run of the peer benchmark harness (benchmarks/): a tiny corpus, modelxray only.

No peer is installed here.  The harness runs the installed ``modelxray`` CLI as a subprocess,
like every peer; the test checks that the Markdown table is produced and that the harness reads
modelxray's verdicts exactly as modelxray's own engine gives them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    sys.path.insert(0, str(BENCH))
    try:
        import corpus
        import peers
        import run
    finally:
        sys.path.remove(str(BENCH))
    root = tmp_path_factory.mktemp("bench")
    c = corpus.build_tiny(root / "corpus", log=lambda _msg: None)
    tool = peers.MODELXRAY
    assert tool.installed(), tool.exe()
    results = run.Results([tool], {tool.name: tool.version()})
    run.measure(c, results, root / "work", quick=True, jobs=2)
    text = run.render(c, results, quick=True)
    out = root / "latest.md"
    out.write_text(text, encoding="utf-8")
    return {"corpus": c, "results": results, "text": text, "peers": peers, "run": run}


def _expected_kind(path: Path) -> str:
    """What modelxray's own engine says about ``path``, in the harness's outcome vocabulary."""
    import modelxray
    from modelxray.policy import Policy

    report = modelxray.scan([str(path)], modelxray.ScanOptions(policy=Policy()))
    verdicts = [r.verdict for r in report.files]
    if "blocked" in verdicts:
        return "detect"
    if "error" in verdicts:
        return "error"
    if report.files and all(r.status == "unsupported" for r in report.files):
        return "skip"
    return "clean"


def test_table_is_produced(bench: dict[str, Any]) -> None:
    text = bench["text"]
    for heading in (
        "## Performance targets",
        "## Wall time and peak memory per input class",
        "## Detection per technique family",
        "## False positives on the benign set",
        "Per-sample outcomes",
    ):
        assert heading in text
    assert "| family | technique | n | modelxray |" in text
    assert "small pickle start-to-exit" not in text  # no peer ran: nothing to compare with
    assert "every file judged" in text  # the folder target is still evaluated
    assert "Payload tripwire: no `/tmp/modelxray_marker*`" in text


def test_harness_reads_modelxray_verdicts_like_the_engine(bench: dict[str, Any]) -> None:
    c, results = bench["corpus"], bench["results"]
    assert c.items
    for item in c.items:
        outcome = results.detection[(item.name, "modelxray")]
        assert outcome.kind == _expected_kind(item.path), item.name
        assert outcome.rc in (0, 1), (item.name, outcome)
        assert (outcome.rc == 1) == (outcome.kind in ("detect", "error")), item.name


def test_known_detections(bench: dict[str, Any]) -> None:
    """Inputs modelxray flags today whatever else lands: the Keras Lambda example."""
    results = bench["results"]
    mal = results.detection[("malicious_lambda.h5", "modelxray")]
    assert mal.kind == "detect"
    assert any(r.startswith("MX-KERAS") for r in mal.detail.split(","))
    assert results.detection[("clean_dense.keras", "modelxray")].kind == "clean"


def test_folder_and_large_inputs_are_measured(bench: dict[str, Any]) -> None:
    c, results = bench["corpus"], bench["results"]
    folder = results.perf[("folder", "modelxray")]
    assert folder.outcome is not None
    assert folder.outcome.judged == c.folder_files  # one verdict per file in the folder
    for klass in ("small-pickle", "folder", "big-pickle", "big-checkpoint"):
        res = results.perf[(klass, "modelxray")]
        assert res.walls and all(w > 0 for w in res.walls), klass
        assert res.rss and all(m > 0 for m in res.rss), klass
    small = results.perf[("small-pickle", "modelxray")]
    assert len(small.walls) == 3  # --quick


def test_sparse_inputs_are_valid_and_sparse(bench: dict[str, Any]) -> None:
    import pickletools
    import zipfile

    c = bench["corpus"]
    ckpt = c.perf["big-checkpoint"]
    with zipfile.ZipFile(ckpt) as zf:
        sizes = {i.filename: i.file_size for i in zf.infolist()}
        assert any(n.endswith("/data.pkl") for n in sizes)
        assert max(sizes.values()) == 16 << 20
    big = c.perf["big-pickle"]
    assert big.stat().st_size > 8 << 20
    ops = [op.name for op, _arg, _pos in pickletools.genops(big.read_bytes())]
    assert ops[-4:] == ["TUPLE1", "REDUCE", "SETITEMS", "STOP"]
    names = sorted(p.name for p in c.perf["folder"].iterdir())
    contents = {(c.perf["folder"] / n).read_bytes() for n in names}
    assert len(contents) == len(names) == c.folder_files  # all distinct


def test_peer_outcome_readers() -> None:
    """Each peer's documented exit-code / JSON semantics, on canned runs."""
    sys.path.insert(0, str(BENCH))
    try:
        import peers
    finally:
        sys.path.remove(str(BENCH))
    import json
    import tempfile

    def run(rc: int, stdout: str = "", stderr: str = "") -> Any:
        return peers.Run(["x"], rc, 0.1, 10.0, stdout, stderr)

    target = Path("/nonexistent/evil.pkl")
    with tempfile.TemporaryDirectory() as td:
        work = Path(td)
        ps_out = "Scanned files: 1\nInfected files: 1\n"
        assert peers._ps_interpret(run(1, ps_out), target, work).kind == peers.DETECT
        assert peers._ps_interpret(run(2, ps_out), target, work).kind == peers.ERROR
        skipped = peers._ps_interpret(run(0, "Scanned files: 0\n"), target, work)
        assert skipped.kind == peers.SKIP

        assert peers._fk_interpret(run(1), target, work).kind == peers.DETECT
        assert peers._fk_interpret(run(0), target, work).kind == peers.CLEAN
        assert peers._fk_interpret(run(2, stderr="boom"), target, work).kind == peers.ERROR

        ms = {"summary": {"total_issues": 1, "scanned": {"total_scanned": 1}},
              "issues": [{"severity": "CRITICAL", "source": "evil.pkl"}], "errors": []}  # fmt: skip
        (work / "modelscan.json").write_text(json.dumps(ms))
        assert peers._ms_interpret(run(1), target, work).kind == peers.DETECT
        ms = {"summary": {"total_issues": 0}, "issues": [],
              "errors": [{"category": "PICKLE_GENOPS"}]}  # fmt: skip
        (work / "modelscan.json").write_text(json.dumps(ms))
        assert peers._ms_interpret(run(3), target, work).kind == peers.ERROR
        (work / "modelscan.json").unlink()
        assert peers._ms_interpret(run(3), target, work).kind == peers.SKIP

        ma = {"issues": [{"severity": "info", "message": "m"}], "has_errors": True}
        (work / "modelaudit.json").write_text(json.dumps(ma))
        assert peers._ma_interpret(run(2), target, work).kind == peers.ERROR
        ma = {"issues": [{"severity": "critical", "rule_code": "S201", "location": "x"}]}
        (work / "modelaudit.json").write_text(json.dumps(ma))
        assert peers._ma_interpret(run(1), target, work).kind == peers.DETECT
