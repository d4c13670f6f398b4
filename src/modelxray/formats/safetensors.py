"""SafeTensors: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.

The format cannot carry code, so a clean file is the baseline of "safe": such a file gets no
finding at all.  What is checked is that the file means one thing to every parser — the
header within bounds and strictly formed (no duplicate keys: parsers disagree on which one
wins), every tensor's dtype × shape equal to its byte span, spans inside the data region,
no overlaps, and no bytes that no tensor accounts for (a place to smuggle a payload).
Only the header is read; tensor bytes never are.
"""

from __future__ import annotations

import json
import struct
from typing import TYPE_CHECKING, Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded
from modelxray.formats.base import FormatReader, register
from modelxray.model import Severity
from modelxray.rules import safetensors as rules
from modelxray.rules import template as template_rules
from modelxray.scanning import report_judgements

if TYPE_CHECKING:
    from modelxray.scanning import Sink

# Bits per element of every dtype the reference implementation (safetensors 0.8) accepts.
DTYPE_BITS = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8,
    "F8_E4M3": 8, "F8_E8M0": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16,
    "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64,
    "U64": 64,
}  # fmt: skip
_ENTRY_KEYS = {"dtype", "shape", "data_offsets"}
_MAX_REPORTED = 50  # findings of one kind per file; the rest are summarised


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _is_uint(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class SafetensorsReader(FormatReader):
    name = "safetensors"

    def sniff(self, artifact: Artifact, head: bytes) -> int:
        if len(head) < 10:
            return 0
        (n,) = struct.unpack("<Q", head[:8])
        if n < 2 or n > artifact.size - 8:
            return 0
        body = head[8 : 8 + min(n, 64)].lstrip(b" ")
        if body[:1] != b"{":
            return 0
        nxt = body[1:].lstrip(b" \t\r\n")[:1]
        return 55 if nxt in (b'"', b"}", b"") else 0

    def scan(self, artifact: Artifact, ctx: Sink) -> None:
        loc = artifact.location
        with artifact.open() as f:
            raw_len = f.read(8)
            (n,) = struct.unpack("<Q", raw_len)
            limit = min(ctx.limits.max_safetensors_header_bytes, ctx.limits.max_json_bytes)
            if n > artifact.size - 8:
                ctx.report(
                    rules.HEADER_MALFORMED,
                    loc.child("header"),
                    f"header length {n} runs past the end of the {artifact.size}-byte file",
                    {"header_length": n, "file_size": artifact.size},
                )
                return
            if n > limit:
                raise BudgetExceeded(
                    "max_safetensors_header_bytes",
                    f"header declares {n} bytes; the limit is {limit}",
                )
            header = f.read(n)
        doc = self._parse_header(header, artifact, ctx)
        if doc is None:
            return
        data_start = 8 + n
        data_size = artifact.size - data_start
        spans = self._check_entries(doc, data_size, data_start, artifact, ctx)
        self._check_tiling(spans, data_size, data_start, artifact, ctx)

    # ------------------------------------------------------------------ header

    def _parse_header(self, header: bytes, artifact: Artifact, ctx: Sink) -> dict[str, Any] | None:
        loc = artifact.location.child("header")
        try:
            text = header.decode("utf-8")
        except UnicodeDecodeError as exc:
            ctx.report(
                rules.HEADER_MALFORMED, loc, f"header is not UTF-8: {exc}", {"offset": exc.start}
            )
            return None
        if not text.startswith("{"):
            # The reference parser requires the header to begin with '{'; others skip blanks.
            ctx.report(
                rules.HEADER_MALFORMED,
                loc,
                "header does not begin with '{' (the reference parser refuses it, others may not)",
                {"head": text[:16]},
                severity=Severity.MEDIUM,
            )
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicates)
        except _DuplicateKey as exc:
            ctx.report(
                rules.HEADER_MALFORMED,
                loc,
                f"header repeats the key {str(exc)!r}: parsers disagree on which entry wins",
                {"key": str(exc)[:200]},
            )
            return None
        except RecursionError:
            raise BudgetExceeded("max_json_depth", "header nests too deeply to parse") from None
        except ValueError as exc:
            ctx.report(rules.HEADER_MALFORMED, loc, f"header is not valid JSON: {exc}"[:300], {})
            return None
        if not isinstance(doc, dict):
            ctx.report(
                rules.HEADER_MALFORMED,
                loc,
                f"header is a JSON {type(doc).__name__}, not an object",
                {"type": type(doc).__name__},
            )
            return None
        return doc

    def _check_metadata(self, meta: Any, artifact: Artifact, ctx: Sink) -> None:
        loc = artifact.location.child("__metadata__")
        if not isinstance(meta, dict):
            ctx.report(
                rules.METADATA_NOT_STRINGS,
                loc,
                f"__metadata__ is a JSON {type(meta).__name__}, not an object of strings",
                {"type": type(meta).__name__},
            )
            return
        bad = [k for k, v in meta.items() if not isinstance(v, str)]
        for key in bad[:_MAX_REPORTED]:
            ctx.report(
                rules.METADATA_NOT_STRINGS,
                loc.child(key[:200]),
                f"metadata value is a JSON {type(meta[key]).__name__}, not a string "
                "(the reference parser refuses the file)",
                {"key": key[:200], "type": type(meta[key]).__name__},
            )
        from modelxray.analysis.jinja_template import judge_template, looks_like_template

        for key, value in meta.items():
            ctx.budget.tick()
            if isinstance(value, str) and looks_like_template(value):
                judgements = judge_template(value, ctx.budget, ctx.limits, chat_template=False)
                report_judgements(ctx, template_rules.BY_KIND, loc.child(key[:200]), judgements)

    def _check_entries(
        self,
        doc: dict[str, Any],
        data_size: int,
        data_start: int,
        artifact: Artifact,
        ctx: Sink,
    ) -> list[tuple[int, int, str]]:
        spans: list[tuple[int, int, str]] = []
        reported = 0
        for name, entry in doc.items():
            ctx.budget.tick()
            if name == "__metadata__":
                self._check_metadata(entry, artifact, ctx)
                continue
            loc = artifact.location.child(f"tensor:{name[:200]}")
            problem = self._entry_problem(entry)
            if problem is None:
                begin, end = entry["data_offsets"]
                if end > data_size:
                    problem = (
                        rules.RANGES_INCONSISTENT,
                        f"byte range {begin}..{end} ends past the data region ({data_size} bytes)",
                    )
                else:
                    count = 1
                    for dim in entry["shape"]:
                        count *= dim
                    bits = count * DTYPE_BITS[entry["dtype"]]
                    if bits % 8 or bits // 8 != end - begin:
                        problem = (
                            rules.RANGES_INCONSISTENT,
                            f"{entry['dtype']} × {entry['shape']} is {bits / 8:g} bytes but the "
                            f"byte range {begin}..{end} holds {end - begin}",
                        )
                    # The range itself is valid: it still counts for overlaps and holes.
                    spans.append((begin, end, name))
            if problem is not None:
                reported += 1
                if reported <= _MAX_REPORTED:
                    rule, message = problem
                    ctx.report(rule, loc, message, {"entry": _short(entry)})
        return spans

    @staticmethod
    def _entry_problem(entry: Any) -> tuple[Any, str] | None:
        if not isinstance(entry, dict):
            return rules.HEADER_MALFORMED, f"tensor entry is a JSON {type(entry).__name__}"
        keys = set(entry)
        if keys != _ENTRY_KEYS:
            missing, extra = _ENTRY_KEYS - keys, keys - _ENTRY_KEYS
            return rules.HEADER_MALFORMED, (
                "tensor entry "
                + (f"lacks {sorted(missing)}" if missing else "")
                + (" and " if missing and extra else "")
                + (f"has unknown keys {sorted(extra)[:10]}" if extra else "")
            )
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            return rules.HEADER_MALFORMED, f"unknown dtype {str(dtype)[:40]!r}"
        if not isinstance(shape, list) or not all(_is_uint(d) for d in shape):
            return rules.HEADER_MALFORMED, "shape is not a list of non-negative integers"
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(_is_uint(o) for o in offsets)
        ):
            return rules.HEADER_MALFORMED, "data_offsets is not a pair of non-negative integers"
        if offsets[0] > offsets[1]:
            return rules.RANGES_INCONSISTENT, f"byte range {offsets[0]}..{offsets[1]} is reversed"
        return None

    # ------------------------------------------------------------------ tiling

    def _check_tiling(
        self,
        spans: list[tuple[int, int, str]],
        data_size: int,
        data_start: int,
        artifact: Artifact,
        ctx: Sink,
    ) -> None:
        spans.sort()
        pos = 0
        prev = ""
        reported = 0
        for begin, end, name in spans:
            ctx.budget.tick()
            loc = artifact.location.child(f"tensor:{name[:200]}")
            if begin < pos:
                reported += 1
                if reported <= _MAX_REPORTED:
                    ctx.report(
                        rules.RANGES_INCONSISTENT,
                        loc,
                        f"byte range {begin}..{end} overlaps tensor {prev[:200]!r} "
                        f"(which ends at {pos})",
                        {"begin": begin, "end": end, "overlaps": prev[:200]},
                    )
            elif begin > pos and begin != end:
                reported += 1
                if reported <= _MAX_REPORTED:
                    ctx.report(
                        rules.UNACCOUNTED_BYTES,
                        artifact.location.child("data"),
                        f"{begin - pos} bytes at data offset {pos}..{begin} belong to no tensor",
                        {"begin": pos, "end": begin, "file_offset": data_start + pos},
                    )
            if end > pos:
                pos, prev = end, name
        if pos < data_size:
            ctx.report(
                rules.UNACCOUNTED_BYTES,
                artifact.location.child("data"),
                f"{data_size - pos} bytes after the last tensor (data offset {pos}..{data_size}) "
                "belong to no tensor",
                {"begin": pos, "end": data_size, "file_offset": data_start + pos},
            )


def _short(entry: Any) -> Any:
    text = json.dumps(entry, default=str)
    return entry if len(text) <= 300 else text[:300] + "…"


register(SafetensorsReader())
