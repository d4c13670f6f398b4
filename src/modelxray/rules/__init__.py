"""The rule catalogue: every rule of every family, looked up by ID.

Each family is a package under ``modelxray.rules`` whose ``__init__`` declares its rules
through one :class:`~modelxray.rules.base.RuleFamily` (declaring a rule registers it) and
whose ``<ID>.md`` files are the rule pages.  Families are found, not listed: the first use of
``ALL_RULES`` (or :func:`get_rule`) imports every sub-package, and ``ALL_RULES`` holds what
they declared, ordered by ID.  Importing one family (``from modelxray.rules import pickle``)
imports that family alone: a scan loads the rules of the readers it runs, not the catalogue.
"""

from __future__ import annotations

import _thread
from typing import TYPE_CHECKING, Any

from modelxray.rules.base import REGISTRY, Rule, RuleFamily

if TYPE_CHECKING:
    # The registry itself, re-ordered by ID once every family has declared its rules.
    ALL_RULES: dict[str, Rule]


_BUILDING = _thread.allocate_lock()  # (the service's threads may ask at once)


def _catalogue() -> dict[str, Rule]:
    """Import every family package (once) and order the registry by ID."""
    catalogue = globals().get("ALL_RULES")
    if catalogue is not None:
        return catalogue  # type: ignore[no-any-return]
    with _BUILDING:
        if "ALL_RULES" not in globals():
            import importlib
            import pkgutil

            for module in pkgutil.iter_modules(__path__, f"{__name__}."):
                if module.ispkg:
                    importlib.import_module(module.name)
            declared = sorted(REGISTRY.items())
            REGISTRY.clear()
            REGISTRY.update(declared)
            globals()["ALL_RULES"] = REGISTRY
    return REGISTRY


def __getattr__(name: str) -> Any:
    if name == "ALL_RULES":
        return _catalogue()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_rule(rule_id: str) -> Rule:
    try:
        return _catalogue()[rule_id.strip().upper()]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; `modelxray rules` lists them") from None


__all__ = ["ALL_RULES", "Rule", "RuleFamily", "get_rule"]
