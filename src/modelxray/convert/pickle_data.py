"""A data-only reading of a pickle program, with full fidelity, for conversion.

The scanner's pickle VM (:mod:`modelxray.analysis.pickle`) is built to judge a
pickle: it caps containers, skips large payloads and does not keep what
SETITEMS adds to objects that are not plain dicts (``OrderedDict`` state
dicts).  Conversion needs every entry, so this module replays the opcodes
(decoded by :func:`pickletools.genops`, a disassembler) on a stack machine
whose values are inert records: a global is a :class:`Ref` naming it, a call
is an :class:`Obj` recording the callee and its arguments.  Nothing is
imported, called, or unmarshalled.  ``collections.OrderedDict()`` and
``builtins.dict()`` with no arguments are read as the plain mapping they
build, since what they produce is data either way.

Bounded by the :class:`~modelxray.budget.Budget`: opcode, stack and memo
counts, and wall-clock time.
"""

from __future__ import annotations

import pickletools
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from dataclasses import dataclass, field
from typing import IO, Any

from modelxray.budget import Budget, BudgetExceeded

from .common import ConvertError


@dataclass(frozen=True)
class Ref:
    """The global ``find_class(module, name)`` would return (never resolved)."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Obj:
    """The record of ``func(*args)`` (REDUCE) or ``cls.__new__(cls, *args)`` (NEWOBJ)."""

    func: Any
    args: Any
    kind: str
    kwargs: Any = None
    state: Any = None
    items: list[tuple[Any, Any]] = field(default_factory=list)  # SETITEM(S) on the object
    appended: list[Any] = field(default_factory=list)  # APPEND(S) on the object


@dataclass(eq=False)
class Persist:
    """What ``persistent_load(pid)`` would return."""

    pid: Any


class PDict(list[tuple[Any, Any]]):
    """A mapping as ``(key, value)`` pairs in insertion order (keys may be unhashable)."""


class PSet(list[Any]):
    """A set's elements."""


_MAPPINGS = {("collections", "OrderedDict"), ("builtins", "dict")}
_UNSUPPORTED = {"INST", "OBJ", "EXT1", "EXT2", "EXT4", "NEXT_BUFFER", "READONLY_BUFFER"}


