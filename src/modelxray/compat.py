"""Standard-library modules that moved between the Python versions modelxray supports."""

from __future__ import annotations

import sys
from typing import Any


def tomllib() -> Any:
    """``tomllib`` (3.11+), or its backport ``tomli`` on 3.10 (a dependency there)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    return tomllib
