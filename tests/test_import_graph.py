"""The house reads one way: what imports what inside ``src/modelxray``, read with ``ast``.

Every ``import`` statement counts, wherever it is: at module level, under ``if TYPE_CHECKING``
and inside functions (lazy imports keep start-up cheap, but they are still edges).  The modules
are found by walking the package folder, never from a hand-kept list.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import modelxray

PACKAGE = Path(modelxray.__file__).resolve().parent
# Below the engine: readers, containers and analysers see a scan only through modelxray.scanning.
LOWER = ("modelxray.formats", "modelxray.containers", "modelxray.analysis")
UPPER = ("modelxray.engine", "modelxray.policy", "modelxray.cli")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("modelxray", *path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imported(tree: ast.Module, name: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The modelxray modules one module's import statements name (a ``from x import y`` names
    ``x.y`` when that is a module, else ``x``)."""
    here = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in known else base


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        targets = _imported(tree, name, path.name == "__init__.py", known)
        graph[name] = {t for t in targets if t in known and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[frozenset[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(frozenset(component))
    return out


def test_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "modelxray.scanning" in graph and "modelxray.formats.pickle" in graph
    # The walk sees function-level and TYPE_CHECKING imports, not only module-level ones.
    assert "modelxray.formats" in graph["modelxray.engine"]
    assert "modelxray.formats.loaders" in graph["modelxray.engine"]  # inside scan_artifact
    assert "modelxray.engine" in graph["modelxray"]  # under TYPE_CHECKING and in __getattr__
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_nothing_below_the_engine_imports_engine_policy_or_cli() -> None:
    graph = import_graph()
    wrong = sorted(
        f"{name} -> {target}"
        for name, targets in graph.items()
        if name.startswith(LOWER)
        for target in targets
        if target.startswith(UPPER)
    )
    assert not wrong, wrong


def test_the_reader_contract_is_a_leaf() -> None:
    graph = import_graph()
    allowed = {"modelxray.artifact", "modelxray.budget", "modelxray.model", "modelxray.rules.base"}
    assert graph["modelxray.scanning"] <= allowed, graph["modelxray.scanning"]
    assert graph["modelxray.model"] == set()  # the result types depend on nothing


def test_no_import_cycles() -> None:
    found = [sorted(c) for c in cycles(import_graph())]
    assert not found, f"import cycles: {found}"


def test_readers_never_set_the_file_status() -> None:
    """The engine derives a file's status from its findings (``Rule.incomplete``); nothing
    below it assigns a ``status``."""
    writes = []
    for name, path in _modules().items():
        if not name.startswith(LOWER):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            writes += [
                f"{name}:{node.lineno}"
                for t in targets
                if isinstance(t, ast.Attribute) and t.attr == "status"
            ]
    assert not writes, writes
