"""Static resolution of symbolic values to the dotted names they stand for.

Gadget chains build callables at load time: ``getattr(importlib.import_module('os'),
'system')``, ``pkgutil.resolve_name('os:system')``, ``operator.methodcaller('system',
cmd)(os_module)``, ``functools.partial(os.system, cmd)``.  These helpers follow such
chains *as data* (never importing anything) to name what would finally run.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._generated.dill_types import DILL_TYPES
from .values import NO_STATE, Call, Global, SDict, SList, SSet

_MAX_DEPTH = 16

GETATTR = frozenset({"builtins.getattr", "__builtin__.getattr"})
# fmt: off
IMPORTERS = frozenset(
    {
        "importlib.import_module", "builtins.__import__", "__builtin__.__import__",
        "importlib.__import__", "importlib._bootstrap._gcd_import", "_frozen_importlib._gcd_import",
    }
)
# fmt: on
NAME_RESOLVERS = frozenset(
    {"pkgutil.resolve_name", "pydoc.locate", "pydoc.pipepager.__globals__.locate"}
)
ATTRGETTERS = frozenset({"operator.attrgetter", "_operator.attrgetter"})
METHODCALLERS = frozenset({"operator.methodcaller", "_operator.methodcaller"})
ITEMGETTERS = frozenset({"operator.itemgetter", "_operator.itemgetter"})
# Resolvers whose construction from constant names is inert (a stored method/attribute/item
# getter, as CPython pickles ``operator.methodcaller('split', ',')``); only calling one runs
# anything, and every call at load time is judged through it (``effective_callee``).
INERT_RESOLVERS = ATTRGETTERS | METHODCALLERS | ITEMGETTERS
PARTIALS = frozenset({"functools.partial", "_functools.partial", "functools.partialmethod"})
# dill._dill._load_type(name) returns a type from dill's fixed table (dill < 0.3: dill.dill)
TYPE_LOOKUPS = frozenset({"dill._dill._load_type", "dill.dill._load_type"})


def global_path(g: Global) -> str | None:
    if g.dynamic is not None or (g.ext_code is not None and g.module == "<ext>"):
        return None
    return f"{g.module}.{g.name}"


def _first_args(v: object) -> tuple[object, ...]:
    return v if isinstance(v, tuple) else ()


def value_path(v: object, depth: int = 0) -> str | None:
    """The dotted name of the module-level object ``v`` evaluates to, when statically known."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(v, Global):
        return global_path(v)
    if not isinstance(v, Call) or v.kind != "reduce":
        return None
    fpath = value_path(v.func, depth + 1)
    args = _first_args(v.args)
    if fpath is None:
        # attrgetter('a.b')(obj) -> obj.a.b
        inner = v.func
        if isinstance(inner, Call) and inner.kind == "reduce" and args:
            ipath = value_path(inner.func, depth + 1)
            iargs = _first_args(inner.args)
            if ipath in ATTRGETTERS and iargs and isinstance(iargs[0], str):
                base = value_path(args[0], depth + 1)
                if base is not None:
                    return f"{base}.{iargs[0]}"
        return None
    if fpath in GETATTR and len(args) >= 2 and isinstance(args[1], str):
        base = value_path(args[0], depth + 1)
        return None if base is None else f"{base}.{args[1]}"
    if fpath in IMPORTERS and args and isinstance(args[0], str):
        name = args[0]
        if fpath.endswith("__import__"):
            fromlist = args[3] if len(args) > 3 else None
            if not fromlist:
                return name.split(".")[0]
        return name
    if fpath in NAME_RESOLVERS and args and isinstance(args[0], str):
        return args[0].replace(":", ".")
    if fpath in TYPE_LOOKUPS and args and isinstance(args[0], str):
        return DILL_TYPES.get(args[0])
    if fpath in PARTIALS and args:
        bound = value_path(args[0], depth + 1)
        state = v.state
        if state is not NO_STATE:
            # partial.__setstate__((func, args, kwds, dict)) replaces the function: the
            # callee is known only when both name the same one
            first = state[0] if isinstance(state, tuple) and state else None
            if value_path(first, depth + 1) != bound:
                return None
        return bound
    return None


def effective_callee(call: Call) -> str | None:
    """The dotted name of the function ``call`` finally runs, when statically known."""
    path = value_path(call.func)
    if path is not None:
        return path
    f = call.func
    if isinstance(f, Call) and f.kind == "reduce":
        fpath = value_path(f.func)
        fargs = _first_args(f.args)
        args = _first_args(call.args)
        if fpath in METHODCALLERS and fargs and isinstance(fargs[0], str) and args:
            base = value_path(args[0])
            if base is not None:
                return f"{base}.{fargs[0]}"
    return None


def instantiated_class(call: Call) -> object:
    """The class a NEWOBJ/OBJ/INST/copyreg reconstruction instantiates (``func`` otherwise)."""
    if call.kind == "reduce" and isinstance(call.func, Global):
        path = global_path(call.func)
        if path in ("copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"):
            args = _first_args(call.args)
            if args:
                return args[0]
    return call.func


