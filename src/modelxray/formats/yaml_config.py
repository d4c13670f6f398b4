"""YAML configs that a framework instantiates: Hydra/OmegaConf ``config.yaml``, NeMo's
``model_config.yaml`` (inside ``.nemo`` tars), Hydra override lists, YAML with Python tags.

YAML has no magic number, and most YAML files (CI workflows, compose files, Helm charts) are not
model configs, so a file is claimed by what it holds: its first meaningful line is YAML (a
``key:``, a ``- `` item, a directive or document marker) and somewhere in the text there is a
construct a loader turns into code -- a ``_target_`` key, a NeMo ``target:``/``cls:`` naming a
dotted path, a Python tag (``!!python/...``), a ``key._target_=...`` override or an OmegaConf
resolver that is built in or that the threat catalogue names.  The name of the file plays no
part (a ``.yaml`` extension only breaks ties).  A file up to 1 MiB is claimed only when it
parses as YAML with a collection at its root (text that no YAML loader accepts loads nothing);
a larger one is claimed on its head, and then failing to decode it is a finding (MX-SCAN-001).
A claimed file is decoded by :mod:`modelxray.formats.yaml_doc` (bounded, never constructing
objects) and judged by :mod:`modelxray.analysis.yaml_config`.

JSON is YAML: a JSON document with a ``_target_`` key is judged the same way by the JSON
analyser registered here (the JSON reader keeps JSON documents).
"""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import register_json_analyser
from modelxray.formats.registry import YAML_MARKER_LITERALS
from modelxray.model import FormatName
from modelxray.rules import config as rules
from modelxray.scanning import report_judgements

if TYPE_CHECKING:
    from modelxray.analysis.pickle.globals_policy import Policy
    from modelxray.artifact import Artifact
    from modelxray.scanning import Sink

YAML_FORMAT = FormatName.YAML_CONFIG
# Files up to this size are searched whole for a marker when sniffed; larger ones by their head.
SNIFF_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"

# The first meaningful line of a YAML document: a block mapping key, a sequence item, a
# directive, a document start, an explicit key or a tagged node.
_FIRST_LINE = re.compile(
    rb"""^(?:---(?:[ \t].*)?|%YAML[ \t].*|%TAG[ \t].*|-(?:[ \t].*)?|\?(?:[ \t].*)?|!.*|[\[{].*"""
    rb"""|(?:"[^"\n]*"|'[^'\n]*'|[^\s#:\-?!\[\]{},&*|>'"%@`][^:\n]*?)[ \t]*:(?:[ \t].*)?)$"""
)
_MARKERS = re.compile(
    rb"""["']?\b_target_["']?[ \t]*:"""  # a _target_ key (block or flow)
    rb"""|^[ \t]*(?:-[ \t]+)*["']?(?:target|cls)["']?[ \t]*:[ \t]*["']?"""
    rb"""[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+["']?[ \t]*$"""  # NeMo target: a.b.C
    rb"""|!!python/|tag:yaml\.org,2002:python/"""  # Python tags
    # a Hydra override setting a _target_
    rb"""|^[ \t]*-[ \t]+["']?[~+]{0,2}[\w./@\-\[\]]*(?:_target_[ \t]*=|=.*_target_)"""
    rb"""|\$\{[ \t]*([A-Za-z_][\w.\-]*)[ \t]*:""",  # an OmegaConf resolver
    re.M,
)


# Literals every match of ``_MARKERS`` contains (the registry row's cheap check uses them too).
_MARKER_LITERALS = YAML_MARKER_LITERALS


def _resolver_marks(name: str) -> bool:
    from modelxray.analysis import threats
    from modelxray.analysis.yaml_config import BUILTIN_RESOLVERS

    if name in BUILTIN_RESOLVERS or name.startswith("oc."):
        return True
    return threats.lookup("builtins", name) is not None if "." not in name else (
        threats.lookup(*name.rsplit(".", 1)) is not None
    )  # fmt: skip


def _first_line(text: bytes) -> bytes | None:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        return raw.rstrip()
    return None


def looks_like_config(data: bytes) -> bool:
    """Whether ``data`` (a head or a whole file) is a YAML config with code-bearing markers."""
    if b"\0" in data:
        return False
    start = data[len(_BOM) :] if data.startswith(_BOM) else data
    if not any(literal in start for literal in _MARKER_LITERALS):
        return False  # every marker holds one of these: a substring test is cheaper than _MARKERS
    first = _first_line(start[:65536])
    if first is None or first[:1] in (b" ", b"\t") or not _FIRST_LINE.match(first):
        return False
    for m in _MARKERS.finditer(start):
        name = m.group(1)
        if name is None or _resolver_marks(name.decode("ascii", "replace")):
            return True
    return False


