"""Symbolic values and per-stream records produced by the pickle VM model.

Nothing here is ever a live object from the pickle: a ``Global`` is the *name*
``find_class`` would resolve, a ``Call`` is the *record* of what REDUCE/OBJ/...
would invoke.  Plain constants (``None``, ``bool``, ``int``, ``float``, small
``str``/``bytes``/``bytearray``) and ``tuple`` are represented by the Python
value itself; everything else by the classes below.

Identity matters: the VM keeps CPython's object identity (memo GETs return the
*same* symbolic object), so a ``Global`` or ``Call`` can be compared with ``is``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A symbolic value: one of the classes below, a Python constant, or a tuple of values.
Value = object


@dataclass(frozen=True, slots=True)
class Blob:
    """A payload the VM did not keep in memory (too large, or past the retention budget).

    ``offset``/``length`` locate the raw bytes in the scanned file object;
    ``kind`` is ``"bytes"``, ``"bytearray"``, ``"str"`` (UTF-8 text, not decoded),
    ``"line"`` (an over-long protocol-0 text argument), ``"int"`` (a huge LONG) or
    ``"joblib-array"`` (raw numeric array data joblib reads after a BUILD).
    """

    offset: int
    length: int
    kind: str


@dataclass(frozen=True, slots=True)
class Omitted:
    """Stands in for container elements dropped by the element cap."""

    count: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value the model cannot know statically (out-of-band buffer, failed decode...)."""

    reason: str
    offset: int


@dataclass(eq=False, slots=True)
class Global:
    """What ``find_class(module, name)`` would return (GLOBAL, STACK_GLOBAL, INST, EXT*).

    ``module``/``name`` are the names after CPython's protocol < 3 ``fix_imports``
    mapping; ``raw_module``/``raw_name`` hold the names as written when the mapping
    changed them.  ``ext_code`` is set for EXT1/2/4 (``module``/``name`` are then
    the registry entry, or ``"<ext>"``/code when the code is not registered).
    ``dynamic`` holds the two STACK_GLOBAL operands when they were not string
    constants (computed at load time), with ``module``/``name`` set to ``"?"``.
    """

    module: str
    name: str
    offset: int
    opcode: str
    raw_module: str | None = None
    raw_name: str | None = None
    ext_code: int | None = None
    dynamic: tuple[object, object] | None = None

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


NO_STATE: object = object()


@dataclass(eq=False, slots=True)
class Call:
    """The object produced by invoking ``func`` (REDUCE, NEWOBJ, NEWOBJ_EX, OBJ, INST).

    ``kind`` is ``"reduce"`` (``func(*args)``), ``"newobj"`` (``cls.__new__(cls, *args)``),
    ``"newobj_ex"`` (with ``kwargs``), ``"obj"`` / ``"inst"`` (``_instantiate``: a
    call when there are arguments or ``func`` is not a class).  ``state`` is the
    last BUILD state applied to this object (``NO_STATE`` when none).

    ``items`` / ``list_items`` are only kept when the VM runs with
    ``keep_call_items=True`` (conversion needs them; scanning does not): the
    ``(key, value)`` pairs SETITEM(S) stored into this object (an
    ``OrderedDict()`` state dict) and the values APPEND(S)/ADDITEMS added to it,
    capped like any container (``omitted`` counts the rest).  ``None`` when
    nothing was added or the option is off.
    """

    func: object
    args: object
    kwargs: object | None
    kind: str
    offset: int
    opcode: str
    state: object = NO_STATE
    items: SDict | None = None
    list_items: SList | None = None


@dataclass(eq=False, slots=True)
class Build:
    """A BUILD record: ``obj.__setstate__(state)`` (or ``__dict__``/slot updates)."""

    obj: object
    state: object
    offset: int


@dataclass(eq=False, slots=True)
class PersistentRef:
    """The object ``persistent_load(pid)`` would return (PERSID / BINPERSID)."""

    pid: object
    offset: int
    opcode: str


@dataclass(eq=False, slots=True)
class Mutation:
    """SETITEM(S)/APPEND(S)/ADDITEMS or BUILD attribute planting on a module-level object.

    ``kind`` is ``"setitem"``, ``"append"``, ``"extend"``, ``"add"`` or ``"setattr"``.
    """

    target: object
    key: object
    value: object
    offset: int
    opcode: str
    kind: str


