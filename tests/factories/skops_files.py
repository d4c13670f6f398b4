"""Edits of real skops files (``skops.io.dump`` output) for hostile variants."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def rewrite_schema(src: Path, dst: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """Copy the skops zip ``src`` to ``dst`` with ``edit`` applied to its ``schema.json``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "schema.json":
                doc = json.loads(data)
                edit(doc)
                data = json.dumps(doc).encode()
            zout.writestr(info.filename, data)
    return dst
