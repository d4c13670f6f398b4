"""Jupyter notebooks (``.ipynb``): shell escapes and dangerous calls in code cells.

A notebook is JSON, so this is a JSON analyser that claims documents with
``cells`` (or nbformat 3 ``worksheets``) and ``nbformat``.  IPython syntax is
handled before parsing: ``!cmd`` and ``%system``/``%sx`` lines and
``%%bash``/``%%sh``/``%%script`` cells are shell commands; other magics are
blanked out so the rest of the cell parses as Python and goes through the same
AST analysis as ``.py`` files.  Outputs are not read.
"""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Any

from modelxray.analysis.python_ast import AST_FILENAME
from modelxray.analysis.requirements import judge_pip_command
from modelxray.artifact import Artifact
from modelxray.formats.json_doc import register_json_analyser
from modelxray.formats.python_source import report_hits
from modelxray.model import Location, Severity
from modelxray.rules import repo as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

SHELL_CELL_MAGICS = frozenset({"bash", "sh", "script", "system", "sx", "zsh"})
# Cell magics whose body is not Python and not run by the kernel's shell.
OTHER_LANGUAGE_MAGICS = frozenset(
    {"html", "javascript", "js", "latex", "markdown", "svg", "md", "perl", "ruby", "writefile",
     "file", "sql", "R", "octave"}
)  # fmt: skip
# Cell magics whose body is Python.
PYTHON_BODY_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug", "python", "python3"})
SHELL_LINE_MAGICS = frozenset({"system", "sx", "sc"})
PACKAGE_LINE_MAGICS = frozenset({"pip", "conda", "mamba", "uv"})

_DOWNLOAD_TO_SHELL = re.compile(
    r"(?:curl|wget|fetch|iwr|invoke-webrequest)\b[^|;&]*\|\s*(?:sudo\s+)?"
    r"(?:ba|z|da|k|c|tc)?sh\b|(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?python"
    r"|(?:ba)?sh\s+<\(\s*(?:curl|wget)|\$\(\s*(?:curl|wget)[^)]*\)|/dev/tcp/|\bnc\b[^|;&]*\s-e\s"
    r"|base64\s+(?:-d|--decode)[^|;&]*\|\s*(?:ba)?sh\b",
    re.I,
)
_PIP_FROM_URL = re.compile(r"\b(?:pip3?|uv\s+pip)\s+install\b.*(?:https?://|git\+|\.whl\b)", re.I)
_PLAIN_INSTALL = re.compile(
    r"^\s*(?:python3?\s+-m\s+)?(?:pip3?|conda|mamba|uv\s+pip)\s+install\b[\w\s.=<>!~,\[\]-]*$",
    re.I,
)
_ASSIGN_SHELL = re.compile(r"^(\s*)[\w.,\s\[\]]+=\s*(!|%sx\b|%system\b)(.*)$")


def looks_like_notebook(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "nbformat" in doc
        and (isinstance(doc.get("cells"), list) or isinstance(doc.get("worksheets"), list))
    )


def judge_shell(command: str) -> tuple[Severity, str]:
    if _DOWNLOAD_TO_SHELL.search(command):
        return Severity.HIGH, "downloads code and runs it in a shell"
    pip = judge_pip_command(command)  # a lone pip install: judged as its requirement lines
    if pip is not None:
        worst = max(pip, key=lambda j: j.severity or Severity.INFO, default=None)
        if worst is None or worst.severity is None:
            return Severity.INFO, "installs named packages"
        return worst.severity, worst.message
    if _PIP_FROM_URL.search(command):
        return Severity.HIGH, "installs a package from a URL or file"
    if _PLAIN_INSTALL.match(command):
        return Severity.INFO, "installs named packages"
    return Severity.MEDIUM, "runs a shell command"


def _source(cell: dict[str, Any], key: str) -> str:
    value = cell.get(key)
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _code_cells(doc: dict[str, Any]) -> list[tuple[int, str]]:
    cells: list[Any] = []
    key = "source"
    if isinstance(doc.get("cells"), list):
        cells = doc["cells"]
    else:  # nbformat 3
        key = "input"
        for ws in doc["worksheets"]:
            if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
                cells.extend(ws["cells"])
    out = []
    for i, cell in enumerate(cells):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            out.append((i, _source(cell, key)))
    return out


