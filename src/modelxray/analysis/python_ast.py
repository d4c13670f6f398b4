"""Find process, network, code-evaluation and deserialisation calls in Python source.

The source is only parsed (``ast.parse``); it is never compiled to a code
object or run.  Imports are tracked so that ``import subprocess as sp;
sp.run(...)`` and ``from os import system`` resolve to their real names, and
``getattr(os, "system")`` resolves when the attribute name is a literal.  Each
hit records the call as written, its line, and whether it runs at import time
(``scope == "module"``) or inside a function or class body.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelxray.analysis import threats
from modelxray.budget import BudgetExceeded
from modelxray.model import Severity

# The file name every ast.parse of scanned source uses.  On a syntax error CPython opens the
# named file to quote the offending line, so a name taken from the scanned content (an archive
# member's name) would make the scanner open that path; a constant pseudo-name cannot.
AST_FILENAME = "<modelxray-ast>"

if TYPE_CHECKING:
    from modelxray.budget import Budget

# (dotted-name prefix, category): a view of the threat catalogue's ``source`` records.  A name
# matches an entry when it equals the entry or starts with the entry followed by a dot; the
# longest matching entry decides.
_TABLE: tuple[tuple[str, str], ...] = tuple(
    sorted(dict(threats.source_calls()).items(), key=lambda e: -len(e[0]))
)

# Network calls are medium (they need a reachable host to matter); everything else is high.
CATEGORY_SEVERITY: dict[str, Severity] = {
    c: Severity.MEDIUM if c == "network" else Severity.HIGH for c in threats.CATEGORIES
}

MAX_HITS = 200


@dataclass(frozen=True)
class CallHit:
    """A call of a dangerous callable found in Python source."""

    name: str  # the resolved dotted name, e.g. "subprocess.run"
    written: str  # how the call target is spelled in the source, e.g. "sp.run"
    category: str
    line: int
    col: int
    scope: str  # "module" (runs on import) or "function f" / "class C"
    snippet: str

    @property
    def severity(self) -> Severity:
        return CATEGORY_SEVERITY[self.category]

    def evidence(self) -> dict[str, object]:
        return {
            "call": self.name,
            "written": self.written,
            "category": self.category,
            "line": self.line,
            "column": self.col,
            "scope": self.scope,
            "runs_on_import": self.scope == "module",
            "source": self.snippet,
        }


def categorise(name: str) -> str | None:
    """The category of a resolved dotted call name, or None when it is not of interest."""
    for entry, category in _TABLE:
        if name == entry or name.startswith(entry + "."):
            return category
    return None


def _dotted(node: ast.expr) -> str | None:
    """``a.b.c`` as a string, ``get_ipython().x`` kept literally; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "get_ipython"
    ):
        parts.append("get_ipython()")
    else:
        return None
    return ".".join(reversed(parts))


class _Visitor:
    def __init__(self, source: str, budget: Budget | None, max_nodes: int) -> None:
        self.source = source
        self.lines = source.splitlines()
        self.budget = budget
        self.max_nodes = max_nodes
        self.aliases: dict[str, str] = {}
        self.hits: list[CallHit] = []

    def _resolve(self, written: str) -> str:
        head, _, rest = written.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return written
        return f"{target}.{rest}" if rest else target

    def _snippet(self, node: ast.AST) -> str:
        line = getattr(node, "lineno", 0)
        if 0 < line <= len(self.lines):
            return self.lines[line - 1].strip()[:200]
        return ""

    def _record(self, node: ast.AST, written: str, scope: str) -> None:
        name = self._resolve(written)
        category = categorise(name)
        if category is None or len(self.hits) >= MAX_HITS:
            return
        self.hits.append(
            CallHit(
                name,
                written,
                category,
                getattr(node, "lineno", 0),
                getattr(node, "col_offset", 0),
                scope,
                self._snippet(node),
            )  # fmt: skip
        )

    def _import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.aliases[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    self.aliases.setdefault(head, head)
        elif node.module and node.level == 0:
            for alias in node.names:
                if alias.name != "*":
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _call(self, node: ast.Call, scope: str) -> None:
        written = _dotted(node.func)
        if written is not None:
            self._record(node, written, scope)
        # getattr(os, "system")(...) and getattr(os, "system") alone
        if (
            isinstance(node.func, ast.Name)
            and node.func.id == "getattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            base = _dotted(node.args[0])
            if base is not None:
                self._record(node, f"{base}.{node.args[1].value}", scope)

    def run(self, tree: ast.AST) -> list[CallHit]:
        stack: list[tuple[ast.AST, str]] = [(tree, "module")]
        seen = 0
        while stack:
            node, scope = stack.pop()
            seen += 1
            if seen > self.max_nodes:
                raise BudgetExceeded("max_python_nodes", f"source has over {self.max_nodes} nodes")
            if self.budget is not None:
                self.budget.tick()
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node)
            elif isinstance(node, ast.Call):
                self._call(node, scope)
            child_scope = scope
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                child_scope = f"function {getattr(node, 'name', '<lambda>')}"
            elif isinstance(node, ast.ClassDef) and scope == "module":
                # A class body runs on import, its methods do not.
                child_scope = "module"
            children = list(ast.iter_child_nodes(node))
            for child in reversed(children):
                stack.append((child, child_scope))
        # Imports are tracked in walk order, which is source order for the statements that
        # matter; report in line order.
        return sorted(self.hits, key=lambda h: (h.line, h.col))


def analyse_tree(
    tree: ast.AST, source: str, budget: Budget | None = None, max_nodes: int = 2_000_000
) -> list[CallHit]:
    return _Visitor(source, budget, max_nodes).run(tree)


def analyse_source(
    source: str,
    budget: Budget | None = None,
    max_nodes: int = 2_000_000,
    filename: str = AST_FILENAME,
) -> list[CallHit]:
    """Parse (never compile or run) and return the calls of interest; SyntaxError propagates."""
    tree = ast.parse(source, filename=filename)
    return analyse_tree(tree, source, budget, max_nodes)
