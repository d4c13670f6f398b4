"""Standalone Jinja template files: ``chat_template.jinja`` and the like.

Hugging Face repositories now ship the chat template as a file of its own beside
``tokenizer_config.json`` (``chat_template.jinja``, ``additional_chat_templates/<name>.jinja``),
which transformers reads by that name and renders whatever it holds; llama.cpp's
``--chat-template-file`` takes any file.  A text file with such a name is judged as a declared
template; any other text file is judged as one when its content is a Jinja template -- it
starts with a Jinja tag and Jinja's parser accepts all of it.  The template is never rendered:
it goes through the shared Jinja analysis (MX-TEMPLATE rules).

Registered in :mod:`modelxray.formats.registry` (the worked example in CONTRIBUTING.md).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from modelxray.budget import Budget, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.model import FormatName
from modelxray.rules import template as rules
from modelxray.scanning import report_judgements

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.scanning import Sink

TEMPLATE_FORMAT = FormatName.JINJA_TEMPLATE
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
        from modelxray.analysis.jinja_template import judge_template

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
        judgements = judge_template(text, ctx.budget, ctx.limits, chat_template=True)
        report_judgements(ctx, rules.BY_KIND, artifact.location, judgements)


register(TemplateFileReader())
