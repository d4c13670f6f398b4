"""Builds the torch.package fixtures in this folder.

Run from the repository root (needs torch==2.13.0; nothing here is ever loaded)::

    python tests/data/torch_package/make_torch_package.py

- ``benign.pt``: ``torch.package.PackageExporter`` output for a small ``nn.Module`` whose class
  lives in a module of its own (``tiny_net``, interned: its source is bundled in the archive),
  torch externed.  Made by the real exporter.
- The malicious variants are assembled by hand from it (members copied, one changed); their
  payloads only ``echo`` a marker.  They are never loaded:

  - ``bundled_system.pt``: the bundled ``tiny_net.py`` runs ``os.system("echo …")`` on import
    (``os`` added to ``.data/extern_modules``, as the exporter would for a stdlib import).
  - ``extern_os_pickle.pt``: ``os`` in ``.data/extern_modules`` and a pickle whose global
    is ``os.system`` (resolved by the importer from the host through that extern entry).
  - ``mangled_system.pt``: a pickle naming ``<torch_package_0>.os`` / ``system`` (the
    importer demangles its own prefix) beside the benign model.
"""

from __future__ import annotations

import io
import sys
import tempfile
import zipfile
from pathlib import Path

OUT = Path(__file__).parent
MARKER = "/tmp/modelxray_marker_torch_package"

TINY_NET = """import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x))
"""

EVIL_NET = TINY_NET.replace(
    "import torch\n", f'import os\n\nimport torch\n\nos.system("echo pwned > {MARKER}")\n'
)


def benign() -> bytes:
    import torch
    from torch.package import PackageExporter

    with tempfile.TemporaryDirectory() as src:
        Path(src, "tiny_net.py").write_text(TINY_NET)
        sys.path.insert(0, src)
        try:
            import tiny_net

            torch.manual_seed(0)
            buf = io.BytesIO()
            with PackageExporter(buf) as pe:
                pe.extern("torch.**")
                pe.intern("tiny_net")
                pe.save_pickle("model", "model.pkl", tiny_net.TinyNet())
        finally:
            sys.path.remove(src)
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {i.filename: z.read(i) for i in z.infolist()}


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, content in members.items():
            z.writestr(name, content)
    return buf.getvalue()


def _system_pickle(module: str) -> bytes:
    """Protocol 2: ``<module>.system("echo …")``, written opcode by opcode."""
    cmd = f"echo pwned > {MARKER}".encode()
    return (
        b"\x80\x02c" + module.encode() + b"\nsystem\n"
        + b"X" + len(cmd).to_bytes(4, "little") + cmd
        + b"\x85R."
    )  # fmt: skip


def main() -> None:
    base = benign()
    (OUT / "benign.pt").write_bytes(base)
    members = _members(base)
    root = next(iter(members)).split("/", 1)[0]
    extern = f"{root}/.data/extern_modules"
    with_os = {**members, extern: members[extern] + b"os\n"}
    variants = {
        "bundled_system.pt": {**with_os, f"{root}/tiny_net.py": EVIL_NET.encode()},
        "extern_os_pickle.pt": {**with_os, f"{root}/model/run.pkl": _system_pickle("os")},
        "mangled_system.pt": {
            **members,
            f"{root}/model/run.pkl": _system_pickle("<torch_package_0>.os"),
        },
    }
    for name, content in variants.items():
        (OUT / name).write_bytes(_zip(content))
    for p in sorted(OUT.glob("*.pt")):
        print(p.name, p.stat().st_size, "bytes", sorted(_members(p.read_bytes())))


if __name__ == "__main__":
    main()
