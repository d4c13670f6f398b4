"""Jupyter notebooks (``.ipynb``): what a cell runs, what a cell writes, what the front end runs.

A notebook is JSON, so this is a JSON analyser that claims documents with ``cells`` (or
nbformat 3 ``worksheets``) and ``nbformat``.  Every cell is judged with its index in the
location (``cell:3``, ``cell:3 / output:0 / text/html``):

* code cells, IPython syntax first: ``!cmd``, ``%system``/``%sx``, ``%%bash``/``%%sh``/
  ``%%script bash`` and ``get_ipython().system(...)`` are shell commands (MX-REPO-104);
  ``%%perl``/``%%ruby``/``%%script <interpreter>``, ``%run``, ``%load`` run code the cell does
  not hold (MX-REPO-202); ``%%writefile``/``%%file`` and shell redirections write files, judged
  by where (MX-REPO-201: a shell start-up file, ``~/.ssh``, ``site-packages``, a ``.pth`` file
  or ``sitecustomize`` is high); wrappers (``%%capture``, ``%%time`` …) run their body as a
  cell, so it is read as one; ``get_ipython().run_cell_magic(...)`` and friends are read as the
  magic they run.  What is left parses as Python and goes through the same AST analysis as
  ``.py`` files (MX-REPO-103);
* outputs and markdown: ``application/javascript`` outputs, and scripts, event handlers and
  ``javascript:`` URLs in HTML, SVG and Markdown, run when a trusting front end opens the
  notebook (MX-REPO-203); so does the widget state saved in ``metadata.widgets``.
"""

from __future__ import annotations

import ast
import re
import shlex
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

