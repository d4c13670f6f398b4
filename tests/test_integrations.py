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


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def test_action_pull_request_cannot_loosen_its_own_gate(tmp_path: Path):
    """The Scan step, run as on a pull request: the base branch's policy applies."""
    import os
    import pickle

    action = yaml.safe_load((ROOT / "action.yml").read_text())
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "scan"]
    origin = tmp_path / "origin"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    (origin / "modelxray.toml").write_text('fail_on = "high"\n')
    (origin / "README.md").write_text("models\n")
    _git(origin, "add", "-A")
    _git(origin, "commit", "-qm", "base")
    clone = tmp_path / "clone"
    _git(tmp_path, "clone", "-q", str(origin), str(clone))
    _git(clone, "checkout", "-q", "-b", "pr")
    (clone / "modelxray.toml").write_text("report_only = true\n")  # the PR loosens the gate
    (clone / "model.pkl").write_bytes(pickle.dumps(os.system))
    _git(clone, "add", "-A")
    _git(clone, "commit", "-qm", "pr")
    out = tmp_path / "github_output"
    env = {
        **os.environ,
        "GITHUB_BASE_REF": "main",
        "GITHUB_OUTPUT": str(out),
        "RUNNER_TEMP": str(tmp_path / "runner"),
        "MX_PATH": ".",
        "MX_FAIL_ON": "high",
        "MX_POLICY": "",
        "MX_SARIF": str(tmp_path / "r.sarif"),
    }
    (tmp_path / "runner").mkdir()
    proc = subprocess.run(
        ["bash", "-c", step["run"]], cwd=clone, env=env, capture_output=True, text=True
    )
    assert "exit-code=1" in out.read_text(), proc.stdout + proc.stderr
    assert "MX-REPO-106" in (tmp_path / "r.sarif").read_text()
