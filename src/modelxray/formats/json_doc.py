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
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
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


def register_json_analyser(analyser: JsonAnalyser) -> JsonAnalyser:
    _ANALYSERS.append(analyser)
    return analyser


def parse_json_text(text: str | bytes, what: str) -> Any:
    """``json.loads`` with deep nesting turned into a limit finding instead of a crash."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BudgetExceeded("max_json_depth", f"{what} nests too deeply to parse") from None


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
        data = artifact.read(ctx.limits.max_json_bytes, "JSON document")
        doc = parse_json_text(data.decode("utf-8-sig", errors="replace"), "JSON document")
        for analyser in _ANALYSERS:
            reading = analyser(doc, artifact, ctx)
            if reading is not None:
                yield from reading


register(JsonReader())
