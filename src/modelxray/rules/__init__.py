"""The rule catalogue: every rule of every family, looked up by ID.

Each family is a package under ``modelxray.rules`` whose ``__init__`` declares its rules
through one :class:`~modelxray.rules.base.RuleFamily` (declaring a rule registers it) and
whose ``<ID>.md`` files are the rule pages.  Families are found, not listed: every
sub-package is imported here, and ``ALL_RULES`` holds what they declared, ordered by ID.
"""

from __future__ import annotations

import importlib
import pkgutil

from modelxray.rules.base import REGISTRY, Rule, RuleFamily

for _module in pkgutil.iter_modules(__path__, f"{__name__}."):
    if _module.ispkg:
        importlib.import_module(_module.name)

# The registry itself, re-ordered by ID once every family has declared its rules.
ALL_RULES: dict[str, Rule] = REGISTRY
_declared = sorted(REGISTRY.items())
REGISTRY.clear()
REGISTRY.update(_declared)


def get_rule(rule_id: str) -> Rule:
    try:
        return ALL_RULES[rule_id.strip().upper()]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; `modelxray rules` lists them") from None


__all__ = ["ALL_RULES", "Rule", "RuleFamily", "get_rule"]