# The builtin type a constant pushed by the pickle has (``''.join`` pickles as
# ``getattr('', 'join')``: a method bound to a constant).
_CONST_OWNER: dict[type, str] = {
    str: "builtins.str",
    bytes: "builtins.bytes",
    bytearray: "builtins.bytearray",
    int: "builtins.int",
    bool: "builtins.bool",
    float: "builtins.float",
    complex: "builtins.complex",
    tuple: "builtins.tuple",
    SList: "builtins.list",
    SDict: "builtins.dict",
}


# Globals known to be classes (calling them returns an instance of exactly that class).
# fmt: off
KNOWN_CLASSES = frozenset(
    {
        "builtins.str", "builtins.bytes", "builtins.bytearray", "builtins.int", "builtins.bool",
        "builtins.float", "builtins.complex", "builtins.tuple", "builtins.list", "builtins.dict",
        "builtins.set", "builtins.frozenset", "builtins.range", "builtins.slice",
        "collections.OrderedDict", "collections.defaultdict", "collections.Counter",
        "collections.deque",
    }
)
# fmt: on
# Classes whose implicit APPEND/APPENDS/SETITEM(S)/ADDITEMS methods are the builtin container
# ones (they store the item; instances have no __dict__ a BUILD could plant a method in).
PLAIN_CONTAINERS: dict[str, frozenset[str]] = {
    "builtins.list": frozenset({"append", "extend"}),
    "builtins.bytearray": frozenset({"append", "extend"}),
    "builtins.dict": frozenset({"__setitem__"}),
    "builtins.set": frozenset({"add"}),
    "collections.OrderedDict": frozenset({"__setitem__"}),
    "collections.defaultdict": frozenset({"__setitem__"}),
    "collections.Counter": frozenset({"__setitem__"}),
    "collections.deque": frozenset({"append", "extend"}),
}
# VM record kind -> the method the unpickler calls
IMPLICIT_METHOD = {"append": "append", "extend": "extend", "setitem": "__setitem__", "add": "add"}
_BYTES_ENCODERS = frozenset({"_codecs.encode", "codecs.encode"})
_TEXT_ENCODINGS = frozenset({"latin1", "latin-1", "utf-8", "utf8", "ascii"})


@dataclass(frozen=True, slots=True)
class MethodRef:
    """``getattr(receiver, name)`` with a constant ``name``: an attribute of a class
    (``receiver`` a :class:`Global`, ``bound`` False: ``str.split``) or a method bound to
    a constant the pickle itself made (``bound`` True: ``''.join``)."""

    owner: str
    name: str
    receiver: object
    bound: bool

    @property
    def path(self) -> str:
        return f"{self.owner}.{self.name}"


def method_ref(v: object) -> MethodRef | None:
    """``v`` as a method reference (``getattr(<class or constant>, '<name>')``), or None."""
    if type(v) is not Call or v.kind != "reduce":
        return None
    f = v.func
    if type(f) is not Global or f.name != "getattr" or global_path(f) not in GETATTR:
        return None
    args = v.args
    if not isinstance(args, tuple) or len(args) not in (2, 3) or type(args[1]) is not str:
        return None
    recv, name = args[0], args[1]
    if isinstance(recv, Global):
        owner = global_path(recv)
        return None if owner is None else MethodRef(owner, name, recv, False)
    if isinstance(recv, Call) and (
        recv.kind in ("newobj", "newobj_ex")
        or (recv.kind == "reduce" and recv.func is not instantiated_class(recv))
        or (isinstance(recv.func, Global) and global_path(recv.func) in KNOWN_CLASSES)
    ):
        # an instance the pickle created (cls.__new__ by NEWOBJ or a copyreg reconstructor,
        # or a call of a known class): a method bound to it, looked up on its class
        cls = instantiated_class(recv)
        owner = global_path(cls) if isinstance(cls, Global) else None
        return None if owner is None else MethodRef(owner, name, cls, True)
    if isinstance(recv, Call) and recv.kind == "reduce" and isinstance(recv.func, Global):
        # protocol < 3 writes a bytes constant as _codecs.encode('...', 'latin1')
        rargs = recv.args
        if (
            global_path(recv.func) in _BYTES_ENCODERS
            and isinstance(rargs, tuple)
            and len(rargs) == 2
            and type(rargs[0]) is str
            and rargs[1] in _TEXT_ENCODINGS
        ):
            return MethodRef("builtins.bytes", name, recv, True)
        return None
    if isinstance(recv, SSet):
        return MethodRef("builtins.frozenset" if recv.frozen else "builtins.set", name, recv, True)
    owner = _CONST_OWNER.get(type(recv))
    return None if owner is None else MethodRef(owner, name, recv, True)


def is_constant(v: object, depth: int = 0) -> bool:
    """``v`` is plain data pushed by the pickle (no global, call or persistent reference)."""
    if v is None or type(v) in (str, bytes, int, float, bool, complex):
        return True
    if type(v) is tuple and depth < _MAX_DEPTH:
        return all(is_constant(x, depth + 1) for x in v)
    return False
