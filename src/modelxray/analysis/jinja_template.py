"""Static analysis of Jinja templates (chat templates in GGUF and tokenizer configs).

A chat template is Jinja source that a loader renders while it formats a prompt.  Rendered in a
plain ``jinja2.Environment`` (llama-cpp-python before 0.2.72, CVE-2024-34359) a template can
walk from any object to ``__globals__``/``__builtins__`` and run code; inside Jinja's sandbox
the same walk raises ``SecurityError``.  This module never renders: it parses the source with
Jinja's own parser (the grammar the loader uses), walks the syntax tree and asks the sandbox's
attribute policy (``ImmutableSandboxedEnvironment.is_safe_attribute``) about every attribute
name the template can reach, including names assembled from string pieces.

jinja2 (BSD-3-Clause) is imported lazily, only when a template is analysed.
"""

from __future__ import annotations

import functools
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from modelxray.budget import Budget, BudgetExceeded, Limits
from modelxray.model import Location, Severity
from modelxray.rules import template as rules

if TYPE_CHECKING:
    from modelxray.engine import ScanContext

__all__ = ["TemplateIssue", "analyse_template", "looks_like_template", "report_template"]

# Names the template may *call* without defining them: Jinja's own globals that chat
# templates use, and the helpers transformers / llama.cpp / Ollama put in the context.
KNOWN_CALLABLES = frozenset(
    {"range", "namespace", "dict", "raise_exception", "strftime_now", "caller", "super"}
)
# Globals that only template-injection payloads reach for: Jinja's default globals whose
# functions lead to ``__globals__``, Flask's context objects, and Python module/builtin names.
GADGET_NAMES = frozenset(
    {
        "cycler", "joiner", "lipsum", "self", "config", "request", "session", "g", "url_for",
        "get_flashed_messages", "os", "sys", "subprocess", "builtins", "importlib", "eval",
        "exec", "open", "getattr", "setattr", "globals", "locals", "compile", "input",
        "__import__", "__builtins__",
    }
)  # fmt: skip
# Attribute names that are process / import machinery whatever object they hang off.
DANGEROUS_ATTRS = frozenset(
    {
        "popen", "system", "spawnl", "spawnv", "spawnve", "spawnlp", "execl", "execv", "execve",
        "execvp", "fork", "eval", "exec", "import_module", "load_module", "check_output",
        "check_call", "getoutput", "getstatusoutput", "Popen", "builtins",
        "subprocess", "modules", "f_globals", "f_locals", "f_builtins", "gi_frame", "gi_code",
        "cr_frame", "ag_frame", "tb_frame", "f_back", "func_globals", "func_code", "mro",
    }
)  # fmt: skip
# Methods real chat templates call on strings, dicts, lists and ``loop``.
SAFE_METHODS = frozenset(
    {
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
        "lower", "upper", "title", "capitalize", "casefold", "replace", "join", "find", "rfind",
        "index", "rindex", "count", "isdigit", "isalpha", "isalnum", "isspace", "islower",
        "isupper", "isnumeric", "partition", "rpartition", "center", "ljust", "rjust", "zfill",
        "items", "keys", "values", "get", "copy", "cycle", "changed", "strftime", "format",
        "removeprefix", "removesuffix",
    }
)  # fmt: skip
# Filters whose arguments name attributes (``map(attribute=…)``, ``selectattr('x')`` …).
ATTRIBUTE_FILTERS = frozenset(
    {"attr", "map", "selectattr", "rejectattr", "sort", "groupby", "sum", "unique", "min", "max"}
)
# Filters and methods that assemble strings (used to spot attribute names built at runtime).
STRING_BUILDERS = frozenset(
    {"join", "format", "replace", "reverse", "string", "lower", "upper", "list", "first", "last",
     "select", "batch", "slice", "map", "urlencode", "center", "decode"}
)  # fmt: skip

_DUNDER = re.compile(r"__[A-Za-z][A-Za-z0-9_]*")
_FORMAT_FIELD_ACCESS = re.compile(r"\{[^{}]*[.\[][^{}]*\}")
_FORMAT_FIELD_NAME = re.compile(r"[.\[]'?([A-Za-z_][A-Za-z0-9_]*)")
_TEMPLATE_MARKERS = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_MAX_FOLD_DEPTH = 40
_MAX_FOLD_CHARS = 4096


