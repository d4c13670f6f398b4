"""A bounded YAML decoder: text to a tree of nodes, never to Python objects.

YAML loaders construct what a document's tags ask for (``yaml.unsafe_load`` imports and calls
``!!python/object/apply:os.system``).  This decoder reads the *event* stream of PyYAML's pure
Python parser -- the parser OmegaConf and Hydra load configs with (``OmegaConf.load`` uses a
``yaml.SafeLoader`` subclass) -- and builds plain :class:`YamlNode` values itself: no
constructor runs, a tag is kept as text for the analysers to judge.

Bounds: the text is at most ``max_yaml_bytes``; every event is charged to the budget (the
per-file deadline) and counted against ``max_yaml_nodes``; nesting deeper than
``max_yaml_depth`` stops the parse (PyYAML's scanner is quadratic in flow nesting, so the depth
is checked as the events arrive).  An alias is the node its anchor names, shared, never copied:
walkers visit each node once, so a "billion laughs" document costs what its text costs.
PyYAML (MIT) is imported here, lazily; the decoder judges nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modelxray.budget import Budget, BudgetExceeded, Limits

MAPPING = "mapping"
SEQUENCE = "sequence"
SCALAR = "scalar"

# The tag prefix of YAML's standard tags (``!!x`` is ``tag:yaml.org,2002:x``).
YAML_TAG_PREFIX = "tag:yaml.org,2002:"


class YamlError(ValueError):
    """The text is not YAML the loaders would accept."""


@dataclass(eq=False)
class YamlNode:
    kind: str  # MAPPING, SEQUENCE or SCALAR
    line: int  # 1-based line of the node's start
    tag: str | None = None  # an explicit tag, resolved ("tag:yaml.org,2002:python/name:os")
    value: str = ""  # a scalar's text
    plain: bool = True  # a scalar written without quotes (so it may be typed: true, 1, null)
    items: list[YamlNode] = field(default_factory=list)  # a sequence's items
    pairs: list[tuple[YamlNode, YamlNode]] = field(default_factory=list)  # a mapping's pairs

    def get(self, key: str) -> YamlNode | None:
        """The value of the last pair whose key is the scalar ``key`` (as the loaders keep)."""
        found = None
        for k, v in self.pairs:
            if k.kind == SCALAR and k.value == key:
                found = v
        return found

    @property
    def text(self) -> str | None:
        return self.value if self.kind == SCALAR else None

    @property
    def is_true(self) -> bool:
        """A scalar that YAML 1.1 (PyYAML's resolver) reads as ``true``."""
        return (
            self.kind == SCALAR
            and self.plain
            and self.value in ("true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON")
        )


def key_text(node: YamlNode) -> str:
    """A mapping key as a path segment (a non-scalar key is named by its kind)."""
    return node.value if node.kind == SCALAR else f"<{node.kind} key>"


def parse_yaml(text: str, budget: Budget, limits: Limits) -> list[YamlNode]:
    """The documents of ``text`` as node trees (an empty stream is no document)."""
    import yaml

    if len(text) > limits.max_yaml_bytes:
        raise BudgetExceeded(
            "max_yaml_bytes", f"YAML text of {len(text)} characters; the limit is "
            f"{limits.max_yaml_bytes}"
        )  # fmt: skip
    docs: list[YamlNode] = []
    anchors: dict[str, YamlNode] = {}
    # Open collections: (node, pending mapping key or None).
    stack: list[list[Any]] = []
    count = 0

    def attach(node: YamlNode) -> None:
        if not stack:
            docs.append(node)
            return
        top = stack[-1]
        parent: YamlNode = top[0]
        if parent.kind == SEQUENCE:
            parent.items.append(node)
        elif top[1] is None:
            top[1] = node
        else:
            parent.pairs.append((top[1], node))
            top[1] = None

    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            count += 1
            budget.tick()
            if count > limits.max_yaml_nodes:
                raise BudgetExceeded(
                    "max_yaml_nodes", f"YAML document has over {limits.max_yaml_nodes} events"
                )
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            if isinstance(event, yaml.ScalarEvent):
                node = YamlNode(
                    SCALAR, line, event.tag, event.value, plain=event.style in (None, "")
                )
                if event.anchor:
                    anchors[event.anchor] = node
                attach(node)
            elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                if len(stack) >= limits.max_yaml_depth:
                    raise BudgetExceeded(
                        "max_yaml_depth", f"YAML nesting deeper than {limits.max_yaml_depth}"
                    )
                kind = MAPPING if isinstance(event, yaml.MappingStartEvent) else SEQUENCE
                node = YamlNode(kind, line, event.tag)
                if event.anchor:
                    anchors[event.anchor] = node
                attach(node)
                stack.append([node, None])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                stack.pop()
            elif isinstance(event, yaml.AliasEvent):
                target = anchors.get(event.anchor)
                if target is None:
                    raise YamlError(f"line {line}: undefined alias *{event.anchor}")
                attach(target)
            elif isinstance(event, yaml.DocumentStartEvent):
                anchors = {}
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}") from None
    except RecursionError:
        raise BudgetExceeded("max_yaml_depth", "YAML nests too deeply to parse") from None
    return docs


