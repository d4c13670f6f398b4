"""XGBoost and LightGBM native model files: recognised, checked for structure, clean.

None of these formats carries code: XGBoost's JSON and UBJSON (``save_model``
to ``.json``/``.ubj``, and ``.bst``/``.model`` in XGBoost ≥ 2), XGBoost's
legacy binary format, and LightGBM's text model.  (Their *pickles* are
pickles and go to the pickle engine.)  Recognising them keeps a model folder
from being reported as unknown; the structural walk keeps a truncated or
crafted file from being called clean (fail closed).

- UBJSON (big-endian, https://ubjson.org): walked by a bounded reader that
  seeks past strings and typed-array payloads.
- Legacy binary (``learner.cc``): optional ``binf``, the 136-byte
  ``LearnerModelParamLegacy``, then the objective and booster names as
  length-prefixed strings.
- LightGBM text: ``tree`` / ``version=v…`` header lines of ``key=value``.
- XGBoost JSON is a JSON document: a JSON analyser names the format.
"""

from __future__ import annotations

import re
import struct
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact, BinaryStream
from modelxray.budget import BudgetExceeded, Limits
from modelxray.formats.base import FormatReader, register
from modelxray.formats.json_doc import register_json_analyser

if TYPE_CHECKING:
    from modelxray.scanning import Sink

_UBJ_INT = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q"}
_UBJ_FIXED = {
    b"Z": 0,
    b"N": 0,
    b"T": 0,
    b"F": 0,
    b"C": 1,
    b"d": 4,
    b"D": 8,
    **{k: struct.calcsize(v) for k, v in _UBJ_INT.items()},
}
_LEGACY_PARAM_BYTES = 136
_OBJECTIVE = re.compile(rb"^[a-z_]+:[a-z_:]+$|^[a-z_]+$")
_BOOSTERS = (b"gbtree", b"gblinear", b"dart")


class UbjsonError(ValueError):
    pass


