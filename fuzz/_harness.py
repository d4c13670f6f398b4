"""Shared atheris entry point: instrument modelxray, then fuzz one target of ``targets.py``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _import_all_modelxray() -> None:
    import modelxray

    for info in pkgutil.walk_packages(modelxray.__path__, "modelxray."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def main(name: str) -> None:
    import atheris

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # Coverage feedback comes from modelxray's own code (the libraries it calls are not ours).
    with atheris.instrument_imports(include=["modelxray"]):
        _import_all_modelxray()
    from fuzz import targets

    if not targets.available(name):
        print(f"harness {name}: this checkout has no such reader; skipped", file=sys.stderr)
        return
    target = targets.HARNESSES[name][0]
    atheris.Setup(sys.argv, target)
    atheris.Fuzz()
