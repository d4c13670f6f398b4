"""Hugging Face tokenizer configs: the Jinja chat templates a loader renders.

``tokenizer_config.json`` (and a processor's ``chat_template.json``) carry ``chat_template``
as one string or as a list of ``{"name": …, "template": …}`` entries.  transformers renders
it in an ``ImmutableSandboxedEnvironment``; other consumers (llama-cpp-python before 0.2.72,
home-grown servers) have rendered such templates in a plain Environment.  Each template goes
through the shared Jinja analysis (MX-TEMPLATE rules).  Recognised by content: a JSON object
with a ``chat_template`` key, whatever the file is called.

Template files of their own (``chat_template.jinja``) are read by
:mod:`modelxray.formats.chat_template`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.formats.json_doc import register_json_analyser
from modelxray.rules import template as rules

if TYPE_CHECKING:
    from modelxray.scanning import Sink

FORMAT = "hf-tokenizer-config"
_MAX_NAMED_TEMPLATES = 256


def _templates(value: Any) -> list[tuple[str, Any]]:
    """(label, template) pairs from a ``chat_template`` value (string or named list)."""
    if isinstance(value, str):
        return [("chat_template", value)]
    out: list[tuple[str, Any]] = []
    if isinstance(value, list):
        for i, entry in enumerate(value[:_MAX_NAMED_TEMPLATES]):
            if isinstance(entry, dict):
                name = entry.get("name")
                label = f"chat_template[{name}]" if isinstance(name, str) else f"chat_template[{i}]"
                out.append((label, entry.get("template")))
            else:
                out.append((f"chat_template[{i}]", entry))
    elif isinstance(value, dict):  # not a shape transformers writes, but one it could be fed
        for name, tmpl in list(value.items())[:_MAX_NAMED_TEMPLATES]:
            out.append((f"chat_template[{name}]", tmpl))
    return out


def analyse_tokenizer_config(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    if not isinstance(doc, dict) or "chat_template" not in doc:
        return
    value = doc["chat_template"]
    if value is None:
        return
    if artifact.depth == 0:
        ctx.add_format(FORMAT)
    pairs = _templates(value)
    if not pairs:
        ctx.report(
            rules.UNPARSEABLE,
            artifact.location.child("chat_template"),
            f"chat_template is a {type(value).__name__}, not a template string or a list of "
            "named templates",
            {"type": type(value).__name__},
        )
        return
    for label, template in pairs:
        loc = artifact.location.child(label)
        if not isinstance(template, str):
            ctx.report(
                rules.UNPARSEABLE,
                loc,
                f"template entry is a {type(template).__name__}, not a string",
                {"type": type(template).__name__},
            )
            continue
        from modelxray.analysis.jinja_template import report_template

        report_template(template, loc, ctx, chat_template=True)


register_json_analyser(analyse_tokenizer_config)
