"""Limits every parser works under.

One :class:`Limits` (plain numbers, immutable) describes how much a scan may
read, how deep it may nest and how long it may take.  A :class:`Budget` is the
per-file meter that parsers charge against; exhausting it raises
:class:`BudgetExceeded`, which the engine turns into a finding (a file whose
scan was cut short is never reported clean).
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Hard bounds applied to every file.  All sizes are bytes."""

    max_seconds_per_file: float = 60.0
    # Structured text (JSON configs, HDF5 attributes, protobuf metadata strings).
    max_json_bytes: int = 64 * 1024 * 1024
    max_json_depth: int = 200
    max_json_nodes: int = 2_000_000
    # Marshalled code objects.
    max_code_blob_bytes: int = 4 * 1024 * 1024
    max_marshal_depth: int = 64
    max_marshal_objects: int = 200_000
    # Pickle streams.
    max_pickle_opcodes: int = 20_000_000
    max_pickle_stack: int = 1_000_000
    max_pickle_memo: int = 1_000_000
    max_nested_payload_depth: int = 4
    # Containers.
    max_container_depth: int = 6
    # Archive members (a zip's declared count is checked before any entry is read).
    max_members: int = 65_536
    max_member_bytes: int = 8 * 1024 * 1024 * 1024
    max_decompressed_bytes: int = 2 * 1024 * 1024 * 1024
    # Decompressed bytes produced for one top-level file, across all its members and nesting
    # levels (a nested or overlapping zip bomb costs this, not this per member).
    # (Sniffing a member reads its end, so a deflated member is decoded about twice.)
    max_decompressed_bytes_per_file: int = 1024 * 1024 * 1024
    max_compression_ratio: float = 200.0
    # Expansion below this many bytes is never called a bomb, whatever the ratio.
    bomb_min_bytes: int = 1024 * 1024
    # Archive members held in memory (members of compressed tars, 7z members).
    max_buffered_member_bytes: int = 128 * 1024 * 1024
    # Protobuf.
    max_protobuf_depth: int = 100
    max_protobuf_fields: int = 5_000_000
    # HDF5.
    max_hdf5_objects: int = 200_000
    # A dataset declaring more data than this is reported as a shape bomb (never allocated).
    max_hdf5_declared_bytes: int = 64 * 1024 * 1024 * 1024
    max_attribute_bytes: int = 64 * 1024 * 1024
    # HDF5 metadata (object headers, B-trees, heaps) the structure reader fetches, all told.
    max_hdf5_metadata_bytes: int = 256 * 1024 * 1024
    # Python source, notebooks, small text model descriptions (MLmodel, LightGBM headers).
    max_python_source_bytes: int = 16 * 1024 * 1024
    max_python_nodes: int = 2_000_000
    # Requirements files a manifest reads through -r/-c (followed within its folder).
    max_manifest_includes: int = 32
    # FlatBuffers / msgpack / UBJSON structure walks (tables, records, containers).
    max_structure_items: int = 5_000_000
    max_structure_depth: int = 128
    # Jinja templates (GGUF / tokenizer chat templates); real ones are a few KiB.
    max_template_bytes: int = 1024 * 1024
    max_template_nodes: int = 200_000
    # Blocks plus brackets nested in one another (Jinja's parser recurses per level).
    max_template_depth: int = 64
    # SafeTensors JSON header (the format's own limit is 100 MB).
    max_safetensors_header_bytes: int = 100 * 1000 * 1000
    # YAML configs (formats/yaml_doc.py): text size, parser events, nesting.
    max_yaml_bytes: int = 16 * 1024 * 1024
    max_yaml_nodes: int = 2_000_000
    max_yaml_depth: int = 200
    # GGUF metadata: key/value pairs + array elements + tensor infos, all counted together.
    max_gguf_items: int = 20_000_000
    # GGUF key/value pairs and tensor infos, checked against the header's counts before any is
    # read (real files: tens of keys, thousands of tensors).
    max_gguf_keys: int = 65_536
    max_gguf_tensors: int = 262_144
    # ONNX graph nodes (all graphs and functions together); counted before any is decoded.
    max_onnx_nodes: int = 250_000


# Limits on a whole top-level file: reaching one stops the file, not just the member at hand.
PER_FILE_LIMITS = frozenset({"max_seconds_per_file", "max_decompressed_bytes_per_file"})


class BudgetExceeded(Exception):
    """Raised when a parser reaches one of its :class:`Limits`."""

    def __init__(self, limit: str, detail: str) -> None:
        super().__init__(f"{limit}: {detail}")
        self.limit = limit
        self.detail = detail

    @property
    def per_file(self) -> bool:
        """Whether the limit is the whole file's (nothing more of it may be read)."""
        return self.limit in PER_FILE_LIMITS


class Budget:
    """The per-file meter: a wall-clock deadline plus counters parsers charge."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self._deadline = time.monotonic() + self.limits.max_seconds_per_file
        self._ticks = 0
        # Decompressed bytes produced for this file so far, across members and nesting levels.
        self.decompressed = 0

    def check_time(self) -> None:
        if time.monotonic() > self._deadline:
            raise BudgetExceeded(
                "max_seconds_per_file",
                f"scan of this file took longer than {self.limits.max_seconds_per_file:g}s",
            )

    def remaining(self) -> float:
        """Seconds left before the per-file deadline (never negative)."""
        return max(0.0, self._deadline - time.monotonic())

    def tick(self, n: int = 1) -> None:
        """Cheap periodic time check for hot loops (looks at the clock every 4096 ticks)."""
        self._ticks += n
        if self._ticks >= 4096:
            self._ticks = 0
            self.check_time()

    def charge_decompressed(self, n: int) -> None:
        """Count ``n`` decompressed bytes against the file's ``max_decompressed_bytes_per_file``."""
        self.decompressed += n
        limit = self.limits.max_decompressed_bytes_per_file
        if self.decompressed > limit:
            raise BudgetExceeded(
                "max_decompressed_bytes_per_file",
                f"more than {limit} bytes decompressed for this file (all members and nesting "
                "levels together)",
            )

    @staticmethod
    def require(condition: bool, limit: str, detail: str) -> None:
        if not condition:
            raise BudgetExceeded(limit, detail)