def read_pickle(f: IO[bytes], budget: Budget) -> Any:
    """Replay one pickle from the current position of ``f`` to its STOP; return its value.

    ``f`` is left just after STOP (what a real unpickler does), so concatenated
    pickles can be read one after another.  Raises :class:`ConvertError` on anything
    malformed or outside the data subset (INST/OBJ/EXT/out-of-band buffers).
    """
    limits = budget.limits
    stack: list[Any] = []
    metastack: list[list[Any]] = []
    memo: dict[int, Any] = {}
    proto = 0
    count = 0
    depth_total = 0

    def pop_mark() -> list[Any]:
        nonlocal stack, depth_total
        if not metastack:
            raise ConvertError("pickle: MARK expected")
        items = stack
        stack = metastack.pop()
        depth_total -= len(stack)
        return items

    def top() -> Any:
        if not stack:
            raise ConvertError("pickle: stack underflow")
        return stack[-1]

    def pop() -> Any:
        if not stack:
            raise ConvertError("pickle: stack underflow")
        return stack.pop()

    def setitems(target: Any, pairs: list[Any]) -> None:
        if len(pairs) % 2:
            raise ConvertError("pickle: odd number of items for SETITEMS")
        pairs_t = [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
        if isinstance(target, PDict):
            target.extend(pairs_t)
        elif isinstance(target, Obj):
            target.items.extend(pairs_t)
        else:
            raise ConvertError(f"pickle: SETITEMS on {type(target).__name__}")

    def appends(target: Any, values: list[Any]) -> None:
        if isinstance(target, list) and not isinstance(target, (PDict, PSet)):
            target.extend(values)
        elif isinstance(target, Obj):
            target.appended.extend(values)
        else:
            raise ConvertError(f"pickle: APPENDS on {type(target).__name__}")

    def make_ref(module: str, name: str) -> Ref:
        if proto < 3:
            mapped = NAME_MAPPING.get((module, name))
            if mapped is not None:
                module, name = mapped
            else:
                module = IMPORT_MAPPING.get(module, module)
        return Ref(module, name)

    try:
        ops = pickletools.genops(f)
        for op, raw_arg, _pos in ops:
            arg: Any = raw_arg
            count += 1
            if count > limits.max_pickle_opcodes:
                raise BudgetExceeded("max_pickle_opcodes", f"more than {count - 1} opcodes")
            budget.tick()
            if len(stack) + depth_total > limits.max_pickle_stack:
                raise BudgetExceeded("max_pickle_stack", "stack too deep")
            name = op.name
            if name == "PROTO":
                proto = int(arg)
            elif name == "FRAME":
                pass
            elif name == "STOP":
                return pop()
            elif name == "MARK":
                metastack.append(stack)
                depth_total += len(stack)
                stack = []
            elif name == "POP":
                if stack:
                    stack.pop()
                else:
                    pop_mark()
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.append(top())
            elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
                stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
            elif name in ("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"):
                stack.append(arg)
            elif name in ("FLOAT", "BINFLOAT"):
                stack.append(float(arg))
            elif name in ("STRING", "BINSTRING", "SHORT_BINSTRING"):
                # Python 2 str: the default unpickler decodes it as ASCII text.
                stack.append(arg)
            elif name in ("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"):
                stack.append(arg)
            elif name in ("BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"):
                stack.append(bytes(arg))
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                items = pop_mark()  # (pop_mark rebinds ``stack``: call it first)
                stack.append(items)
            elif name == "EMPTY_DICT":
                stack.append(PDict())
            elif name == "DICT":
                d = PDict()
                setitems(d, pop_mark())
                stack.append(d)  # ``stack`` is read after pop_mark rebinds it
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE":
                items = pop_mark()
                stack.append(tuple(items))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                n = int(name[-1])
                if len(stack) < n:
                    raise ConvertError("pickle: stack underflow")
                items = stack[-n:]
                del stack[-n:]
                stack.append(tuple(items))
            elif name == "EMPTY_SET":
                stack.append(PSet())
            elif name == "FROZENSET":
                items = pop_mark()
                stack.append(PSet(items))
            elif name == "ADDITEMS":
                items = pop_mark()
                target = top()
                if not isinstance(target, PSet):
                    raise ConvertError("pickle: ADDITEMS on a non-set")
                target.extend(items)
            elif name == "APPEND":
                v = pop()
                appends(top(), [v])
            elif name == "APPENDS":
                items = pop_mark()
                appends(top(), items)
            elif name == "SETITEM":
                v = pop()
                k = pop()
                setitems(top(), [k, v])
            elif name == "SETITEMS":
                items = pop_mark()
                setitems(top(), items)
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                if len(memo) >= limits.max_pickle_memo:
                    raise BudgetExceeded("max_pickle_memo", "memo too large")
                memo[int(arg)] = top()
            elif name == "MEMOIZE":
                if len(memo) >= limits.max_pickle_memo:
                    raise BudgetExceeded("max_pickle_memo", "memo too large")
                memo[len(memo)] = top()
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                try:
                    stack.append(memo[int(arg)])
                except KeyError:
                    raise ConvertError(f"pickle: memo entry {arg} missing") from None
            elif name == "GLOBAL":
                module, _, gname = str(arg).partition(" ")
                stack.append(make_ref(module, gname))
            elif name == "STACK_GLOBAL":
                gname = pop()
                module = pop()
                if type(module) is not str or type(gname) is not str:
                    raise ConvertError("pickle: STACK_GLOBAL with computed names")
                stack.append(make_ref(module, gname))
            elif name == "REDUCE":
                args = pop()
                func = pop()
                if isinstance(func, Ref) and (func.module, func.name) in _MAPPINGS and args == ():
                    stack.append(PDict())
                else:
                    stack.append(Obj(func, args, "reduce"))
            elif name == "NEWOBJ":
                args = pop()
                cls = pop()
                stack.append(Obj(cls, args, "newobj"))
            elif name == "NEWOBJ_EX":
                kwargs = pop()
                args = pop()
                cls = pop()
                stack.append(Obj(cls, args, "newobj_ex", kwargs=kwargs))
            elif name == "BUILD":
                state = pop()
                target = top()
                if isinstance(target, Obj):
                    target.state = state
                # BUILD on anything else would be an attribute update: not data we keep.
            elif name == "PERSID":
                stack.append(Persist(arg))
            elif name == "BINPERSID":
                stack.append(Persist(pop()))
            elif name in _UNSUPPORTED:
                raise ConvertError(f"pickle: opcode {name} is outside what conversion reads")
            else:  # pragma: no cover - genops knows no other opcodes
                raise ConvertError(f"pickle: unexpected opcode {name}")
    except ConvertError:
        raise
    except BudgetExceeded:
        raise
    except (ValueError, EOFError, UnicodeDecodeError, OverflowError, KeyError, IndexError) as e:
        raise ConvertError(f"pickle: malformed: {type(e).__name__}: {e}") from None
    raise ConvertError("pickle: no STOP opcode")
