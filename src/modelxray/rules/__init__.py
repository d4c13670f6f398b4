"""The rule catalogue: every rule of every family, looked up by ID.

Each family is a package under ``modelxray.rules`` whose ``__init__`` declares
its :class:`Rule` objects and whose ``<ID>.md`` files are the rule pages.
"""

from __future__ import annotations

from modelxray.rules import keras, scan
from modelxray.rules.base import Rule

_FAMILIES = (scan, keras)

ALL_RULES: dict[str, Rule] = {}
for _family in _FAMILIES:
    for _rule in _family.RULES:
        if _rule.id in ALL_RULES:  # pragma: no cover - guarded by tests
            raise RuntimeError(f"duplicate rule id {_rule.id}")
        ALL_RULES[_rule.id] = _rule


def get_rule(rule_id: str) -> Rule:
    try:
        return ALL_RULES[rule_id.strip().upper()]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; `modelxray rules` lists them") from None


__all__ = ["ALL_RULES", "Rule", "get_rule"]
