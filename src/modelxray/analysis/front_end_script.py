"""Script a notebook front end runs when it renders content: HTML, SVG and JavaScript outputs.

A trusting front end (a trusted notebook in Jupyter, or one that renders every output) runs
``application/javascript`` outputs and the scripts, event handlers and ``javascript:`` URLs of
``text/html``, ``image/svg+xml`` and ``text/markdown`` outputs as soon as the notebook is opened.
That script runs in the page of the Jupyter server, with its token: it can ask the kernel to run
code and the server to open terminals or rewrite files.

The HTML is read with the standard library's tokenizer (``html.parser``: no network, no
rendering); ``srcdoc`` documents and ``data:text/html`` URLs are read as the documents they are.
Judgements, not findings: the caller maps them to its rule.
"""

from __future__ import annotations

import base64
import binascii
import re
import urllib.parse
from dataclasses import dataclass
from html.parser import HTMLParser

from modelxray.model import Severity

SCRIPT_MIME_TYPES = frozenset(
    {"application/javascript", "text/javascript", "application/x-javascript",
     "application/ecmascript", "text/ecmascript"}
)  # fmt: skip
# <script type=...> values a browser runs (empty = JavaScript); data blocks (application/json,
# templates) are not run.
_RUN_SCRIPT_TYPES = SCRIPT_MIME_TYPES | {
    "",
    "module",
    "text/jscript",
    "text/livescript",
    "application/x-ecmascript",
    "text/x-javascript",
}
MARKUP_MIME_TYPES = frozenset({"text/html", "image/svg+xml", "text/markdown"})

# Script that reaches the kernel or the server: code execution on the machine, not in the page.
_SERVER_API = re.compile(
    r"kernel\s*\.\s*(?:execute|requestExecute|send_shell_message)\b|requestExecute\s*\(|"
    r"/api/(?:kernels|terminals|contents|sessions)\b|"
    r"(?:Jupyter|IPython)\s*\.\s*notebook\s*\.\s*kernel|"
    r"terminals?\s*\.\s*(?:startNew|connectTo)\b|serviceManager\s*\.\s*(?:terminals|kernels)",
    re.I,
)
_URL_ATTRS = frozenset(
    {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster",
     "lowsrc", "dynsrc", "to", "values", "from", "by"}
)  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x20]+")
# Markdown link and image targets, inline (``[x](url)``) and by reference (``[x]: url``).
_MD_TARGET = re.compile(r"\]\(\s*<?([^)>]*)|^\s{0,3}\[[^\]]+\]:\s*<?(\S+)", re.M)
MAX_NESTED_DOCUMENTS = 8


@dataclass(frozen=True, slots=True)
class ScriptHit:
    """One place where the front end would run script."""

    kind: str  # "script-element", "event-handler", "javascript-url", "script-output", ...
    severity: Severity
    detail: str
    snippet: str


def judge_script(text: str, kind: str, detail: str) -> ScriptHit:
    """A piece of JavaScript the front end runs."""
    api = _SERVER_API.search(text)
    if api:
        return ScriptHit(
            kind,
            Severity.HIGH,
            f"{detail} that drives the Jupyter kernel or server API ({api.group(0)!r}): "
            "it runs code on the machine serving the notebook",
            text[:300],
        )
    return ScriptHit(kind, Severity.MEDIUM, detail, text[:300])


def _is_javascript_url(value: str) -> bool:
    return _CONTROL.sub("", value).lower().startswith(("javascript:", "vbscript:"))


def _data_html(value: str) -> str | None:
    """The document a ``data:text/html`` (or SVG) URL holds."""
    v = _CONTROL.sub("", value)
    head, sep, payload = v.partition(",")
    if not sep or not head.lower().startswith(("data:text/html", "data:image/svg+xml")):
        return None
    if head.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False).decode("utf-8", "replace")
        except (binascii.Error, ValueError):
            return None
    return urllib.parse.unquote(payload)


def _runs(attrs: list[tuple[str, str | None]]) -> bool:
    """Whether a ``<script>`` with these attributes is run (its ``type`` is JavaScript)."""
    kind = next(((v or "") for k, v in attrs if k.lower() == "type"), "")
    return kind.split(";", 1)[0].strip().lower() in _RUN_SCRIPT_TYPES


