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
from modelxray.model import Judgement, Severity
from modelxray.rules import template as rules

if TYPE_CHECKING:
    from modelxray.rules.base import Rule

__all__ = ["TemplateIssue", "analyse_template", "judge_template", "looks_like_template"]

# Names the template may *call* without defining them: Jinja's own globals that chat
# templates use, and the helpers transformers / llama.cpp / Ollama put in the context.
KNOWN_CALLABLES = frozenset(
    {"range", "namespace", "dict", "raise_exception", "strftime_now", "caller", "super", "loop"}
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
# Attribute names that are process / import machinery: module functions and module
# attributes.  On the template's own data they are ordinary names (``namespace(system=…)``),
# so they count only on objects that are not provably data (see ``_Resolver``).
PROCESS_ATTRS = frozenset(
    {
        "popen", "system", "spawnl", "spawnv", "spawnve", "spawnlp", "execl", "execv", "execve",
        "execvp", "fork", "eval", "exec", "import_module", "load_module", "check_output",
        "check_call", "getoutput", "getstatusoutput", "Popen", "builtins", "subprocess",
        "modules",
    }
)  # fmt: skip
# Object machinery (frames, generators, function internals, the MRO) whatever it hangs off.
OBJECT_INTERNALS = frozenset(
    {
        "f_globals", "f_locals", "f_builtins", "gi_frame", "gi_code", "cr_frame", "cr_code",
        "ag_frame", "ag_code", "tb_frame", "f_back", "f_code", "func_globals", "func_code",
        "mro",
    }
)  # fmt: skip
DANGEROUS_ATTRS = PROCESS_ATTRS | OBJECT_INTERNALS
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
_MAX_FOLD_ITEMS = 4096


# What a template reaches (``rules.template.BY_KIND`` maps each to its rule).
INTERNALS = "internals"
UNUSUAL = "unusual"
UNPARSEABLE = "unparseable"
EXHAUSTION = "exhaustion"


@dataclass
class TemplateIssue:
    kind: str
    message: str
    line: int
    construct: str
    severity: Severity | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> Rule:
        return rules.BY_KIND[self.kind]


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

# Folded values are str, int or tuples of them (hashable, so they can be collected in sets);
# integers saturate at _HUGE so that ``10 ** 10 ** 10`` is never computed.
_HUGE = 1 << 128


def _freeze(value: Any, depth: int = 0) -> Any:
    """A literal as a folded value: str, int or (nested) tuple; None for anything else."""
    if depth > _MAX_FOLD_DEPTH:
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return value
    if isinstance(value, (list, tuple)):
        items = tuple(_freeze(v, depth + 1) for v in value[:_MAX_FOLD_ITEMS])
        if len(value) > _MAX_FOLD_ITEMS or any(i is None for i in items):
            return None
        return items
    return None


def _saturate(value: int) -> int:
    return max(-_HUGE, min(_HUGE, value))


class _Folder:
    """Evaluates the constant part of an expression without running anything: literals,
    concatenation, repetition, integer arithmetic (saturating), ``%`` formatting and a few
    pure string filters."""

    def __init__(self, consts: dict[str, set[Any]]) -> None:
        self.consts = consts

    def fold(self, node: Any, depth: int = 0) -> Any:
        from jinja2 import nodes

        if depth > _MAX_FOLD_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, nodes.Const):
            return _freeze(node.value)
        if isinstance(node, nodes.Name) and node.ctx == "load":
            values = self.consts.get(node.name)
            if not values or len(values) != 1:
                return None
            return next(iter(values))
        if isinstance(node, (nodes.List, nodes.Tuple)):
            if len(node.items) > _MAX_FOLD_ITEMS:
                return None
            items = tuple(self.fold(i, d) for i in node.items)
            return None if any(i is None for i in items) else items
        if isinstance(node, nodes.Concat):
            parts = [self.fold(n, d) for n in node.nodes]
            if any(p is None or isinstance(p, tuple) for p in parts):
                return None
            return self._cap("".join(str(p) for p in parts))
        arith = (nodes.Add, nodes.Sub, nodes.Mul, nodes.Mod, nodes.Pow, nodes.FloorDiv)
        if isinstance(node, arith):
            left, right = self.fold(node.left, d), self.fold(node.right, d)
            if left is None or right is None:
                return None
            return self._binop(type(node).__name__, left, right)
        if isinstance(node, nodes.Neg):
            value = self.fold(node.node, d)
            return -value if isinstance(value, int) else None
        if isinstance(node, nodes.Pos):
            value = self.fold(node.node, d)
            return value if isinstance(value, int) else None
        if isinstance(node, nodes.Getitem):
            obj, key = self.fold(node.node, d), self.fold(node.arg, d)
            if (
                isinstance(obj, (str, tuple))
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
        ints = isinstance(left, int) and isinstance(right, int)
        if op == "Add":
            if isinstance(left, str) and isinstance(right, str):
                return self._cap(left + right)
            if ints:
                return _saturate(left + right)
            if isinstance(left, tuple) and isinstance(right, tuple):
                return left + right if len(left) + len(right) <= _MAX_FOLD_ITEMS else None
        if op == "Sub" and ints:
            return _saturate(left - right)
        if op == "FloorDiv" and ints and right != 0:
            return left // right
        if op == "Pow" and ints:
            if right < 0:
                return None
            if abs(left) <= 1 or right == 0:
                return left**right
            # bit length of the result, bounded before computing it
            if right * abs(left).bit_length() > _HUGE.bit_length():
                return _HUGE if left > 0 or right % 2 == 0 else -_HUGE
            return _saturate(left**right)
        if op == "Mul":
            if ints:
                return _saturate(left * right)
            if isinstance(left, int) and isinstance(right, (str, tuple)):
                left, right = right, left
            if isinstance(left, str) and isinstance(right, int) and 0 <= right <= 64:
                return self._cap(left * right)
        if op == "Mod" and isinstance(left, str):
            args = right if isinstance(right, tuple) else (right,)
            try:
                return self._cap(left % args)
            except (TypeError, ValueError, OverflowError):
                return None
        return None

    def _filter(self, node: Any, depth: int) -> Any:
        value = self.fold(node.node, depth)
        args = [self.fold(a, depth) for a in node.args]
        if value is None or any(a is None for a in args):
            return None
        name = node.name
        if name == "join" and isinstance(value, tuple):
            sep = args[0] if args and isinstance(args[0], str) else ""
            if any(isinstance(v, tuple) for v in value):
                return None
            return self._cap(sep.join(str(v) for v in value))
        if name in ("reverse", "list") and isinstance(value, (str, tuple)):
            if name == "list":
                return tuple(value)
            return value[::-1]
        if name == "string":
            return str(value) if isinstance(value, (str, int)) else None
        if name in ("int", "abs") and isinstance(value, int):
            return abs(value) if name == "abs" else value
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
                return self._binop("Mod", value, tuple(args))
        if name in ("first", "last") and isinstance(value, (str, tuple)) and value:
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


def _subtree(node: Any) -> Iterator[Any]:
    """``node`` and every node below it (iterative: deep chains do not recurse)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(n.iter_child_nodes())


def _builds_string(node: Any) -> bool:
    """The expression assembles a string at runtime (the shape of an obfuscated name)."""
    from jinja2 import nodes

    for n in _subtree(node):
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


def _is_internal_name(name: str) -> bool:
    """A name that is Python object machinery on whatever object it is reached."""
    return (
        _sandbox_verdict(name) == "internal"
        or name in OBJECT_INTERNALS
        or _DUNDER.search(name) is not None
    )


# --------------------------------------------------------------------------- what names refer to

# What an expression can evaluate to, as far as attribute access is concerned (a join
# semi-lattice: the join of two values is the larger).
DATA = 0  # strings, numbers, lists/dicts of them, namespace() objects: the loader's data
OPAQUE = 1  # an object of unknown kind: a global function, an undefined helper, a module
INTERNAL = 2  # reached through Python internals (``__globals__``, ``__init__`` …)
_MAX_VALUE_DEPTH = 120
# Names whose call returns data built from the arguments (or plain data).
_DATA_CALLS = frozenset({"namespace", "dict"})
_PLAIN_CALLS = frozenset({"range", "raise_exception", "strftime_now", "caller", "super", "loop"})


class _Resolver:
    """Resolves what each template name (and so each expression) refers to.

    Bindings come from ``set`` (including ``{% set ns.x = … %}``, which adds to ``ns``),
    ``for`` targets, macro parameters (the arguments at every call site), ``with`` and
    imports.  A name that a template never binds is the loader's context: data for the
    chat-template variables (``messages``, ``tools`` …), opaque for Jinja's and Flask's
    global objects.  Scoping is ignored, so a bound name is also what the global of that name
    is (conservative)."""

    def __init__(self, all_nodes: list[Any], budget: Budget) -> None:
        from jinja2 import nodes

        self.budget = budget
        self.bindings: dict[str, list[Any]] = {}  # name -> expressions (or a fixed level)
        self.macros: set[str] = set()
        macro_params: dict[str, list[str]] = {}
        for n in all_nodes:
            if isinstance(n, nodes.Assign):
                self._bind_target(n.target, n.node)
            elif isinstance(n, nodes.AssignBlock):
                self._bind_target(n.target, DATA)
            elif isinstance(n, nodes.For):
                self._bind_target(n.target, n.iter)
            elif isinstance(n, nodes.Macro):
                self.macros.add(n.name)
                self._bind(n.name, DATA)
                params = [a.name for a in n.args]
                macro_params[n.name] = params
                for param, default in zip(
                    params[len(params) - len(n.defaults) :], n.defaults, strict=False
                ):
                    self._bind(param, default)
            elif isinstance(n, nodes.CallBlock):
                for a in n.args:
                    self._bind(a.name, OPAQUE)
            elif isinstance(n, nodes.With):
                for target, value in zip(n.targets, n.values, strict=False):
                    self._bind_target(target, value)
            elif isinstance(n, nodes.Import):
                self._bind(n.target, OPAQUE)
            elif isinstance(n, nodes.FromImport):
                for item in n.names:
                    self._bind(item if isinstance(item, str) else item[-1], OPAQUE)
        # Macro parameters take the arguments of every call; a macro used other than by a
        # direct call (passed around, called through another name) has unknown arguments.
        called: set[int] = set()
        for n in all_nodes:
            if isinstance(n, nodes.Call) and isinstance(n.node, nodes.Name):
                names = macro_params.get(n.node.name)
                if names is None:
                    continue
                called.add(id(n.node))
                for i, arg in enumerate(n.args):
                    if i < len(names):
                        self._bind(names[i], arg)
                for kw in n.kwargs:
                    if kw.key in names:
                        self._bind(kw.key, kw.value)
                for dyn in (n.dyn_args, n.dyn_kwargs):
                    if dyn is not None:
                        for param in names:
                            self._bind(param, dyn)
        for n in all_nodes:
            if (
                isinstance(n, nodes.Name)
                and n.ctx == "load"
                and n.name in macro_params
                and id(n) not in called
            ):
                for param in macro_params[n.name]:
                    self._bind(param, OPAQUE)
        self.level: dict[str, int] = {}
        self.nodes = nodes
        # value of each expression node (by id; the tree outlives the resolver), cleared
        # whenever a name's level rises while the bindings are solved
        self.cache: dict[int, int] = {}
        self._solve()

    def _bind(self, name: str, value: Any) -> None:
        self.bindings.setdefault(name, []).append(value)

    def _bind_target(self, target: Any, value: Any) -> None:
        from jinja2 import nodes

        if isinstance(target, nodes.NSRef):
            self._bind(target.name, value)  # the namespace now holds that value
            return
        for n in _subtree(target):
            if isinstance(n, nodes.Name):
                self._bind(n.name, value)
            elif isinstance(n, nodes.NSRef):
                self._bind(n.name, value)

    @staticmethod
    def fallback(name: str) -> int:
        """What an unbound name is in the loader's context."""
        if name in GADGET_NAMES or name in KNOWN_CALLABLES or name in _DATA_CALLS:
            return OPAQUE if name not in ("loop", "caller") else DATA
        return DATA

    def _solve(self) -> None:
        """Least fixed point over the bindings (levels only rise, so this ends)."""
        from jinja2 import nodes

        users: dict[str, set[str]] = {}
        for name, values in self.bindings.items():
            self.level[name] = self.fallback(name)
            for value in values:
                if isinstance(value, int):
                    continue
                for n in _subtree(value):
                    if isinstance(n, nodes.Name) and n.ctx == "load":
                        users.setdefault(n.name, set()).add(name)
        work = list(self.bindings)
        queued = set(work)
        while work:
            self.budget.tick()
            name = work.pop()
            queued.discard(name)
            level = self.level[name]
            for value in self.bindings[name]:
                if level == INTERNAL:
                    break
                level = max(level, value if isinstance(value, int) else self.value(value))
            if level > self.level[name]:
                self.level[name] = level
                self.cache.clear()
                for user in users.get(name, ()):
                    if user not in queued:
                        queued.add(user)
                        work.append(user)

    def name(self, name: str) -> int:
        level = self.level.get(name)
        return self.fallback(name) if level is None else level

    def attribute(self, base: int, name: str) -> int:
        """The value of ``<base>.name``."""
        if _is_internal_name(name) or base == INTERNAL:
            return INTERNAL
        return DATA if base == DATA else OPAQUE

    def value(self, node: Any, depth: int = 0) -> int:
        """What ``node`` can evaluate to (OPAQUE when nested too deeply to follow)."""
        key = id(node)
        cached = self.cache.get(key)
        if cached is None:
            cached = self.cache[key] = self._value(node, depth)
        return cached

    def _value(self, node: Any, depth: int) -> int:
        nodes = self.nodes
        if depth > _MAX_VALUE_DEPTH:
            return OPAQUE
        d = depth + 1
        if isinstance(node, (nodes.Const, nodes.TemplateData, nodes.Compare, nodes.Not,
                             nodes.Concat, nodes.Test)):  # fmt: skip
            return DATA
        if isinstance(node, nodes.Name):
            return self.name(node.name)
        if isinstance(node, nodes.Getattr):
            return self.attribute(self.value(node.node, d), node.attr)
        if isinstance(node, nodes.Getitem):
            base = self.value(node.node, d)
            key = node.arg
            if isinstance(key, nodes.Const) and isinstance(key.value, str):
                return self.attribute(base, key.value)
            return max(base, self.value(key, d)) if base else DATA
        if isinstance(node, nodes.Call):
            return self._call(node, d)
        if isinstance(node, nodes.Filter):
            return self._filter(node, d)
        level = DATA
        for child in node.iter_child_nodes():
            level = max(level, self.value(child, d))
            if level == INTERNAL:
                break
        return level

    def _args(self, node: Any, depth: int) -> int:
        level = DATA
        for arg in [*node.args, *(kw.value for kw in node.kwargs), node.dyn_args, node.dyn_kwargs]:
            if arg is not None:
                level = max(level, self.value(arg, depth))
        return level

    def _call(self, node: Any, depth: int) -> int:
        from jinja2 import nodes

        target = node.node
        args = self._args(node, depth)
        if isinstance(target, nodes.Name) and target.name not in self.bindings:
            if target.name in _DATA_CALLS:
                return args
            if target.name in _PLAIN_CALLS:
                return DATA
            return max(OPAQUE, args)  # a helper from the context, or a gadget
        if isinstance(target, nodes.Name) and target.name in self.macros:
            return max(DATA, self.name(target.name))
        return max(self.value(target, depth), args)

    def _filter(self, node: Any, depth: int) -> int:
        from jinja2 import nodes

        if node.node is None:
            return DATA
        base = self.value(node.node, depth)
        names: list[Any] = []
        if node.name == "attr" and node.args:
            names.append(node.args[0])
        elif node.name == "map":
            names += [kw.value for kw in node.kwargs if kw.key == "attribute"]
            if (
                len(node.args) >= 2
                and isinstance(node.args[0], nodes.Const)
                and (node.args[0].value == "attr")
            ):
                names.append(node.args[1])
        level = max(base, self._args(node, depth))
        for expr in names:
            if isinstance(expr, nodes.Const) and isinstance(expr.value, str):
                level = max(level, self.attribute(base, expr.value))
            else:
                level = max(level, OPAQUE)
        return level


# --------------------------------------------------------------------------- resource use


@dataclass(frozen=True)
class ExhaustionThresholds:
    """When constant loop bounds and allocation sizes are worth reporting (MX-TEMPLATE-004).

    ``iterations`` count the body runs of the innermost loop (the product of the constant
    bounds of the loops around it); ``units`` count the characters or items one expression
    builds (string/list repetition, a materialised ``range``, padding widths), times the
    iterations of the loops around it."""

    medium_iterations: int = 1_000_000
    high_iterations: int = 1_000_000_000
    medium_units: int = 10_000_000
    high_units: int = 1_000_000_000


THRESHOLDS = ExhaustionThresholds()
# Filters whose output has as many items as their input (a range stays that long).
_PASS_THROUGH_FILTERS = frozenset(
    {"list", "reverse", "sort", "unique", "map", "select", "reject", "selectattr", "rejectattr",
     "batch", "slice", "dictsort"}
)  # fmt: skip
# Filters that build their whole input into one value (a list or a string).
_MATERIALISING_FILTERS = frozenset({"list", "join", "string", "sum", "sort", "reverse", "tojson"})
# Padding: the first argument is the width of the string built.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
_WIDTH_FILTERS = frozenset({"center", "indent"})


def _max_range() -> int:
    from jinja2.sandbox import MAX_RANGE

    return int(MAX_RANGE)


def _range_len(args: list[Any]) -> int | None:
    if not args or len(args) > 3 or not all(isinstance(a, int) for a in args):
        return None
    start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], 1)
    if len(args) == 3:
        step = args[2]
    if step == 0:
        return None
    if step > 0:
        return max(0, int((stop - start + step - 1) // step))
    return max(0, int((start - stop - step - 1) // -step))


class _Cost:
    """Constant loop bounds and allocation sizes, multiplied through nested loops."""

    def __init__(self, folder: _Folder) -> None:
        self.folder = folder

    def length(self, node: Any, depth: int = 0) -> tuple[int | None, int | None]:
        """(items the iterable yields, the largest constant ``range`` in it) or Nones."""
        from jinja2 import nodes

        if depth > _MAX_FOLD_DEPTH:
            return None, None
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Name)
            and (node.node.name == "range" and not node.kwargs)
        ):
            n = _range_len([self.folder.fold(a) for a in node.args])
            return n, n
        if (
            isinstance(node, nodes.Filter)
            and node.node is not None
            and (node.name in _PASS_THROUGH_FILTERS)
        ):
            n, r = self.length(node.node, depth + 1)
            if node.name == "batch" and n is not None and node.args:
                size = self.folder.fold(node.args[0])
                n = -(-n // size) if isinstance(size, int) and size > 0 else None
            return n, r
        value = self.size_of(node)
        return value, None

    def size_of(self, node: Any) -> int | None:
        """Length of a constant string/list expression, counted without building it."""
        from jinja2 import nodes

        if isinstance(node, nodes.Mul):
            for seq, count in ((node.left, node.right), (node.right, node.left)):
                n = self.folder.fold(count)
                if isinstance(n, int) and not isinstance(self.folder.fold(seq), int):
                    unit = self.size_of(seq)
                    if unit is not None:
                        return _saturate(unit * max(n, 0))
            return None
        value = self.folder.fold(node)
        if isinstance(value, (str, tuple)):
            return len(value)
        if isinstance(node, (nodes.List, nodes.Tuple)):
            return len(node.items)
        return None

    def builds(self, node: Any) -> tuple[int, str, str] | None:
        """(units one evaluation of ``node`` builds, unit, what) for expressions that allocate."""
        from jinja2 import nodes

        if isinstance(node, nodes.Mul):
            size = self.size_of(node)
            if size is not None:
                return size, "characters or items", "repetition of a string or list"
        if isinstance(node, nodes.Pow):
            base, exponent = self.folder.fold(node.left), self.folder.fold(node.right)
            if isinstance(base, int) and isinstance(exponent, int) and abs(base) > 1:
                return (
                    _saturate(max(exponent, 0) * abs(base).bit_length() // 8),
                    "bytes",
                    "integer power",
                )
        if isinstance(node, nodes.Filter) and node.node is not None:
            if node.name in _MATERIALISING_FILTERS:
                n, _ = self.length(node.node)
                if n is not None and not isinstance(self.folder.fold(node.node), (str, tuple)):
                    return n, "items", f"|{node.name} materialises a constant range"
            if node.name in _WIDTH_FILTERS and node.args:
                width = self.folder.fold(node.args[0])
                if isinstance(width, int):
                    return width, "characters", f"|{node.name} pads to a constant width"
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr in _WIDTH_METHODS
            and node.args
        ):
            width = self.folder.fold(node.args[0])
            if isinstance(width, int):
                return width, "characters", f".{node.node.attr}() pads to a constant width"
        return None


class _Analyser:
    def __init__(self, source: str, budget: Budget, limits: Limits) -> None:
        self.source = source
        self.lines = source.splitlines()
        self.budget = budget
        self.limits = limits
        self.issues: list[TemplateIssue] = []
        self.judged: set[int] = set()  # ids of nodes already judged as attribute names
        self.resolver: _Resolver | None = None

    def snippet(self, line: int) -> str:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].strip()[:200]
        return ""

    def add(
        self,
        kind: str,
        message: str,
        node: Any,
        construct: str,
        severity: Severity | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        line = int(getattr(node, "lineno", 0) or 0)
        self.issues.append(
            TemplateIssue(kind, message, line, construct[:200], severity, dict(extra or {}))
        )

    def value(self, node: Any) -> int:
        return OPAQUE if self.resolver is None else self.resolver.value(node)

    def check_name(self, name: str, node: Any, how: str, base: int = OPAQUE) -> None:
        """An attribute (or item) name the template reaches on an object of kind ``base``.

        Python internals are reported whatever they hang off.  Process and import machinery
        (``system``, ``popen`` …) is an ordinary attribute name of the template's own data (a
        ``namespace(system=…)``, a message dict), so it is reported only on objects that are
        not provably data: modules and functions reached through internals, globals,
        helpers of unknown kind."""
        if not name:
            return
        verdict = _sandbox_verdict(name)
        if verdict == "internal" or name in OBJECT_INTERNALS or _DUNDER.search(name):
            self.add(
                INTERNALS,
                f"{how} {name!r}: a Python internal the Jinja sandbox refuses"
                if verdict == "internal"
                else f"{how} {name!r}: Python object, frame or import machinery",
                node,
                name,
            )
        elif name in PROCESS_ATTRS and base != DATA:
            reached = "Python internals" if base == INTERNAL else "an object that is not data"
            self.add(
                INTERNALS,
                f"{how} {name!r} on {reached}: process or import machinery",
                node,
                name,
            )
        elif verdict == "mutation":
            self.add(
                UNUSUAL,
                f"{how} {name!r} modifies a list or dict (refused by the immutable sandbox "
                "that transformers uses)",
                node,
                name,
                Severity.INFO,
            )

    def check_names_in(self, value: Any, node: Any, how: str, base: int = OPAQUE) -> None:
        if isinstance(value, str):
            for part in value.split("."):
                self.check_name(part, node, how, base)
                # ``a.b`` in attribute=: each step goes one level further
                base = self.resolver.attribute(base, part) if self.resolver else OPAQUE
        elif isinstance(value, tuple):
            for v in value[:64]:
                self.check_names_in(v, node, how, base)

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
        # Names bound to constants (``{% set a = '__cla' ~ 'ss__' %}``, nested lists …), two
        # rounds so a constant built from another constant resolves too.
        for _ in range(2):
            for n in all_nodes:
                if isinstance(n, nodes.Assign) and isinstance(n.target, nodes.Name):
                    value = folder.fold(n.node)
                    if value is not None:
                        consts.setdefault(n.target.name, set()).add(value)
        self.resolver = _Resolver(all_nodes, self.budget)
        for n in all_nodes:
            self.budget.tick()
            self.visit(n, folder, defined)
        self.check_cost(tree, folder)

    def visit(self, n: Any, folder: _Folder, defined: set[str]) -> None:
        from jinja2 import nodes

        if isinstance(n, nodes.Getattr):
            self.check_name(n.attr, n, "attribute", self.value(n.node))
        elif isinstance(n, nodes.Getitem):
            key = folder.fold(n.arg)
            if isinstance(key, str):
                self.mark_const(n.arg)
                self.check_name(key, n, "item", self.value(n.node))
            elif key is None and _builds_string(n.arg):
                self.add(
                    UNUSUAL,
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
                    UNUSUAL,
                    f"uses the global {n.name!r}, which chat templates never need and "
                    "template-injection payloads start from",
                    n,
                    n.name,
                )
        elif isinstance(n, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            self.add(
                UNUSUAL,
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
                        INTERNALS,
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
                        INTERNALS,
                        f"string assembled at runtime spells the Python internal {m.group(0)!r}",
                        n,
                        m.group(0),
                    )

    def mark_const(self, node: Any) -> None:
        for c in _subtree(node):
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
        base = self.value(n.node) if n.node is not None else DATA
        for expr in named:
            value = folder.fold(expr)
            if value is None:
                if n.name == "attr" or _builds_string(expr):
                    self.add(
                        UNUSUAL,
                        f"filter {n.name!r} with an attribute name computed at runtime",
                        n,
                        self.snippet(n.lineno),
                        Severity.HIGH,
                    )
                continue
            self.mark_const(expr)
            self.check_names_in(value, n, f"filter {n.name!r} reaches attribute", base)
        if isinstance(n, nodes.Filter) and (n.dyn_args is not None or n.dyn_kwargs is not None):
            self.add(
                UNUSUAL,
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
                    UNUSUAL,
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
                    base = DATA
                    for arg in [*n.args, *(kw.value for kw in n.kwargs), n.dyn_args,
                                n.dyn_kwargs]:  # fmt: skip
                        if arg is not None:
                            base = max(base, self.value(arg))
                    for fmt_field in _FORMAT_FIELD_ACCESS.findall(receiver)[:64]:
                        self.add(
                            UNUSUAL,
                            "str.format with a format string that reads attributes or items of "
                            "its arguments",
                            n,
                            fmt_field,
                        )
                        for name in _FORMAT_FIELD_NAME.findall(fmt_field):
                            self.check_name(name, n, "format field reaches attribute", base)
            elif (
                method not in SAFE_METHODS
                and not method.startswith("_")
                and method not in OBJECT_INTERNALS
                and (method not in PROCESS_ATTRS or self.value(target.node) == DATA)
                and _sandbox_verdict(method) == "ok"
            ):
                self.add(
                    UNUSUAL,
                    f"calls the method {method!r}, which chat templates do not normally use",
                    n,
                    method,
                    Severity.INFO,
                )

    # ----------------------------------------------------------------------- resource use

    def check_cost(self, tree: Any, folder: _Folder) -> None:
        """Constant loop bounds multiplied through nesting, and constant allocations
        (MX-TEMPLATE-004).  Only constants count: a loop over ``messages`` is the loader's
        business."""
        from jinja2 import nodes

        cost = _Cost(folder)
        max_range = _max_range()
        t = THRESHOLDS
        # (node, iterations of the loops around it, the constant bounds of those loops)
        stack: list[tuple[Any, int, tuple[int, ...]]] = [(tree, 1, ())]
        reported = 0
        while stack and reported < 64:
            self.budget.tick()
            node, outer, bounds = stack.pop()
            inner_outer, inner_bounds = outer, bounds
            if isinstance(node, nodes.For):
                count, largest = cost.length(node.iter)
                if count is not None:
                    inner_outer = _saturate(outer * count)
                    inner_bounds = (*bounds, count)
                    if inner_outer >= t.medium_iterations:
                        reported += 1
                        self.add_cost(
                            node,
                            f"loops run {inner_outer:,} times (constant bounds "
                            f"{' x '.join(f'{b:,}' for b in inner_bounds)})",
                            inner_outer >= t.high_iterations,
                            {"iterations": inner_outer, "loop_bounds": list(inner_bounds),
                             **self.range_note(largest, max_range)},
                        )  # fmt: skip
                for child in (node.iter, node.test, *node.else_):
                    if child is not None:
                        stack.append((child, outer, bounds))
                for child in node.body:
                    stack.append((child, inner_outer, inner_bounds))
                continue
            built = cost.builds(node) if isinstance(node, nodes.Expr) else None
            if built is not None:
                units, unit, what = built
                total = _saturate(units * outer)
                if total >= t.medium_units:
                    reported += 1
                    largest = None
                    if isinstance(node, nodes.Filter) and node.node is not None:
                        largest = cost.length(node.node)[1]
                    self.add_cost(
                        node,
                        f"{what}: {units:,} {unit}"
                        + (f", built {outer:,} times by the loops around it" if outer > 1 else ""),
                        total >= t.high_units,
                        {"units": units, "total_units": total, "loop_bounds": list(bounds),
                         **self.range_note(largest, max_range)},
                    )  # fmt: skip
                    continue  # one finding per expression, not one per operand
            for child in node.iter_child_nodes():
                stack.append((child, outer, bounds))

    @staticmethod
    def range_note(largest: int | None, max_range: int) -> dict[str, Any]:
        if largest is None or largest <= max_range:
            return {}
        return {
            "range_items": largest,
            "sandbox_max_range": max_range,
            "note": "Jinja's sandbox refuses a range this long; a plain Environment runs it",
        }

    def add_cost(self, node: Any, message: str, high: bool, extra: dict[str, Any]) -> None:
        self.add(
            EXHAUSTION,
            message,
            node,
            self.snippet(getattr(node, "lineno", 0)),
            Severity.HIGH if high else Severity.MEDIUM,
            extra,
        )


# --------------------------------------------------------------------------- limits

_BLOCK_OPENERS = frozenset(
    {"if", "for", "macro", "call", "filter", "block", "with", "autoescape", "generation", "trans"}
)
_OPEN_BRACKETS = frozenset({"lparen", "lbracket", "lbrace"})
_CLOSE_BRACKETS = frozenset({"rparen", "rbracket", "rbrace"})


def template_depth(env: Any, source: str, limit: int, budget: Budget) -> int:
    """Deepest nesting of blocks plus brackets, from Jinja's own lexer (which is iterative).

    Jinja's parser recurses once per nested block and several times per nested bracket; this
    pre-scan stops at ``limit`` so that a template nested tens of thousands deep is refused
    before the parser sees it."""
    depth = deepest = 0
    pending_set = False
    previous = ""
    for _, token, value in env.lex(source):
        budget.tick()
        if token == "name" and previous == "block_begin":
            if value in _BLOCK_OPENERS:
                depth += 1
            elif value == "set":
                pending_set = True  # a block ``set`` unless an ``=`` follows
            elif value.startswith("end"):
                depth -= 1
        elif token == "operator" and value == "=" and pending_set:
            pending_set = False
        elif token == "block_end" and pending_set:
            pending_set = False
            depth += 1
        elif token in _OPEN_BRACKETS or (token == "operator" and value in ("(", "[", "{")):
            depth += 1
        elif token in _CLOSE_BRACKETS or (token == "operator" and value in (")", "]", "}")):
            depth -= 1
        if token not in ("whitespace", "data"):
            previous = token
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
    return deepest


def analyse_template(
    source: str, budget: Budget | None = None, limits: Limits | None = None
) -> list[TemplateIssue]:
    """Parse ``source`` with Jinja's parser and return what its syntax tree reaches.

    Raises ``BudgetExceeded`` past the template size / nesting / node limits, and the
    parser's ``TemplateSyntaxError`` (or ``RecursionError``) when the source is not a
    template.
    """
    limits = limits or Limits()
    budget = budget or Budget(limits)
    size = len(source.encode("utf-8", errors="replace"))
    if size > limits.max_template_bytes:
        raise BudgetExceeded(
            "max_template_bytes",
            f"template is {size} bytes; the limit is {limits.max_template_bytes}",
        )
    env = _environment()
    depth = template_depth(env, source, limits.max_template_depth, budget)
    if depth > limits.max_template_depth:
        raise BudgetExceeded(
            "max_template_depth",
            f"template nests blocks and brackets more than {limits.max_template_depth} deep",
        )
    tree = env.parse(source)
    analyser = _Analyser(source, budget, limits)
    analyser.run(tree)
    return analyser.issues


def judge_template(
    source: str, budget: Budget, limits: Limits, *, chat_template: bool = True
) -> Iterator[Judgement]:
    """Judge one template: what it reaches, each at ``line N`` below the reader's location.

    ``chat_template`` says the string is a declared chat template (a loader will render it):
    then a template that cannot be analysed -- too large, nested too deeply, or not parseable
    -- is a judgement that fails the default gate (MX-TEMPLATE-003).  Other strings that merely
    look like templates are judged only for what they reach.  ``rules.template.BY_KIND`` maps
    the kinds to rules.
    """
    try:
        issues = analyse_template(source, budget, limits)
    except BudgetExceeded as exc:
        if exc.limit == "max_seconds_per_file":
            raise
        if chat_template or exc.limit != "max_template_bytes":
            yield Judgement(
                UNPARSEABLE,
                f"template not analysed: {exc.detail}",
                {"limit": exc.limit, "chars": len(source)},
            )
        return
    except RecursionError:
        yield Judgement(
            UNPARSEABLE,
            "template nests too deeply to analyse",
            {"limit": "recursion", "chars": len(source)},
        )
        return
    except Exception as exc:  # noqa: BLE001 - jinja2's TemplateSyntaxError and friends
        if chat_template:
            line = getattr(exc, "lineno", None)
            yield Judgement(
                UNPARSEABLE,
                f"Jinja could not parse the template: {type(exc).__name__}: {exc}"[:300],
                {"error": type(exc).__name__, "line": line, "chars": len(source)},
            )
        return
    lines = source.splitlines()
    for issue in issues:
        evidence: dict[str, Any] = {"construct": issue.construct, "line": issue.line}
        if 1 <= issue.line <= len(lines):
            evidence["source"] = lines[issue.line - 1].strip()[:200]
        evidence.update(issue.extra)
        where = (f"line {issue.line}",) if issue.line else ()
        yield Judgement(issue.kind, issue.message, evidence, where, issue.severity)
