"""The pre-commit hook and the GitHub Action, exercised as published: the action's own steps
run by a local runner (``tests/action_runner.py``) in a temporary checkout with a real virtual
environment, and the hook through ``pre-commit try-repo``.  Both install modelxray offline:
no package index, setuptools from virtualenv's bundled wheels, and the runtime dependencies
(numpy, h5py, jinja2) left out (``PIP_NO_DEPS``) for the action or taken from this environment
(``VIRTUALENV_SYSTEM_SITE_PACKAGES``) for the hook."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.action_runner import ActionRun, run_action

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


# ---------------------------------------------------------------------------- shared set-up


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


PAYLOAD = b"cos\nsystem\n(S'echo MODELXRAY_MARKER > /tmp/modelxray_marker_integrations'\ntR."
# An unknown class instantiated (NEWOBJ): a MEDIUM finding (MX-PICKLE-003), nothing dangerous.
UNKNOWN_CLASS = b"cmy_company.models\nClassifier\n)\x81."
CHECKOUT_FILES = ("action.yml", ".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "LICENSE")


def _offline_pip_env() -> dict[str, str]:
    """pip without a package index: setuptools (the build backend) from virtualenv's wheels."""
    embed = pytest.importorskip(
        "virtualenv.seed.wheels.embed", reason="virtualenv (comes with pre-commit) is needed"
    )
    folder = Path(embed.BUNDLE_FOLDER)
    if not list(folder.glob("setuptools-*.whl")):
        pytest.skip(f"no bundled setuptools wheel in {folder}")
    return {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(folder),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


@pytest.fixture(scope="session")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout of this repository as GitHub / pre-commit see it: the working tree's
    action, hook, packaging files and sources, committed to a fresh git repository."""
    dest = tmp_path_factory.mktemp("checkout")
    for name in CHECKOUT_FILES:
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__"))
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-qm", "checkout")
    return dest


@pytest.fixture(scope="session")
def installed(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The action's Install step, run once per session: a real venv, modelxray from the
    checkout; the outputs it sets are handed to every later run."""
    temp = tmp_path_factory.mktemp("runner")
    workspace = tmp_path_factory.mktemp("ws")
    (workspace / "clean.json").write_text('{"ok": true}')
    env = {**_offline_pip_env(), "PIP_NO_DEPS": "1"}
    run = run_action(checkout, workspace, {"upload-sarif": "false"}, temp, env=env)
    install = run.step("Install modelxray")
    assert install.ran and install.code == 0, run.log
    venv_tool = Path(install.outputs["modelxray"])
    # its own environment, not the Python that ran the action
    assert venv_tool.is_relative_to(temp) and venv_tool.name == "modelxray"
    assert (venv_tool.parent.parent / "pyvenv.cfg").is_file()
    assert "modelxray 0.1.0" in install.stdout
    assert run.code == 0 and run.step("Gate").stdout.strip() == "modelxray: passed", run.log
    return install.outputs


def _run(checkout: Path, installed: dict[str, str], workspace: Path, tmp: Path,
         env: dict[str, str] | None = None, **inputs: str) -> ActionRun:  # fmt: skip
    return run_action(
        checkout, workspace, inputs, tmp / "runner", env=env, skip={"install": installed}
    )


def _sarif_rules(path: Path) -> list[tuple[str, str]]:
    doc = json.loads(path.read_text())
    return sorted(
        (r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"])
        for r in doc["runs"][0]["results"]
    )


# ---------------------------------------------------------------------------- the action


def test_blocked_files_still_upload_sarif_and_the_gate_fails(
    checkout: Path, installed: dict[str, str], tmp_path: Path, assert_no_marker: None
) -> None:
    ws = tmp_path / "ws"
    (ws / "models").mkdir(parents=True)
    (ws / "models" / "evil.pkl").write_bytes(PAYLOAD)
    (ws / "models" / "clean.json").write_text('{"ok": true}')
    run = _run(checkout, installed, ws, tmp_path, path="models",
               **{"sarif-file": "out dir/reports/modelxray.sarif"})  # fmt: skip
    scan, upload, gate = run.step("Scan"), run.step("Upload SARIF"), run.step("Gate")
    assert scan.code == 0 and scan.outputs == {"exit-code": "1", "sarif-written": "true"}
    assert "blocked models/evil.pkl" in " ".join(scan.stdout.split()), scan.log  # the readable log
    assert upload.ran and upload.code == 0, upload.log
    assert upload.uses == "github/codeql-action/upload-sarif@v4"
    assert upload.with_ == {
        "sarif_file": "out dir/reports/modelxray.sarif",
        "category": "modelxray",
    }
    assert ("MX-PICKLE-001", "models/evil.pkl") in _sarif_rules(
        ws / "out dir" / "reports" / "modelxray.sarif"
    )
    assert gate.ran and gate.code == 1 and "files blocked" in gate.stdout
    assert run.code == 1


def test_a_clean_scan_passes_and_uploads(
    checkout: Path, installed: dict[str, str], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "clean.json").write_text('{"ok": true}')
    run = _run(checkout, installed, ws, tmp_path)
    assert run.step("Scan").outputs["exit-code"] == "0"
    assert run.step("Upload SARIF").code == 0 and run.code == 0
    assert _sarif_rules(ws / "modelxray.sarif") == []


def _policy_workspace(tmp_path: Path, policy: str | None) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "estimator.pkl").write_bytes(UNKNOWN_CLASS)
    if policy is not None:
        (ws / "modelxray.toml").write_text(policy)
    return ws


@pytest.mark.parametrize(
    ("policy", "fail_on", "code"),
    [
        (None, "", "0"),  # no policy: the built-in HIGH threshold passes a MEDIUM finding
        ('fail_on = "medium"\n', "", "1"),  # the policy's fail_on decides
        ('fail_on = "medium"\n', "high", "0"),  # an explicit input overrides it
        (None, "medium", "1"),
    ],
)
def test_the_policy_decides_fail_on_unless_the_input_overrides(
    checkout: Path, installed: dict[str, str], tmp_path: Path,
    policy: str | None, fail_on: str, code: str,
) -> None:  # fmt: skip
    ws = _policy_workspace(tmp_path, policy)
    inputs = {"upload-sarif": "false"} | ({"fail-on": fail_on} if fail_on else {})
    run = _run(checkout, installed, ws, tmp_path, **inputs)
    assert run.step("Scan").outputs["exit-code"] == code, run.log
    assert run.code == int(code)
    assert ("MX-PICKLE-003", "estimator.pkl") in _sarif_rules(ws / "modelxray.sarif")


def test_an_explicit_policy_applies_to_every_run(
    checkout: Path, installed: dict[str, str], tmp_path: Path
) -> None:
    ws = _policy_workspace(tmp_path, 'fail_on = "critical"\n')  # the project's own: ignored
    (ws / "ci config").mkdir()
    (ws / "ci config" / "strict.toml").write_text('fail_on = "medium"\n')
    run = _run(checkout, installed, ws, tmp_path, policy="ci config/strict.toml",
               **{"upload-sarif": "false"})  # fmt: skip
    scan = run.step("Scan")
    assert scan.outputs["exit-code"] == "1" and run.code == 1
    # the readable log comes from the same policy: it blocks the file and names the policy
    log = " ".join(scan.stdout.split())
    assert "blocked ./estimator.pkl" in log and "policy: ci config/strict.toml" in log, scan.log


def test_a_scan_error_is_surfaced_where_it_happens(
    checkout: Path, installed: dict[str, str], tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    run = _run(checkout, installed, ws, tmp_path, path="no such folder")
    scan = run.step("Scan")
    assert scan.code == 2 and scan.outputs == {"exit-code": "2", "sarif-written": "false"}
    assert "::error title=modelxray scan error (exit 2)::" in scan.stdout
    assert "no such file or folder: no such folder" in scan.stdout, scan.log
    # no SARIF: the upload is skipped rather than failing on a missing file and hiding the cause
    assert not run.step("Upload SARIF").ran and not run.step("Gate").ran
    assert "Path does not exist" not in run.log
    assert run.code == 2


def test_paths_with_spaces_one_per_line(
    checkout: Path, installed: dict[str, str], tmp_path: Path, assert_no_marker: None
) -> None:
    ws = tmp_path / "ws"
    (ws / "my models").mkdir(parents=True)
    (ws / "other dir").mkdir()
    (ws / "my models" / "evil one.pkl").write_bytes(PAYLOAD)
    (ws / "other dir" / "weights $HOME * .json").write_text('{"ok": true}')
    (ws / "not scanned.pkl").write_bytes(PAYLOAD)
    run = _run(checkout, installed, ws, tmp_path, path="my models\n  other dir  \n\n",
               **{"upload-sarif": "false"})  # fmt: skip
    assert run.step("Scan").outputs["exit-code"] == "1", run.log
    results = _sarif_rules(ws / "modelxray.sarif")
    assert ("MX-PICKLE-001", "my%20models/evil%20one.pkl") in results, results
    assert not any("not%20scanned" in uri for _, uri in results)
    # the readable log lists the file whose name has spaces, a `$` and a `*`, verbatim
    assert "other dir/weights $HOME * .json" in run.step("Scan").stdout, run.log


def test_a_pull_request_cannot_loosen_its_own_gate(
    checkout: Path, installed: dict[str, str], tmp_path: Path, assert_no_marker: None
) -> None:
    """Run as on a pull request: the base branch's policy applies, not the one the PR edits."""
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
    (clone / "model.pkl").write_bytes(PAYLOAD)
    _git(clone, "add", "-A")
    _git(clone, "commit", "-qm", "pr")
    run = _run(checkout, installed, clone, tmp_path, env={"GITHUB_BASE_REF": "main"},
               **{"upload-sarif": "false"})  # fmt: skip
    assert run.step("Scan").outputs["exit-code"] == "1", run.log
    assert "MX-REPO-106" in (clone / "modelxray.sarif").read_text()
    assert run.code == 1


def test_action_uses_only_cli_options_that_exist() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    scripts = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    help_text = subprocess.run(
        [sys.executable, "-m", "modelxray", "scan", "--help"], capture_output=True, text=True
    ).stdout
    for flag in ("--fail-on", "--format", "--output", "--policy", "--no-policy", "--report-only"):
        assert flag in scripts and flag in help_text, flag
    for name in action["inputs"]:
        assert f"inputs.{name}" in (ROOT / "action.yml").read_text(), name


# ---------------------------------------------------------------------------- the hook


def test_pre_commit_try_repo_scans_text_model_files(
    checkout: Path, tmp_path: Path, assert_no_marker: None
) -> None:
    """``pre-commit try-repo`` for real: the hook installs into pre-commit's own environment
    (offline) and is handed the files `identify` tags as text (a protocol-0 pickle, a
    SavedModel .pbtxt, an MLflow MLmodel), not only binary and JSON files."""
    if shutil.which("pre-commit") is None:
        pytest.skip("pre-commit is not installed (pip install pre-commit)")
    env = {
        **os.environ,
        **_offline_pip_env(),
        # modelxray's runtime dependencies from this environment (no index to fetch them from)
        "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
    }
    env.pop("PYTHONPATH", None)
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "model.pkl").write_bytes(PAYLOAD)
    (repo / "saved_model.pbtxt").write_text("saved_model_schema_version: 1\nmeta_graphs {\n}\n")
    (repo / "MLmodel").write_text("flavors:\n  python_function:\n    loader_module: x\n")
    (repo / "notes.txt").write_text("hello\n")
    (repo / "train.py").write_text("import subprocess\nsubprocess.run(['make'])\n")
    _git(repo, "add", "-A")
    proc = subprocess.run(
        ["pre-commit", "try-repo", str(checkout), "modelxray", "--all-files", "--verbose"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Failed" in out and "- hook id: modelxray" in out
    assert "MX-PICKLE-001" in out and "model.pkl" in out
    # every text file reached the scanner (each is listed), the project's own code did not
    for name in ("saved_model.pbtxt", "MLmodel", "notes.txt"):
        assert name in out, out
    assert "train.py" not in out
    # a clean commit passes
    (repo / "model.pkl").unlink()
    _git(repo, "add", "-A")
    proc = subprocess.run(
        ["pre-commit", "try-repo", str(checkout), "modelxray", "--all-files"],
        cwd=repo, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


# ---------------------------------------------------------------------------- version pins


def test_the_readme_pins_resolve_to_a_tag_of_this_release() -> None:
    """`rev: vX` / `@vX` in the README name the version in pyproject, and that tag exists."""
    import re

    readme = (ROOT / "README.md").read_text()
    (version,) = re.findall(r'(?m)^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text())
    pins = set(re.findall(r"rev: (v[\w.]+)", readme)) | set(
        re.findall(r"modelxray/modelxray@(v[\w.]+)", readme)
    )
    assert pins == {f"v{version}"}, pins
    shallow = subprocess.run(
        ["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True
    )
    if shallow.returncode != 0 or shallow.stdout.strip() != "false":
        pytest.skip("not a full git clone (a shallow clone has no tags)")
    tags = subprocess.run(["git", "tag", "--list"], cwd=ROOT, capture_output=True, text=True)
    if not tags.stdout.strip():
        # A copy made without tags (CI's checkout) cannot say; where tags were fetched, the
        # release's tag must be among them.
        pytest.skip("this checkout carries no tags")
    tag = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"refs/tags/v{version}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert tag.returncode == 0, f"tag v{version} is missing: git tag -a v{version}"
