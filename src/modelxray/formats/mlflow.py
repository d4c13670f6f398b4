"""MLflow ``MLmodel`` files: which artefacts each flavour's loader deserialises or imports.

``MLmodel`` is YAML that MLflow writes with ``yaml.safe_dump`` in block style.
It is read here with a small, bounded reader for that subset (block mappings
and sequences, plain and quoted scalars, folded continuation lines, block
scalars, simple flow collections); anything it cannot place raises, which the
engine reports as an unparseable file (fail closed).  No YAML library is used.

The artefacts themselves (``python_model.pkl``, ``model.pkl``, ``data/``) are
scanned by their own readers when the folder is scanned; the findings here add
what the loader would do with them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.formats.base import FormatReader, register
from modelxray.model import Location
from modelxray.rules import mlflow as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

MAX_LINES = 100_000
_FLAVORS_LINE = re.compile(rb"^flavors:[ \t]*\r?$", re.M)
_KEY = re.compile(
    r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^'"#\s][^#]*?)\s*:(?:\s+(?P<value>.*))?$""", re.S
)
PICKLE_EXTENSIONS = (".pkl", ".pickle", ".cloudpickle", ".joblib", ".dill")
PICKLE_FORMATS = frozenset({"pickle", "cloudpickle"})


class YamlSubsetError(ValueError):
    pass


