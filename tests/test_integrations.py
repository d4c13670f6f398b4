"""The pre-commit hook and the GitHub Action call the real CLI with valid arguments."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "examples"


def test_pre_commit_hook_entry_runs_and_gates():
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "modelxray" and hook["language"] == "python"
    argv = shlex.split(hook["entry"])
    assert argv[0] == "modelxray"
    # pre-commit appends the staged file names to the entry.
    cli = [sys.executable, "-m", "modelxray", *argv[1:]]
    bad = subprocess.run([*cli, str(EXAMPLES / "malicious_lambda.h5")], capture_output=True)
    good = subprocess.run([*cli, str(EXAMPLES / "clean_dense.keras")], capture_output=True)
    assert (bad.returncode, good.returncode) == (1, 0)


def test_action_uses_only_cli_options_that_exist():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    scripts = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    help_text = subprocess.run(
        [sys.executable, "-m", "modelxray", "scan", "--help"], capture_output=True, text=True
    ).stdout
    for flag in ("--fail-on", "--format", "--output", "--policy", "--report-only"):
        assert flag in scripts and flag in help_text, flag
    assert "sarif" in help_text
    for name in action["inputs"]:
        assert f"inputs.{name}" in (ROOT / "action.yml").read_text(), name
