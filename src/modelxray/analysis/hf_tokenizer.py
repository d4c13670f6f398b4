"""Hugging Face tokenizer configs: the Jinja chat templates a loader renders.

``tokenizer_config.json`` (and a processor's ``chat_template.json``) carry ``chat_template``
as one string or as a list of ``{"name": …, "template": …}`` entries.  transformers renders
it in an ``ImmutableSandboxedEnvironment``; other consumers (llama-cpp-python before 0.2.72,
home-grown servers) have rendered such templates in a plain Environment.  Each template goes
through the shared Jinja analysis (MX-TEMPLATE rules).  Recognised by content: a JSON object
with a ``chat_template`` key, whatever the file is called (the JSON reader asks).  Template
files of their own (``chat_template.jinja``) are read by :mod:`modelxray.formats.chat_template`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from modelxray.analysis.jinja_template import UNPARSEABLE, judge_template
from modelxray.budget import Budget, Limits
from modelxray.model import Judgement

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


def chat_template_value(doc: Any) -> Any:
    """A tokenizer config's ``chat_template`` (None when the document declares none)."""
    return doc.get("chat_template") if isinstance(doc, dict) else None


def judge_chat_templates(value: Any, budget: Budget, limits: Limits) -> Iterator[Judgement]:
    """Judge a ``chat_template`` value: each template below its label (``chat_template``,
    ``chat_template[name]``); the kinds are :mod:`.jinja_template`'s."""
    pairs = _templates(value)
    if not pairs:
        yield Judgement(
            UNPARSEABLE,
            f"chat_template is a {type(value).__name__}, not a template string or a list of "
            "named templates",
            {"type": type(value).__name__},
            ("chat_template",),
        )
        return
    for label, template in pairs:
        if not isinstance(template, str):
            yield Judgement(
                UNPARSEABLE,
                f"template entry is a {type(template).__name__}, not a string",
                {"type": type(template).__name__},
                (label,),
            )
            continue
        for judgement in judge_template(template, budget, limits, chat_template=True):
            yield replace(judgement, where=(label, *judgement.where))