# -- the YAML subset --------------------------------------------------------------------------
def _scalar(text: str) -> Any:
    text = text.strip()
    if not text or text in ("~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    if text == "{}":
        return {}
    if text == "[]":
        return []
    if text[0] == "[" and text[-1] == "]" and not any(c in text[1:-1] for c in "[]{}"):
        return [_scalar(part) for part in text[1:-1].split(",")]
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    return text


def _open_quote(text: str) -> bool:
    """Whether ``text`` starts a quoted scalar that it does not close."""
    text = text.strip()
    if not text or text[0] not in "'\"":
        return False
    body = text[1:].replace("''", "") if text[0] == "'" else re.sub(r"\\.", "", text[1:])
    return text[0] not in body


@dataclass
class _Line:
    indent: int
    text: str
    number: int

    block: str | None = None  # the text of a "|" or ">" block scalar that this line opens

    @property
    def is_item(self) -> bool:
        return self.text == "-" or self.text.startswith("- ")


def _content_indent(line: _Line) -> int:
    """Where the line's own content sits: "- key: v" items hold a mapping two columns in."""
    text, indent = line.text, line.indent
    while text == "-" or text.startswith("- "):
        text, indent = text[2:], indent + 2
    if indent == line.indent or _KEY.match(text):
        return indent
    return indent - 2  # a scalar item: its continuation lines sit deeper than its dash


def _logical_lines(text: str) -> list[_Line]:
    """Non-blank, non-comment lines with folded continuations and block scalars joined."""
    raw = text.splitlines()
    if len(raw) > MAX_LINES:
        raise YamlSubsetError(f"over {MAX_LINES} lines")
    out: list[_Line] = []
    i = 0
    while i < len(raw):
        line = raw[i]
        i += 1
        stripped = line.strip()
        prev = out[-1] if out else None
        if not stripped and prev is not None and _open_quote(_inline_value(prev.text)):
            prev.text += "\n"  # an empty line inside a quoted scalar is a line break
            continue
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if line[indent : indent + 1] == "\t":
            raise YamlSubsetError(f"line {i}: tab indentation")
        if prev is not None and indent > _content_indent(prev) and _continues(prev.text):
            if not _open_quote(_inline_value(prev.text)) and (
                ": " in stripped or stripped.endswith(":")
            ):
                raise YamlSubsetError(f"line {i}: a mapping value is not allowed here")
            prev.text += ("" if prev.text.endswith("\n") else " ") + stripped
            continue
        entry = _Line(indent, stripped, i)
        m = _KEY.match(stripped[2:] if entry.is_item else stripped)
        value = (m.group("value") or "") if m else ""
        if value[:1] in ("|", ">"):
            body: list[str] = []
            while i < len(raw) and (
                not raw[i].strip() or len(raw[i]) - len(raw[i].lstrip(" ")) > indent
            ):
                body.append(raw[i].strip())
                i += 1
            entry.text = stripped[: len(stripped) - len(value)].rstrip()
            entry.block = ("\n" if value[0] == "|" else " ").join(body).strip() + "\n"
        out.append(entry)
    return out


def _inline_value(text: str) -> str:
    while text == "-" or text.startswith("- "):
        text = text[2:]
    m = _KEY.match(text)
    return (m.group("value") or "").strip() if m else text.strip()


def _continues(text: str) -> bool:
    """Whether the next, deeper-indented line continues this line's inline scalar."""
    value = _inline_value(text)
    if not value:
        return False
    return _open_quote(value) or value[0] not in "[{|>&*!"


class _Parser:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.i = 0

    def block(self, min_indent: int) -> Any:
        if self.i >= len(self.lines) or self.lines[self.i].indent < min_indent:
            return None
        line = self.lines[self.i]
        return self.sequence(line.indent) if line.is_item else self.mapping(line.indent)

    def mapping(self, indent: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.indent < indent or (line.indent == indent and line.is_item):
                break
            if line.indent > indent:
                raise YamlSubsetError(f"line {line.number}: unexpected indentation")
            m = _KEY.match(line.text)
            if not m:
                raise YamlSubsetError(f"line {line.number}: expected 'key: value'")
            key = str(_scalar(m.group("key")))
            value = (m.group("value") or "").strip()
            self.i += 1
            if line.block is not None:
                out[key] = line.block
                continue
            if value and not value.startswith("#"):
                out[key] = _scalar(value)
                continue
            nxt = self.lines[self.i] if self.i < len(self.lines) else None
            if nxt is not None and (nxt.indent > indent or (nxt.indent == indent and nxt.is_item)):
                out[key] = self.block(nxt.indent)
            else:
                out[key] = None
        return out

    def sequence(self, indent: int) -> list[Any]:
        out: list[Any] = []
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.indent != indent or not line.is_item:
                if line.indent > indent:
                    raise YamlSubsetError(f"line {line.number}: unexpected indentation")
                break
            item = line.text[1:].strip()
            if not item:
                self.i += 1
                out.append(self.block(indent + 1))
            elif item == "-" or item.startswith("- "):
                self.lines[self.i] = _Line(indent + 2, item, line.number)
                out.append(self.sequence(indent + 2))
            elif _KEY.match(item) and item[0] not in "'\"[{":
                # "- key: value" opens a mapping whose keys sit two columns further in.
                self.lines[self.i] = _Line(indent + 2, item, line.number, line.block)
                out.append(self.mapping(indent + 2))
            else:
                self.i += 1
                out.append(_scalar(item))
        return out


def parse_yaml_subset(text: str) -> Any:
    lines = _logical_lines(text)
    parser = _Parser(lines)
    doc = parser.block(0)
    if parser.i != len(lines):
        raise YamlSubsetError(f"line {lines[parser.i].number}: could not be placed")
    return doc if doc is not None else {}


# -- MLmodel semantics ------------------------------------------------------------------------
def _escapes(path: str) -> bool:
    norm = path.replace("\\", "/")
    return (
        norm.startswith("/")
        or bool(re.match(r"^[A-Za-z]:", norm))
        or "://" in norm
        or ".." in norm.split("/")
    )


@dataclass
class Load:
    flavour: str
    key: str
    path: str
    how: str  # what the loader does with it
    pickle: bool
    code: bool = False


def flavour_loads(flavour: str, spec: dict[str, Any]) -> list[Load]:
    out: list[Load] = []

    def add(key: str, how: str, pickle: bool, code: bool = False) -> None:
        value = spec.get(key)
        if isinstance(value, str) and value:
            out.append(Load(flavour, key, value, how, pickle, code))

    loader = spec.get("loader_module")
    if flavour == "python_function":
        add("python_model", "mlflow.pyfunc.load_model would unpickle {path} with cloudpickle", True)
        loader_s = loader if isinstance(loader, str) else ""
        for key in ("model_path", "data"):
            value = spec.get(key)
            if isinstance(value, str) and value.lower().endswith(PICKLE_EXTENSIONS):
                add(
                    key,
                    f"mlflow.pyfunc.load_model ({loader_s or 'its loader'}) would unpickle "
                    "{path}",
                    True,
                )
    elif flavour == "sklearn":
        fmt = spec.get("serialization_format", "cloudpickle")
        add(
            "pickled_model",
            f"mlflow.sklearn.load_model would unpickle {{path}} with {fmt}",
            fmt in PICKLE_FORMATS,
        )
    elif flavour == "pytorch":
        add(
            "model_data",
            "mlflow.pytorch.load_model would torch.load the model under {path} (a pickle inside)",
            True,
        )
    else:
        for key in ("data", "model_data", "pickled_model", "model_path"):
            value = spec.get(key)
            if isinstance(value, str) and value.lower().endswith(PICKLE_EXTENSIONS):
                add(key, f"mlflow.{flavour}.load_model would unpickle {{path}}", True)
    if isinstance(spec.get("code"), str) and spec["code"]:
        add(
            "code",
            "MLflow puts {path} on sys.path and imports the modules the model names",
            False,
            code=True,
        )
    return out


class MLmodelReader(FormatReader):
    name = "mlflow-mlmodel"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if b"\x00" in head or head.lstrip()[:1] in (b"{", b"["):
            return 0
        return 30 if _FLAVORS_LINE.search(head) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(self.name)
        data = artifact.read(ctx.limits.max_python_source_bytes, "MLmodel file")
        doc = parse_yaml_subset(data.decode("utf-8-sig", errors="replace"))
        flavors = doc.get("flavors")
        if not isinstance(flavors, dict):
            raise YamlSubsetError("'flavors' is not a mapping")
        folder = os.path.dirname(artifact.fs_path) if artifact.fs_path else None
        for flavour, spec in flavors.items():
            ctx.budget.tick()
            if not isinstance(spec, dict):
                continue
            loc = artifact.location.child(f"flavors.{flavour}")
            self._loader_module(flavour, spec, loc, ctx)
            compression = {k: v for k, v in spec.items() if k.endswith("_compression") and v}
            for load in flavour_loads(flavour, spec):
                self._report(load, compression, loc, folder, ctx)

    @staticmethod
    def _loader_module(flavour: str, spec: dict[str, Any], loc: Location, ctx: Sink) -> None:
        loader = spec.get("loader_module")
        if flavour == "python_function" and isinstance(loader, str) and loader:
            if loader != "mlflow" and not loader.startswith("mlflow."):
                ctx.report(
                    rules.IMPORTS_CODE,
                    loc.child("loader_module"),
                    f"mlflow.pyfunc.load_model would import {loader!r} and call its "
                    "_load_pyfunc: a loader outside MLflow",
                    {"flavour": flavour, "loader_module": loader},
                )

    @staticmethod
    def _report(
        load: Load,
        compression: dict[str, Any],
        loc: Location,
        folder: str | None,
        ctx: Sink,
    ) -> None:
        where = loc.child(load.key)
        evidence: dict[str, Any] = {"flavour": load.flavour, "key": load.key, "path": load.path}
        if compression:
            evidence["compression"] = compression
        if _escapes(load.path):
            ctx.report(
                rules.PATH_ESCAPE,
                where,
                f"{load.key} points outside the model directory: {load.path!r}",
                evidence,
            )
        elif folder is not None:
            evidence["present"] = os.path.exists(os.path.join(folder, load.path))
        message = load.how.format(path=load.path)
        if compression:
            message += f" after decompressing it ({', '.join(map(str, compression.values()))})"
        if load.code:
            ctx.report(rules.IMPORTS_CODE, where, message, evidence)
        elif load.pickle:
            ctx.report(rules.UNPICKLES, where, message, evidence)


register(MLmodelReader())