class SList(list[object]):
    """A pickled list: its first elements (the VM caps them); ``omitted`` counts the rest.

    Containers subclass ``list`` so the hot loop builds them at C speed; compare them
    by identity (``is``), not ``==``.
    """

    omitted: int = 0

    @property
    def items(self) -> list[object]:
        return self


class SDict(list[tuple[object, object]]):
    """A pickled dict as ``(key, value)`` pairs (keys may be unhashable symbolic values)."""

    omitted: int = 0

    @property
    def items(self) -> list[tuple[object, object]]:
        return self


class SSet(list[object]):
    """A pickled set (``frozen``: a frozenset) as its elements."""

    omitted: int = 0
    frozen: bool = False

    @property
    def items(self) -> list[object]:
        return self


@dataclass(frozen=True, slots=True)
class StreamError:
    """Why a stream could not be interpreted to its STOP.

    ``kind``: ``unknown-opcode``, ``stack-underflow``, ``memo-miss``, ``truncated``,
    ``frame``, ``bad-argument``, ``not-a-pickle``, ``io`` or ``internal``.
    """

    offset: int
    message: str
    kind: str


@dataclass(frozen=True, slots=True)
class StreamIssue:
    """A non-fatal anomaly (``kind``: ``proto``, ``frame``, ``ext``, ``joblib``, ``persid``,
    ``names``, ``stop``...).  Benign picklers do not produce these."""

    offset: int
    message: str
    kind: str


@dataclass(frozen=True, slots=True)
class TrailingData:
    """Bytes after the last STOP that do not start another pickle."""

    offset: int
    length: int


@dataclass(eq=False)
class NestedPayload:
    """Bytes handed to a loader (``pickle.loads``, ``torch.load(BytesIO(...))``...).

    ``kind``: ``pickle`` (scanned: ``streams``), ``marshal_code`` (``data`` holds the
    marshalled bytes for a marshal reader; never unmarshalled here), ``archive``
    (a ZIP such as a torch checkpoint; ``data`` for a container reader),
    ``numpy`` (an ``.npy`` image; ``data``), ``opaque`` (could not be decoded
    statically) or ``too-large``.
    """

    offset: int
    loader: str
    encoding: tuple[str, ...]
    kind: str
    size: int
    path: tuple[str, ...]
    streams: list[PickleStream] = field(default_factory=list)
    data: bytes | None = None
    error: str | None = None


@dataclass(eq=False)
class PickleStream:
    """Everything the VM learned about one pickle (PROTO ... STOP) in a file.

    Offsets are absolute positions in the scanned file object.  ``end`` is the
    offset just past STOP (or where interpretation stopped).  ``interpretation``
    names the unpickler semantics used: ``"strict"`` (pure-Python ``pickle`` and
    CPython >= 3.13.15/3.14.7 C unpickler: frames enforced), ``"linear"`` (older C
    unpickler reading memory: FRAME ignored) or ``"legacy-c"`` (older C unpickler
    reading a file object without ``peek``: an argument straddling a frame end is
    read from *after* the frame).  ``alternates`` holds the other
    interpretations when they differ from the strict one (frame violations).
    """

    start: int
    end: int = 0
    protocol: int | None = None
    opcode_count: int = 0
    imports: list[Global] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)
    mutations: list[Mutation] = field(default_factory=list)
    persistent_ids: list[PersistentRef] = field(default_factory=list)
    persistent_ids_omitted: int = 0
    result: object = None
    has_result: bool = False
    error: StreamError | None = None
    limit_hit: str | None = None
    issues: list[StreamIssue] = field(default_factory=list)
    nested: list[NestedPayload] = field(default_factory=list)
    alternates: list[PickleStream] = field(default_factory=list)
    trailing: TrailingData | None = None
    path: tuple[str, ...] = ()
    interpretation: str = "strict"
    joblib: bool = False
    records_deduplicated: bool = False

    @property
    def ok(self) -> bool:
        """True when the stream reached STOP with no error and no limit."""
        return self.error is None and self.limit_hit is None and self.has_result

    def walk(self) -> list[PickleStream]:
        """This stream, its alternates and every nested payload stream (depth first)."""
        out: list[PickleStream] = []
        todo: list[PickleStream] = [self]
        while todo:
            s = todo.pop()
            out.append(s)
            for n in reversed(s.nested):
                todo.extend(reversed(n.streams))
            todo.extend(reversed(s.alternates))
        return out
