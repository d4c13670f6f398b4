"""Check a written SafeTensors file against the source, without executing the source.

The expected tensors are derived again from the source by the same static
reconstruction (a fresh read of the pickle program / array headers / HDF5
datasets); the written file is parsed by modelxray's own strict header reader.
Names, dtypes, shapes, metadata and the SHA-256 of every tensor's bytes must match.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from .common import Extraction
from .safetensors_writer import SafetensorsError, iter_tensor_bytes, read_header


@dataclass
class Verification:
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)


def verify(expected: Extraction, metadata: dict[str, str], path: str) -> Verification:
    """Compare ``path`` with ``expected`` (a fresh extraction of the source)."""
    out = Verification(ok=False)
    try:
        with open(path, "rb") as f:
            header = read_header(f, os.path.getsize(path))
            want = {t.name: t for t in expected.tensors}
            missing = sorted(set(want) - set(header.tensors))
            extra = sorted(set(header.tensors) - set(want))
            out.problems += [f"{n}: missing from the output" for n in missing]
            out.problems += [f"{n}: in the output but not in the source" for n in extra]
            if header.metadata != metadata:
                out.problems.append("metadata differs from the source's plain values")
            for name, t in want.items():
                e = header.tensors.get(name)
                if e is None:
                    continue
                if e.dtype != t.dtype or e.shape != t.shape:
                    out.problems.append(
                        f"{name}: {e.dtype}{list(e.shape)} written, {t.dtype}{list(t.shape)} "
                        "in the source"
                    )
                    continue
                h_src = hashlib.sha256()
                for chunk in t.chunks():
                    h_src.update(chunk)
                h_out = hashlib.sha256()
                for chunk in iter_tensor_bytes(f, header, name):
                    h_out.update(chunk)
                if h_src.digest() != h_out.digest():
                    out.problems.append(f"{name}: bytes differ from the source")
                out.checked += 1
    except (OSError, SafetensorsError) as exc:
        out.problems.append(f"output unreadable: {exc}")
    out.ok = not out.problems
    return out