class _CellAnalysis:
    def __init__(self, ctx: Sink, base: Location) -> None:
        self.ctx = ctx
        self.base = base

    def shell(self, command: str, line: int, how: str) -> None:
        command = command.strip()
        if not command:
            return
        severity, why = judge_shell(command)
        self.ctx.report(
            rules.NOTEBOOK_SHELL,
            self.base.child(f"line:{line}"),
            f"{how} {why}: {command}"[:400],
            {"command": command[:1000], "line": line, "form": how, "judgement": why},
            severity=severity,
        )

    def cell(self, source: str) -> None:
        lines = source.splitlines()
        if not lines:
            return
        first = lines[0].strip()
        if first.startswith("%%"):
            magic = first[2:].split(None, 1)[0] if first[2:].strip() else ""
            if magic in SHELL_CELL_MAGICS:
                self.shell("\n".join(lines[1:]), 2, f"%%{magic} cell")
                return
            if magic in OTHER_LANGUAGE_MAGICS:
                return
            lines = [""] + lines[1:]
            if magic not in PYTHON_BODY_MAGICS:
                self._unparseable(f"unknown cell magic %%{magic}", 1)
                return
        python_lines: list[str] = []
        for n, line in enumerate(lines, start=1):
            stripped = line.lstrip()
            indent = line[: len(line) - len(stripped)]
            assigned = _ASSIGN_SHELL.match(line)
            if stripped.startswith("!"):
                self.shell(stripped.lstrip("!"), n, "shell escape (!)")
                python_lines.append(indent + "pass")
            elif assigned:
                self.shell(assigned.group(3), n, f"captured shell ({assigned.group(2)})")
                python_lines.append(indent + "pass")
            elif stripped.startswith("%"):
                parts = stripped[1:].split(None, 1)
                name = parts[0] if parts else ""
                rest = parts[1] if len(parts) > 1 else ""
                if name in SHELL_LINE_MAGICS:
                    self.shell(rest, n, f"%{name} magic")
                elif name in PACKAGE_LINE_MAGICS:
                    self.shell(f"{name} {rest}", n, f"%{name} magic")
                python_lines.append(indent + "pass")
            elif stripped.endswith("?") and not stripped.startswith("#"):
                python_lines.append(line.rstrip().rstrip("?"))  # IPython help syntax
            else:
                python_lines.append(line)
        text = "\n".join(python_lines)
        try:
            tree = ast.parse(text, filename=AST_FILENAME)
        except SyntaxError as exc:
            self._unparseable(
                f"not valid Python after magics were removed: {exc.msg}", exc.lineno or 1
            )
            return
        from modelxray.analysis.python_ast import analyse_tree

        hits = analyse_tree(tree, text, self.ctx.budget, self.ctx.limits.max_python_nodes)
        report_hits(hits, self.base, self.ctx, "notebook code cell")

    def _unparseable(self, why: str, line: int) -> None:
        self.ctx.report(
            rules.NOTEBOOK_UNPARSEABLE,
            self.base.child(f"line:{line}"),
            f"code cell not analysed: {why}",
            {"line": line, "reason": why},
        )


def analyse_notebook(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    if not looks_like_notebook(doc):
        return
    if artifact.depth == 0:
        ctx.add_format("jupyter-notebook")
    for index, source in _code_cells(doc):
        ctx.budget.check_time()
        if len(source) > ctx.limits.max_python_source_bytes:
            ctx.report(
                rules.NOTEBOOK_UNPARSEABLE,
                artifact.location.child(f"cell:{index}"),
                f"code cell of {len(source)} characters is over the source size limit",
                {"limit": "max_python_source_bytes"},
                severity=Severity.HIGH,
            )
            continue
        _CellAnalysis(ctx, artifact.location.child(f"cell:{index}")).cell(source)


register_json_analyser(analyse_notebook)
