"""``setup.py`` read as a manifest: what ``pip install .`` of a model repository installs and
which install-time code it adds, from the ``setup(...)`` call's literal keywords (the AST only;
the file's own calls are judged by :mod:`modelxray.analysis.python_ast`).

* ``cmdclass``: setuptools commands (``install``, ``build_py``, ``develop``, ``egg_info``)
  replaced by the file's own classes, run on install (kind ``build-code``);
* ``install_requires``, ``setup_requires``, ``tests_require``, ``extras_require``: requirement
  strings, judged by :mod:`modelxray.analysis.requirements` like a requirements file's lines;
* ``dependency_links``: extra places to find packages (judged as ``--find-links``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from modelxray.analysis import requirements as judge
from modelxray.model import Judgement, Severity

_SETUP_MODULES = frozenset({"setuptools", "distutils.core", "distutils"})
_REQUIREMENT_KEYWORDS = ("install_requires", "setup_requires", "tests_require")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _is_setup_call(node: ast.Call) -> bool:
    name = _dotted(node.func)
    if name == "setup":
        return True
    module, _, attr = name.rpartition(".")
    return attr == "setup" and module in _SETUP_MODULES


def _strings(node: ast.expr) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [line for line in node.value.splitlines() if line.strip()]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        out = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if all(isinstance(v, str) for v in out) and len(out) == len(node.elts):
            return [str(v) for v in out]
    return None


def _requirements(key: str, node: ast.expr) -> Iterator[Judgement]:
    specs = _strings(node)
    if specs is None:
        return  # computed at run time (read from a file, built in code): not a literal
    for i, spec in enumerate(specs):
        for j in judge.judge_line(spec):
            yield Judgement(j.kind, j.message, j.evidence, (f"{key}[{i}]",), j.severity)


def judge_setup_script(tree: ast.AST) -> Iterator[Judgement]:
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not _is_setup_call(node):
            continue
        line = f"line:{node.lineno}"
        for kw in node.keywords:
            if kw.arg == "cmdclass":
                keys = [
                    k.value
                    for k in (kw.value.keys if isinstance(kw.value, ast.Dict) else [])
                    if isinstance(k, ast.Constant)
                ]
                yield Judgement(
                    "build-code",
                    "setup.py replaces setuptools commands with its own classes"
                    + (f" ({', '.join(map(str, keys))})" if keys else "")
                    + ": installing or building the repository runs them",
                    {"cmdclass": [str(k) for k in keys]},
                    (line, "cmdclass"),
                    Severity.MEDIUM,
                )
            elif kw.arg in _REQUIREMENT_KEYWORDS:
                for j in _requirements(kw.arg, kw.value):
                    yield Judgement(j.kind, j.message, j.evidence, (line, *j.where), j.severity)
            elif kw.arg == "extras_require" and isinstance(kw.value, ast.Dict):
                for k, v in zip(kw.value.keys, kw.value.values, strict=False):
                    extra = str(k.value) if isinstance(k, ast.Constant) else "?"
                    for j in _requirements(f"extras_require.{extra}", v):
                        yield Judgement(j.kind, j.message, j.evidence, (line, *j.where), j.severity)
            elif kw.arg == "dependency_links":
                for i, url in enumerate(_strings(kw.value) or []):
                    entry = judge.Entry(url, "option", "--find-links", url)
                    for j in judge.judge_entry(entry):
                        yield Judgement(
                            j.kind, j.message, j.evidence, (line, f"dependency_links[{i}]"),
                            j.severity,
                        )  # fmt: skip