def from_python(value: Any, budget: Budget, limits: Limits) -> YamlNode:
    """A parsed JSON document as nodes (JSON is YAML), for the same analysers."""
    root = YamlNode(SCALAR, 0)
    # (value, node to fill, depth)
    todo: list[tuple[Any, YamlNode, int]] = [(value, root, 0)]
    count = 0
    while todo:
        item, node, depth = todo.pop()
        count += 1
        budget.tick()
        if count > limits.max_yaml_nodes:
            raise BudgetExceeded("max_yaml_nodes", f"document has over {limits.max_yaml_nodes} "
                                 "values")  # fmt: skip
        if isinstance(item, dict):
            node.kind = MAPPING
            for k, v in item.items():
                child = YamlNode(SCALAR, 0)
                node.pairs.append((YamlNode(SCALAR, 0, value=str(k), plain=False), child))
                todo.append((v, child, depth + 1))
        elif isinstance(item, list):
            node.kind = SEQUENCE
            for v in item:
                child = YamlNode(SCALAR, 0)
                node.items.append(child)
                todo.append((v, child, depth + 1))
        elif isinstance(item, str):
            node.value, node.plain = item, False
        elif item is True:
            node.value = "true"
        elif item is None:
            node.value = "null"
        else:
            node.value = str(item)
    return root


_TYPED = ("int", "float", "bool", "null")


def to_python(node: YamlNode, budget: Budget, limits: Limits) -> Any:
    """A node tree as plain data, as ``yaml.safe_load`` would give it for YAML's core types:
    plain scalars typed by PyYAML's resolver as ``int``/``float``/``bool``/``null`` become those,
    every other scalar (timestamps, any other tag) stays text; nothing else is constructed.  An
    alias is the same object (shared, never copied); a non-scalar key is named by its kind."""
    import yaml

    resolver = yaml.resolver.Resolver()
    constructor = yaml.constructor.SafeConstructor()
    done: dict[int, Any] = {}
    count = 0

    def scalar(n: YamlNode) -> Any:
        tag = n.tag or (
            resolver.resolve(yaml.ScalarNode, n.value, (True, False)) if n.plain else None
        )
        kind = tag[len(YAML_TAG_PREFIX) :] if tag and tag.startswith(YAML_TAG_PREFIX) else ""
        if kind not in _TYPED:
            return n.value
        try:
            method = getattr(constructor, f"construct_yaml_{kind}")
            return method(yaml.ScalarNode(tag, n.value))
        except (ValueError, yaml.YAMLError):
            return n.value

    def convert(n: YamlNode, depth: int) -> Any:
        nonlocal count
        if id(n) in done:
            return done[id(n)]
        count += 1
        budget.tick()
        if count > limits.max_yaml_nodes or depth > limits.max_yaml_depth:
            raise BudgetExceeded("max_yaml_nodes", "YAML document too large to convert")
        if n.kind == SCALAR:
            value = scalar(n)
        elif n.kind == SEQUENCE:
            value = done[id(n)] = []
            value.extend(convert(i, depth + 1) for i in n.items)
        else:
            value = done[id(n)] = {}
            for k, v in n.pairs:
                key = scalar(k) if k.kind == SCALAR else key_text(k)
                value[key if isinstance(key, (str, int, float, bool)) or key is None
                      else str(key)] = convert(v, depth + 1)  # fmt: skip
        done[id(n)] = value
        return value

    return convert(node, 0)


def load_yaml_data(text: str, budget: Budget, limits: Limits) -> Any:
    """The first document of ``text`` as plain data (``{}`` for an empty stream)."""
    docs = parse_yaml(text, budget, limits)
    return to_python(docs[0], budget, limits) if docs else {}
