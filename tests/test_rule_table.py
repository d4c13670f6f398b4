"""Every rule in the catalogue has a sample that produces it, and every rule a sample produces
is in the catalogue (the table test of issue 13, like bandit's per-plugin examples)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelxray import scan
from modelxray.isolate import IsolationSettings, scan_isolated
from modelxray.model import Report
from modelxray.rules import ALL_RULES
from tests.rule_samples import SAMPLES, UNPRODUCIBLE, RuleSample


def _scan(sample: RuleSample, monkeypatch: pytest.MonkeyPatch) -> Report:
    for module in sample.hide_modules:
        monkeypatch.setitem(sys.modules, module, None)
    paths = [str(p) for p in sample.paths]
    if sample.isolate_cpu_seconds is not None:
        settings = IsolationSettings(cpu_seconds=sample.isolate_cpu_seconds)
        return scan_isolated(paths, sample.options, settings)
    return scan(paths, sample.options)


def test_every_rule_has_a_sample_or_a_reason() -> None:
    assert set(SAMPLES) | set(UNPRODUCIBLE) == set(ALL_RULES)
    assert not set(SAMPLES) & set(UNPRODUCIBLE)
    assert all(reason.strip() for reason in UNPRODUCIBLE.values())


@pytest.mark.parametrize("rule_id", sorted(SAMPLES))
def test_sample_produces_its_rule(
    rule_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, assert_no_marker: None
) -> None:
    report = _scan(SAMPLES[rule_id](tmp_path), monkeypatch)
    produced = {f.rule_id for f in report.findings}
    assert rule_id in produced, sorted(produced)
    for finding in report.findings:
        if finding.rule_id == rule_id:  # evidence: where, and what was seen
            assert finding.location.path and finding.message, finding
    # every rule a sample produces is in the catalogue
    assert produced <= set(ALL_RULES), sorted(produced - set(ALL_RULES))