def _is_json(data: bytes, whole: bool) -> bool:
    """Flow-style YAML (``{_target_: os.system}``) is not JSON; a JSON document is.  A large
    document is left to the JSON reader, whose sniff scores above this one."""
    if not whole:
        return True
    try:
        json.loads(data.decode("utf-8-sig"))
    except (ValueError, RecursionError):
        return False
    return True


def _parses(data: bytes) -> bool:
    """The text is YAML with a mapping or sequence at its root, as the loaders need: what no
    YAML loader accepts (prose with a colon) is not claimed, since nothing would load it.  A
    document that reaches a limit is claimed (the scan reports the limit)."""
    from modelxray.formats.yaml_doc import SCALAR, YamlError, parse_yaml

    limits = Limits()
    try:
        docs = parse_yaml(data.decode("utf-8-sig", errors="replace"), Budget(limits), limits)
    except (BudgetExceeded, ImportError):
        return True  # the scan reports the limit (or the missing parser)
    except YamlError:
        return False
    return any(doc.kind != SCALAR for doc in docs)


class YamlConfigReader(FormatReader):
    """A YAML document judged for what Hydra, OmegaConf, NeMo and PyYAML would run."""

    name = YAML_FORMAT

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if b"\0" in head or (_first_line(head) is None and artifact.size <= len(head)):
            return 0
        whole = artifact.size <= SNIFF_BYTES
        data = artifact.read(SNIFF_BYTES, "YAML") if whole else head
        if not looks_like_config(data):
            return 0
        flow = head.lstrip(_BOM + b" \t\r\n")[:1] in (b"{", b"[")
        if flow and _is_json(data, whole):
            return 0  # JSON documents are the JSON reader's (its analyser judges _target_)
        if whole and not _parses(data):
            return 0
        # Flow-style YAML that is not JSON: above the JSON reader's score (it would fail on it).
        return 22 if flow else 18

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        if artifact.depth == 0:
            ctx.add_format(YAML_FORMAT)
        report_config_yaml(artifact, ctx)


def report_config_yaml(artifact: Artifact, ctx: Sink) -> None:
    """Judge a YAML document for what Hydra/OmegaConf would instantiate or resolve in it.

    Also called by the readers of other YAML documents (a conda environment file): Hydra
    loads any YAML file it is pointed at, so a ``_target_`` beside ``dependencies:`` is judged
    whichever reader claimed the file."""
    from modelxray.analysis.yaml_config import judge_config
    from modelxray.formats.yaml_doc import parse_yaml

    data = artifact.read(ctx.limits.max_yaml_bytes, "YAML config")
    text = data.decode("utf-8-sig", errors="replace")
    docs = parse_yaml(text, ctx.budget, ctx.limits)
    judgements = judge_config(docs, ctx.budget, _policy(ctx))
    report_judgements(ctx, rules.BY_KIND, artifact.location, judgements)
    _also_python(data, artifact, ctx)


def _policy(ctx: Sink) -> Policy | None:
    """The pickle policy with the scan policy's pickle-global additions (None: the default),
    so a config's target gets the verdict a pickle global naming it gets under this policy."""
    allow, deny = ctx.settings.allow_pickle_globals, ctx.settings.deny_pickle_globals
    return _configured_policy(allow, deny) if allow or deny else None


@functools.lru_cache(maxsize=16)
def _configured_policy(allow: tuple[str, ...], deny: tuple[str, ...]) -> Policy:
    from modelxray.analysis.pickle.globals_policy import Policy

    return Policy(allow, deny)


def _also_python(data: bytes, artifact: Artifact, ctx: Sink) -> None:
    """A YAML config that is also valid Python (``x: int = f()`` is both) is judged as Python
    too: the same bytes imported as a module run as code."""
    import ast

    from modelxray.analysis.python_ast import AST_FILENAME, analyse_tree
    from modelxray.formats.python_source import decode_source, report_hits

    if len(data) > ctx.limits.max_python_source_bytes:
        return
    source = decode_source(data)
    try:
        tree = ast.parse(source, filename=AST_FILENAME)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return
    hits = analyse_tree(tree, source, ctx.budget, ctx.limits.max_python_nodes)
    report_hits(hits, artifact.location, ctx, f"{artifact.name} (also valid Python)")


def _json_config_analyser(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    """A JSON document with ``_target_`` keys is a Hydra-style config (JSON is YAML)."""
    from modelxray.analysis.yaml_config import has_target_key, judge_config
    from modelxray.formats.yaml_doc import from_python

    if not has_target_key(doc, ctx.budget, ctx.limits.max_yaml_nodes):
        return
    root = from_python(doc, ctx.budget, ctx.limits)
    judgements = judge_config([root], ctx.budget, _policy(ctx))
    report_judgements(ctx, rules.BY_KIND, artifact.location, judgements)


register_json_analyser(_json_config_analyser)
register(YamlConfigReader())
