"""``--show-code``: the reconstructed pickle program as an info finding and in the console."""

from __future__ import annotations

import io
import json

from modelxray.cli import main
from modelxray.engine import ScanOptions, scan
from modelxray.model import Severity
from tests import pickle_samples as ps


def test_program_only_with_show_code(tmp_path):
    p = tmp_path / "m.pkl"
    p.write_bytes(ps.build_samples()["t01_system_p4"].data)
    plain = scan(str(p)).files[0]
    assert not [f for f in plain.findings if f.rule_id == "MX-PICKLE-010"]
    shown = scan(str(p), ScanOptions(show_code=True)).files[0]
    prog = [f for f in shown.findings if f.rule_id == "MX-PICKLE-010"]
    assert len(prog) == 1 and prog[0].severity == Severity.INFO
    assert "posix.system(" in prog[0].evidence["program"]


def test_cli_prints_program(tmp_path, capsys):
    p = tmp_path / "m.pkl"
    p.write_bytes(ps.build_samples()["t01_system_p4"].data)
    code = main(["scan", "--no-policy", "--show-code", str(p)])
    out = capsys.readouterr().out
    assert code == 1
    assert "MX-PICKLE-010" in out and "| import posix" in out


def test_cli_json_carries_program(tmp_path, capsys):
    p = tmp_path / "m.pkl"
    p.write_bytes(ps.build_samples()["t35_nested_inner_call"].data)
    main(["scan", "--no-policy", "--show-code", "-f", "json", str(p)])
    doc = json.loads(capsys.readouterr().out)
    progs = [f for f in doc["files"][0]["findings"] if f["rule_id"] == "MX-PICKLE-010"]
    assert progs and "pickle.loads" in progs[0]["evidence"]["program"]
    assert isinstance(io.StringIO(progs[0]["evidence"]["program"]).read(), str)