class _Ubj:
    def __init__(self, f: BinaryStream, size: int, limits: Limits, tick: Any) -> None:
        self.f = f
        self.size = size
        self.pos = 0
        self.limits = limits
        self.tick = tick
        self.items = 0
        self.top_keys: list[str] = []

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.size:
            raise UbjsonError(f"value at offset {self.pos} runs past the end of the file")
        data = self.f.read(n)
        if len(data) != n:
            raise UbjsonError(f"short read at offset {self.pos}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.size:
            raise UbjsonError(
                f"{n}-byte payload at offset {self.pos} runs past the end of the file"
            )
        self.pos += n
        self.f.seek(self.pos)

    def marker(self) -> bytes:
        m = self.take(1)
        while m == b"N":
            m = self.take(1)
        return m

    def length(self, m: bytes | None = None) -> int:
        m = m or self.take(1)
        if m not in _UBJ_INT:
            raise UbjsonError(f"length at offset {self.pos - 1} has type {m!r}")
        (n,) = struct.unpack(_UBJ_INT[m], self.take(struct.calcsize(_UBJ_INT[m])))
        if n < 0:
            raise UbjsonError(f"negative length at offset {self.pos}")
        return int(n)

    def count(self) -> int:
        self.items += 1
        if self.items > self.limits.max_structure_items:
            raise BudgetExceeded("max_structure_items", "UBJSON has too many values")
        if self.tick is not None:
            self.tick()
        return self.items

    def value(self, m: bytes, depth: int) -> None:
        self.count()
        if depth > self.limits.max_structure_depth:
            raise BudgetExceeded("max_structure_depth", f"UBJSON nests deeper than {depth}")
        if m in _UBJ_FIXED:
            self.skip(_UBJ_FIXED[m])
        elif m in (b"S", b"H"):
            self.skip(self.length())
        elif m in (b"[", b"{"):
            self.container(m, depth + 1)
        else:
            raise UbjsonError(f"byte {m!r} at offset {self.pos - 1} is not a UBJSON type")

    def container(self, kind: bytes, depth: int) -> None:
        typ: bytes | None = None
        n: int | None = None
        m = self.take(1)
        if m == b"$":
            typ = self.take(1)
            m = self.take(1)
            if m != b"#":
                raise UbjsonError(f"typed container at offset {self.pos} has no count")
        if m == b"#":
            n = self.length()
        else:
            self.pos -= 1
            self.f.seek(self.pos)
        close = b"]" if kind == b"[" else b"}"
        i = 0
        while n is None or i < n:
            if n is None:
                m = self.marker()
                if m == close:
                    return
                self.pos -= 1
                self.f.seek(self.pos)
            if kind == b"{":
                key_len = self.length()
                key = self.take(min(key_len, 64)) if depth == 1 else b""
                self.skip(key_len - len(key))
                if depth == 1:
                    self.top_keys.append(key.decode("utf-8", errors="replace"))
            if typ is not None and typ in _UBJ_FIXED and n is not None and kind == b"[":
                # A typed array of fixed-size numbers: skip the whole payload at once.
                self.count()
                self.skip(_UBJ_FIXED[typ] * (n - i))
                return
            self.value(typ if typ is not None else self.marker(), depth)
            i += 1


def walk_ubjson(f: BinaryStream, size: int, limits: Limits, tick: Any = None) -> list[str]:
    """Validate a UBJSON document that fills the stream; returns the top-level keys."""
    u = _Ubj(f, size, limits, tick)
    m = u.marker()
    if m != b"{":
        raise UbjsonError("top-level value is not an object")
    u.container(m, 1)
    if u.pos != size:
        raise UbjsonError(f"{size - u.pos} bytes after the end of the document")
    return u.top_keys


def _legacy_binary(head: bytes) -> bool:
    pos = 4 if head[:4] == b"binf" else 0
    pos += _LEGACY_PARAM_BYTES
    names = []
    for _ in range(2):
        if len(head) < pos + 8:
            return False
        (n,) = struct.unpack("<Q", head[pos : pos + 8])
        if not 0 < n <= 64 or len(head) < pos + 8 + n:
            return False
        names.append(head[pos + 8 : pos + 8 + n])
        pos += 8 + n
    return bool(_OBJECTIVE.match(names[0])) and names[1] in _BOOSTERS


class XGBoostReader(FormatReader):
    name = "xgboost"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if head[:1] == b"{" and head[1:2] in _UBJ_INT and b"learner" in head[:64]:
            return 40
        if head[:5] == b"tree\n" and re.search(rb"^version=v\d", head[:256], re.M):
            return 40
        if _legacy_binary(head):
            return 40
        return 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        head = artifact.head()
        if head[:1] == b"{":
            kind = "xgboost-ubj"
            with artifact.open() as f:
                keys = walk_ubjson(f, artifact.size, ctx.limits, ctx.budget.tick)
            if "learner" not in keys:
                raise UbjsonError("document has no 'learner' object")
        elif head[:5] == b"tree\n":
            kind = "lightgbm-text"
            self._lightgbm(artifact, ctx)
        else:
            kind = "xgboost-binary"
        if artifact.depth == 0:
            ctx.add_format(kind)

    @staticmethod
    def _lightgbm(artifact: Artifact, ctx: Sink) -> None:
        with artifact.open() as f:
            lines = f.read(min(artifact.size, 1 << 20)).split(b"\n")
        for number, line in enumerate(lines[1:], start=2):
            if not line.strip() or line.startswith(b"Tree="):
                break
            if b"=" not in line:
                raise ValueError(f"LightGBM header line {number} is not key=value: {line[:60]!r}")


def _xgboost_json(doc: Any, artifact: Artifact, ctx: Sink) -> None:
    if (
        isinstance(doc, dict)
        and isinstance(doc.get("learner"), dict)
        and isinstance(doc.get("version"), list)
        and artifact.depth == 0
    ):
        ctx.add_format("xgboost-json")


register_json_analyser(_xgboost_json)
register(XGBoostReader())