@dataclass
class TemplateIssue:
    rule: Any  # a modelxray Rule
    message: str
    line: int
    construct: str
    severity: Severity | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def looks_like_template(text: str) -> bool:
    """A string that holds at least one complete Jinja expression or statement."""
    return ("{{" in text or "{%" in text) and _TEMPLATE_MARKERS.search(text) is not None


# --------------------------------------------------------------------------- environment

_ENV: Any = None


def _environment() -> Any:
    """One sandboxed environment, used for its parser and its attribute policy only."""
    global _ENV
    if _ENV is None:
        from jinja2 import nodes
        from jinja2.ext import Extension
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        class GenerationTag(Extension):  # transformers' ``{% generation %}`` block
            tags = {"generation"}

            def parse(self, parser: Any) -> Any:
                lineno = next(parser.stream).lineno
                body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
                return nodes.Scope(body, lineno=lineno)

        _ENV = ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols", GenerationTag])
    return _ENV


class _Method:
    def method(self) -> None:  # pragma: no cover - never called
        pass


def _samples() -> tuple[Any, ...]:
    """Representative objects a template can hold: every kind the sandbox treats specially."""
    gen = (x for x in "")
    return ("", [], {}, set(), str, _samples, _Method().method, gen, types.SimpleNamespace())


@functools.lru_cache(maxsize=4096)
def _sandbox_verdict(name: str) -> str:
    """'internal' (sandbox refuses it on some object), 'mutation' (only the immutable
    sandbox refuses it: it modifies a list/dict/set) or 'ok'."""
    from jinja2.sandbox import SandboxedEnvironment, modifies_known_mutable

    env = _environment()
    samples = _samples()
    if any(not SandboxedEnvironment.is_safe_attribute(env, s, name, None) for s in samples):
        return "internal"
    if any(modifies_known_mutable(s, name) for s in samples):
        return "mutation"
    return "ok"


# --------------------------------------------------------------------------- constant folding


class _Folder:
    """Evaluates the constant part of an expression without running anything: literals,
    concatenation, repetition, ``%`` formatting and a few pure string filters."""

    def __init__(self, consts: dict[str, set[Any]]) -> None:
        self.consts = consts

    def fold(self, node: Any, depth: int = 0) -> Any:
        from jinja2 import nodes

        if depth > _MAX_FOLD_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, nodes.Const):
            v = node.value
            return v if isinstance(v, (str, int)) and not isinstance(v, bool) else None
        if isinstance(node, nodes.Name) and node.ctx == "load":
            values = self.consts.get(node.name)
            if not values or len(values) != 1:
                return None
            value = next(iter(values))
            return list(value) if isinstance(value, tuple) else value
        if isinstance(node, (nodes.List, nodes.Tuple)):
            items = [self.fold(i, d) for i in node.items]
            return None if any(i is None for i in items) else items
        if isinstance(node, nodes.Concat):
            parts = [self.fold(n, d) for n in node.nodes]
            if any(p is None or isinstance(p, list) for p in parts):
                return None
            return self._cap("".join(str(p) for p in parts))
        if isinstance(node, (nodes.Add, nodes.Mul, nodes.Mod)):
            left, right = self.fold(node.left, d), self.fold(node.right, d)
            if left is None or right is None:
                return None
            return self._binop(type(node).__name__, left, right)
        if isinstance(node, nodes.Getitem):
            obj, key = self.fold(node.node, d), self.fold(node.arg, d)
            if (
                isinstance(obj, (str, list))
                and isinstance(key, int)
                and -len(obj) <= key < len(obj)
            ):
                return obj[key]
            return None
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._filter(node, d)
        return None

    @staticmethod
    def _cap(value: str) -> str | None:
        return value if len(value) <= _MAX_FOLD_CHARS else None

    def _binop(self, op: str, left: Any, right: Any) -> Any:
        if op == "Add":
            if isinstance(left, str) and isinstance(right, str):
                return self._cap(left + right)
            if isinstance(left, int) and isinstance(right, int):
                return left + right
            if isinstance(left, list) and isinstance(right, list):
                return left + right
        if op == "Mul":
            if isinstance(left, int) and isinstance(right, str):
                left, right = right, left
            if isinstance(left, str) and isinstance(right, int) and 0 <= right <= 64:
                return self._cap(left * right)
        if op == "Mod" and isinstance(left, str):
            args = tuple(right) if isinstance(right, list) else (right,)
            try:
                return self._cap(left % args)
            except (TypeError, ValueError):
                return None
        return None

    def _filter(self, node: Any, depth: int) -> Any:
        value = self.fold(node.node, depth)
        args = [self.fold(a, depth) for a in node.args]
        if value is None or any(a is None for a in args):
            return None
        name = node.name
        if name == "join" and isinstance(value, list):
            sep = args[0] if args and isinstance(args[0], str) else ""
            return self._cap(sep.join(str(v) for v in value))
        if name in ("reverse", "list") and isinstance(value, (str, list)):
            if name == "list":
                return list(value)
            return value[::-1]
        if name == "string":
            return str(value) if isinstance(value, (str, int)) else None
        if isinstance(value, str):
            if name == "lower":
                return value.lower()
            if name == "upper":
                return value.upper()
            if name == "trim":
                return value.strip()
            if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
                return self._cap(value.replace(args[0], args[1]))
            if name == "format":
                return self._binop("Mod", value, args)
        if name in ("first", "last") and isinstance(value, (str, list)) and value:
            return value[0] if name == "first" else value[-1]
        return None


