"""Python source files a model repository ships (``modeling_*.py``, ``hubconf.py``, MLflow code).

Recognised by content: Python-looking statements at the start of lines, and
(for files up to :data:`SNIFF_PARSE_BYTES`) a successful ``ast.parse`` of the
whole text, so a README with a code block stays unsupported.  The source is
parsed only; it is never compiled to a code object or run.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from typing import TYPE_CHECKING

from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.model import Location
from modelxray.rules import repo as rules
from modelxray.scanning import report_judgements

if TYPE_CHECKING:
    from modelxray.analysis.python_ast import CallHit
    from modelxray.scanning import Sink

SNIFF_PARSE_BYTES = 1 << 20
_PY_LINE = re.compile(
    rb"^(?:from[ \t]+\.*[\w.]+[ \t]+import[ \t]|import[ \t]+[\w.]+"
    rb"|(?:async[ \t]+)?def[ \t]+\w+[ \t]*\("
    rb"|class[ \t]+\w+[ \t]*[(:]|if[ \t]+__name__[ \t]*==)",
    re.M,
)


def decode_source(data: bytes) -> str:
    """Bytes to text the way the interpreter does (BOM, PEP 263 coding cookie)."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def _looks_like_python(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    first = head.split(b"\n", 1)[0]
    if first.startswith(b"#!") and b"python" in first:
        return True
    return _PY_LINE.search(head) is not None


def report_hits(hits: list[CallHit], base: Location, ctx: Sink, what: str) -> None:
    for hit in hits:
        where = "on import" if hit.scope == "module" else f"in {hit.scope}"
        ctx.report(
            rules.PYTHON_DANGEROUS_CALL,
            base.child(f"line:{hit.line}"),
            f"{what} calls {hit.name} ({hit.category}) {where}: {hit.snippet}"[:400],
            hit.evidence(),
            severity=hit.severity,
        )


def _bundled_in_torch_package(artifact: Artifact) -> bool:
    """A module source a torch.package archive bundles (``containers.zip`` records the layout,
    ``analysis.pickle.torch_package``): its importer runs it when a pickle or import names it."""
    facts = artifact.facts
    if facts.get("container") != "torch-package" or not artifact.location.inner:
        return False
    member = artifact.location.inner[-1]
    root = facts.get("package_root", "")
    return any(member == f"{root}/{rel}" for rel in facts.get("package_bundled", {}).values())


class PythonSourceReader(FormatReader):
    name = "python"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if _bundled_in_torch_package(artifact):
            return 40  # the package importer compiles and runs it, whatever it looks like
        if not _looks_like_python(head):
            return 0
        if artifact.size > SNIFF_PARSE_BYTES:
            return 10
        from modelxray.analysis.python_ast import AST_FILENAME

        try:
            ast.parse(decode_source(artifact.read(SNIFF_PARSE_BYTES)), filename=AST_FILENAME)
        except Exception:  # noqa: BLE001 - anything the parser refuses is not Python to us
            return 0
        return 15

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        from modelxray.analysis.python_ast import AST_FILENAME, analyse_tree

        if artifact.depth == 0:
            ctx.add_format(self.name)
        data = artifact.read(ctx.limits.max_python_source_bytes, "Python source")
        source = decode_source(data)
        tree = ast.parse(source, filename=AST_FILENAME)
        hits = analyse_tree(tree, source, ctx.budget, ctx.limits.max_python_nodes)
        report_hits(hits, artifact.location, ctx, f"Python file {artifact.name}")
        if "setup" in source:  # a setup(...) call: what installing the repository runs
            from modelxray.analysis.setup_script import judge_setup_script
            from modelxray.rules import manifest

            report_judgements(ctx, manifest.BY_KIND, artifact.location, judge_setup_script(tree))


register(PythonSourceReader())
