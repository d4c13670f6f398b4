"""Hugging Face tokenizer configs and template files: the Jinja chat templates a loader renders.

``tokenizer_config.json`` (and a processor's ``chat_template.json``) carry ``chat_template``
as one string or as a list of ``{"name": …, "template": …}`` entries.  transformers renders
it in an ``ImmutableSandboxedEnvironment``; other consumers (llama-cpp-python before 0.2.72,
home-grown servers) have rendered such templates in a plain Environment.  Each template goes
through the shared Jinja analysis (MX-TEMPLATE rules).  Recognised by content: a JSON object
with a ``chat_template`` key, whatever the file is called.

Repositories now also ship the template as a file of its own (``chat_template.jinja``,
``additional_chat_templates/<name>.jinja``), which transformers reads by that name and renders
whatever it holds; llama.cpp's ``--chat-template-file`` takes any file.  A text file with such a
name is judged as a declared template; any other text file is judged as one when its content
is a Jinja template -- it starts with a Jinja tag and Jinja's parser accepts all of it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import Budget, Limits
from modelxray.formats.base import FormatReader, register
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


# --------------------------------------------------------------------------- template files

TEMPLATE_FORMAT = "jinja-template"
# File names loaders read as a Jinja template: transformers' ``chat_template.jinja`` and
# ``additional_chat_templates/*.jinja``; the usual Jinja extensions.
TEMPLATE_FILE_NAME = re.compile(r"(?:chat_template(?:\.[^.]*)?|.*\.(?:jinja2?|j2))", re.I)
_BOM = b"\xef\xbb\xbf"
_TAG_START = (b"{{", b"{%", b"{#")


def is_template_file_name(name: str) -> bool:
    return TEMPLATE_FILE_NAME.fullmatch(name) is not None and not name.lower().endswith(".json")


def _parses_as_template(text: str, limits: Limits) -> bool:
    """Jinja's parser accepts the text (or it nests past the limit, a template's shape)."""
    from modelxray.analysis.jinja_template import _environment, template_depth

    env = _environment()
    try:
        budget = Budget(limits)
        if template_depth(env, text, limits.max_template_depth, budget) > limits.max_template_depth:
            return True
        env.parse(text)
    except Exception:  # noqa: BLE001 - whatever Jinja refuses is not a template to us
        return False
    return True


class TemplateFileReader(FormatReader):
    """A file holding one Jinja template (never rendered: parsed and judged)."""

    name = TEMPLATE_FORMAT
    extensions = (".jinja", ".jinja2", ".j2")

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if b"\0" in head:
            return 0
        if is_template_file_name(artifact.name):
            return 30  # the loader renders it whatever it holds
        start = head[len(_BOM) :] if head.startswith(_BOM) else head
        if not start.lstrip().startswith(_TAG_START):
            return 0
        limits = Limits()
        if artifact.size > limits.max_template_bytes:
            return 0
        text = artifact.read(limits.max_template_bytes, "template").decode("utf-8", "replace")
        return 25 if _parses_as_template(text, limits) else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        from modelxray.analysis.jinja_template import report_template

        if artifact.depth == 0:
            ctx.add_format(TEMPLATE_FORMAT)
        limit = ctx.limits.max_template_bytes
        if artifact.size > limit:
            ctx.report(
                rules.UNPARSEABLE,
                artifact.location,
                f"template file of {artifact.size} bytes exceeds the {limit}-byte limit and was "
                "not analysed",
                {"limit": "max_template_bytes", "bytes": artifact.size},
            )
            return
        data = artifact.read(limit, "template")
        text = data.decode("utf-8-sig", errors="replace")
        report_template(text, artifact.location, ctx, chat_template=True)


register(TemplateFileReader())
