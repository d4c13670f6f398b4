"""The reader contract: readers yield the artifacts they find; the engine alone scans them.

A reader (or a helper of one) that has children is a generator, so a call of one that is not
driven (``yield from``, returned, or handed to the engine's ``drive``) silently scans nothing.
The first test finds every such call in the package with ``ast``; the others check what the
engine does with what a reader yields.
"""

from __future__ import annotations

import ast
import pathlib
import threading
import zipfile

import pytest

import modelxray
from modelxray.artifact import Artifact
from modelxray.budget import Limits
from modelxray.engine import ScanContext, ScanOptions
from modelxray.model import FileResult, Location, Severity
from modelxray.scanning import Child

SRC = pathlib.Path(modelxray.__file__).parent


def _yields_children(fn: ast.FunctionDef) -> bool:
    """A function declared to yield children: ``-> Reading`` (or ``Reading | None``) or
    ``-> Generator[Child, …]``."""
    if fn.returns is None:
        return False
    text = ast.unparse(fn.returns)
    return "Reading" in text or "Generator[Child" in text


def _child_yielders(trees: dict[str, ast.Module]) -> tuple[set[str], set[str]]:
    """Names of module-level functions and of methods that yield children."""
    functions: set[str] = set()
    methods: set[str] = set()
    for tree in trees.values():
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and _yields_children(node):
                functions.add(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and _yields_children(item):
                        methods.add(item.name)
    return functions, methods


def undriven_calls(trees: dict[str, ast.Module]) -> list[str]:
    """Calls of a child-yielding function whose generator is neither ``yield from``-ed,
    returned, handed to ``drive`` nor bound to a name that one of those then uses."""
    functions, methods = _child_yielders(trees)
    problems: list[str] = []
    for path, tree in trees.items():
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            f = call.func
            named = (isinstance(f, ast.Name) and f.id in functions) or (
                isinstance(f, ast.Attribute) and f.attr in methods | functions
            )
            if not named:
                continue
            parent = parents[call]
            if isinstance(parent, (ast.YieldFrom, ast.Return)):
                continue
            if (
                isinstance(parent, ast.Call)
                and isinstance(parent.func, ast.Attribute)
                and parent.func.attr == "drive"
            ):
                continue
            if isinstance(parent, ast.Assign) and _driven_later(parent, parents):
                continue
            problems.append(f"{path}:{call.lineno}: {ast.unparse(call)}")
    return problems


def _driven_later(assign: ast.Assign, parents: dict[ast.AST, ast.AST]) -> bool:
    names = {t.id for t in assign.targets if isinstance(t, ast.Name)}
    scope: ast.AST = assign
    while not isinstance(scope, (ast.FunctionDef, ast.Module)):
        scope = parents[scope]
    for node in ast.walk(scope):
        if isinstance(node, ast.YieldFrom) and isinstance(node.value, ast.Name):
            if node.value.id in names:
                return True
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "drive":
            if any(isinstance(a, ast.Name) and a.id in names for a in node.args):
                return True
    return False


def _package_trees() -> dict[str, ast.Module]:
    return {
        str(p.relative_to(SRC)): ast.parse(p.read_text(encoding="utf-8"), str(p))
        for p in sorted(SRC.rglob("*.py"))
    }


def test_every_call_of_a_child_yielding_function_is_driven() -> None:
    trees = _package_trees()
    functions, methods = _child_yielders(trees)
    # The readers with children and their helpers (containers, pickle, Keras, SavedModel …).
    assert {"report_streams", "judge_as_unpickled", "report_config"} <= functions
    assert "scan" in methods
    assert undriven_calls(trees) == []


def test_the_check_finds_a_call_left_undriven() -> None:
    source = """
def helper(ctx) -> Reading:
    yield Child(ctx)

def caller(ctx) -> Reading:
    helper(ctx)              # the generator is made and dropped: nothing is scanned
    yield from helper(ctx)
    again = helper(ctx)      # bound, never driven
"""
    problems = undriven_calls({"planted.py": ast.parse(source)})
    assert [p.split(":")[1] for p in problems] == ["6", "8"]


def test_nothing_below_the_engine_scans_children_itself() -> None:
    offenders = [
        path
        for path, tree in _package_trees().items()
        if path != "engine.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("scan_child", "scan_artifact")
    ]
    assert offenders == []


def _context(limits: Limits | None = None) -> ScanContext:
    options = ScanOptions(limits=limits or Limits())
    return ScanContext(FileResult(path="t", size=0, sha256=""), options)


def test_engine_sends_back_whether_a_child_was_recognised() -> None:
    ctx = _context()
    pickled = Artifact.from_bytes(b"\x80\x04K\x01.", Location("t", ("a",)), "a.pkl", 1)
    noise = Artifact.from_bytes(b"\x00\x01\x02 not a format", Location("t", ("b",)), "b", 1)
    seen: list[bool] = []

    def reading():  # type: ignore[no-untyped-def]
        seen.append((yield Child(pickled)))
        seen.append((yield Child(noise)))

    ctx.drive(reading())
    assert seen == [True, False]


def test_engine_applies_the_depth_limit_to_yielded_children() -> None:
    ctx = _context(Limits(max_container_depth=2))
    deep = Artifact.from_bytes(b"\x80\x04K\x01.", Location("t", ("a", "b", "c")), "x.pkl", 3)

    def reading():  # type: ignore[no-untyped-def]
        yield Child(deep)

    ctx.drive(reading())
    (finding,) = ctx.findings
    assert finding.rule_id == "MX-SCAN-002"
    assert finding.evidence["limit"] == "max_container_depth"
    assert ctx.incomplete


def test_what_a_childs_scan_raises_is_raised_where_it_was_yielded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ctx = _context()
    first = Artifact.from_bytes(b"\x80\x04K\x01.", Location("t", ("a",)), "a.pkl", 1)
    second = Artifact.from_bytes(b"\x80\x04K\x02.", Location("t", ("b",)), "b.pkl", 1)
    scanned: list[Location] = []

    def scan_child(child: Child) -> bool:
        scanned.append(child.artifact.location)
        if child.artifact is first:
            raise LookupError("stopped")
        return True

    monkeypatch.setattr(ctx, "scan_child", scan_child)
    events: list[object] = []

    def reading():  # type: ignore[no-untyped-def]
        try:
            yield Child(first)
        except LookupError as exc:  # as if the reader had called the scan itself
            events.append(str(exc))
        events.append((yield Child(second)))

    ctx.drive(reading())
    assert events == ["stopped", True]
    assert scanned == [first.location, second.location]

    def unguarded():  # type: ignore[no-untyped-def]
        yield Child(first)
        events.append("never")

    with pytest.raises(LookupError):
        ctx.drive(unguarded())
    assert "never" not in events


def test_a_zip_inside_a_zip_is_scanned_by_the_engine(tmp_path: pathlib.Path) -> None:
    import pickle

    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("evil.pkl", b"cos\nsystem\n(S'echo hi'\ntR.")
    outer = tmp_path / "outer.zip"
    with zipfile.ZipFile(outer, "w") as z:
        z.write(inner, "inner.zip")
        z.writestr("ok.pkl", pickle.dumps([1, 2]))
    report = modelxray.scan(str(outer))
    (result,) = report.files
    critical = [f for f in result.findings if f.severity is Severity.CRITICAL]
    assert [f.location.inner[:3] for f in critical] == [("inner.zip", "evil.pkl", "pickle[0]")]


def test_a_7z_stopped_early_leaves_no_extraction_thread(tmp_path: pathlib.Path) -> None:
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "m.7z"
    with py7zr.SevenZipFile(path, "w") as z:
        for i in range(5):
            z.writestr(b"cos\nsystem\n(S'echo hi'\ntR.", f"m{i}.pkl")
    before = threading.active_count()
    # A time limit hit in the first member stops the archive, and py7zr's thread with it.
    report = modelxray.scan(str(path), ScanOptions(limits=Limits(max_seconds_per_file=0.0)))
    assert report.files[0].status == "unscannable"
    assert threading.active_count() == before
    assert not [t for t in threading.enumerate() if t.name == "modelxray-7z"]
    full = modelxray.scan(str(path))
    members = {
        f.location.inner[0] for f in full.files[0].findings if f.severity is Severity.CRITICAL
    }
    assert full.files[0].status == "scanned"
    assert members == {f"m{i}.pkl" for i in range(5)}
