"""PyTorch checkpoints (zip and legacy) → tensors, rebuilt from the pickle program.

``torch.save`` pickles each tensor as a call
``torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
backward_hooks[, metadata])`` (``_rebuild_tensor_v3`` adds a ``dtype`` argument for
dtypes that have no typed storage class, e.g. ``uint16``), where ``storage`` is a
persistent id ``("storage", torch.<Type>Storage | torch.UntypedStorage, key, location,
numel[, view_metadata])``.  The storage bytes live in ``<archive>/data/<key>`` (zip
format) or after the pickles, each prefixed by its element count (legacy format).
This module runs the scanner's symbolic pickle VM (:mod:`modelxray.analysis.pickle`)
over the pickle program -- one pass gives both the verdict and the result value --,
walks the symbolic result for those records and copies each tensor's bytes
(gathering strided views) without importing PyTorch or calling anything the
pickle names.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeGuard

from modelxray.analysis.pickle import (
    Blob,
    Call,
    Global,
    Omitted,
    PersistentRef,
    PickleStream,
    SDict,
    SList,
    SSet,
    Unknown,
    render_value,
    scan_stream,
    verdict_items,
)
from modelxray.analysis.pickle.vm import MAX_STREAMS
from modelxray.artifact import Artifact
from modelxray.budget import Budget, Limits

from .common import (
    CHUNK,
    ConvertError,
    Extraction,
    SourceBytes,
    SourceTensor,
    byteswapped,
    read_range,
)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
MAX_DEPTH = 64

# Typed storage classes → (SafeTensors dtype or None when it has none, element size).
STORAGE_DTYPES: dict[str, tuple[str | None, int]] = {
    "DoubleStorage": ("F64", 8), "FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2),
    "BFloat16Storage": ("BF16", 2), "LongStorage": ("I64", 8), "IntStorage": ("I32", 4),
    "ShortStorage": ("I16", 2), "CharStorage": ("I8", 1), "ByteStorage": ("U8", 1),
    "BoolStorage": ("BOOL", 1), "ComplexFloatStorage": ("C64", 8),
    "ComplexDoubleStorage": (None, 16), "QInt8Storage": (None, 1), "QUInt8Storage": (None, 1),
    "QInt32Storage": (None, 4), "QUInt4x2Storage": (None, 1), "QUInt2x4Storage": (None, 1),
    "UntypedStorage": ("U8", 1),
}  # fmt: skip

# ``torch.<dtype>`` globals (``_rebuild_tensor_v3``) → (SafeTensors dtype or None, size).
TORCH_DTYPES: dict[str, tuple[str | None, int]] = {
    "float64": ("F64", 8), "double": ("F64", 8), "float32": ("F32", 4), "float": ("F32", 4),
    "float16": ("F16", 2), "half": ("F16", 2), "bfloat16": ("BF16", 2),
    "int64": ("I64", 8), "long": ("I64", 8), "int32": ("I32", 4), "int": ("I32", 4),
    "int16": ("I16", 2), "short": ("I16", 2), "int8": ("I8", 1), "uint8": ("U8", 1),
    "bool": ("BOOL", 1), "complex64": ("C64", 8), "cfloat": ("C64", 8),
    "uint16": ("U16", 2), "uint32": ("U32", 4), "uint64": ("U64", 8),
    "float8_e4m3fn": ("F8_E4M3", 1), "float8_e5m2": ("F8_E5M2", 1),
    "float8_e4m3fnuz": ("F8_E4M3FNUZ", 1), "float8_e5m2fnuz": ("F8_E5M2FNUZ", 1),
    "complex128": (None, 16), "cdouble": (None, 16),
}  # fmt: skip

_REBUILD = {
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
}
_PARAMETER = {"torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"}
_PLAIN_TENSOR_TYPES = {"torch.nn.parameter.Parameter", "torch.Tensor", "torch._tensor.Tensor"}
# ``collections.OrderedDict()`` / ``dict()`` filled by SETITEMS build plain mappings: data.
_MAPPINGS = {"collections.OrderedDict", "builtins.dict"}
LEGACY_PICKLES = 5
_UNTYPED = {
    "torch.UntypedStorage",
    "torch.storage.UntypedStorage",
}  # magic, protocol, sys_info, the object, the storage keys


class Unsupported(Exception):
    """A value in the checkpoint that is not a tensor we can copy (it is dropped, with why)."""


@dataclass
class Storage:
    key: str
    dtype: str | None  # SafeTensors dtype of the storage's elements (U8 for untyped)
    itemsize: int
    nbytes: int
    view_offset: int = 0  # bytes (legacy storage views)
    swap: int = 1  # the word ``storage.byteswap(dtype)`` swaps: the element, half for complex
    numel: int = 0
    raw_key: str | int = ""  # the key as pickled (torch matches it by type and value)
    record: tuple[Any, ...] = ()  # (storage type, key, location, numel): one per key


@dataclass
class TensorRecord:
    """One tensor as the pickle describes it; ``storage`` resolves to bytes later."""

    name: str
    storage: Storage
    dtype: str
    itemsize: int
    offset: int  # elements
    shape: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def contiguous(self) -> bool:
        expect = 1
        for size, st in zip(reversed(self.shape), reversed(self.stride), strict=True):
            if size != 1 and st != expect:
                return False
            expect *= size
        return True


def _is_int(v: object) -> TypeGuard[int]:
    return type(v) is int


def _calls(v: Any, qualnames: set[str] | str) -> bool:
    """``v`` is the result of calling one of ``qualnames`` (a global, never resolved)."""
    if not isinstance(v, Call) or not isinstance(v.func, Global):
        return False
    q = v.func.qualname
    return q == qualnames if isinstance(qualnames, str) else q in qualnames


def _mapping(v: Any) -> SDict | None:
    """The ``(key, value)`` pairs of a pickled dict or of ``OrderedDict()``/``dict()``
    filled by SETITEMS (the VM keeps those on the call); None for anything else."""
    if type(v) is SDict:
        return v
    if _calls(v, _MAPPINGS) and v.kind == "reduce" and v.args == () and v.list_items is None:
        return v.items if v.items is not None else SDict()
    return None


def _int_tuple(v: Any, what: str) -> tuple[int, ...]:
    if _calls(v, "torch.Size"):
        args = v.args
        v = args[0] if isinstance(args, tuple) and len(args) == 1 else None
    if not isinstance(v, (tuple, SList)):
        raise Unsupported(f"{what} is not a tuple of integers")
    out = tuple(x for x in v if _is_int(x))
    if len(out) != len(v):
        raise Unsupported(f"{what} is not a tuple of integers")
    if any(x < 0 for x in out):
        raise ConvertError(f"{what} {out} has a negative entry (torch.load rejects it)")
    return out


def storage_from_pid(pid: Any) -> Storage:
    if not isinstance(pid, tuple) or len(pid) not in (5, 6) or pid[0] != "storage":
        raise Unsupported(f"persistent id is not a storage: {render_value(pid)[:80]}")
    stype, key, _location, numel = pid[1], pid[2], pid[3], pid[4]
    if not isinstance(stype, Global) or stype.module not in ("torch", "torch.storage"):
        raise Unsupported("storage type is not a torch storage class")
    info = STORAGE_DTYPES.get(stype.name)
    if info is None:
        raise Unsupported(f"unknown storage type torch.{stype.name}")
    if not isinstance(key, (str, int)) or not _is_int(numel) or numel < 0:
        raise Unsupported("malformed storage key or size")
    if type(key) is bool or type(_location) is not str:
        raise Unsupported("malformed storage key or location")
    dtype, itemsize = info
    swap = itemsize // 2 if stype.name.startswith("Complex") else itemsize
    record = (stype.qualname, type(key).__name__, key, _location, numel)
    storage = Storage(str(key), dtype, itemsize, numel * itemsize, 0, swap, numel, key, record)
    view = pid[5] if len(pid) == 6 else None
    if view is not None:  # legacy view: (view_key, offset, view_size) in elements
        if not (isinstance(view, tuple) and len(view) == 3 and _is_int(view[1])):
            raise ConvertError(f"malformed view of storage {key!r} (torch.load rejects it)")
        if not _is_int(view[2]) or view[1] < 0 or view[2] < 0 or view[1] + view[2] > numel:
            raise ConvertError(
                f"view {render_value(view)[:80]} reaches outside its {numel}-element storage "
                f"{key!r} (torch.load fails on, or clips, such a view); not converted"
            )
        storage.nbytes, storage.view_offset = view[2] * itemsize, view[1] * itemsize
    return storage


def check_storage_records(stream: PickleStream, zip_layout: bool) -> None:
    """Refuse a program whose storage records disagree, or that ``torch.load`` rejects.

    ``torch.load`` keeps the first record of a storage key (its type and size decide the
    dtype of every tensor on it and how many bytes it reads); a later record under the same
    key with another type, size or location would make the conversion depend on which one
    is believed.  The zip loader also rejects any persistent id that is not a storage record.
    """
    if stream.persistent_ids_omitted:
        raise ConvertError("more persistent ids than were read: storage records not all checked")
    roots: dict[str, tuple[Any, ...]] = {}
    views: dict[str, tuple[Any, ...]] = {}
    for ref in stream.persistent_ids:
        pid = ref.pid
        if zip_layout and not (isinstance(pid, tuple) and len(pid) == 5):
            raise ConvertError(
                f"persistent id at offset {ref.offset} is not a storage record "
                "(torch.load rejects the file)"
            )
        if not zip_layout and isinstance(pid, tuple) and pid[:1] == ("storage",) and len(pid) != 6:
            raise ConvertError(
                f"legacy storage record at offset {ref.offset} does not have 6 fields "
                "(torch.load rejects the file)"
            )
        try:
            st = storage_from_pid(pid)
        except Unsupported as exc:
            if zip_layout:
                raise ConvertError(
                    f"persistent id at offset {ref.offset}: {exc} (torch.load rejects the file)"
                ) from None
            continue
        if not zip_layout and st.record[0] in _UNTYPED:
            # the legacy loader asks the storage class for its ``dtype``: UntypedStorage has
            # none (torch.save writes it for uint16, float8...: torch cannot read it back)
            raise ConvertError(
                f"legacy storage record at offset {ref.offset} is an UntypedStorage "
                "(torch.load rejects the file)"
            )
        first = roots.setdefault(st.key, st.record)
        if first != st.record:
            raise ConvertError(
                f"conflicting storage records for key {st.key!r}: {render_value(first)[:120]} "
                f"and {render_value(st.record)[:120]} at offset {ref.offset} (torch keeps the "
                "first); not converted"
            )
        view = pid[5] if isinstance(pid, tuple) and len(pid) == 6 else None
        if isinstance(view, tuple):
            vkey = str(view[0])
            vrec = (type(view[0]).__name__, *view, st.record)
            if views.setdefault(vkey, vrec) != vrec:
                raise ConvertError(
                    f"conflicting storage views under key {vkey!r} (torch keeps the first); "
                    "not converted"
                )


def _rebuild(name: str, obj: Call) -> TensorRecord:
    func = obj.func
    assert isinstance(func, Global)
    args = obj.args
    if not isinstance(args, tuple) or len(args) < 4:
        raise Unsupported(f"{func.qualname} with unexpected arguments")
    storage_ref, offset, size, stride = args[:4]
    if not isinstance(storage_ref, PersistentRef):
        raise Unsupported("tensor storage is not a persistent reference")
    storage = storage_from_pid(storage_ref.pid)
    dtype, itemsize = storage.dtype, storage.itemsize
    metadata: Any = None
    if func.name == "_rebuild_tensor_v3":
        if len(args) < 7 or not isinstance(args[6], Global) or args[6].module != "torch":
            raise Unsupported("_rebuild_tensor_v3 without a torch dtype")
        info = TORCH_DTYPES.get(args[6].name)
        if info is None:
            raise Unsupported(f"unknown dtype torch.{args[6].name}")
        dtype, itemsize = info
        metadata = args[7] if len(args) > 7 else None
    elif func.name == "_rebuild_tensor_v2":
        metadata = args[6] if len(args) > 6 else None
    if dtype is None:
        raise Unsupported("dtype has no SafeTensors equivalent (complex128 or quantized)")
    flags = _mapping(metadata)
    if flags is not None and any(v is True for _k, v in flags):
        raise Unsupported("tensor has conjugate/negative bits set (a lazy view)")
    if not _is_int(offset):
        raise Unsupported("storage offset is not an integer")
    # From here on the record is concrete: what torch.load rejects, convert refuses.
    shape = _int_tuple(size, "size")
    strides = _int_tuple(stride, "stride")
    if offset < 0 or len(shape) != len(strides):
        raise ConvertError(
            f"{name}: storage offset {offset}, size {shape} and stride {strides} do not "
            "describe a view (torch.load rejects it)"
        )
    rec = TensorRecord(name, storage, dtype, itemsize, offset, shape, strides)
    if rec.numel:
        last = offset + sum((d - 1) * s for d, s in zip(shape, strides, strict=True))
        if (last + 1) * itemsize > storage.nbytes:
            raise ConvertError(
                f"{name}: size {shape}, stride {strides} and offset {offset} reach byte "
                f"{(last + 1) * itemsize} of a {storage.nbytes}-byte storage (torch.load "
                "rejects it)"
            )
    return rec


def _tensor_of(name: str, v: Any) -> TensorRecord | None:
    """The tensor ``v`` rebuilds, None if ``v`` is no tensor record at all."""
    if not isinstance(v, Call) or not isinstance(v.func, Global):
        return None
    q = v.func.qualname
    if q in _REBUILD:
        return _rebuild(name, v)
    if q in _PARAMETER:
        if isinstance(v.args, tuple) and v.args:
            inner = _tensor_of(name, v.args[0])
            if inner is not None:
                return inner
        raise Unsupported(f"{q} without a tensor")
    if q == "torch._tensor._rebuild_from_type_v2":
        a = v.args
        if isinstance(a, tuple) and len(a) >= 3 and isinstance(a[1], Global):
            if a[1].qualname in _PLAIN_TENSOR_TYPES and isinstance(a[2], tuple):
                inner = _tensor_of(name, Call(a[0], a[2], None, "reduce", v.offset, "REDUCE"))
                if inner is not None:
                    return inner
        raise Unsupported("tensor subclass rebuilt by _rebuild_from_type_v2")
    return None


def _describe(v: Any) -> str:
    if isinstance(v, Call):
        f = v.func.qualname if isinstance(v.func, Global) else type(v.func).__name__
        return f"an object built by {f}"
    if isinstance(v, Global):
        return f"a reference to {v.qualname}"
    if isinstance(v, PersistentRef):
        return "a persistent reference that is not a tensor"
    if isinstance(v, SSet):
        return "a set"
    if isinstance(v, Blob):
        return f"a {v.length}-byte {v.kind} payload (too large to read into metadata)"
    if isinstance(v, Unknown):
        return f"a value only known when loading ({v.reason})"
    return f"a {type(v).__name__}"


def _omitted(v: SDict | SList | tuple[Any, ...]) -> bool:
    """The VM dropped entries of this container (past its cap): never convert part of it."""
    if isinstance(v, (SDict, SList)) and v.omitted:
        return True
    return bool(v) and isinstance(v[-1], Omitted)


_HASHABLE = (str, int, bool, float, bytes, type(None))


def _dict_items(pairs: SDict, label: str, ext: Extraction) -> list[tuple[str, Any]]:
    """The entries of a pickled mapping as the loaded dict holds them, by text name.

    Keys are merged as a dict merges them (``1``, ``1.0`` and ``True`` are one key: the
    first key object stays, the last value wins); keys that are not text or integers are
    dropped; two keys that are different in the dict but print the same (``1`` and
    ``"1"``) would write one name for two values: refused.
    """
    merged: dict[Any, Any] = {}
    for k, item in pairs:
        if type(k) not in _HASHABLE:
            ext.dropped.append((f"{label}[{_describe(k)}]", "key is not text"))
            continue
        merged[k] = item  # a later equal key replaces the value, as in a dict
    out: list[tuple[str, Any]] = []
    names: dict[str, Any] = {}
    for k, item in merged.items():
        if type(k) not in (str, int):
            ext.dropped.append((f"{label}[{k!r}]", "key is not text"))
            continue
        text = str(k)
        if text in names:
            raise ConvertError(
                f"colliding names: keys {names[text]!r} and {k!r} of {label} would both be "
                f"written as {text!r}; not converted"
            )
        names[text] = k
        out.append((text, item))
    return out


def flatten(
    root: Any,
    on_tensor: Callable[[TensorRecord], None],
    ext: Extraction,
    read_text: Callable[[Blob], str | None] | None = None,
) -> None:
    """Walk the checkpoint: tensors to ``on_tensor``, plain scalars to metadata, rest dropped.

    Names are the keys and indices on the way down joined by ``.``, as the loaded object
    holds them (an empty key stays empty: ``{"": {"b": t}}`` gives ``.b``); a tensor at
    the root is named ``tensor``.  ``read_text`` reads back a text payload the VM only
    located (over 64 KiB), or None.
    """
    active: set[int] = set()

    def walk(v: Any, name: str | None, depth: int) -> None:
        label = "<root>" if name is None else (name or "''")
        if depth > MAX_DEPTH:
            ext.dropped.append((label, f"nested deeper than {MAX_DEPTH} levels"))
            return
        try:
            rec = _tensor_of("tensor" if name is None else name, v)
        except Unsupported as exc:
            ext.dropped.append((label, str(exc)))
            return
        if rec is not None:
            on_tensor(rec)
            return
        pairs = _mapping(v)
        seq: SList | tuple[Any, ...] | None = v if type(v) in (SList, tuple) else None
        container = pairs if pairs is not None else seq
        if container is not None:
            if id(v) in active:
                ext.dropped.append((label, "refers to itself"))
                return
            if _omitted(container):
                raise ConvertError(f"{label}: a container holds more entries than were read")
            active.add(id(v))
            try:
                if pairs is not None:
                    for k, item in _dict_items(pairs, label, ext):
                        walk(item, k if name is None else f"{name}.{k}", depth + 1)
                elif seq is not None:
                    for i, item in enumerate(seq):
                        walk(item, str(i) if name is None else f"{name}.{i}", depth + 1)
            finally:
                active.discard(id(v))
            return
        if isinstance(v, Blob) and v.kind == "str" and read_text is not None and name is not None:
            text = read_text(v)
            if text is not None:
                v = text
        if type(v) in (str, int, float, bool):
            if name is None:
                ext.dropped.append((label, "the checkpoint is a single value"))
            elif type(v) is str:
                ext.set_metadata(name, v)
            else:
                ext.set_metadata(name, repr(v) if type(v) is float else str(v).lower())
            return
        if v is None:
            ext.dropped.append((label, "None is not a string or number"))
            return
        ext.dropped.append((label, f"not a tensor: {_describe(v)}"))

    walk(root, None, 0)


# ------------------------------------------------------------------ byte producers


def element_offsets(shape: tuple[int, ...], stride: tuple[int, ...], start: int, count: int) -> Any:
    """Storage element offsets (relative to the tensor's offset) of the C-order elements
    ``start .. start+count`` of a strided view: a NumPy int64 array."""
    import numpy as np

    flat = np.arange(start, start + count, dtype=np.int64)
    out = np.zeros(count, dtype=np.int64)
    for size, st in zip(reversed(shape), reversed(stride), strict=True):
        if size > 1 and st:
            out += (flat % size) * st
        flat //= max(size, 1)
    return out


def _span(rec: TensorRecord) -> tuple[int, int]:
    """The storage bytes ``rec`` touches: (first byte, one past the last)."""
    last = rec.offset + sum((d - 1) * s for d, s in zip(rec.shape, rec.stride, strict=True))
    return rec.offset * rec.itemsize, (last + 1) * rec.itemsize


def _gathered(rec: TensorRecord, window: bytes, lo: int) -> Iterator[bytes]:
    """``rec``'s elements in C order from ``window`` (its storage from byte ``lo``), in
    blocks of about CHUNK bytes: memory holds the window and one block."""
    import numpy as np

    elems = np.frombuffer(window, dtype=np.dtype(f"V{rec.itemsize}"))
    base = rec.offset - lo // rec.itemsize
    step = max(1, CHUNK // rec.itemsize)
    for start in range(0, rec.numel, step):
        idx = element_offsets(rec.shape, rec.stride, start, min(step, rec.numel - start))
        yield bytes(elems[idx + base].tobytes())


def tensor_chunks(
    rec: TensorRecord, opener: Callable[[], IO[bytes]], base: int, big_endian: bool
) -> Callable[[], Iterable[bytes]]:
    """A producer of ``rec``'s bytes; ``opener()[base:]`` is its storage's data.

    A contiguous tensor streams its byte range; any other view reads only the span of the
    storage it touches (real bytes of the source) and gathers its elements block by block.
    """
    start = base + rec.storage.view_offset

    def produce() -> Iterator[bytes]:
        chunks: Iterable[bytes]
        if rec.numel == 0:
            chunks = ()
        elif rec.contiguous:
            chunks = read_range(opener, start + rec.offset * rec.itemsize, rec.numel * rec.itemsize)
        else:
            lo, hi = _span(rec)
            lo -= lo % rec.itemsize
            window = b"".join(read_range(opener, start + lo, hi - lo))
            chunks = _gathered(rec, window, lo)
        if big_endian and rec.storage.swap > 1:
            chunks = byteswapped(chunks, rec.storage.swap)
        yield from chunks

    return produce


def _component(rec: TensorRecord) -> int:
    return rec.itemsize // 2 if rec.dtype == "C64" else rec.itemsize


def _check_byte_order(rec: TensorRecord) -> None:
    """In a big-endian archive torch swaps each storage by its own dtype's word; a tensor
    whose dtype has another word (an untyped storage under ``uint16``, a reinterpreted
    view) would come out in neither byte order."""
    if _component(rec) != rec.storage.swap and max(_component(rec), rec.storage.swap) > 1:
        raise ConvertError(
            f"{rec.name}: big-endian archive where the tensor's dtype {rec.dtype} and its "
            f"storage {rec.storage.record[0]} have different byte-swap words; not converted"
        )


# ------------------------------------------------------------------ the two layouts


def _collect(
    root: Any, ext: Extraction, opener: Callable[[], IO[bytes]], limits: Limits
) -> list[TensorRecord]:
    def read_text(blob: Blob) -> str | None:
        if blob.length > limits.max_json_bytes:
            return None
        data = b"".join(read_range(opener, blob.offset, blob.length))
        try:
            return data.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:
            raise ConvertError(f"pickle: malformed text at offset {blob.offset}") from None

    records: list[TensorRecord] = []
    flatten(root, records.append, ext, read_text=read_text)
    return records


def _run_pickles(
    opener: Callable[[], IO[bytes]], budget: Budget, ext: Extraction, count: int | None
) -> list[PickleStream]:
    """Run the pickle VM over the program: its critical verdict items go to ``ext.findings``;
    returns the streams, of which the first ``count`` (or the first, when ``count`` is None:
    then every pickle that follows is judged too) must have run to STOP.

    The VM keeps what SETITEMS adds to ``OrderedDict()`` calls and every container entry
    (an entry costs at least one opcode, so the opcode limit is the cap).  Payloads over
    64 KiB are only located (:class:`Blob`): storages are persistent ids anyway, and long
    text values are read back for the metadata by :func:`_collect`.
    """
    with opener() as f:
        streams = scan_stream(
            f,  # type: ignore[arg-type]
            budget,
            container_cap=budget.limits.max_pickle_opcodes,
            keep_call_items=True,
            max_streams=MAX_STREAMS if count is None else count,
        )
    ext.findings.extend(
        f"pickle {it.kind} of {it.module}.{it.name} at offset {it.offset}: {it.reason}"
        for it in verdict_items(streams)
        if it.severity == "critical"
    )
    need = count or 1
    for k, s in enumerate(streams[:need]):
        limit = s.limit_hit
        if k + 1 == count and limit is not None and limit.startswith("max_pickle_streams"):
            limit = None  # torch reads exactly ``count`` pickles: storage data follows
        if s.error is not None:
            raise ConvertError(f"pickle at offset {s.start}: {s.error.message}")
        if limit is not None:
            raise ConvertError(f"pickle at offset {s.start} not read to its end: {limit}")
        if not s.has_result:
            raise ConvertError(f"pickle at offset {s.start}: no STOP opcode")
    if len(streams) < need:
        raise ConvertError(f"expected {need} pickles, found {len(streams)}")
    return streams


MAX_BYTEORDER = 16


def _archive_layout(names: list[str]) -> tuple[str, str]:
    """(prefix, data.pkl name) as PyTorch's zip reader finds them, or refuse.

    The reader takes the archive's folder from the *first* member and looks every record
    up under it; two members whose names match (its lookup ignores case) are ambiguous:
    which one a reader returns is up to its implementation.
    """
    files = [n for n in names if not n.endswith("/")]
    if not files or "/" not in names[0]:
        raise ConvertError("the first archive member is not in a folder (torch.load rejects it)")
    prefix = names[0].split("/", 1)[0] + "/"
    pkl = prefix + "data.pkl"
    seen: dict[str, str] = {}
    for n in files:
        low = n.lower()
        if low in seen and low.startswith(prefix.lower()):
            raise ConvertError(
                f"duplicate archive member {n!r}: loaders disagree on which copy they read; "
                "not converted"
            )
        seen[low] = n
    if pkl not in files:
        raise ConvertError(f"no {pkl} (torch.load reads the archive under {prefix})")
    if prefix + "version" not in files and prefix + ".data/version" not in files:
        raise ConvertError(f"no {prefix}version record (torch.load rejects the archive)")
    return prefix, pkl


def extract_zip(artifact: Artifact, limits: Limits) -> Extraction:
    from modelxray.containers.zip import member_data_offset, member_opener, read_central_directory

    budget = Budget(limits)
    with artifact.open() as f:
        members = read_central_directory(f, artifact.size, limits)
        prefix, pkl = _archive_layout([m.name for m in members])
        by_name = {m.name: m for m in members if not m.is_dir}
        if any(n.startswith(prefix + "code/") for n in by_name) or prefix + "constants.pkl" in (
            by_name
        ):
            raise ConvertError("a TorchScript archive (holds code); only checkpoints convert")
        offsets = {n: member_data_offset(f, m)[0] for n, m in by_name.items()}

    def opener_for(name: str) -> Callable[[], IO[bytes]]:
        return member_opener(artifact, by_name[name], offsets[name], limits)

    big_endian = False
    if prefix + "byteorder" in by_name:
        if by_name[prefix + "byteorder"].size > MAX_BYTEORDER:
            raise ConvertError("byteorder record is too long (torch.load rejects it)")
        with opener_for(prefix + "byteorder")() as bf:
            order = bf.read(MAX_BYTEORDER + 1)
        if order not in (b"little", b"big"):  # exactly, as torch.load compares it
            raise ConvertError(
                f"unknown byteorder {order[:MAX_BYTEORDER]!r} (torch.load rejects it)"
            )
        big_endian = order == b"big"
    ext = Extraction("pytorch-zip")
    pkl_open = opener_for(pkl)
    stream = _run_pickles(pkl_open, budget, ext, None)[0]
    check_storage_records(stream, zip_layout=True)
    used: set[str] = set()
    for rec in _collect(stream.result, ext, pkl_open, limits):
        member = f"{prefix}data/{rec.storage.key}"
        if member not in by_name:
            raise ConvertError(f"{rec.name}: storage {member} is missing (torch.load rejects it)")
        if by_name[member].size != rec.storage.nbytes:
            raise ConvertError(
                f"{rec.name}: storage {member} holds {by_name[member].size} bytes, its record "
                f"declares {rec.storage.nbytes} (torch.load rejects it)"
            )
        if big_endian:
            _check_byte_order(rec)
        if member not in used:
            used.add(member)
            ext.source_bytes += rec.storage.nbytes
        ext.add(
            SourceTensor(
                rec.name,
                rec.dtype,
                rec.shape,
                tensor_chunks(rec, opener_for(member), 0, big_endian),
                f"{member} @ element {rec.offset}",
                SourceBytes(
                    "zip-storage",
                    member=member,
                    nbytes=rec.storage.nbytes,
                    storage_itemsize=rec.storage.itemsize,
                    itemsize=rec.itemsize,
                    offset=rec.offset,
                    stride=rec.stride,
                    swap=rec.storage.swap if big_endian else 1,
                ),
            )
        )
    return ext


def extract_legacy(artifact: Artifact, limits: Limits) -> Extraction:
    ext = Extraction("pytorch-legacy")
    streams = _run_pickles(artifact.opener, Budget(limits), ext, LEGACY_PICKLES)
    magic, proto, sys_info, root, keys = (s.result for s in streams[:LEGACY_PICKLES])
    if type(magic) is not int or magic != LEGACY_MAGIC:
        raise ConvertError("not a legacy torch.save file (magic number mismatch)")
    if type(proto) is not int or proto != 1001:
        raise ConvertError(f"unsupported legacy protocol version {render_value(proto)}")
    for k, v in _mapping(sys_info) or ():
        if k == "little_endian" and v is not True:
            # torch.load reads legacy storages as little-endian whatever this says
            raise ConvertError("legacy checkpoint does not declare little-endian storages")
    if type(keys) is not SList or not all(type(k) in (str, int) for k in keys) or keys.omitted:
        raise ConvertError("legacy storage key list is malformed")
    check_storage_records(streams[3], zip_layout=False)
    records = _collect(root, ext, artifact.opener, limits)
    declared: dict[tuple[str, str], Storage] = {}
    for ref in streams[3].persistent_ids:
        try:
            st = storage_from_pid(ref.pid)
        except Unsupported:
            continue
        declared.setdefault((type(st.raw_key).__name__, st.key), st)
    listed = [(type(k).__name__, str(k)) for k in keys]
    if len(set(listed)) != len(listed):
        raise ConvertError("legacy storage key list names a storage twice")
    with artifact.open() as f:
        pos = streams[LEGACY_PICKLES - 1].end
        where: dict[tuple[str, str], tuple[int, int]] = {}  # key -> (data offset, nbytes)
        for kt in listed:
            st_ = declared.get(kt)
            if st_ is None:
                raise ConvertError(
                    f"legacy storage {kt[1]!r} has no record (torch.load rejects it)"
                )
            f.seek(pos)
            head = f.read(8)
            if len(head) < 8:
                raise ConvertError(f"legacy storage {kt[1]}: truncated")
            (numel,) = struct.unpack("<q", head)
            if numel != st_.numel:
                raise ConvertError(
                    f"legacy storage {kt[1]}: {numel} elements in the file, {st_.numel} in its "
                    "record (torch.load rejects it)"
                )
            nbytes = numel * st_.itemsize
            if pos + 8 + nbytes > artifact.size:
                raise ConvertError(f"legacy storage {kt[1]}: size {numel} is out of bounds")
            where[kt] = (pos + 8, nbytes)
            pos += 8 + nbytes
    used: set[tuple[str, str]] = set()
    for rec in records:
        kt = (type(rec.storage.raw_key).__name__, rec.storage.key)
        loc = where.get(kt)
        if loc is None:  # torch.load leaves such a storage uninitialised
            ext.dropped.append((rec.name, f"storage {rec.storage.key} is not in the file"))
            continue
        if kt not in used:
            used.add(kt)
            ext.source_bytes += loc[1]
        ext.add(
            SourceTensor(
                rec.name,
                rec.dtype,
                rec.shape,
                tensor_chunks(rec, artifact.opener, loc[0], False),
                f"storage {rec.storage.key} @ element {rec.offset}",
                SourceBytes(
                    "file-storage",
                    start=loc[0],
                    nbytes=loc[1],
                    storage_itemsize=rec.storage.itemsize,
                    itemsize=rec.itemsize,
                    offset=rec.offset,
                    stride=rec.stride,
                    view_offset=rec.storage.view_offset,
                    view_nbytes=rec.storage.nbytes,
                ),
            )
        )
    return ext


def is_legacy(head: bytes) -> bool:
    # PROTO 2, LONG1 10 bytes: the magic number pickle torch writes first.
    return head[:4] == b"\x80\x02\x8a\x0a" and head[4:14] == LEGACY_MAGIC.to_bytes(10, "little")


def extract(artifact: Artifact, limits: Limits) -> Extraction:
    head = artifact.head(64)
    if head[:4] == b"PK\x03\x04":
        return extract_zip(artifact, limits)
    if is_legacy(head):
        return extract_legacy(artifact, limits)
    raise ConvertError("not a PyTorch checkpoint (neither the zip nor the legacy layout)")
