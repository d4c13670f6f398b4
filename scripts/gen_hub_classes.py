"""Regenerate src/modelxray/analysis/_generated/hub_classes.py: the classes and modules the
Hugging Face loaders resolve a config's names in.

A config names a class for its loader to import: a diffusers ``model_index.json`` component
``[library, class]``, a PEFT ``adapter_config.json`` ``auto_mapping.parent_library``, a
sentence-transformers ``modules.json`` ``type``, a processor config's ``processor_class`` or
``image_processor_type``.  Whether that name stays inside a library is decided against the
library's own names, taken from the installed libraries (never written by hand):

* diffusers: ``pipelines.pipeline_loading_utils.LOADABLE_CLASSES`` (the libraries diffusers
  imports a component from), the names the lazy top-level module exports, the pipeline
  submodules (``hasattr(diffusers.pipelines, library)`` is how the loader recognises one) with
  the names each exports, and the pipeline folders under ``pipelines/deprecated`` (pipeline
  modules of earlier releases that published ``model_index.json`` files still name);
* transformers: the names its lazy top-level module exports (``getattr(transformers, name)``
  is how ``processor_class_from_name`` and diffusers resolve a transformers class);
* sentence-transformers: every dotted path ``import_from_string`` resolves to a
  module class (a subclass of the package's ``Module`` base) defined in the package, through
  the canonical modules and the deprecated aliases the package still maps
  (``sentence_transformers.models.Transformer``);
* peft: ``auto.get_default_import_allowlist()``, the packages ``AutoPeftModel`` imports
  ``auto_mapping.parent_library`` from without an explicit ``import_allowlist``.

The transformers names are the union over the releases given: the installed one and, with
``--also-transformers PYTHON``, the one another interpreter has (the committed table: 5.x and
the last 4.x, whose names configs on the Hub still carry).

Usage (in environments with the libraries installed; they are not runtime dependencies)::

    pip install diffusers transformers sentence-transformers peft torch==2.13.0
    python -m venv /tmp/tf4 && /tmp/tf4/bin/pip install "transformers<5"
    python scripts/gen_hub_classes.py --also-transformers /tmp/tf4/bin/python
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

OUT = Path(__file__).resolve().parents[1] / "src/modelxray/analysis/_generated/hub_classes.py"


def _exported(module: ModuleType) -> set[str]:
    """Public names a (lazy) module resolves with getattr, without importing them all."""
    names = set(dir(module))
    for attr in ("_class_to_module", "_objects"):
        table = vars(module).get(attr)
        if isinstance(table, dict):
            names.update(table)
    return {n for n in names if n[:1].isalpha() and n[:1].isupper()}


def _words(names: Iterable[str]) -> str:
    return textwrap.fill(
        " ".join(sorted(names)), width=96, break_on_hyphens=False, break_long_words=False
    )


def _frozen(name: str, comment: str, names: Iterable[str]) -> str:
    items = sorted(set(names))
    return (
        f'# {comment}: {len(items)} names\n{name} = frozenset(\n    """\n{_words(items)}\n"""'
        ".split()\n)\n"
    )


def diffusers_tables() -> tuple[str, list[str]]:
    import diffusers
    from diffusers import pipelines
    from diffusers.pipelines.pipeline_loading_utils import LOADABLE_CLASSES

    modules: dict[str, set[str]] = {}
    for name in sorted(vars(pipelines).get("_modules", ())):
        try:
            modules[name] = _exported(getattr(pipelines, name))
        except Exception as exc:  # an optional dependency missing: the name is still a module
            print(f"pipelines.{name}: {exc!r}", file=sys.stderr)
            modules[name] = set()
    deprecated_dir = Path(pipelines.__file__).parent / "deprecated"
    deprecated = sorted(
        p.name for p in deprecated_dir.iterdir() if p.is_dir() and not p.name.startswith("_")
    )
    for name in deprecated:
        try:
            mod = importlib.import_module(f"diffusers.pipelines.deprecated.{name}")
            modules.setdefault(name, set()).update(_exported(mod))
        except Exception as exc:
            print(f"pipelines.deprecated.{name}: {exc!r}", file=sys.stderr)
            modules.setdefault(name, set())
    lines = [
        f"# diffusers=={diffusers.__version__}: LOADABLE_CLASSES keys",
        f"DIFFUSERS_LOADABLE_LIBRARIES = frozenset({json.dumps(sorted(LOADABLE_CLASSES))})",
        "",
        _frozen("DIFFUSERS_CLASSES", f"diffusers=={diffusers.__version__} top level",
                _exported(diffusers)),
        f"# diffusers=={diffusers.__version__}: pipeline submodules (and deprecated pipeline "
        "folders) -> names each exports",
        "DIFFUSERS_PIPELINE_MODULES: dict[str, frozenset[str]] = {",
    ]  # fmt: skip
    for name in sorted(modules):
        words = " ".join(sorted(modules[name]))
        if not words:
            lines.append(f"    {json.dumps(name)}: frozenset(),")
            continue
        body = textwrap.fill(words, width=88, break_on_hyphens=False, break_long_words=False)
        lines.append(
            f'    {json.dumps(name)}: frozenset(\n        """\n{body}\n"""' + ".split()\n    ),"
        )
    lines.append("}")
    return "\n".join(lines) + "\n", [f"diffusers=={diffusers.__version__}"]


_DUMP_NAMES = """
import json, transformers
names = set(dir(transformers))
for attr in ("_class_to_module", "_objects"):
    table = vars(transformers).get(attr)
    if isinstance(table, dict):
        names.update(table)