# Cell magics whose body the kernel's shell runs.
SHELL_CELL_MAGICS = frozenset({"bash", "sh", "system", "sx", "zsh", "!"})
# Cell magics that hand the body to another interpreter (IPython's script magics, rpy2, oct2py).
INTERPRETER_MAGICS = frozenset({"perl", "ruby", "R", "octave", "julia", "node"})
# Script magics whose interpreter is Python: the body is plain Python.
PYTHON_SCRIPT_MAGICS = frozenset({"python", "python2", "python3", "pypy"})
# Cell magics that run their body as a cell of its own (which may start with a cell magic).
WRAPPER_MAGICS = frozenset({"time", "timeit", "capture", "prun", "debug"})
WRITE_MAGICS = frozenset({"writefile", "file"})
# Cell magics whose body the front end renders or runs (JavaScript, HTML, SVG, Markdown).
FRONT_END_MAGICS: dict[str, str] = {
    "javascript": "application/javascript", "js": "application/javascript",
    "html": "text/html", "svg": "image/svg+xml", "markdown": "text/markdown",
    "md": "text/markdown",
}  # fmt: skip
# Cell magics whose body is neither Python nor run by a process of its own.
OTHER_LANGUAGE_MAGICS = frozenset({"latex", "sql"})
SHELL_LINE_MAGICS = frozenset({"system", "sx", "sc", "alias"})
PACKAGE_LINE_MAGICS = frozenset({"pip", "conda", "mamba", "uv"})
# Line magics whose argument is a Python statement they run, with their getopt option specs.
PYTHON_LINE_MAGICS: dict[str, str] = {"time": "", "timeit": "n:r:tcp:qo", "prun": "D:l:rs:T:q"}
SHELLS = frozenset({"bash", "sh", "zsh", "dash", "ksh", "fish", "csh", "tcsh"})
# get_ipython() methods: shell commands, magics by name, code strings.
IPY_SHELL_METHODS = frozenset({"system", "getoutput", "system_piped", "system_raw"})
IPY_MAGIC_METHODS = frozenset({"run_line_magic", "run_cell_magic", "magic"})
IPY_CODE_METHODS = frozenset({"run_cell", "ex", "ev", "run_code", "runcode"})
IPY_FILE_METHODS = frozenset({"safe_execfile", "safe_execfile_ipy", "safe_run_module"})
IPY_HANDLED = IPY_SHELL_METHODS | IPY_MAGIC_METHODS | IPY_CODE_METHODS | IPY_FILE_METHODS
# Stock ipywidgets modules (ipywidgets' own packages: base, controls, output).
STOCK_WIDGET_MODULES = frozenset(
    {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output"}
)
MAX_NESTED_MAGICS = 16
MAX_SCRIPT_HITS_PER_OUTPUT = 20

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
# Where a shell command writes: redirections (> >> &> 2>>) and tee's file arguments.
_REDIRECT = re.compile(r"(?:^|[^<>&\d])(?:\d|&)?>>?\|?\s*([^\s;|&<>()]+)")
_TEE = re.compile(r"\btee\b((?:\s+-{1,2}[\w-]+)*)((?:\s+[^\s;|&<>()-][^\s;|&<>()]*)+)")
# Copies, moves and links: the last argument is the destination.
_COPY = re.compile(r"(?:^|[;&|]\s*|\bsudo\s+)(?:cp|mv|ln|install|rsync)\b([^;&|]*)")
_ASSIGN_SHELL = re.compile(r"^(\s*)[\w.,\s\[\]]+=\s*(!|%sx\b|%system\b)(.*)$")
_URL = re.compile(r"\b(?:https?|ftp)://", re.I)


def looks_like_notebook(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "nbformat" in doc
        and (isinstance(doc.get("cells"), list) or isinstance(doc.get("worksheets"), list))
    )


def shell_write_targets(command: str) -> list[str]:
    """The files a shell command writes through redirections or ``tee``."""
    targets = [m.group(1) for m in _REDIRECT.finditer(command)]
    for m in _TEE.finditer(command):
        targets.extend(m.group(2).split())
    for m in _COPY.finditer(command):
        words = [w for w in m.group(1).split() if not w.startswith("-")]
        if len(words) >= 2:
            targets.append(words[-1])
    return [t for t in targets if t not in ("/dev/null", "/dev/stdout", "/dev/stderr")]


def judge_shell(command: str) -> tuple[Severity, str]:
    from modelxray.analysis.write_targets import autorun_place

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
    for target in shell_write_targets(command):
        place = autorun_place(target)
        if place is not None:
            return Severity.HIGH, f"writes {target} ({place.what})"
    if _PLAIN_INSTALL.match(command):
        return Severity.INFO, "installs named packages"
    return Severity.MEDIUM, "runs a shell command"


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(v for v in value if isinstance(v, str))
    return value if isinstance(value, str) else ""


def _cells(doc: dict[str, Any]) -> tuple[list[Any], str]:
    """The notebook's cells and the key of their source (nbformat 3: ``input``)."""
    if isinstance(doc.get("cells"), list):
        return doc["cells"], "source"
    cells: list[Any] = []
    for ws in doc["worksheets"]:
        if isinstance(ws, dict) and isinstance(ws.get("cells"), list):
            cells.extend(ws["cells"])
    return cells, "input"


# nbformat 3 outputs carry each representation under a short key.
_V3_MIME = {
    "html": "text/html", "javascript": "application/javascript", "svg": "image/svg+xml",
    "markdown": "text/markdown", "latex": "text/latex", "json": "application/json",
}  # fmt: skip


def _output_data(output: dict[str, Any]) -> list[tuple[str, str]]:
    data = output.get("data")
    out: list[tuple[str, str]] = []
    if isinstance(data, dict):
        out.extend((mime, _text(value)) for mime, value in data.items() if isinstance(mime, str))
    out.extend((mime, _text(output[key])) for key, mime in _V3_MIME.items() if key in output)
    return out


def _split_magic(line: str) -> tuple[str, str]:
    parts = line.split(None, 1)
    return (parts[0] if parts else "", parts[1] if len(parts) > 1 else "")


def _words(args: str) -> list[str]:
    try:
        return shlex.split(args, posix=True)
    except ValueError:
        return args.split()


def _getopt_rest(args: str, spec: str) -> str:
    """What is left of a line magic's argument after its getopt-style options."""
    rest = args.lstrip()
    while rest.startswith("-") and len(rest) > 1 and rest[1] != " ":
        flag = rest[1]
        i = spec.find(flag)
        if i < 0:
            break
        takes_value = i + 1 < len(spec) and spec[i + 1] == ":"
        rest = rest[2:]
        if takes_value:
            rest = rest.lstrip()
            rest = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        rest = rest.lstrip()
    return rest


class _CellAnalysis:
    def __init__(self, ctx: Sink, base: Location) -> None:
        self.ctx = ctx
        self.base = base

    # -- findings ------------------------------------------------------------------------
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

    def run_other(self, what: str, line: int, how: str, severity: Severity, why: str) -> None:
        self.ctx.report(
            rules.NOTEBOOK_RUNS_OTHER_CODE,
            self.base.child(f"line:{line}"),
            f"{how} {why}: {what}"[:400],
            {"target": what[:1000], "line": line, "form": how, "judgement": why},
            severity=severity,
        )

    def write(self, args: str, body: str, line: int, how: str) -> None:
        from modelxray.analysis.write_targets import judge_target

        words = _words(args)
        append = any(w in ("-a", "--append") for w in words)
        names = [w for w in words if not w.startswith("-")]
        target = names[0] if names else ""
        verdict = judge_target(target)
        self.ctx.report(
            rules.NOTEBOOK_WRITES_FILE,
            self.base.child(f"line:{line}"),
            f"{how} {'appends to' if append else 'writes'} {target or '(no file name)'}: "
            f"{verdict.why}"[:400],
            {
                "target": target[:1000], "append": append, "line": line, "form": how,
                "judgement": verdict.why, "autorun": verdict.autorun, "content": body[:500],
            },
            severity=verdict.severity,
        )  # fmt: skip
        if target.endswith(".py"):
            # The file is Python someone will import or run: judge it as such.
            self.python(body, line, f"file {target} written by the cell")

    def front_end(self, mime: str, text: str, where: Location, how: str) -> None:
        from modelxray.analysis.front_end_script import scan_output

        hits = scan_output(mime, text)
        for hit in hits[:MAX_SCRIPT_HITS_PER_OUTPUT]:
            self.ctx.report(
                rules.NOTEBOOK_FRONT_END_SCRIPT,
                where,
                f"{how}: {hit.detail}"[:400],
                {"mime": mime, "kind": hit.kind, "script": hit.snippet, "form": how,
                 "hits_in_output": len(hits)},
                severity=hit.severity,
            )  # fmt: skip

    def _unparseable(self, why: str, line: int) -> None:
        self.ctx.report(
            rules.NOTEBOOK_UNPARSEABLE,
            self.base.child(f"line:{line}"),
            f"code cell not analysed: {why}",
            {"line": line, "reason": why},
        )

    # -- cells ---------------------------------------------------------------------------
    def cell(self, source: str, offset: int = 0, depth: int = 0) -> None:
        """Judge ``source`` as a cell whose first line is line ``offset + 1`` of the cell."""
        if depth > MAX_NESTED_MAGICS:
            self._unparseable(f"cell magics nest deeper than {MAX_NESTED_MAGICS}", offset + 1)
            return
        lines = source.splitlines()
        if not lines:
            return
        first = lines[0].strip()
        if first.startswith("%%"):
            self._cell_magic(first[2:], lines[1:], offset, depth)
            return
        self.python(source, offset, None, depth)

    def _cell_magic(self, magic_line: str, body_lines: list[str], offset: int, depth: int) -> None:
        magic, args = _split_magic(magic_line)
        body = "\n".join(body_lines)
        line, body_offset = offset + 1, offset + 1
        if magic in SHELL_CELL_MAGICS:
            self.shell(body, offset + 2, f"%%{magic} cell")
        elif magic == "script":
            words = [w for w in _words(args) if not w.startswith("-")]
            interpreter = words[0].rsplit("/", 1)[-1] if words else ""
            if interpreter in SHELLS:
                self.shell(body, offset + 2, f"%%script {interpreter} cell")
            elif interpreter.startswith(("python", "pypy")):
                self.python(body, body_offset, f"%%script {interpreter} cell")
            else:
                self.run_other(
                    args.strip() or "(no interpreter)", line, "%%script cell",
                    Severity.MEDIUM, f"runs its body with {interpreter or 'an unnamed program'}",
                )  # fmt: skip
        elif magic in INTERPRETER_MAGICS:
            self.run_other(
                f"%%{magic} {args}".strip(), line, f"%%{magic} cell", Severity.MEDIUM,
                f"runs its body with {magic} (code not analysed)",
            )  # fmt: skip
        elif magic in PYTHON_SCRIPT_MAGICS:
            self.python(body, body_offset, f"%%{magic} cell")
        elif magic in WRAPPER_MAGICS:
            self.cell(body, body_offset, depth + 1)
        elif magic in WRITE_MAGICS:
            self.write(args, body, line, f"%%{magic}")
        elif magic in FRONT_END_MAGICS:
            self.front_end(
                FRONT_END_MAGICS[magic], body, self.base.child(f"line:{line}"),
                f"%%{magic} cell (runs in the front end when the cell runs)",
            )  # fmt: skip
        elif magic not in OTHER_LANGUAGE_MAGICS:
            self._unparseable(f"unknown cell magic %%{magic}", line)

    def _line_magic(self, stripped: str, indent: str, n: int, depth: int) -> str:
        """Judge one ``%magic`` line; return the Python that stands for it."""
        name, rest = _split_magic(stripped[1:])
        if name in SHELL_LINE_MAGICS:
            self.shell(rest, n, f"%{name} magic")
        elif name in PACKAGE_LINE_MAGICS:
            self.shell(f"{name} {rest}", n, f"%{name} magic")
        elif name in PYTHON_LINE_MAGICS:
            statement = _getopt_rest(rest, PYTHON_LINE_MAGICS[name])
            if statement.startswith(("!", "%")):
                self.cell(statement, n - 1, depth + 1)
            elif statement:
                return indent + statement
        elif name == "run":
            words = _words(rest)
            module = words[words.index("-m") + 1] if "-m" in words[:-1] else None
            target = module or next((w for w in words if not w.startswith("-")), "")
            if _URL.search(rest):
                self.run_other(rest, n, "%run magic", Severity.HIGH, "runs code from a URL")
            else:
                self.run_other(
                    target or rest, n, "%run magic", Severity.MEDIUM,
                    f"runs the {'module' if module else 'file'} {target!r} in the kernel",
                )  # fmt: skip
        elif name in ("load", "loadpy"):
            if _URL.search(rest):
                self.run_other(
                    rest, n, f"%{name} magic", Severity.HIGH, "loads code from a URL into the cell"
                )
            else:
                self.run_other(rest, n, f"%{name} magic", Severity.LOW, "loads code into the cell")
        elif name == "load_ext":
            self.run_other(
                rest, n, "%load_ext magic", Severity.INFO, "imports an IPython extension module"
            )
        return indent + "pass"

    def python(self, source: str, offset: int, what: str | None, depth: int = 0) -> None:
        """IPython syntax judged and replaced, then the rest as Python."""
        python_lines: list[str] = []
        for n, line in enumerate(source.splitlines(), start=offset + 1):
            stripped = line.lstrip()
            indent = line[: len(line) - len(stripped)]
            assigned = _ASSIGN_SHELL.match(line)
            if stripped.startswith("!"):
                self.shell(stripped.lstrip("!"), n, "shell escape (!)")
                python_lines.append(indent + "pass")
            elif assigned:
                self.shell(assigned.group(3), n, f"captured shell ({assigned.group(2)})")
                python_lines.append(indent + "pass")
            elif stripped.startswith("%") and not stripped.startswith("%%"):
                python_lines.append(self._line_magic(stripped, indent, n, depth))
            elif stripped.endswith("?") and not stripped.startswith("#"):
                python_lines.append(line.rstrip().rstrip("?"))  # IPython help syntax
            else:
                python_lines.append(line)
        # Line numbers in the parsed text are relative to the cell: pad with the lines before.
        text = "\n" * offset + "\n".join(python_lines)
        try:
            tree = ast.parse(text, filename=AST_FILENAME)
        except SyntaxError as exc:
            self._unparseable(
                f"not valid Python after magics were removed: {exc.msg}", exc.lineno or 1
            )
            return
        from modelxray.analysis.python_ast import analyse_tree

        hits = analyse_tree(tree, text, self.ctx.budget, self.ctx.limits.max_python_nodes)
        # get_ipython() calls are judged below by what they run, as the magics they stand for.
        hits = [h for h in hits if h.name.split(".")[0] != "get_ipython()"
                or h.name.split(".")[-1] not in IPY_HANDLED]  # fmt: skip
        report_hits(hits, self.base, self.ctx, what or "notebook code cell")
        self._ipython_calls(tree, depth)

    def _ipython_calls(self, tree: ast.AST, depth: int) -> None:
        """``get_ipython().system(...)``, ``.run_cell_magic(...)`` … read as what they run."""
        shells = _ipython_names(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if not _is_ipython(node.func.value, shells):
                continue
            method, line = node.func.attr, node.lineno
            args = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
            strings = [a if isinstance(a, str) else None for a in args]
            how = f"get_ipython().{method}()"
            if method in IPY_SHELL_METHODS:
                if strings and strings[0] is not None:
                    self.shell(strings[0], line, how)
                else:
                    self.run_other(
                        ast.unparse(node)[:300], line, how, Severity.MEDIUM,
                        "runs a shell command built at run time",
                    )  # fmt: skip
            elif method in IPY_MAGIC_METHODS:
                text = _magic_call_text(method, strings)
                if text is None:
                    self.run_other(
                        ast.unparse(node)[:300], line, how, Severity.MEDIUM,
                        "runs an IPython magic built at run time",
                    )  # fmt: skip
                else:
                    self.cell(text, line - 1, depth + 1)
            elif method in IPY_CODE_METHODS:
                if strings and strings[0] is not None:
                    self.cell(strings[0], line - 1, depth + 1)
                else:
                    self.run_other(
                        ast.unparse(node)[:300], line, how, Severity.HIGH,
                        "runs a code string built at run time (as exec does)",
                    )  # fmt: skip
            elif method in IPY_FILE_METHODS:
                target = strings[0] if strings and strings[0] is not None else "(computed)"
                self.run_other(target, line, how, Severity.MEDIUM, "runs a file in the kernel")


def _ipython_names(tree: ast.AST) -> set[str]:
    """Names bound to the IPython shell (``ip = get_ipython()``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_get_ipython(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_get_ipython(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "get_ipython") or (
        isinstance(func, ast.Attribute) and func.attr == "get_ipython"
    )


def _is_ipython(node: ast.AST, names: set[str]) -> bool:
    return _is_get_ipython(node) or (isinstance(node, ast.Name) and node.id in names)


def _magic_call_text(method: str, strings: list[str | None]) -> str | None:
    """The cell text ``run_line_magic``/``run_cell_magic``/``magic`` runs, when literal."""
    if method == "magic" and strings and strings[0] is not None:
        return "%" + strings[0].lstrip("%")
    if method == "run_line_magic" and len(strings) >= 2 and None not in strings[:2]:
        return f"%{strings[0]} {strings[1]}"
    if method == "run_cell_magic" and len(strings) >= 3 and None not in strings[:3]:
        return f"%%{strings[0]} {strings[1]}\n{strings[2]}"
    return None


def _outputs(ctx: Sink, analysis: _CellAnalysis, cell: dict[str, Any]) -> None:
    outputs = cell.get("outputs")
    if not isinstance(outputs, list):
        return
    for j, output in enumerate(outputs):
        if not isinstance(output, dict):
            continue
        ctx.budget.tick()
        for mime, text in _output_data(output):
            where = analysis.base.child(f"output:{j}", mime)
            if len(text) > ctx.limits.max_python_source_bytes:
                ctx.report(
                    rules.NOTEBOOK_UNPARSEABLE,
                    where,
                    f"{mime} output of {len(text)} characters is over the size limit: not read",
                    {"limit": "max_python_source_bytes", "mime": mime},
                    severity=Severity.HIGH,
                )
                continue
            analysis.front_end(mime, text, where, f"{mime} output")


def _widgets(doc: dict[str, Any], artifact: Artifact, ctx: Sink) -> None:
    """Widget state saved in the notebook: rendered (and its modules loaded) on open."""
    from modelxray.analysis.front_end_script import scan_markup

    metadata = doc.get("metadata")
    widgets = metadata.get("widgets") if isinstance(metadata, dict) else None
    if not isinstance(widgets, dict):
        return
    base = artifact.location.child("metadata.widgets")
    for key, saved in widgets.items():
        state = saved.get("state") if isinstance(saved, dict) else None
        if not isinstance(state, dict):
            continue
        for model_id, model in state.items():
            if not isinstance(model, dict):
                continue
            ctx.budget.tick()
            where = base.child(str(key), str(model_id)[:100])
            found = model.get("state")
            inner: dict[str, Any] = found if isinstance(found, dict) else {}
            modules = {
                m
                for m in (model.get("model_module"), inner.get("_model_module"),
                          inner.get("_view_module"))
                if isinstance(m, str)
            }  # fmt: skip
            for module in sorted(modules - STOCK_WIDGET_MODULES):
                ctx.report(
                    rules.NOTEBOOK_FRONT_END_SCRIPT,
                    where,
                    f"saved widget state needs the widget module {module!r}: renderers of the "
                    "notebook load its JavaScript (HTML and nbviewer renderers from a CDN)",
                    {"widget_module": module, "model_id": str(model_id)[:100], "kind": "module"},
                    severity=Severity.LOW,
                )
            for attr, value in inner.items():
                if not isinstance(value, str) or "<" not in value and ":" not in value:
                    continue
                for hit in scan_markup(value)[:MAX_SCRIPT_HITS_PER_OUTPUT]:
                    ctx.report(
                        rules.NOTEBOOK_FRONT_END_SCRIPT,
                        where.child(str(attr)[:100]),
                        f"saved widget state {attr!r}: {hit.detail}"[:400],
                        {"kind": hit.kind, "script": hit.snippet, "model_id": str(model_id)[:100]},
                        severity=hit.severity,
                    )


def analyse_notebook(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    if not looks_like_notebook(doc):
        return
    if artifact.depth == 0:
        ctx.add_format("jupyter-notebook")
    cells, key = _cells(doc)
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        ctx.budget.check_time()
        kind = cell.get("cell_type")
        analysis = _CellAnalysis(ctx, artifact.location.child(f"cell:{index}"))
        source = _text(cell.get(key) if kind == "code" else cell.get("source"))
        if len(source) > ctx.limits.max_python_source_bytes:
            ctx.report(
                rules.NOTEBOOK_UNPARSEABLE,
                analysis.base,
                f"{kind} cell of {len(source)} characters is over the source size limit",
                {"limit": "max_python_source_bytes"},
                severity=Severity.HIGH,
            )
            continue
        if kind == "code":
            analysis.cell(source)
            _outputs(ctx, analysis, cell)
        elif kind == "markdown":
            analysis.front_end("text/markdown", source, analysis.base, "markdown cell")
    _widgets(doc, artifact, ctx)


register_json_analyser(analyse_notebook)
