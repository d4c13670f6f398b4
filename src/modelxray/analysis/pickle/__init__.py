"""Static analysis of pickle streams: a symbolic model of CPython's unpickler.

Public API::

    streams = scan_stream(f, budget)          # every pickle in a seekable binary file
    items = verdict_items(streams)            # critical / high / medium reasons
    text = render_program(streams[0])         # pseudo-source for reviewers
    classify("posix", "system")               # allow-list first global classification

Nothing in this package imports, calls or unmarshals anything a pickle names.
"""

from __future__ import annotations

from ._generated.allowlist import ALLOWED as GENERATED_ALLOWED
from .globals_policy import (
    ALLOW,
    DENY,
    Classification,
    Policy,
    classify,
)
from .render import render_all, render_call, render_program, render_value
from .values import (
    NO_STATE,
    Blob,
    Build,
    Call,
    Global,
    Mutation,
    NestedPayload,
    Omitted,
    PersistentRef,
    PickleStream,
    SDict,
    SList,
    SSet,
    StreamError,
    StreamIssue,
    TrailingData,
    Unknown,
)
from .verdict import VerdictItem, classify_global, max_severity, verdict_items
from .vm import OPNAMES, scan_bytes, scan_stream

# fmt: off
__all__ = [
    "ALLOW", "DENY", "GENERATED_ALLOWED", "NO_STATE", "OPNAMES", "Blob", "Build", "Call",
    "Classification", "Global", "Mutation", "NestedPayload", "Omitted", "PersistentRef",
    "PickleStream", "Policy", "SDict", "SList", "SSet", "StreamError", "StreamIssue",
    "TrailingData", "Unknown", "VerdictItem", "classify", "classify_global", "max_severity",
    "render_all", "render_call", "render_program", "render_value", "scan_bytes", "scan_stream",
    "verdict_items",
]
# fmt: on
