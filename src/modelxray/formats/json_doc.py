"""JSON documents: Keras ``to_json`` files, ``.keras`` ``config.json``, and any other JSON.

Every JSON document is walked for marshalled code; documents shaped like a
Keras model config are also judged reference by reference.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from modelxray.analysis.keras_config import KerasDoc, analyse_config, looks_like_keras_config
from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register

if TYPE_CHECKING:
    from modelxray.engine import ScanContext

_WS = b" \t\r\n\xef\xbb\xbf"


def parse_json_text(text: str | bytes, what: str) -> object:
    """``json.loads`` with deep nesting turned into a limit finding instead of a crash."""
    try:
        return json.loads(text)
    except RecursionError:
        raise BudgetExceeded("max_json_depth", f"{what} nests too deeply to parse") from None


class JsonReader(FormatReader):
    name = "json"
    extensions = (".json",)

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        stripped = head.lstrip(_WS)
        if stripped[:1] not in (b"{", b"["):
            return 0
        # A JSON document's next meaningful byte is a quote, a bracket, a digit or a literal.
        rest = stripped[1:].lstrip(_WS)[:1]
        if rest and rest not in b'"{[]}-0123456789tfn':
            return 0
        return 20

    def scan(self, artifact: Artifact, ctx: ScanContext) -> None:
        data = artifact.read(ctx.limits.max_json_bytes, "JSON document")
        doc = parse_json_text(data.decode("utf-8-sig", errors="replace"), "JSON document")
        keras = looks_like_keras_config(doc)
        if keras and artifact.depth == 0:
            ctx.add_format("keras-json")
        version = artifact.facts.get("keras_version")
        if version is None and isinstance(doc, dict) and isinstance(doc.get("keras_version"), str):
            version = doc["keras_version"]
        analyse_config(KerasDoc(artifact.location, doc, keras_version=version), ctx)


register(JsonReader())
