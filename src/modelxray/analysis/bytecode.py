"""Disassemble marshalled code for any supported CPython and reconstruct the calls it makes.

Works on :class:`~modelxray.analysis.marshal_reader.CodeObject` records only; nothing is ever
executed.  Opcode facts come from :mod:`modelxray.analysis._generated.opcodes_data`.
Reconstruction is a best-effort symbolic stack evaluation: anything it does not understand
becomes ``?``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from modelxray.analysis._generated.opcodes_data import TABLES, OpTable
from modelxray.analysis.marshal_reader import ELLIPSIS, CodeObject
from modelxray.budget import Budget

__all__ = [
    "FAMILY_VERSIONS",
    "Cost",
    "Instruction",
    "Reconstruction",
    "check_version",
    "decode",
    "disassemble",
    "guess_versions",
    "reconstruct",
    "reconstruct_with_costs",
]

FAMILY_VERSIONS: dict[str, tuple[str, ...]] = {
    "2.7": ("2.7",),
    "3.0-3.7": ("3.6", "3.7"),  # no tables for 3.0-3.5 (pre-wordcode)
    "3.8-3.10": ("3.8", "3.9", "3.10"),
    "3.11+": ("3.11", "3.12", "3.13"),
}
MAX_INSTRUCTIONS = 50_000  # per decode and per reconstruct() call (a lambda has < 1000)
MAX_EXPR = 500  # characters of one reconstructed expression
MAX_CALLS = 1_000
MAX_STACK = 10_000
MAX_ITEMS = 64  # items / arguments shown per display or call
MAX_UNPACK = 16  # values pushed by UNPACK_SEQUENCE / UNPACK_EX
_HIDDEN = ("INSTRUMENTED_", "ENTER_EXECUTOR")  # runtime-only opcodes, never marshalled
_PREFIX_311 = frozenset({"COPY_FREE_VARS", "MAKE_CELL", "RETURN_GENERATOR", "POP_TOP", "NOP"})
_PACKED_LOCALS = frozenset({"LOAD_FAST_LOAD_FAST", "STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST"})


@dataclass(frozen=True)
class Cost:
    """Work or memory a code object's constants commit it to, estimated without running it.

    ``kind``: "allocation" (elements or bytes built, times the enclosing loops' iterations),
    "loop" (iterations, nested loops multiplied) or "integer" (bits of an integer computed by
    ``**`` / ``<<``).
    """

    kind: str
    amount: int
    expr: str
    qualname: str


@dataclass(frozen=True)
class Reconstruction:
    calls: list[str]
    costs: list[Cost]


MAX_COSTS = 64  # cost records kept per reconstruction (the largest are what matter)
_COST_CAP = 10**60  # amounts are clamped here so evidence stays printable
_EXACT_BITS = 4096  # integers up to this size are computed exactly for propagation
# Callables whose cost follows from constant arguments (last dotted name of the callee).
_RANGES = frozenset({"range", "xrange", "arange"})
_SHAPED = frozenset(
    "zeros ones empty full rand randn normal uniform random_normal random_uniform "
    "truncated_normal fill".split()
)
_SQUARE = frozenset({"eye"})
_SPACED = frozenset({"linspace", "logspace", "geomspace"})
_PADDED = frozenset({"ljust", "rjust", "center", "zfill"})
_COUNTED = frozenset({"bytes", "bytearray"})  # bytes(n): n zero bytes
_CONSUMERS = frozenset(
    "list tuple set frozenset sorted sum min max any all dict join bytes bytearray".split()
)
_MATERIALISE = frozenset("list tuple set frozenset sorted bytes bytearray".split())
# Calls whose result may be a module (so its methods stay judged as allocators).
_MODULE_RESULTS = frozenset(
    "getattr __import__ import_module vars globals locals eval exec __getattribute__".split()
)


def _clamp(n: int) -> int:
    return min(max(n, 0), _COST_CAP)


def _as_int(e: _E) -> int | None:
    v = e.value
    return v if isinstance(v, int) and not isinstance(v, bool) else None


def _shape_product(e: _E) -> int | None:
    """Elements of a constant shape: an int or a tuple/list of ints."""
    n = _as_int(e)
    if n is not None:
        return n
    v = e.value
    if (
        isinstance(v, tuple | list)
        and v
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    ):
        out = 1
        for x in v:
            out = _clamp(out * max(x, 0))
        return out
    return None


@dataclass(frozen=True)
class Instruction:
    offset: int  # first byte, EXTENDED_ARG prefixes included
    op: int
    opname: str  # "<N>" when the opcode does not exist in this version
    arg: int | None
    next: int  # offset of the following instruction (after inline caches)


@dataclass(frozen=True)
class _Ops:
    version: str
    ver: tuple[int, int]
    table: OpTable
    names: dict[int, str]
    caches: dict[int, int]


@cache
def _ops(version: str) -> _Ops:
    if version not in TABLES:
        raise ValueError(f"no opcode table for Python {version!r}; known: {sorted(TABLES)}")
    t = TABLES[version]
    names = {o: n for n, o in t.opmap.items() if o < 256 and not n.startswith(_HIDDEN)}
    if version == "2.7":
        names.pop(0, None)  # STOP_CODE is never emitted
    caches = {t.opmap[n]: k for n, k in t.cache_entries.items() if n in t.opmap}
    major, minor = version.split(".")
    return _Ops(version, (int(major), int(minor)), t, names, caches)


def decode(
    code: bytes, version: str, problems: list[str] | None = None, limit: int = MAX_INSTRUCTIONS
) -> list[Instruction]:
    """Split raw bytecode into instructions for *version*; anomalies go to *problems*."""
    ops = _ops(version)
    t = ops.table
    probs: list[str] = [] if problems is None else problems
    out: list[Instruction] = []
    wordcode = ops.ver >= (3, 6)
    if wordcode and len(code) % 2:
        probs.append("odd bytecode length")
    i, ext, start, n = 0, 0, -1, len(code)
    while i < n:
        if len(out) >= limit:
            probs.append(f"more than {limit} instructions")
            break
        op = code[i]
        start = i if start < 0 else start
        has_arg = op in t.hasarg if wordcode else op >= t.have_argument
        width = 2 if wordcode else (3 if has_arg else 1)
        if i + width > n:
            probs.append(f"truncated instruction at {i}")
            break
        if wordcode:
            raw = code[i + 1]
            arg = raw | ext
            if not has_arg and raw:
                probs.append(f"argument on argument-less opcode {op} at {i}")
        else:
            arg = (code[i + 1] | code[i + 2] << 8 | ext) if has_arg else 0
        i += width
        if op == t.extended_arg:
            ext = (arg << (8 if wordcode else 16)) & 0xFFFFFFFF
            continue
        for _ in range(ops.caches.get(op, 0)):
            if i + 2 > n:
                probs.append(f"truncated inline cache at {i}")
                break
            if code[i] or code[i + 1]:
                probs.append(f"non-zero inline cache at {i}")
            i += 2
        name = ops.names.get(op)
        if name is None or (name == "CACHE" and ops.ver >= (3, 11)):
            probs.append(f"unknown opcode {op} at {start}")
            name = f"<{op}>"
        out.append(Instruction(start, op, name, arg if has_arg else None, min(i, n)))
        ext, start = 0, -1
    if start >= 0 and len(out) < limit:
        probs.append("dangling EXTENDED_ARG")
    return out


def _name_index(ops: _Ops, name: str, arg: int) -> int:
    if name == "LOAD_GLOBAL" and ops.ver >= (3, 11) or name == "LOAD_ATTR" and ops.ver >= (3, 12):
        return arg >> 1
    return arg >> 2 if name == "LOAD_SUPER_ATTR" else arg


def _jump_target(ops: _Ops, ins: Instruction) -> int | None:
    t, arg = ops.table, ins.arg or 0
    if ins.op in t.hasjabs:
        return arg * 2 if ops.ver >= (3, 10) else arg
    if ins.op in t.hasjrel:
        if ops.ver >= (3, 11):
            return ins.next + (-2 if "JUMP_BACKWARD" in ins.opname else 2) * arg
        return ins.next + (2 * arg if ops.ver >= (3, 10) else arg)
    return None


def _cmp_index(ops: _Ops, arg: int) -> int:
    return arg >> 5 if ops.ver >= (3, 13) else arg >> 4 if ops.ver >= (3, 12) else arg


def _deref_names(co: CodeObject, ops: _Ops) -> tuple[str, ...]:
    return co.varnames if ops.ver >= (3, 11) else co.cellvars + co.freevars


def check_version(code: CodeObject, version: str) -> list[str]:
    """Why *code* (this object only) is not valid bytecode for *version*; empty if it is."""
    ops = _ops(version)
    t = ops.table
    problems: list[str] = []
    instrs = decode(code.code, version, problems)
    starts = {ins.offset for ins in instrs}
    nderef = len(_deref_names(code, ops))
    prev = ""
    for ins in instrs:
        arg, name = ins.arg or 0, ins.opname
        bad = False
        if ins.op in t.hasconst:
            bad = arg >= len(code.consts)
        elif ins.op in t.hasname:
            bad = _name_index(ops, name, arg) >= len(code.names)
        elif name in _PACKED_LOCALS:
            bad = max(arg >> 4, arg & 15) >= len(code.varnames)
        elif ins.op in t.haslocal:
            bad = arg >= len(code.varnames)
        elif ins.op in t.hasfree:
            bad = arg >= nderef
        elif name == "BINARY_OP":
            bad = arg >= len(t.nb_ops)
        elif ins.op in t.hascompare:
            bad = _cmp_index(ops, arg) >= len(t.cmp_op)
        elif name == "CALL_INTRINSIC_1":
            bad = arg >= len(t.intrinsic_1)
        target = _jump_target(ops, ins)
        if bad or (target is not None and target not in starts):
            problems.append(f"bad argument {arg} for {name} at {ins.offset}")
        if name == "CALL" and ops.ver == (3, 11) and prev != "PRECALL":
            problems.append(f"CALL without PRECALL at {ins.offset}")
        prev = name
    if ops.ver >= (3, 11):
        first = next((i.opname for i in instrs if i.opname not in _PREFIX_311), None)
        if first != "RESUME":
            problems.append(f"code does not start with RESUME (starts with {first})")
    return problems


def guess_versions(code: CodeObject) -> list[str]:
    """Minor versions of *code*'s layout family whose opcode tables decode all its code.

    Returns the whole family when no version (or every version) fits.
    """
    family = FAMILY_VERSIONS.get(code.layout, ())
    nested = list(code.walk())
    fits = [v for v in family if not any(check_version(c, v) for c in nested)]
    return fits or list(family)


def disassemble(code: CodeObject, version: str | None = None) -> list[tuple[int, str, int | None]]:
    """(offset, opname, arg) for each instruction of *code* itself (not nested code)."""
    version = version or guess_versions(code)[0]
    return [(i.offset, i.opname, i.arg) for i in decode(code.code, version)]


# ----------------------------------------------------------------- reconstruction


_NO = object()


def _cut(text: str) -> str:
    return text if len(text) <= MAX_EXPR else text[: MAX_EXPR - 3] + "..."


@dataclass(frozen=True)
class _E:
    """A symbolic stack value."""

    text: str
    atomic: bool = True  # safe to use as callee / attribute base without parentheses
    value: object = _NO  # the constant, when known
    items: tuple[str, ...] | None = None  # element texts of a list/tuple/set display
    pairs: tuple[tuple[object, str, str], ...] | None = None  # dict display: (key, ktext, v)
    kind: str = ""  # "null" | "list" | "tuple" | "set" | "dict" | "fmt" | "conv"
    fpart: str = ""  # f-string body piece (kind fmt) or conversion (kind conv)
    size: int | None = None  # elements of a sequence / iterations of an iterable, when known
    func: CodeObject | None = None  # the code of a function built by MAKE_FUNCTION
    # A value the code was handed or computed (an outermost parameter, a call's result, their
    # attributes), never a module: ``x.fill(v)`` sets values where ``tf.fill(dims, v)`` allocates.
    is_value: bool = False

    def __post_init__(self) -> None:  # every text stays bounded, whatever built it
        object.__setattr__(self, "text", _cut(self.text))
        object.__setattr__(self, "fpart", _cut(self.fpart))


_NULL = _E("NULL", kind="null")
_UNKNOWN = _E("?")
_BINARY = {
    "ADD": "+",
    "SUBTRACT": "-",
    "MULTIPLY": "*",
    "TRUE_DIVIDE": "/",
    "DIVIDE": "/",
    "FLOOR_DIVIDE": "//",
    "MODULO": "%",
    "POWER": "**",
    "LSHIFT": "<<",
    "RSHIFT": ">>",
    "AND": "&",
    "OR": "|",
    "XOR": "^",
    "MATRIX_MULTIPLY": "@",
}
_UNARY = {"UNARY_NEGATIVE": "-", "UNARY_POSITIVE": "+", "UNARY_INVERT": "~", "UNARY_NOT": "not "}
_CONV = {1: "!s", 2: "!r", 3: "!a"}
_NOOPS = frozenset(
    "NOP RESUME CACHE PRECALL COPY_FREE_VARS MAKE_CELL SETUP_LOOP POP_BLOCK SETUP_ANNOTATIONS "
    "PRINT_NEWLINE DELETE_FAST DELETE_NAME DELETE_GLOBAL DELETE_DEREF EXTENDED_ARG TO_BOOL "
    "GET_ITER GET_YIELD_FROM_ITER INTERPRETER_EXIT".split()
)
_POP1 = frozenset(
    "POP_TOP STORE_FAST STORE_NAME STORE_GLOBAL STORE_DEREF PRINT_ITEM PRINT_EXPR DELETE_ATTR "
    "IMPORT_STAR GEN_START STORE_FAST_MAYBE_NULL "
    "POP_EXCEPT END_FOR".split()
)
_DEAD_END = frozenset(
    "RETURN_VALUE RETURN_CONST RAISE_VARARGS RERAISE JUMP_FORWARD JUMP_ABSOLUTE JUMP "
    "JUMP_NO_INTERRUPT JUMP_BACKWARD JUMP_BACKWARD_NO_INTERRUPT CONTINUE_LOOP BREAK_LOOP".split()
)


def _kwname(k: _E) -> str:
    if isinstance(k.value, bytes):
        return k.value.decode("latin-1")
    return k.value if isinstance(k.value, str) else k.text


def _atom(e: _E) -> str:
    return e.text if e.atomic else f"({e.text})"


def _join(parts: list[str] | tuple[str, ...]) -> str:
    shown: list[str] = []
    size = 0
    for part in parts:
        if size > MAX_EXPR:
            shown.append("...")
            break
        shown.append(part)
        size += len(part) + 2
    return _cut(", ".join(shown))


def _display(kind: str, items: tuple[str, ...], size: int | None = None) -> _E:
    size = len(items) if size is None else size
    items = items[:MAX_ITEMS]
    body = _join(items)
    if kind == "list":
        text = f"[{body}]"
    elif kind == "set":
        text = f"{{{body}}}" if items else "set()"
    else:
        text = f"({body},)" if len(items) == 1 else f"({body})"
    return _E(_cut(text), items=items, kind=kind, size=size)


def _dict_display(pairs: tuple[tuple[object, str, str], ...]) -> _E:
    pairs = pairs[:MAX_ITEMS]
    body = _join([f"**{v}" if k == "**" else f"{k}: {v}" for _, k, v in pairs])
    return _E(_cut("{" + body + "}"), pairs=pairs, kind="dict")


def _const_text(v: object, py2: bool, depth: int = 0) -> str:
    if isinstance(v, str | bytes):
        s = v[: MAX_EXPR + 1]
        return repr(s.decode("latin-1") if py2 and isinstance(s, bytes) else s)
    if v is ELLIPSIS:
        return "..."
    if isinstance(v, CodeObject):
        return f"<code {v.qualname}>"
    if isinstance(v, bool) or v is None or isinstance(v, float | complex):
        return repr(v)
    if isinstance(v, int):
        return repr(v) if v.bit_length() <= 512 else f"<{v.bit_length()}-bit int>"
    if isinstance(v, tuple | frozenset | list | set) and depth < 4:
        items = tuple(_const_text(x, py2, depth + 1) for x in list(v)[:50])
        body = _display("tuple" if isinstance(v, tuple) else "list", items).text
        return body if isinstance(v, tuple | list) else f"{type(v).__name__}({{{body[1:-1]}}})"
    return "<...>" if depth else f"<{type(v).__name__}>"


def _const(v: object, py2: bool) -> _E:
    text = _cut(_const_text(v, py2))
    size = len(v) if isinstance(v, str | bytes | tuple | list | frozenset | set) else None
    if isinstance(v, tuple) and len(v) <= 50:
        items = tuple(_const_text(x, py2, 1) for x in v)
        return _E(text, value=v, items=items, kind="tuple", size=size)
    return _E(text, value=v, size=size)


class _Eval:
    """Symbolic evaluation of one code object."""

    def __init__(
        self,
        co: CodeObject,
        ops: _Ops,
        calls: list[str],
        costs: list[Cost] | None = None,
        entries: dict[int, tuple[int, list[int | None]]] | None = None,
        top: bool = False,
    ) -> None:
        self.co, self.ops, self.calls = co, ops, calls
        self.costs: list[Cost] = [] if costs is None else costs
        self.entries: dict[int, tuple[int, list[int | None]]] = {} if entries is None else entries
        # How often this code runs (loops around the call site that built and called it) and
        # the known sizes of its arguments (a comprehension's ``.0`` iterator).
        self.base_mult, arg_sizes = self.entries.get(id(co), (1, []))
        # Parameters of the outermost code: the loader passes it tensors and configured data
        # (Keras ``arguments``), never a module, so ``x.fill(n)`` there is a value's method.
        # Nested code's parameters stay unknown: a caller may hand it ``np`` itself.
        n_params = co.argcount + co.kwonlyargcount
        self.values = frozenset(co.varnames[:n_params]) if top else frozenset()
        self.local_sizes = {
            name: n for name, n in zip(co.varnames, arg_sizes, strict=False) if n is not None
        }
        self.active: list[tuple[int, int]] = []  # (loop exit offset, iterations) of open loops
        self.seen = set(calls)
        self.const_cache: dict[int, _E] = {}
        self.py2 = ops.ver < (3, 0)
        self.stack: list[_E] = []
        self.kwnames: tuple[str, ...] = ()

    # stack helpers (never fail: underflow yields "?")
    def push(self, e: _E) -> None:
        self.stack.append(e)
        if len(self.stack) > MAX_STACK:
            del self.stack[: MAX_STACK // 2]  # amortised; the bottom is long stale

    def pop(self) -> _E:
        return self.stack.pop() if self.stack else _UNKNOWN

    def popn(self, n: int) -> list[_E]:
        n = max(0, min(n, len(self.stack) + MAX_ITEMS))
        out = [self.pop() for _ in range(n)]
        out.reverse()
        return out

    def fill(self, n: int) -> None:
        n = min(n, MAX_STACK)
        if len(self.stack) < n:
            self.stack[:0] = [_UNKNOWN] * (n - len(self.stack))

    def const(self, idx: int) -> _E:
        consts = self.co.consts
        if not 0 <= idx < len(consts):
            return _UNKNOWN
        if idx not in self.const_cache:
            self.const_cache[idx] = _const(consts[idx], self.py2)
        return self.const_cache[idx]

    def name(self, table: tuple[str, ...], idx: int) -> str:
        return _cut(table[idx]) if 0 <= idx < len(table) else "?"

    # building blocks
    def call(self, fn: _E, args: list[_E], kwnames: tuple[object, ...] = ()) -> None:
        npos = max(0, len(args) - len(kwnames))
        parts = [a.text for a in args[:npos]]
        parts += [f"{k}={a.text}" for k, a in zip(kwnames, args[npos:], strict=False)]
        text = f"{_atom(fn)}({_join(parts)})"
        kw = {str(k): a for k, a in zip(kwnames, args[npos:], strict=False)}
        size = self.call_effects(fn, args[:npos], kw, text)
        self.emit(text, size, is_value=self.returns_value(fn))

    def returns_value(self, fn: _E) -> bool:
        """A call's result is a value unless the callee is nested code or may return a module."""
        return fn.func is None and fn.text.rsplit(".", 1)[-1] not in _MODULE_RESULTS

    def emit(self, text: str, size: int | None = None, *, is_value: bool = False) -> None:
        text = _cut(text)
        if len(self.calls) < MAX_CALLS and text not in self.seen:
            self.calls.append(text)
            self.seen.add(text)
        self.push(_E(text, size=size, is_value=is_value))

    def star_call(self, fn: _E, args: _E, kwargs: _E | None) -> None:
        parts = list(args.items) if args.items is not None else [f"*{args.text}"]
        if kwargs is not None:
            if kwargs.pairs is not None:
                for key, ktext, val in kwargs.pairs:
                    if isinstance(key, str):
                        parts.append(f"{key}={val}")
                    else:
                        parts.append(f"**{val}" if ktext == "**" else f"**{{{ktext}: {val}}}")
            else:
                parts.append(f"**{kwargs.text}")
        self.emit(f"{_atom(fn)}({_join(parts)})")

    def callee_pair(self) -> tuple[_E, list[_E]]:
        """Pop [callable, NULL] / [NULL, callable] / [callable, self] (3.7+ method calls)."""
        below, top = self.popn(2)
        if below is _NULL:
            return top, []
        if top is _NULL:
            return below, []
        return below, [top]

    # cost estimation (constants only; unknown values never add cost)
    def mult(self) -> int:
        out = self.base_mult
        for _, n in self.active:
            out = _clamp(out * n)
        return out

    def cost(self, kind: str, amount: int, expr: str) -> None:
        if amount <= 1:
            return
        self.costs.append(Cost(kind, _clamp(amount), _cut(expr), self.co.qualname))
        if len(self.costs) > MAX_COSTS:
            self.costs.sort(key=lambda c: -c.amount)
            del self.costs[MAX_COSTS:]

    def binary(self, sym: str) -> None:
        b, a = self.pop(), self.pop()
        text = _cut(f"{_atom(a)} {sym} {_atom(b)}")
        ia, ib = _as_int(a), _as_int(b)
        value: object = _NO
        size: int | None = None
        if sym == "*":
            if ia is not None and ib is not None:
                if ia.bit_length() + ib.bit_length() <= _EXACT_BITS:
                    value = ia * ib
            elif (a.size is not None and ib is not None) or (b.size is not None and ia is not None):
                seq, n = (a.size, ib) if ib is not None else (b.size, ia)
                size = _clamp((seq or 0) * max(n or 0, 0))
                self.cost("allocation", _clamp(size * self.mult()), text)
        elif sym in ("**", "<<") and ia is not None and ib is not None and ib >= 0:
            if sym == "**":
                bits = ib * max(abs(ia).bit_length() - 1, 0) if abs(ia) > 1 else 0
            else:
                bits = ia.bit_length() + ib
            if bits <= _EXACT_BITS:
                value = ia**ib if sym == "**" else ia << ib
            else:
                self.cost("integer", _clamp(bits * self.mult()), text)
        elif sym == "+" and a.size is not None and b.size is not None:
            size = a.size + b.size
        self.push(_E(text, atomic=False, value=value, size=size))

    def call_effects(self, fn: _E, pos: list[_E], kw: dict[str, _E], text: str) -> int | None:
        """Record the cost of one call with known constant arguments; the result's size."""
        if fn.func is not None:  # a nested function or comprehension called here
            self.entries.setdefault(id(fn.func), (self.mult(), [a.size for a in pos]))
            return None
        last = fn.text.rsplit(".", 1)[-1]
        if fn.is_value and "." in fn.text and last not in _PADDED:
            return None  # a method of a value (x.fill(n)), not an allocator the code names
        first = pos[0] if pos else kw.get("shape", kw.get("size"))
        size: int | None = None
        if last in _RANGES:
            nums = [_as_int(a) for a in pos[:3]]
            if nums and all(n is not None for n in nums):
                ints = [n for n in nums if n is not None]
                start, stop = (0, ints[0]) if len(ints) == 1 else (ints[0], ints[1])
                step = ints[2] if len(ints) > 2 else 1
                size = (
                    max(0, (stop - start + step - (1 if step > 0 else -1)) // step) if step else 0
                )
                if last == "arange":
                    self.cost("allocation", _clamp(size * self.mult()), text)
            return size
        if last in _SHAPED and first is not None:
            size = _shape_product(first)
        elif last in _SQUARE and pos:
            n, m = _as_int(pos[0]), _as_int(pos[1]) if len(pos) > 1 else None
            size = _clamp(n * (m if m is not None else n)) if n is not None else None
        elif last in _SPACED:
            num = pos[2] if len(pos) > 2 else kw.get("num")
            size = _as_int(num) if num is not None else None
        elif last in _PADDED and pos:
            size = _as_int(pos[0])
        elif last in _COUNTED and pos and _as_int(pos[0]) is not None:
            size = _as_int(pos[0])
        elif last in _CONSUMERS and pos and pos[0].size is not None:
            n = pos[0].size
            kind = "allocation" if last in _MATERIALISE else "loop"
            self.cost(kind, _clamp(n * self.mult()), text)
            return n if last in _MATERIALISE else None
        else:
            return None
        if size is not None:
            self.cost("allocation", _clamp(size * self.mult()), text)
        return size

    def splat(self, parts: list[_E], kind: str) -> None:
        items: list[str] = []
        for p in parts:
            items += p.items if p.items is not None else [f"*{p.text}"]
        self.push(_display(kind, tuple(items[:MAX_ITEMS])))

    def fmt(self, value: _E, conv: str, spec: _E | None) -> None:
        piece = "{" + value.text + conv
        if spec is not None:
            piece += ":" + (
                spec.fpart
                if spec.kind == "fmt"
                else str(spec.value)
                if spec.value is not _NO
                else spec.text
            )
        piece += "}"
        self.push(_E(_cut("f" + repr(piece)), kind="fmt", fpart=piece))

    # main loop
    def run(self, instrs: list[Instruction], budget: Budget) -> None:
        """Evaluate straight-line; after a jump/return resume at the next saved jump target."""
        self.saved: dict[int, list[_E]] = {}
        self.loops: dict[int, int] = {}  # FOR_ITER offset -> loop exit offset
        self.after = {a.offset: b.offset for a, b in zip(instrs, instrs[1:], strict=False)}
        dead = False
        for ins in instrs:
            budget.tick()
            if ins.offset in self.saved:
                restored = self.saved.pop(ins.offset)
                self.stack = restored if dead else self.stack
                dead = False
            elif dead:
                continue  # unreachable without an exception-table edge
            while self.active and ins.offset >= self.active[-1][0]:
                self.active.pop()
            try:
                self.step(ins)
            except Exception:  # inconsistent input degrades to "?", never crashes
                self.push(_UNKNOWN)
            dead = ins.opname in _DEAD_END

    def branch(self, ins: Instruction) -> None:
        """Remember the stack seen by a forward jump's target."""
        target = _jump_target(self.ops, ins)
        name, stack = ins.opname, self.stack
        if target is not None and target < ins.offset and target in self.loops:
            self.saved[self.loops[target]] = stack[:-1]  # back edge: refresh the loop-exit stack
        if target is None or target <= ins.offset or target in self.saved:
            return
        if name == "FOR_ITER":  # exhausted: iterator popped; 3.12+ also skips END_FOR (+POP_TOP)
            for _ in range({(3, 12): 1, (3, 13): 2}.get(self.ops.ver, 0)):
                target = self.after.get(target, target)
            self.loops[ins.offset] = target
            stack = stack[:-1]
        elif name.startswith("POP_JUMP") or name == "JUMP_IF_NOT_EXC_MATCH":
            stack = stack[:-1]
        self.saved[target] = list(stack)

    def step(self, ins: Instruction) -> None:
        name, arg, ops = ins.opname, ins.arg or 0, self.ops
        v = ops.ver
        co = self.co
        self.branch(ins)
        if name in _NOOPS or (name in _DEAD_END and name.startswith(("JUMP", "CONTINUE", "BREAK"))):
            return
        if name in _POP1 or name.startswith(("POP_JUMP", "JUMP_IF_")):
            self.pop()
        elif name in ("RETURN_VALUE", "YIELD_VALUE", "RERAISE"):
            self.pop()
        elif name == "RETURN_CONST":
            pass
        elif name == "RAISE_VARARGS":
            self.popn(arg)
        elif name == "LOAD_CONST":
            self.push(self.const(arg))
        elif name in ("LOAD_NAME", "LOAD_GLOBAL", "LOAD_FROM_DICT_OR_GLOBALS"):
            if name == "LOAD_FROM_DICT_OR_GLOBALS":
                self.pop()
            self.push(_E(self.name(co.names, _name_index(ops, name, arg))))
            if name == "LOAD_GLOBAL" and v >= (3, 11) and arg & 1:
                self.push(_NULL)
        elif name in ("LOAD_FAST", "LOAD_FAST_CHECK", "LOAD_FAST_AND_CLEAR"):
            local = self.name(co.varnames, arg)
            self.push(_E(local, size=self.local_sizes.get(local), is_value=local in self.values))
        elif name == "LOAD_FAST_LOAD_FAST":
            for local in (self.name(co.varnames, arg >> 4), self.name(co.varnames, arg & 15)):
                self.push(_E(local, is_value=local in self.values))
        elif name in ("STORE_FAST_LOAD_FAST", "STORE_FAST_STORE_FAST"):
            self.pop()
            if name == "STORE_FAST_STORE_FAST":
                self.pop()
            else:
                self.push(_E(self.name(co.varnames, arg & 15)))
        elif name in ("LOAD_DEREF", "LOAD_CLOSURE", "LOAD_CLASSDEREF", "LOAD_FROM_DICT_OR_DEREF"):
            if name == "LOAD_FROM_DICT_OR_DEREF":
                self.pop()
            self.push(_E(self.name(_deref_names(co, ops), arg)))
        elif name in ("LOAD_ATTR", "LOAD_METHOD"):
            obj = self.pop()
            attr_name = self.name(co.names, _name_index(ops, name, arg))
            attr = _E(_cut(f"{_atom(obj)}.{attr_name}"), is_value=obj.is_value)
            self.push(attr)
            if name == "LOAD_METHOD" or v >= (3, 12) and arg & 1:
                self.push(_NULL)
        elif name == "LOAD_SUPER_ATTR":
            self.popn(3)
            self.push(_E(f"super().{self.name(co.names, arg >> 2)}"))
            if arg & 1:
                self.push(_NULL)
        elif name == "PUSH_NULL":
            self.push(_NULL)
        elif name in ("LOAD_BUILD_CLASS", "LOAD_ASSERTION_ERROR", "LOAD_LOCALS"):
            label = {
                "LOAD_BUILD_CLASS": "__build_class__",
                "LOAD_ASSERTION_ERROR": "AssertionError",
            }
            self.push(_E(label.get(name, "locals()")))
        elif name == "IMPORT_NAME":
            self.popn(2)
            self.emit(f"__import__({self.name(co.names, arg)!r})")
        elif name == "IMPORT_FROM":
            mod = self.stack[-1] if self.stack else _UNKNOWN
            self.push(_E(_cut(f"{_atom(mod)}.{self.name(co.names, arg)}")))
        elif name in ("STORE_ATTR", "DELETE_SUBSCR"):
            self.popn(2)
        elif name == "STORE_MAP":
            key, val = self.pop(), self.pop()
            d = self.pop()
            pairs = (d.pairs or ()) + ((key.value, key.text, val.text),)
            self.push(_dict_display(pairs))
        elif name == "STORE_SUBSCR":
            self.popn(3)
        elif name in ("STORE_SLICE", "BINARY_SLICE"):
            stop, start = self.pop(), self.pop()
            container = self.pop()
            if name == "STORE_SLICE":
                self.pop()
            else:
                self.push(_E(_cut(f"{_atom(container)}[{start.text}:{stop.text}]")))
        elif name.startswith(("SLICE+", "STORE_SLICE+", "DELETE_SLICE+")):
            k = int(name[-1])
            hi = self.pop().text if k & 2 else ""
            lo = self.pop().text if k & 1 else ""
            container = self.pop()
            if name.startswith("SLICE"):
                self.push(_E(_cut(f"{_atom(container)}[{lo}:{hi}]")))
            elif name.startswith("STORE"):
                self.pop()
        elif name in _UNARY:
            self.push(_E(_cut(_UNARY[name] + _atom(self.pop())), atomic=False))
        elif name == "UNARY_CONVERT":
            self.push(_E(_cut(f"`{self.pop().text}`")))
        elif name == "BINARY_OP":
            nb = ops.table.nb_ops
            self.binary(nb[arg].rstrip("=") if arg < len(nb) else "?")
        elif name.startswith(("BINARY_", "INPLACE_")) and name.split("_", 1)[1] in _BINARY:
            self.binary(_BINARY[name.split("_", 1)[1]])
        elif name == "BINARY_SUBSCR":
            idx, obj = self.pop(), self.pop()
            self.push(_E(_cut(f"{_atom(obj)}[{idx.text}]")))
        elif name == "COMPARE_OP":
            cmp = ops.table.cmp_op
            i = _cmp_index(ops, arg)
            self.binary(cmp[i] if i < len(cmp) else "?")
        elif name in ("IS_OP", "CONTAINS_OP"):
            base = "is" if name == "IS_OP" else "in"
            self.binary(("not " + base if base == "in" else base + " not") if arg else base)
        elif name == "BUILD_SLICE":
            bounds = self.popn(arg)
            self.push(_E(":".join("" if b.value is None else b.text for b in bounds)))
        elif name in ("BUILD_TUPLE", "BUILD_LIST", "BUILD_SET"):
            kind = name[6:].lower()
            built = self.popn(arg)
            shown = _display(kind, tuple(p.text for p in built))
            if kind == "tuple" and built and all(_as_int(p) is not None for p in built):
                shown = replace(shown, value=tuple(p.value for p in built))  # a shape
            self.push(shown)
        elif name in ("BUILD_TUPLE_UNPACK", "BUILD_TUPLE_UNPACK_WITH_CALL", "BUILD_LIST_UNPACK"):
            self.splat(self.popn(arg), "list" if "LIST" in name else "tuple")
        elif name == "BUILD_SET_UNPACK":
            self.splat(self.popn(arg), "set")
        elif name in ("DICT_MERGE", "DICT_UPDATE"):
            src = self.pop()
            self.fill(arg)
            tgt = self.stack[-arg] if arg else _UNKNOWN
            if arg and tgt.pairs is not None:
                more = src.pairs if src.pairs is not None else ((_NO, "**", src.text),)
                self.stack[-arg] = _dict_display(tgt.pairs + more)
        elif name in ("LIST_EXTEND", "SET_UPDATE"):
            seq = self.pop()
            self.fill(arg)
            tgt = self.stack[-arg] if arg else _UNKNOWN
            if arg and tgt.items is not None:
                add = seq.items if seq.items is not None else (f"*{seq.text}",)
                known = tgt.size is not None and seq.size is not None
                size = (tgt.size or 0) + (seq.size or 0) if known else None
                self.stack[-arg] = replace(_display(tgt.kind, tgt.items + add), size=size)
        elif name == "LIST_TO_TUPLE" or (
            name == "CALL_INTRINSIC_1"
            and arg < len(ops.table.intrinsic_1)
            and ops.table.intrinsic_1[arg] == "INTRINSIC_LIST_TO_TUPLE"
        ):
            seq = self.pop()
            if seq.items is not None:
                self.push(replace(_display("tuple", seq.items), size=seq.size))
            else:
                self.push(seq)
        elif name == "BUILD_MAP" and self.py2:
            self.push(_dict_display(()))
        elif name == "BUILD_MAP":
            flat = self.popn(2 * arg)
            pairs = tuple(
                (k.value, k.text, val.text) for k, val in zip(flat[::2], flat[1::2], strict=False)
            )
            self.push(_dict_display(pairs))
        elif name == "BUILD_CONST_KEY_MAP":
            keys = self.pop()
            vals = self.popn(arg)
            kv = keys.value if isinstance(keys.value, tuple) else (_NO,) * arg
            ktexts = keys.items or ("?",) * arg
            self.push(_dict_display(tuple(zip(kv, ktexts, (x.text for x in vals), strict=False))))
        elif name in ("BUILD_MAP_UNPACK", "BUILD_MAP_UNPACK_WITH_CALL"):
            maps = self.popn(arg)
            if all(m.pairs is not None for m in maps):
                self.push(_dict_display(tuple(p for m in maps for p in m.pairs or ())))
            else:
                self.push(_E("{" + _join([f"**{m.text}" for m in maps]) + "}", kind="dict"))
        elif name in ("LIST_APPEND", "SET_ADD", "MAP_ADD"):
            item = self.pop().text
            if name == "MAP_ADD":
                item = f"{self.pop().text}: {item}"
            self.fill(arg)
            if arg:
                brackets = "[]" if name == "LIST_APPEND" else "{}"
                text = _cut(f"{brackets[0]}{item} for ...{brackets[1]}")
                self.stack[-arg] = _E(text, kind="comp")
        elif name == "FORMAT_VALUE":
            spec = self.pop() if arg & 4 else None
            self.fmt(self.pop(), _CONV.get(arg & 3, ""), spec)
        elif name == "CONVERT_VALUE":
            val = self.pop()
            self.push(replace(val, kind="conv", fpart=_CONV.get(arg, "")))
        elif name in ("FORMAT_SIMPLE", "FORMAT_WITH_SPEC"):
            spec = self.pop() if name == "FORMAT_WITH_SPEC" else None
            val = self.pop()
            self.fmt(val, val.fpart if val.kind == "conv" else "", spec)
        elif name == "BUILD_STRING":
            body = ""
            for p in self.popn(arg):
                if p.kind == "fmt":
                    body += p.fpart
                elif isinstance(p.value, str):
                    body += p.value.replace("{", "{{").replace("}", "}}")
                else:
                    body += "{" + p.text + "}"
            self.push(_E(_cut("f" + repr(body)), kind="fmt", fpart=body))
        elif name in ("ROT_TWO", "ROT_THREE", "ROT_FOUR", "ROT_N", "SWAP", "COPY"):
            n = {"ROT_TWO": 2, "ROT_THREE": 3, "ROT_FOUR": 4}.get(name, arg)
            if 0 < n <= MAX_STACK:
                self.fill(n)
                st = self.stack
                if name == "COPY":
                    self.push(st[-n])
                elif name == "SWAP":
                    st[-1], st[-n] = st[-n], st[-1]
                else:
                    st.insert(len(st) - n, st.pop())
        elif name in ("DUP_TOP", "DUP_TOP_TWO", "DUP_TOPX"):
            n = {"DUP_TOP": 1, "DUP_TOP_TWO": 2}.get(name, arg)
            if 0 < n <= 5:
                self.fill(n)
                self.stack.extend(self.stack[-n:])
        elif self.py2 and name.startswith("CALL_FUNCTION"):
            kw = self.pop() if name.endswith("KW") else None
            var = self.pop() if "VAR" in name else None
            flat = self.popn(2 * ((arg >> 8) & 0xFF))
            pos = self.popn(arg & 0xFF)
            fn = self.pop()
            parts = [p.text for p in pos]
            parts += [
                f"{_kwname(k)}={val.text}" for k, val in zip(flat[::2], flat[1::2], strict=False)
            ]
            parts += (list(var.items or ()) or [f"*{var.text}"]) if var else []
            parts += [f"**{kw.text}"] if kw else []
            text = f"{_atom(fn)}({_join(parts)})"
            kws = {_kwname(k): val for k, val in zip(flat[::2], flat[1::2], strict=False)}
            size = None if var or kw else self.call_effects(fn, pos, kws, text)
            self.emit(text, size, is_value=self.returns_value(fn))
        elif name == "CALL_FUNCTION":
            args = self.popn(arg)
            self.call(self.pop(), args)
        elif name == "CALL_FUNCTION_KW":
            names = self.pop().value
            args = self.popn(arg)
            self.call(self.pop(), args, names if isinstance(names, tuple) else ())
        elif name in ("CALL_METHOD", "CALL", "CALL_KW"):
            names = self.pop().value if name == "CALL_KW" else self.kwnames
            self.kwnames = ()
            args = self.popn(arg)
            fn, extra = self.callee_pair()
            self.call(fn, extra + args, names if isinstance(names, tuple) else ())
        elif name == "KW_NAMES":
            names = self.const(arg).value
            self.kwnames = names if isinstance(names, tuple) else ()
        elif name == "CALL_FUNCTION_EX":
            kwargs = self.pop() if arg & 1 else None
            star = self.pop()
            fn = self.pop()
            if fn is _NULL:
                fn = self.pop()
            elif self.stack and self.stack[-1] is _NULL:
                self.pop()
            self.star_call(fn, star, kwargs)
        elif name in ("MAKE_FUNCTION", "MAKE_CLOSURE"):
            if v >= (3, 11) or self.py2:
                code = self.pop()
            else:
                self.pop()  # qualname
                code = self.pop()
            if self.py2:
                self.popn(arg + (1 if name == "MAKE_CLOSURE" else 0))
            elif v < (3, 13):
                self.popn(bin(arg & 15).count("1"))
            func = code.value if isinstance(code.value, CodeObject) else None
            fname = func.qualname if func is not None else "?"
            self.push(_E(f"<function {fname}>", func=func))
        elif name == "SET_FUNCTION_ATTRIBUTE":
            fn = self.pop()
            self.pop()
            self.push(fn)
        elif name == "UNPACK_SEQUENCE":
            seq = self.pop()
            for i in reversed(range(min(arg, MAX_UNPACK))):
                self.push(_E(_cut(f"{_atom(seq)}[{i}]")))
        elif name == "UNPACK_EX":
            self.pop()
            for _ in range(min((arg & 0xFF) + (arg >> 8) + 1, MAX_UNPACK)):
                self.push(_UNKNOWN)
        elif name == "FOR_ITER":
            it = self.stack[-1] if self.stack else _UNKNOWN
            exit_at = self.loops.get(ins.offset)
            if it.size is not None and exit_at is not None:
                self.cost("loop", _clamp(it.size * self.mult()), f"for ... in {it.text}")
                self.active.append((exit_at, max(it.size, 1)))
            self.push(_E("?"))
        elif name == "EXEC_STMT":
            self.call(_E("exec"), self.popn(3))
        elif name == "CALL_INTRINSIC_2":
            self.popn(2)
            self.push(_UNKNOWN)
        elif name in ("CALL_INTRINSIC_1", "YIELD_FROM", "GET_AWAITABLE"):
            self.pop()
            self.push(_UNKNOWN)
        else:
            self.push(_UNKNOWN)


def reconstruct(
    code: CodeObject, version: str | None = None, *, budget: Budget | None = None
) -> list[str]:
    """Pseudo-source of the calls *code* and its nested code make, in order, de-duplicated."""
    return reconstruct_with_costs(code, version, budget=budget).calls


def reconstruct_with_costs(
    code: CodeObject, version: str | None = None, *, budget: Budget | None = None
) -> Reconstruction:
    """The calls (see :func:`reconstruct`) and the loop / allocation sizes its constants fix.

    Nested code is evaluated after the code that builds it (pre-order), so a comprehension
    learns how often it runs and the size of the iterator it is handed.
    """
    budget = budget or Budget()
    calls: list[str] = []
    costs: list[Cost] = []
    entries: dict[int, tuple[int, list[int | None]]] = {}
    remaining = MAX_INSTRUCTIONS
    ver = version or guess_versions(code)[-1]
    for co in code.walk():
        instrs = decode(co.code, ver, limit=remaining)
        remaining -= len(instrs)
        _Eval(co, _ops(ver), calls, costs, entries, top=co is code).run(instrs, budget)
        if remaining <= 0 or len(calls) >= MAX_CALLS:
            break
    costs.sort(key=lambda c: -c.amount)
    return Reconstruction(calls, costs)
