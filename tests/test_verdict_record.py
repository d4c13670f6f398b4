"""Verdicts on every fixture, recorded: a refactor changes them only on purpose.

Scans the committed fixtures (``examples/``, ``tests/data/``), the session corpora the real
libraries make (Keras and pickle), the pickle sample table and the real-world corpus's fast
subset, and compares each file's verdict and the set of rule IDs it produced with
``tests/data/verdict_record.json``.  A difference fails with the list of files that changed;
when a change is intended, record again and say in the commit which verdicts moved and why::

    MODELXRAY_RECORD_VERDICTS=1 python -m pytest -q tests/test_verdict_record.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.engine import scan_bytes
from tests import pickle_samples as ps

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "tests" / "data" / "verdict_record.json"
RECORDING = os.environ.get("MODELXRAY_RECORD_VERDICTS") == "1"


def _entry(result: Any) -> list[Any]:
    return [str(result.verdict), sorted({f.rule_id for f in result.findings})]


def _scan_folder(root: Path, label: str, out: dict[str, list[Any]]) -> None:
    for result in modelxray.scan(str(root)).files:
        if Path(result.path).resolve() == RECORD:
            continue
        rel = Path(result.path).resolve().relative_to(root.resolve()).as_posix()
        out[f"{label}/{rel}"] = _entry(result)


def _observed(keras_corpus: dict[str, Any], pickle_corpus: dict[str, Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    _scan_folder(ROOT / "examples", "examples", out)
    _scan_folder(ROOT / "tests" / "data", "tests/data", out)
    for name, sample in sorted(keras_corpus.items()):
        for result in modelxray.scan(str(sample.path)).files:
            inner = Path(result.path).relative_to(Path(sample.path).parent).as_posix()
            out[f"keras_corpus/{name}/{inner}"] = _entry(result)
    for name, case in sorted(pickle_corpus.items()):
        out[f"pickle_corpus/{name}"] = _entry(modelxray.scan(str(case.path)).files[0])
    for name, sample in sorted(ps.SAMPLES.items()):
        out[f"pickle_samples/{name}"] = _entry(scan_bytes(sample.data, f"{name}.pkl"))
    from tests.test_realworld import FAST, _folder

    for key in FAST:
        _scan_folder(_folder(key), f"realworld/{key}", out)
    return out


def test_verdicts_match_the_record(
    keras_corpus: dict[str, Any], pickle_corpus: dict[str, Any]
) -> None:
    observed = _observed(keras_corpus, pickle_corpus)
    assert len(observed) > 500, len(observed)  # the record covers the fixtures, not a sample
    if RECORDING:
        RECORD.write_text(json.dumps(observed, indent=0, sort_keys=True) + "\n")
        pytest.skip(f"recorded {len(observed)} verdicts in {RECORD}")
    recorded = json.loads(RECORD.read_text())
    changed = {
        k: (recorded.get(k), observed.get(k))
        for k in sorted(set(recorded) | set(observed))
        if recorded.get(k) != observed.get(k)
    }
    shown = "\n".join(f"  {k}: {was} -> {now}" for k, (was, now) in list(changed.items())[:40])
    assert not changed, f"{len(changed)} verdicts differ from the record:\n{shown}"
