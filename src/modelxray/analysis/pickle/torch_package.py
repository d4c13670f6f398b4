"""How a ``torch.package`` archive's ``PackageImporter`` resolves the globals its pickles name.

``torch.package.PackageExporter`` writes a zip under one top folder: pickles, the source of every
*interned* module (``<root>/<module path>.py``, packages as ``…/__init__.py``), and
``.data/extern_modules``, one module name a line, the modules imported from the host
environment.  ``PackageImporter.load_pickle`` resolves a global's module by walking that tree
(``package_importer._load_module``): a name on an extern path is imported from the host; a
bundled module runs the archive's own source; the names in ``IMPLICIT_IMPORTS`` are imported from
the host even when not listed; anything else fails.  Module names mangled by an importer
(``<torch_package_0>.tiny_net``, ``_mangling.py``) are demangled first.  Pure functions of names:
nothing here reads, imports or runs anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# torch/package/_mangling.py ``is_mangled``: the prefix a PackageImporter gives its modules.
MANGLED = re.compile(r"<torch_package_\d+>")
# torch/package/package_importer.py IMPLICIT_IMPORT_ALLOWLIST (torch 2.13).
IMPLICIT_IMPORTS = frozenset({"numpy", "numpy.core", "numpy.core._multiarray_umath", "builtins"})
DATA_DIR = ".data"


def demangle(module: str) -> str:
    """``<torch_package_N>.a.b`` -> ``a.b`` (as ``_mangling.demangle``); other names unchanged."""
    m = MANGLED.match(module)
    if m is None:
        return module
    rest = module[m.end() :]
    return rest[1:] if rest.startswith(".") else ""


def module_of_source(path: str) -> str | None:
    """The module a bundled source file defines (``a/b.py`` -> ``a.b``, ``a/__init__.py`` ->
    ``a``), for a path relative to the archive's top folder; None for other files."""
    if not path.endswith(".py") or path.startswith(DATA_DIR + "/"):
        return None
    parts = path[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


@dataclass(frozen=True, slots=True)
class PackageLayout:
    """The bundled modules (name -> source path relative to the top folder) and the extern
    modules of one archive."""

    root: str
    bundled: dict[str, str]
    extern: frozenset[str]

    @classmethod
    def from_members(cls, names: Iterable[str], extern: Iterable[str]) -> PackageLayout:
        names = list(names)
        root = names[0].split("/", 1)[0] if names else ""
        bundled: dict[str, str] = {}
        for name in names:
            head, _, rel = name.partition("/")
            if head != root or not rel:
                continue
            module = module_of_source(rel)
            if module is not None:
                bundled.setdefault(module, rel)
        return cls(root, bundled, frozenset(m for m in extern if m))

    def facts(self) -> dict[str, Any]:
        """As artifact facts (plain data), for the archive's members."""
        return {
            "package_root": self.root,
            "package_bundled": dict(self.bundled),
            "package_extern": sorted(self.extern),
        }

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> PackageLayout:
        return cls(
            str(facts.get("package_root", "")),
            dict(facts.get("package_bundled", {})),
            frozenset(facts.get("package_extern", ())),
        )

    def bundled_source(self, module: str) -> str | None:
        """The archive member holding the code ``module`` resolves to, when the importer runs
        bundled code for it (no extern entry on its path); None otherwise."""
        module = demangle(module)
        parts = module.split(".")
        if any(".".join(parts[:k]) in self.extern for k in range(1, len(parts) + 1)):
            return None
        rel = self.bundled.get(module)
        return None if rel is None else f"{self.root}/{rel}"
