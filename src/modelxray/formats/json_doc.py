"""JSON documents: Keras ``to_json`` files, ``.keras`` ``config.json``, and any other JSON.

Every JSON document is walked for marshalled code (the Keras config walk does
that for any tree); further analysers register with :func:`register_json_analyser`
and each decides from the parsed content whether the document is one of theirs
(a Hugging Face ``config.json``, a ``tokenizer_config.json``, …).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.scanning import Reading, report_judgements

if TYPE_CHECKING:
    from modelxray.scanning import Sink

_WS = b" \t\r\n\xef\xbb\xbf"
# ``[{{``, ``[ {%``: an array that opens with Jinja markup (checked by parsing).
_TEMPLATE_TAG = re.compile(rb"\[\s*\{[{%#]")
_SNIFF_PARSE_BYTES = 1 << 20

# (doc, artifact, ctx) -> None, or the children it yields; called for every parsed JSON document.
JsonAnalyser = Callable[[Any, Artifact, "Sink"], "Reading | None"]
_ANALYSERS: list[JsonAnalyser] = []
_LOADED = False


def register_json_analyser(analyser: JsonAnalyser) -> JsonAnalyser:
    _ANALYSERS.append(analyser)
    return analyser


def json_analysers() -> list[JsonAnalyser]:
    """Every JSON analyser, in order: this module's, then those of ``registry.JSON_ANALYSERS``
    (imported here, when the first JSON document is read: start-up never pays for them)."""
    global _LOADED
    if not _LOADED:
        import importlib

        from modelxray.formats.registry import JSON_ANALYSERS

        for module in JSON_ANALYSERS:
            importlib.import_module(module)
        _LOADED = True
        rank = {module: i for i, module in enumerate((__name__, *JSON_ANALYSERS))}
        _ANALYSERS.sort(key=lambda a: rank.get(a.__module__, len(rank)))
    return _ANALYSERS


# A complete JSON string (escapes included), and the rest of one whose start was seen before.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRING_REST = re.compile(rb'[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_STRING_BODY = re.compile(rb"[^\"\\]*(?:\\.[^\"\\]*)*", re.S)
# Brackets kept (opening as 1, closing as -1 once cast to signed bytes), everything else dropped.
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[{]}")
_CHUNK = 1 << 20


class JsonShape:
    """Counts a JSON text's values and nesting without building it, a chunk at a time.

    Outside strings, a document of ``n`` values has at least ``n - 1`` commas and its
    brackets give its depth, so ``max_json_nodes``/``max_json_depth`` are enforced *before*
    ``json.loads`` builds anything: a wide or deep document ends in the limit finding at the
    cost of a scan over its bytes.  Only what a valid document must exceed is refused (commas
    + 1 values; the deepest container's children sit one level below it), so a document the
    analysers would walk within the limits always gets through to them.
    """

    def __init__(self, limits: Limits, what: str) -> None:
        self.limits = limits
        self.what = what
        self.commas = 0
        self.depth = 0
        self.in_string = False
        self.escaped = False  # inside a string, the previous chunk ended with a lone backslash

    def feed(self, chunk: bytes) -> None:
        pos = 0
        if self.in_string:
            if self.escaped:
                if not chunk:
                    return
                pos, self.escaped = 1, False
            closed = _STRING_REST.match(chunk, pos)
            if closed is None:
                self._still_open(chunk, pos)
                return
            pos = closed.end()
            self.in_string = False
        rest = _STRING.sub(b"", chunk[pos:] if pos else chunk)
        quote = rest.find(b'"')
        if quote >= 0:  # a string runs on into the next chunk
            self.in_string = True
            self._still_open(rest, quote + 1)
            rest = rest[:quote]
        self._count(rest)

    def _still_open(self, data: bytes, pos: int) -> None:
        body = _STRING_BODY.match(data, pos)
        self.escaped = body is not None and body.end() < len(data)

    def _count(self, rest: bytes) -> None:
        limits = self.limits
        self.commas += rest.count(b",")
        if self.commas + 1 > limits.max_json_nodes:
            raise BudgetExceeded(
                "max_json_nodes",
                f"{self.what} has over {limits.max_json_nodes} values (counted before parsing)",
            )
        opening = rest.count(b"[") + rest.count(b"{")
        if not opening and not self.depth:
            return
        if self.depth + opening <= limits.max_json_depth + 1:
            self.depth += opening - rest.count(b"]") - rest.count(b"}")
            return
        steps = memoryview(rest.translate(_BRACKETS, _NOT_BRACKETS)).cast("b")
        deepest = max(accumulate(steps, initial=self.depth))
        if deepest > limits.max_json_depth + 1:
            raise BudgetExceeded(
                "max_json_depth",
                f"{self.what} nests deeper than {limits.max_json_depth} (counted before parsing)",
            )
        self.depth += sum(steps)


def check_json_shape(data: bytes, what: str, limits: Limits) -> None:
    """Enforce the node and depth limits on a whole JSON text (see :class:`JsonShape`)."""
    shape = JsonShape(limits, what)
    view = memoryview(data)
    for start in range(0, len(data), _CHUNK):
        shape.feed(bytes(view[start : start + _CHUNK]))


def parse_json_text(text: str | bytes, what: str, limits: Limits | None = None) -> Any:
    """``json.loads`` with deep nesting turned into a limit finding instead of a crash; with
    ``limits``, the node and depth limits are enforced on the text before anything is built."""
    if limits is not None:
        raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
        check_json_shape(raw, what, limits)
        del raw
    try:
        return json.loads(text)
    except RecursionError:
        raise BudgetExceeded("max_json_depth", f"{what} nests too deeply to parse") from None


def read_json_document(artifact: Artifact, what: str, limits: Limits) -> Any:
    """Parse a JSON artifact of at most ``max_json_bytes``: its shape is checked while it is
    read in chunks, so a document over the node or depth limit is refused before it is held
    whole, let alone built."""
    if artifact.size > limits.max_json_bytes:
        artifact.read(limits.max_json_bytes, what)  # refused: the size finding
    shape = JsonShape(limits, what)
    if artifact.size <= _CHUNK:  # one chunk: read once, shape-checked before it is built
        data = artifact.read(limits.max_json_bytes, what)
        if len(data) <= _CHUNK:
            shape.feed(data)
            return parse_json_text(data.decode("utf-8-sig", errors="replace"), what)
        # it grew since the stat: the chunked path below
    with artifact.open() as f:
        read = 0
        while read <= limits.max_json_bytes:
            chunk = f.read(_CHUNK)
            if not chunk:
                break
            read += len(chunk)
            shape.feed(chunk)
    text = artifact.read(limits.max_json_bytes, what).decode("utf-8-sig", errors="replace")
    return parse_json_text(text, what)


def _keras_analyser(doc: Any, artifact: Artifact, ctx: Sink) -> Reading:
    from modelxray.analysis.keras_config import KerasDoc, looks_like_keras_config
    from modelxray.formats.keras_findings import report_config

    if looks_like_keras_config(doc) and artifact.depth == 0:
        ctx.add_format("keras-json")
    version = artifact.facts.get("keras_version")
    if version is None and isinstance(doc, dict) and isinstance(doc.get("keras_version"), str):
        version = doc["keras_version"]
    yield from report_config(
        KerasDoc(artifact.location, doc, keras_version=version, facts=artifact.facts,
                 depth=artifact.depth),
        ctx,
    )  # fmt: skip


register_json_analyser(_keras_analyser)


def _hf_config_analyser(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    from modelxray.analysis.hf_config import judge_hf_config, looks_like_hf_config
    from modelxray.rules import repo

    if not looks_like_hf_config(doc):
        return
    if artifact.depth == 0:
        ctx.add_format("hf-config")
    report_judgements(
        ctx, repo.BY_KIND, artifact.location, judge_hf_config(doc, artifact, ctx.budget)
    )


register_json_analyser(_hf_config_analyser)


def _tokenizer_config_analyser(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    from modelxray.analysis.hf_tokenizer import FORMAT, chat_template_value, judge_chat_templates
    from modelxray.rules import template

    value = chat_template_value(doc)
    if value is None:
        return
    if artifact.depth == 0:
        ctx.add_format(FORMAT)
    judgements = judge_chat_templates(value, ctx.budget, ctx.limits)
    report_judgements(ctx, template.BY_KIND, artifact.location, judgements)


register_json_analyser(_tokenizer_config_analyser)


class JsonReader(FormatReader):
    name = "json"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        stripped = head.lstrip(_WS)
        if stripped[:1] not in (b"{", b"["):
            return 0
        # JSON's grammar: an object's next meaningful byte is a key's quote or its end; an
        # array's is a value (a quote, a bracket, a digit or a literal) or its end.  So a Jinja
        # template beginning with ``{{`` or ``{%`` is never claimed.
        rest = stripped[1:].lstrip(_WS)[:1]
        allowed = b'"}' if stripped[:1] == b"{" else b'"{[]-0123456789tfn'
        if rest and rest not in allowed:
            return 0
        if _TEMPLATE_TAG.match(stripped) and not self._parses(artifact):
            return 0  # Jinja markup outside JSON strings: not JSON (the template reader judges)
        return 20

    @staticmethod
    def _parses(artifact: Artifact) -> bool:
        """A document with Jinja-looking markup is claimed only if it parses as JSON (small
        documents only: a large one is claimed, and a parse failure is then a finding)."""
        if artifact.size > _SNIFF_PARSE_BYTES:
            return True
        try:
            json.loads(artifact.read(_SNIFF_PARSE_BYTES, "JSON document").decode("utf-8-sig"))
        except (ValueError, RecursionError):
            return False
        return True

    def scan(self, artifact: Artifact, ctx: Sink) -> Reading:
        doc = read_json_document(artifact, "JSON document", ctx.limits)
        for analyser in json_analysers():
            reading = analyser(doc, artifact, ctx)
            if reading is not None:
                yield from reading


register(JsonReader())
