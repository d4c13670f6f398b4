"""What a loaded checkpoint holds, in the form convert writes it (shared by the convert tests)."""

from __future__ import annotations

from typing import Any

import torch


def flat_tensors(o: Any, prefix: str | None = None) -> dict[str, Any]:
    """The loaded object's tensors by their keys and indices joined with ``.``."""
    if isinstance(o, torch.Tensor):
        return {"tensor" if prefix is None else prefix: o.detach()}
    out: dict[str, Any] = {}
    items = (
        o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, (list, tuple)) else ()
    )
    for k, v in items:
        out.update(flat_tensors(v, str(k) if prefix is None else f"{prefix}.{k}"))
    return out


def raw_bytes(t: Any) -> bytes:
    """A tensor's values as C-order bytes (conjugate and negative views resolved)."""
    flat = t.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
    return bytes(flat.view(torch.uint8).numpy().tobytes()) if flat.numel() else b""