class _Markup(HTMLParser):
    def __init__(self, depth: int) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = depth
        self.hits: list[ScriptHit] = []
        self.nested: list[tuple[str, str]] = []  # (how, document)
        self._script: list[str] | None = None
        self._script_src = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag.lower(), attrs)
        if tag.lower() == "script":
            self._script = [] if _runs(attrs) else None
            self._script_src = next((v or "" for k, v in attrs if k.lower() == "src"), "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag.lower(), attrs)
        if tag.lower() == "script" and _runs(attrs):
            self._end_script("", next((v or "" for k, v in attrs if k.lower() == "src"), ""))

    def handle_endtag(self, tag: str) -> None:
        if tag.lower() == "script" and self._script is not None:
            self._end_script("".join(self._script), self._script_src)
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    def close(self) -> None:
        super().close()
        if self._script is not None:  # an unclosed <script> still runs what it holds
            self._end_script("".join(self._script), self._script_src)
            self._script = None

    def _end_script(self, body: str, src: str) -> None:
        if src:
            self.hits.append(
                judge_script(body, "script-element", f"<script> loads code from {src[:200]!r}")
            )
        else:
            self.hits.append(judge_script(body, "script-element", "<script> element"))

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            key = key.lower()
            value = value or ""
            if key.startswith("on") and len(key) > 2:
                self.hits.append(
                    judge_script(value, "event-handler", f"<{tag} {key}=...> event handler")
                )
            elif key in _URL_ATTRS and _is_javascript_url(value):
                self.hits.append(
                    judge_script(value, "javascript-url", f"<{tag} {key}=javascript:...> URL")
                )
            elif key == "srcdoc":
                self.nested.append((f"<{tag} srcdoc>", value))
            elif key in _URL_ATTRS:
                doc = _data_html(value)
                if doc is not None:
                    self.nested.append((f"<{tag} {key}=data:...>", doc))
            if tag == "meta" and key == "content" and "url=" in value.lower():
                url = value.lower().split("url=", 1)[1]
                if _is_javascript_url(url):
                    self.hits.append(
                        judge_script(value, "javascript-url", "<meta refresh> javascript: URL")
                    )


def scan_markup(text: str, depth: int = 0) -> list[ScriptHit]:
    """Every place an HTML/SVG/Markdown document runs script, nested documents included."""
    parser = _Markup(depth)
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # html.parser asserts on some marked sections (<![x ...)
        # Fail closed: what the tokenizer could not read may hold script a browser runs.
        return [
            *parser.hits,
            ScriptHit("unreadable", Severity.MEDIUM, f"markup not fully read ({exc})", text[:300]),
        ]
    hits = list(parser.hits)
    for how, doc in parser.nested:
        if depth >= MAX_NESTED_DOCUMENTS:
            hits.append(
                ScriptHit(
                    "nesting",
                    Severity.MEDIUM,
                    f"{how} nests documents deeper than {MAX_NESTED_DOCUMENTS}: not read",
                    doc[:300],
                )
            )
            continue
        for hit in scan_markup(doc, depth + 1):
            hits.append(
                ScriptHit(hit.kind, hit.severity, f"{how} document: {hit.detail}", hit.snippet)
            )
    return hits


def scan_output(mime: str, text: str) -> list[ScriptHit]:
    """Script the front end runs for one output of MIME type ``mime``."""
    base = mime.split(";", 1)[0].strip().lower()
    if base in SCRIPT_MIME_TYPES:
        return [judge_script(text, "script-output", f"{base} output (run on display)")]
    if base == "text/markdown":
        return scan_markup(text) + scan_markdown_links(text)
    if base in MARKUP_MIME_TYPES:
        return scan_markup(text)
    return []


def scan_markdown_links(text: str) -> list[ScriptHit]:
    """``javascript:`` targets of Markdown links, which the renderer turns into ``<a href>``."""
    hits = []
    for m in _MD_TARGET.finditer(text):
        target = m.group(1) if m.group(1) is not None else m.group(2) or ""
        if _is_javascript_url(target):
            hits.append(
                judge_script(target, "javascript-url", "Markdown link to a javascript: URL")
            )
    return hits
