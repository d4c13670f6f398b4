"""Run a composite GitHub Action's steps locally, as the runner would (for tests).

The steps are read from ``action.yml`` with PyYAML and executed as GitHub executes them:
``${{ … }}`` expressions evaluated over ``inputs``, ``steps.<id>.outputs`` and ``github``;
each step's ``if:`` decided (``success()`` by default); ``shell: bash`` steps run as
``bash --noprofile --norc -eo pipefail <script>`` in the workspace, with ``GITHUB_OUTPUT``,
``GITHUB_ENV``, ``GITHUB_PATH``, ``GITHUB_ACTION_PATH``, ``GITHUB_WORKSPACE`` and
``RUNNER_TEMP`` set.  A ``uses:`` step is not run (it lives on GitHub); it is recorded with its
evaluated ``with:`` and judged by a stand-in: ``upload-sarif`` fails, as the real one does,
when its file is missing or not SARIF.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class StepRun:
    name: str
    id: str | None
    ran: bool
    code: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> str:
        return self.stdout + self.stderr


@dataclass
class ActionRun:
    steps: list[StepRun]

    @property
    def failed(self) -> bool:
        return any(s.ran and s.code != 0 for s in self.steps)

    @property
    def code(self) -> int:
        """The exit code of the first step that failed (0: the action succeeded)."""
        return next((s.code for s in self.steps if s.ran and s.code != 0), 0)

    def step(self, name: str) -> StepRun:
        (found,) = [s for s in self.steps if s.name == name]
        return found

    @property
    def log(self) -> str:
        return "".join(s.log for s in self.steps if s.ran)


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))"
    r"|(?P<call>[A-Za-z_]\w*)\(\)|(?P<ref>[A-Za-z_][\w.-]*))"
)


def evaluate(expr: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> Any:
    """A GitHub expression (the subset composite actions use) over ``context``."""
    parts: list[str] = []
    values: dict[str, Any] = {}
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise ValueError(f"cannot evaluate {expr!r} at {pos}")
        pos = m.end()
        if m["str"] is not None:
            key = f"_v{len(values)}"
            values[key] = m["str"][1:-1].replace("''", "'")
            parts.append(key)
        elif m["op"] is not None:
            parts.append({"==": "==", "!=": "!=", "&&": " and ", "||": " or ", "!": " not "}.get(
                m["op"], m["op"]))  # fmt: skip
        elif m["call"] is not None:
            key = f"_v{len(values)}"
            values[key] = status[m["call"]]
            parts.append(key)
        else:
            value: Any = context
            for name in m["ref"].split("."):
                value = value.get(name, "") if isinstance(value, Mapping) else ""
            key = f"_v{len(values)}"
            values[key] = value
            parts.append(key)
    return eval(" ".join(parts), {"__builtins__": {}}, values)  # noqa: S307 - our own tokens


def substitute(text: str, context: Mapping[str, Any], status: Mapping[str, bool]) -> str:
    def one(m: re.Match[str]) -> str:
        value = evaluate(m.group(1), context, status)
        return "true" if value is True else "false" if value is False else str(value)

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def _read_outputs(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    lines = iter(path.read_text().splitlines()) if path.exists() else iter(())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            key, _, delimiter = line.partition("<<")
            value = []
            for body in lines:
                if body == delimiter:
                    break
                value.append(body)
            out[key] = "\n".join(value)
        elif "=" in line:
            key, _, value = line.partition("=")
            out[key] = value
    return out


def upload_sarif_stand_in(with_: Mapping[str, str], workspace: Path) -> tuple[int, str]:
    """What ``github/codeql-action/upload-sarif`` checks before uploading."""
    path = workspace / with_["sarif_file"]
    if not path.is_file():
        return 1, f"Error: Path does not exist: {with_['sarif_file']}\n"
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        return 1, f"Error: Invalid SARIF. JSON syntax error: {exc}\n"
    if doc.get("version") != "2.1.0" or not isinstance(doc.get("runs"), list):
        return 1, "Error: Invalid SARIF.\n"
    return 0, f"Uploading {len(doc['runs'][0].get('results', []))} results\n"


STAND_INS: dict[str, Callable[[Mapping[str, str], Path], tuple[int, str]]] = {
    "github/codeql-action/upload-sarif": upload_sarif_stand_in,
}


def run_action(
    action_dir: Path,
    workspace: Path,
    inputs: Mapping[str, str],
    runner_temp: Path,
    env: Mapping[str, str] | None = None,
    skip: Mapping[str, dict[str, str]] | None = None,
    timeout: float = 600,
) -> ActionRun:
    """Run ``action_dir/action.yml`` in ``workspace``; ``skip`` maps step ids not to run to the
    outputs they would have set (a step done once per test session)."""
    action = yaml.safe_load((action_dir / "action.yml").read_text())
    declared = action.get("inputs", {})
    unknown = set(inputs) - set(declared)
    if unknown:
        raise ValueError(f"inputs the action does not declare: {sorted(unknown)}")
    values = {k: str(v.get("default", "")) for k, v in declared.items()}
    values.update(inputs)
    steps_ctx: dict[str, dict[str, Any]] = {}
    context: dict[str, Any] = {
        "inputs": values,
        "steps": steps_ctx,
        "github": {"action_path": str(action_dir), "workspace": str(workspace)},
        "runner": {"temp": str(runner_temp)},
    }
    runner_temp.mkdir(parents=True, exist_ok=True)
    failed = False
    runs: list[StepRun] = []
    for number, step in enumerate(action["runs"]["steps"]):
        status = {"success": not failed, "failure": failed, "always": True, "cancelled": False}
        name = step.get("name", f"step {number}")
        sid = step.get("id")
        condition = step.get("if", "success()")
        if isinstance(condition, str) and condition.strip().startswith("${{"):
            condition = condition.strip()[3:-2]
        if skip and sid in skip:
            steps_ctx[sid] = {"outputs": dict(skip[sid]), "outcome": "success"}
            runs.append(StepRun(name, sid, ran=False, outputs=dict(skip[sid])))
            continue
        if not evaluate(str(condition), context, status):
            if sid:
                steps_ctx[sid] = {"outputs": {}, "outcome": "skipped"}
            runs.append(StepRun(name, sid, ran=False))
            continue
        if "uses" in step:
            target = step["uses"].split("@")[0]
            with_ = {
                k: substitute(str(v), context, status) for k, v in step.get("with", {}).items()
            }
            code, log = STAND_INS[target](with_, workspace)
            run = StepRun(
                name, sid, ran=True, code=code, stdout=log, uses=step["uses"], with_=with_
            )
        else:
            assert step.get("shell") == "bash", step
            files = {k: runner_temp / f"{k.lower()}-{number}" for k in
                     ("GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH")}  # fmt: skip
            for f in files.values():
                f.write_text("")
            script = runner_temp / f"step-{number}.sh"
            script.write_text(substitute(step["run"], context, status))
            step_env = {k: substitute(str(v), context, status) for k, v in
                        step.get("env", {}).items()}  # fmt: skip
            full_env = {
                **os.environ,
                **(env or {}),
                **{k: str(v) for k, v in files.items()},
                "GITHUB_ACTION_PATH": str(action_dir),
                "GITHUB_WORKSPACE": str(workspace),
                "RUNNER_TEMP": str(runner_temp),
                "CI": "true",
                "GITHUB_ACTIONS": "true",
                **step_env,
            }
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workspace,
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            run = StepRun(name, sid, True, proc.returncode, proc.stdout, proc.stderr,
                          _read_outputs(files["GITHUB_OUTPUT"]))  # fmt: skip
        if sid:
            steps_ctx[sid] = {
                "outputs": run.outputs,
                "outcome": "failure" if run.code else "success",
            }
        failed = failed or run.code != 0
        runs.append(run)
    return ActionRun(runs)