print(json.dumps([transformers.__version__, sorted(n for n in names if n[:1].isupper())]))
"""


def transformers_tables(others: list[str]) -> tuple[str, list[str]]:
    """The names of the installed transformers, and of the transformers installed for each
    interpreter in ``others`` (configs written by the last 4.x name classes 5.x dropped,
    such as ``CLIPFeatureExtractor``)."""
    import transformers

    names = _exported(transformers)
    versions = [f"transformers=={transformers.__version__}"]
    for python in others:
        out = subprocess.run([python, "-c", _DUMP_NAMES], check=True, capture_output=True,
                             text=True).stdout  # fmt: skip
        version, extra = json.loads(out.strip().splitlines()[-1])
        names.update(extra)
        versions.append(f"transformers=={version}")
    text = _frozen("TRANSFORMERS_CLASSES", f"{' and '.join(versions)} top level", names)
    return text, versions


def sentence_transformers_tables() -> tuple[str, list[str]]:
    import sentence_transformers as st
    from sentence_transformers.base.modules.module import Module
    from sentence_transformers.util.deprecated_import import DEPRECATED_MODULE_PATHS

    names: set[str] = set()
    module_names = (
        {
            m.name
            for m in pkgutil.walk_packages(st.__path__, "sentence_transformers.")
            if not m.name.split(".")[-1].startswith("_")
        }
        | {"sentence_transformers"}
        | set(DEPRECATED_MODULE_PATHS)
    )
    for mod_name in sorted(module_names):
        try:
            module = importlib.import_module(mod_name)
        except Exception as exc:
            print(f"{mod_name}: {exc!r}", file=sys.stderr)
            continue
        if not isinstance(module, ModuleType):  # an alias to a class, resolved below
            continue
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Module)
                and value.__module__.startswith("sentence_transformers.")
                and not attr.startswith("_")
            ):
                names.add(f"{mod_name}.{attr}")
    # A deprecated alias naming a class directly (``sentence_transformers.models.Dense`` maps
    # to the module ``…dense``): import_from_string imports the alias and looks the last
    # segment up in it.
    for alias in DEPRECATED_MODULE_PATHS:
        head, _, last = alias.rpartition(".")
        try:
            module = importlib.import_module(alias)
        except Exception:
            continue
        value = getattr(module, last, None)
        if inspect.isclass(value) and issubclass(value, Module):
            names.add(alias)
    text = _frozen("SENTENCE_TRANSFORMERS_MODULES",
                   f"sentence-transformers=={st.__version__} module classes", names)  # fmt: skip
    return text, [f"sentence-transformers=={st.__version__}"]


def peft_tables() -> tuple[str, list[str]]:
    import peft
    from peft.auto import get_default_import_allowlist

    allow = sorted(get_default_import_allowlist())
    text = (
        f"# peft=={peft.__version__}: auto.get_default_import_allowlist()\n"
        f"PEFT_IMPORT_ALLOWLIST = frozenset({json.dumps(allow)})\n"
    )
    return text, [f"peft=={peft.__version__}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--also-transformers",
        action="append",
        default=[],
        metavar="PYTHON",
        help="an interpreter with another transformers release to take names from",
    )
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parts, sources = [], []
    makers = (diffusers_tables, lambda: transformers_tables(args.also_transformers),
              sentence_transformers_tables, peft_tables)  # fmt: skip
    for make in makers:
        text, src = make()
        parts.append(text)
        sources.extend(src)
    header = (
        '"""Classes and modules the Hugging Face loaders resolve config names in.\n\n'
        "GENERATED by scripts/gen_hub_classes.py -- do not edit.  Sources:\n"
        + "".join(f"  {s}\n" for s in sources)
        + '"""\n\nfrom __future__ import annotations\n\n'
    )
    OUT.write_text(header + "\n".join(parts))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