# --------------------------------------------------------------------------- the walk


def _walk(root: Any, budget: Budget, limit: int) -> Iterator[Any]:
    stack = [root]
    seen = 0
    while stack:
        node = stack.pop()
        seen += 1
        budget.tick()
        Budget.require(seen <= limit, "max_template_nodes", f"template has over {limit} nodes")
        yield node
        stack.extend(reversed(list(node.iter_child_nodes())))


def _builds_string(node: Any) -> bool:
    """The expression assembles a string at runtime (the shape of an obfuscated name)."""
    from jinja2 import nodes

    for n in [node, *node.find_all(nodes.Expr)]:
        if isinstance(n, (nodes.Concat, nodes.Mod)):
            return True
        if isinstance(n, nodes.Add) and any(
            isinstance(s, nodes.Const) and isinstance(s.value, str) for s in (n.left, n.right)
        ):
            return True
        if isinstance(n, nodes.Filter) and n.name in STRING_BUILDERS:
            return True
        if isinstance(n, nodes.Call) and isinstance(n.node, nodes.Getattr):
            if n.node.attr in ("format", "join", "replace", "decode", "lower", "upper"):
                return True
    return False


class _Analyser:
    def __init__(self, source: str, budget: Budget, limits: Limits) -> None:
        self.source = source
        self.lines = source.splitlines()
        self.budget = budget
        self.limits = limits
        self.issues: list[TemplateIssue] = []
        self.judged: set[int] = set()  # ids of nodes already judged as attribute names

    def snippet(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].strip()[:200]
        return ""

    def add(
        self, rule: Any, message: str, node: Any, construct: str, severity: Severity | None = None
    ) -> None:
        line = int(getattr(node, "lineno", 0) or 0)
        self.issues.append(TemplateIssue(rule, message, line, construct[:200], severity))

    def check_name(self, name: str, node: Any, how: str) -> None:
        """An attribute (or item) name the template reaches on some object."""
        if not name:
            return
        verdict = _sandbox_verdict(name)
        if verdict == "internal" or name in DANGEROUS_ATTRS or _DUNDER.search(name):
            self.add(
                rules.INTERNALS,
                f"{how} {name!r}: a Python internal the Jinja sandbox refuses"
                if verdict == "internal"
                else f"{how} {name!r}: process, import or frame machinery",
                node,
                name,
            )
        elif verdict == "mutation":
            self.add(
                rules.UNUSUAL,
                f"{how} {name!r} modifies a list or dict (refused by the immutable sandbox "
                "that transformers uses)",
                node,
                name,
                Severity.INFO,
            )

    def check_names_in(self, value: Any, node: Any, how: str) -> None:
        if isinstance(value, str):
            for part in value.split("."):
                self.check_name(part, node, how)
        elif isinstance(value, list):
            for v in value[:64]:
                self.check_names_in(v, node, how)

    def run(self, tree: Any) -> None:
        from jinja2 import nodes

        all_nodes = list(_walk(tree, self.budget, self.limits.max_template_nodes))
        defined: set[str] = set()
        consts: dict[str, set[Any]] = {}
        folder = _Folder(consts)
        for n in all_nodes:
            if isinstance(n, nodes.Name) and n.ctx in ("store", "param"):
                defined.add(n.name)
            elif isinstance(n, nodes.Macro):
                defined.add(n.name)
            elif isinstance(n, (nodes.Import, nodes.FromImport)):
                names = [n.target] if isinstance(n, nodes.Import) else n.names
                for item in names:
                    defined.add(item if isinstance(item, str) else item[-1])
        # Names bound to constant strings (``{% set a = '__cla' ~ 'ss__' %}``), two rounds so a
        # constant built from another constant resolves too.
        for _ in range(2):
            for n in all_nodes:
                if isinstance(n, nodes.Assign) and isinstance(n.target, nodes.Name):
                    value = folder.fold(n.node)
                    if value is not None:
                        consts.setdefault(n.target.name, set()).add(
                            tuple(value) if isinstance(value, list) else value
                        )
        for n in all_nodes:
            self.budget.tick()
            self.visit(n, folder, defined)

    def visit(self, n: Any, folder: _Folder, defined: set[str]) -> None:
        from jinja2 import nodes

        if isinstance(n, nodes.Getattr):
            self.check_name(n.attr, n, "attribute")
        elif isinstance(n, nodes.Getitem):
            key = folder.fold(n.arg)
            if isinstance(key, str):
                self.mark_const(n.arg)
                self.check_name(key, n, "item")
            elif key is None and _builds_string(n.arg):
                self.add(
                    rules.UNUSUAL,
                    "item access with a key assembled at runtime (how template-injection "
                    "payloads hide attribute names)",
                    n,
                    self.snippet(n.lineno),
                    Severity.HIGH,
                )
        elif isinstance(n, (nodes.Filter, nodes.Test)):
            self.visit_filter(n, folder)
        elif isinstance(n, nodes.Call):
            self.visit_call(n, folder, defined)
        elif isinstance(n, nodes.Name) and n.ctx == "load":
            if n.name in GADGET_NAMES and n.name not in defined:
                self.add(
                    rules.UNUSUAL,
                    f"uses the global {n.name!r}, which chat templates never need and "
                    "template-injection payloads start from",
                    n,
                    n.name,
                )
        elif isinstance(n, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            self.add(
                rules.UNUSUAL,
                f"{type(n).__name__.lower()} pulls in another template (a loader with a "
                "file-system loader would read files)",
                n,
                self.snippet(n.lineno),
            )
        elif isinstance(n, nodes.Const) and isinstance(n.value, str):
            if id(n) not in self.judged:
                m = _DUNDER.search(n.value)
                if m:
                    self.add(
                        rules.INTERNALS,
                        f"string constant names the Python internal {m.group(0)!r}",
                        n,
                        m.group(0),
                        Severity.HIGH,
                    )
        if (
            isinstance(n, (nodes.Concat, nodes.Add, nodes.Mod, nodes.Filter))
            and id(n) not in self.judged
        ):
            value = folder.fold(n)
            if isinstance(value, str):
                m = _DUNDER.search(value)
                if m:
                    self.add(
                        rules.INTERNALS,
                        f"string assembled at runtime spells the Python internal {m.group(0)!r}",
                        n,
                        m.group(0),
                    )

    def mark_const(self, node: Any) -> None:
        from jinja2 import nodes

        for c in [node, *node.find_all(nodes.Node)]:
            self.judged.add(id(c))

    def visit_filter(self, n: Any, folder: _Folder) -> None:
        from jinja2 import nodes

        if n.name not in ATTRIBUTE_FILTERS:
            return
        args = list(n.args)
        if n.name == "map" and args and folder.fold(args[0]) == "attr":
            args = args[1:]
        elif n.name == "map" and args:
            args = []  # map('filtername', …): the arguments go to that filter
        named = [kw.value for kw in n.kwargs if kw.key == "attribute"]
        if n.name == "attr":
            named += args[:1]
        elif n.name in ("selectattr", "rejectattr", "groupby"):
            named += args[:1]
        elif n.name == "map":
            named += args[:1]
        for expr in named:
            value = folder.fold(expr)
            if value is None:
                if n.name == "attr" or _builds_string(expr):
                    self.add(
                        rules.UNUSUAL,
                        f"filter {n.name!r} with an attribute name computed at runtime",
                        n,
                        self.snippet(n.lineno),
                        Severity.HIGH,
                    )
                continue
            self.mark_const(expr)
            self.check_names_in(value, n, f"filter {n.name!r} reaches attribute")
        if isinstance(n, nodes.Filter) and (n.dyn_args is not None or n.dyn_kwargs is not None):
            self.add(
                rules.UNUSUAL,
                f"filter {n.name!r} with unpacked arguments",
                n,
                self.snippet(n.lineno),
            )

    def visit_call(self, n: Any, folder: _Folder, defined: set[str]) -> None:
        from jinja2 import nodes

        target = n.node
        if isinstance(target, nodes.Name):
            if target.name not in defined and target.name not in KNOWN_CALLABLES:
                self.add(
                    rules.UNUSUAL,
                    f"calls {target.name!r}, which is neither defined by the template nor a "
                    "chat-template helper",
                    n,
                    target.name,
                )
        elif isinstance(target, nodes.Getattr):
            method = target.attr
            if method in ("format", "format_map"):
                receiver = folder.fold(target.node)
                if isinstance(receiver, str):
                    for fmt_field in _FORMAT_FIELD_ACCESS.findall(receiver)[:64]:
                        self.add(
                            rules.UNUSUAL,
                            "str.format with a format string that reads attributes or items of "
                            "its arguments",
                            n,
                            fmt_field,
                        )
                        for name in _FORMAT_FIELD_NAME.findall(fmt_field):
                            self.check_name(name, n, "format field reaches attribute")
            elif (
                method not in SAFE_METHODS
                and not method.startswith("_")
                and method not in DANGEROUS_ATTRS
                and _sandbox_verdict(method) == "ok"
            ):
                self.add(
                    rules.UNUSUAL,
                    f"calls the method {method!r}, which chat templates do not normally use",
                    n,
                    method,
                    Severity.INFO,
                )


def analyse_template(
    source: str, budget: Budget | None = None, limits: Limits | None = None
) -> list[TemplateIssue]:
    """Parse ``source`` with Jinja's parser and return what its syntax tree reaches.

    Raises ``BudgetExceeded`` past the template size / node limits, and the parser's
    ``TemplateSyntaxError`` (or ``RecursionError``) when the source is not a template.
    """
    limits = limits or Limits()
    budget = budget or Budget(limits)
    size = len(source.encode("utf-8", errors="replace"))
    if size > limits.max_template_bytes:
        raise BudgetExceeded(
            "max_template_bytes",
            f"template is {size} bytes; the limit is {limits.max_template_bytes}",
        )
    tree = _environment().parse(source)
    analyser = _Analyser(source, budget, limits)
    analyser.run(tree)
    return analyser.issues


def report_template(
    source: str,
    location: Location,
    ctx: ScanContext,
    *,
    chat_template: bool = True,
) -> None:
    """Analyse one template and report its issues at ``location``.

    ``chat_template`` says the string is a declared chat template (a loader will render it):
    then a template that cannot be parsed or is too large is a finding.  Other strings that
    merely look like templates are reported only for what they reach.
    """
    try:
        issues = analyse_template(source, ctx.budget, ctx.limits)
    except BudgetExceeded as exc:
        if exc.limit == "max_seconds_per_file":
            raise
        if chat_template or exc.limit != "max_template_bytes":
            ctx.report(
                rules.UNPARSEABLE,
                location,
                f"template not analysed: {exc.detail}",
                {"limit": exc.limit, "chars": len(source)},
            )
        return
    except RecursionError:
        ctx.report(
            rules.UNPARSEABLE,
            location,
            "template nests too deeply to analyse",
            {"limit": "recursion", "chars": len(source)},
        )
        return
    except Exception as exc:  # noqa: BLE001 - jinja2's TemplateSyntaxError and friends
        if chat_template:
            line = getattr(exc, "lineno", None)
            ctx.report(
                rules.UNPARSEABLE,
                location,
                f"Jinja could not parse the template: {type(exc).__name__}: {exc}"[:300],
                {"error": type(exc).__name__, "line": line, "chars": len(source)},
            )
        return
    for issue in issues:
        where = location.child(f"line {issue.line}") if issue.line else location
        evidence = {"construct": issue.construct, "line": issue.line}
        lines = source.splitlines()
        if 1 <= issue.line <= len(lines):
            evidence["source"] = lines[issue.line - 1].strip()[:200]
        ctx.report(issue.rule, where, issue.message, evidence, severity=issue.severity)
