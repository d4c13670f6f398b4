"""Render what a pickle would do as Python-ish pseudo-source for a human reviewer.

``render_program(stream)`` prints the imports, then every call, BUILD, mutation
and persistent load in stream order, naming each call result ``_varN``::

    import posix
    _var0 = posix.system('echo MODELXRAY_MARKER')  # @42 REDUCE
    result = _var0

Output is bounded (lines, characters per value, total characters); the text is
for reading, never for running.
"""

from __future__ import annotations

from .values import (
    Blob,
    Build,
    Call,
    Global,
    Mutation,
    Omitted,
    PersistentRef,
    PickleStream,
    SDict,
    SList,
    SSet,
    Unknown,
)

MAX_STR = 80
MAX_ITEMS = 8
MAX_DEPTH = 4
MAX_LINE = 400


def _clip(text: str, limit: int = MAX_LINE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Renderer:
    """Renders symbolic values; ``names`` maps ``id(Call)`` to a variable name."""

    def __init__(self, names: dict[int, str] | None = None) -> None:
        self.names = names or {}

    def value(self, v: object, depth: int = 0) -> str:
        if v is None or isinstance(v, (bool, float)):
            return repr(v)
        if isinstance(v, int):
            text = str(v) if abs(v) < 10**40 else f"<int of {v.bit_length()} bits>"
            return text
        if isinstance(v, str):
            if len(v) > MAX_STR:
                return repr(v[:MAX_STR]) + f"[…{len(v)} chars]"
            return repr(v)
        if isinstance(v, bytes):
            if len(v) > MAX_STR:
                return repr(v[:MAX_STR]) + f"[…{len(v)} bytes]"
            return repr(v)
        if isinstance(v, bytearray):
            return f"bytearray({self.value(bytes(v), depth)})"
        if isinstance(v, Global):
            return global_name(v)
        if isinstance(v, Call):
            name = self.names.get(id(v))
            if name is not None:
                return name
            if depth >= MAX_DEPTH:
                return "<…>"
            return self.call(v, depth + 1)
        if isinstance(v, tuple):
            if depth >= MAX_DEPTH:
                return "(…)"
            items = self._items(v, depth)
            return f"({items[0]},)" if len(v) == 1 and items else f"({', '.join(items)})"
        if isinstance(v, SList):
            if depth >= MAX_DEPTH:
                return "[…]"
            return f"[{', '.join(self._items(v.items, depth, v.omitted))}]"
        if isinstance(v, SDict):
            if depth >= MAX_DEPTH:
                return "{…}"
            parts = [
                f"{self.value(k, depth + 1)}: {self.value(x, depth + 1)}"
                for k, x in v.items[:MAX_ITEMS]
            ]
            more = len(v.items) - MAX_ITEMS + v.omitted
            if more > 0:
                parts.append(f"…<{more} more>")
            return "{" + ", ".join(parts) + "}"
        if isinstance(v, SSet):
            if not v.items and not v.omitted:
                return "frozenset()" if v.frozen else "set()"
            inner = "{" + ", ".join(self._items(v.items, depth, v.omitted)) + "}"
            return f"frozenset({inner})" if v.frozen else inner
        if isinstance(v, Blob):
            return f"<{v.kind} {v.length} bytes @{v.offset}>"
        if isinstance(v, Omitted):
            return f"…<{v.count} more>"
        if isinstance(v, Unknown):
            return f"<unknown: {v.reason}>"
        if isinstance(v, PersistentRef):
            return f"persistent_load({self.value(v.pid, depth + 1)})"
        return f"<{type(v).__name__}>"

    def _items(
        self, seq: list[object] | tuple[object, ...], depth: int, omitted: int = 0
    ) -> list[str]:
        parts = [self.value(x, depth + 1) for x in seq[:MAX_ITEMS]]
        more = len(seq) - MAX_ITEMS + omitted
        if more > 0:
            parts.append(f"…<{more} more>")
        return parts

    def args(self, args: object, depth: int) -> str:
        if isinstance(args, tuple):
            return ", ".join(self._items(args, depth))
        return f"*{self.value(args, depth)}"

    def kwargs(self, kwargs: object, depth: int) -> str:
        if isinstance(kwargs, SDict):
            parts = []
            for k, v in kwargs.items[:MAX_ITEMS]:
                key = k if isinstance(k, str) and k.isidentifier() else None
                if key is None:
                    parts.append(f"**{{{self.value(k, depth + 1)}: {self.value(v, depth + 1)}}}")
                else:
                    parts.append(f"{key}={self.value(v, depth + 1)}")
            return ", ".join(parts)
        return f"**{self.value(kwargs, depth)}"

    def call(self, c: Call, depth: int = 0) -> str:
        func = self.value(c.func, depth)
        if isinstance(c.func, Call) and c.func.kind == "reduce" and id(c.func) not in self.names:
            func = f"({func})"
        args = self.args(c.args, depth)
        if c.kind == "newobj":
            return f"{func}.__new__({func}{', ' + args if args else ''})"
        if c.kind == "newobj_ex":
            kw = self.kwargs(c.kwargs, depth)
            rest = ", ".join(x for x in (args, kw) if x)
            return f"{func}.__new__({func}{', ' + rest if rest else ''})"
        return f"{func}({args})"

    def build(self, b: Build) -> str:
        target = self.value(b.obj)
        state = self.value(b.state)
        if isinstance(b.obj, Global):
            return f"vars({target}).update({state})  # BUILD on a module-level object"
        return f"{target}.__setstate__({state})"

    def mutation(self, m: Mutation) -> str:
        target = self.value(m.target)
        value = self.value(m.value)
        if m.kind == "setitem":
            return f"{target}[{self.value(m.key)}] = {value}"
        if m.kind == "setattr":
            return f"{target}.{m.key} = {value}"
        return f"{target}.{m.kind}({value})"


def global_name(g: Global) -> str:
    if g.dynamic is not None:
        r = Renderer()
        return f"find_class({r.value(g.dynamic[0], 2)}, {r.value(g.dynamic[1], 2)})"
    if g.ext_code is not None and g.module == "<ext>":
        return f"<extension code {g.name}>"
    return f"{g.module}.{g.name}"


def render_call(call: Call) -> str:
    """One self-contained line for ``call`` (nested calls inlined), e.g. for evidence."""
    return _clip(Renderer().call(call))


def render_value(v: object) -> str:
    return _clip(Renderer().value(v))


def render_program(stream: PickleStream, max_lines: int = 400, max_chars: int = 64_000) -> str:
    """The reconstructed program of one stream, bounded to ``max_lines``/``max_chars``."""
    names = {id(c): f"_var{k}" for k, c in enumerate(stream.calls)}
    r = Renderer(names)
    lines: list[str] = []
    head = f"# pickle stream @{stream.start}..{stream.end}"
    if stream.protocol is not None:
        head += f", protocol {stream.protocol}"
    if stream.interpretation != "strict":
        head += f", {stream.interpretation} interpretation"
    if stream.path:
        head += f", in {' › '.join(stream.path)}"
    lines.append(head)
    modules: list[str] = []
    seen_mod: set[str] = set()
    for g in stream.imports:
        if g.dynamic is not None or (g.ext_code is not None and g.module == "<ext>"):
            continue
        if g.module not in seen_mod:
            seen_mod.add(g.module)
            modules.append(g.module)
    lines.extend(f"import {_clip(m, 200)}" for m in modules[:100])
    if len(modules) > 100:
        lines.append(f"# … {len(modules) - 100} more imported modules")
    # (offset, order, record): sorted first, rendered only as far as the output budget goes
    events: list[tuple[int, int, object]] = []
    events.extend((c.offset, 1, c) for c in stream.calls)
    events.extend((b.offset, 2, b) for b in stream.builds)
    events.extend((m.offset, 3, m) for m in stream.mutations)
    events.extend((g.offset, 0, g) for g in stream.imports if g.dynamic is not None)
    events.sort(key=lambda e: (e[0], e[1]))
    room = max_lines - len(lines)
    for _, _, rec in events[: max(room, 0) + 1]:
        if isinstance(rec, Call):
            text = _clip(f"{names[id(rec)]} = {r.call(rec)}") + f"  # @{rec.offset} {rec.opcode}"
        elif isinstance(rec, Build):
            text = _clip(r.build(rec)) + f"  # @{rec.offset} BUILD"
        elif isinstance(rec, Mutation):
            text = _clip(r.mutation(rec)) + f"  # @{rec.offset} {rec.opcode}"
        else:
            assert isinstance(rec, Global)
            text = f"{global_name(rec)}  # @{rec.offset} STACK_GLOBAL (computed)"
        lines.append(text)
    if len(events) > room + 1:
        lines.append(f"# … {len(events) - room - 1} more call(s)/build(s) not shown")
    if stream.persistent_ids:
        lines.append(
            f"# {len(stream.persistent_ids) + stream.persistent_ids_omitted} persistent_load() "
            f"references, first: {r.value(stream.persistent_ids[0].pid)}"
        )
    if stream.has_result:
        lines.append(f"result = {_clip(r.value(stream.result))}")
    for issue in stream.issues[:20]:
        lines.append(f"# note @{issue.offset}: {_clip(issue.message, 200)}")
    if stream.error is not None:
        lines.append(f"# error @{stream.error.offset}: {_clip(stream.error.message, 200)}")
    if stream.limit_hit is not None:
        lines.append(f"# scan stopped: {stream.limit_hit}")
    for n in stream.nested:
        enc = f", {'+'.join(n.encoding)}" if n.encoding else ""
        note = f": {n.error}" if n.error else ""
        lines.append(
            f"# nested {n.kind} payload ({n.size} bytes{enc}) "
            f"passed to {n.loader} @{n.offset}{note}"
        )
    if stream.trailing is not None:
        lines.append(f"# {stream.trailing.length} trailing byte(s) @{stream.trailing.offset}")
    out: list[str] = []
    total = 0
    for k, line in enumerate(lines):
        if k >= max_lines or total + len(line) + 1 > max_chars:
            out.append(f"# … {len(lines) - k} more line(s)")
            break
        out.append(line)
        total += len(line) + 1
    return "\n".join(out)


def render_all(streams: list[PickleStream], max_chars: int = 256_000) -> str:
    """Every stream of a scan, with its nested payloads and alternate readings, in order."""
    parts: list[str] = []
    total = 0
    for root in streams:
        for s in root.walk():
            text = render_program(s)
            if total + len(text) > max_chars:
                parts.append("# … output truncated")
                return "\n\n".join(parts)
            parts.append(text)
            total += len(text) + 2
    return "\n\n".join(parts)


__all__ = [
    "Renderer",
    "global_name",
    "render_all",
    "render_call",
    "render_program",
    "render_value",
]
