"""One registration table for readers (issue 13): every reader has one row, and what derives
from the rows (lazy loading, tie-breaking, the model extensions) follows them."""

from __future__ import annotations

import ast
from pathlib import Path

import modelxray.formats as formats
from modelxray.artifact import Artifact
from modelxray.formats import registry
from modelxray.formats.base import LazyReader, identify
from modelxray.formats.loaders import PROMISES
from modelxray.model import FormatName, Location

SRC = Path(__file__).resolve().parents[1] / "src" / "modelxray"


def test_every_registered_reader_has_exactly_one_row() -> None:
    names = [entry.name for entry in registry.READERS]
    assert len(names) == len(set(names))
    assert {r.name for r in formats.readers()} == set(names)
    assert all(isinstance(e.name, FormatName) for e in registry.READERS)


def test_priorities_are_distinct_so_no_tie_depends_on_order() -> None:
    priorities = [entry.priority for entry in registry.READERS]
    assert len(priorities) == len(set(priorities))


def test_rows_with_magic_are_stand_ins_and_the_rest_are_real_readers() -> None:
    for reader in formats.readers():
        entry = registry.BY_NAME[reader.name]
        if isinstance(reader, LazyReader):
            # A cheap necessary condition (magic or first bytes) decides when to load it.
            assert entry.magic is not None or entry.lead is not None
            assert reader.module == entry.module
        assert reader.extensions == entry.extensions
        if not isinstance(reader, LazyReader):
            assert type(reader).__module__ == entry.module


def test_promised_extensions_are_those_of_the_name_promise_table() -> None:
    assert set(PROMISES) == registry.MODEL_EXTENSIONS
    promised = [ext for entry in registry.READERS for ext in entry.promises]
    assert len(promised) == len(set(promised))  # each promise is one format's


def test_no_reader_class_declares_its_own_extensions() -> None:
    """Extensions live in the registry row only (one home)."""
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name != "FormatReader":
                for stmt in node.body:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else []
                    assert not any(
                        isinstance(t, ast.Name) and t.id == "extensions" for t in targets
                    ), f"{path.name}:{node.name}"


def test_formats_init_is_not_a_list_of_side_effect_imports() -> None:
    tree = ast.parse((SRC / "formats" / "__init__.py").read_text(encoding="utf-8"))
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"annotations", "registry", "FormatReader", "LazyReader", "identify",
                        "readers", "register"}  # fmt: skip


def test_explicit_priority_breaks_an_exact_tie() -> None:
    # Equal scores are decided by a matching extension, then by the higher priority -- never by
    # where the reader sits in the registry.
    from modelxray.formats import base

    class _Low(base.FormatReader):
        name = "jinja-template"  # borrows the template row's priority and extensions

        def sniff(self, artifact: Artifact, head: bytes) -> int:
            return 1000

        def scan(self, artifact: Artifact, ctx: object) -> None:  # type: ignore[override]
            raise AssertionError

    class _High(_Low):
        name = "json"

    low, high = _Low(), _High()
    saved = list(base._REGISTRY)
    try:
        for order in ((low, high), (high, low)):
            base._REGISTRY[:] = []
            for reader in order:
                base.register(reader)  # takes its row's extensions
            # (content both rows' cheap checks pass: json's lead, the template row's magic)
            artifact = Artifact.from_bytes(b"{", Location("f.bin"), "f.bin")
            assert identify(artifact) is high  # json's row outranks the template row's
            artifact = Artifact.from_bytes(b"{", Location("f.jinja"), "f.jinja")
            assert identify(artifact) is low  # the extension outranks the priority
    finally:
        base._REGISTRY[:] = saved


# ------------------------------------------------------- the worked example of CONTRIBUTING.md

TEMPLATES = Path(__file__).parent / "data" / "templates" / "llama_cpp"
MARKER = "/tmp/modelxray_marker_registry13"


def test_standalone_chat_template_is_one_registry_row() -> None:
    entry = registry.BY_NAME[FormatName.JINJA_TEMPLATE]
    assert entry.module == "modelxray.formats.chat_template"
    reader = next(r for r in formats.readers() if r.name == FormatName.JINJA_TEMPLATE)
    if isinstance(reader, formats.LazyReader):  # (its module loads with the first template)
        reader = reader.load()
    assert type(reader).__module__ == entry.module


def test_repository_with_a_chat_template_file(tmp_path: Path) -> None:
    """A Hugging Face repository ships ``chat_template.jinja`` beside ``tokenizer_config.json``
    (which then has no ``chat_template`` key); each file is read by its own reader."""
    import modelxray

    real = (TEMPLATES / "Qwen-Qwen3-0.6B.jinja").read_text(encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "Qwen2Tokenizer", "model_max_length": 131072}', encoding="utf-8"
    )
    (tmp_path / "chat_template.jinja").write_text(real, encoding="utf-8")
    extra = tmp_path / "additional_chat_templates"
    extra.mkdir()
    (extra / "tool_use.jinja").write_text(
        "{{ cycler.__init__.__globals__.os.popen('touch " + MARKER + "').read() }}",
        encoding="utf-8",
    )
    report = modelxray.scan(str(tmp_path))
    by_name = {Path(f.path).name: f for f in report.files}
    assert by_name["tokenizer_config.json"].formats[0] == "json"
    clean = by_name["chat_template.jinja"]
    assert clean.formats == ["jinja-template"] and clean.verdict == "allowed"
    hostile = by_name["tool_use.jinja"]
    assert hostile.formats == ["jinja-template"] and hostile.verdict == "blocked"
    assert "MX-TEMPLATE-001" in {f.rule_id for f in hostile.findings}
    assert not Path(MARKER).exists()
