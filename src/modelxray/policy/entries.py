"""A policy's entries: rule settings, allow/deny-list entries and suppressions.

Their own module so that the default policy (which has none) costs no class creation at
start-up; ``modelxray.policy`` re-exports them (``from modelxray.policy import Suppression``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from modelxray.model import Disposition, Severity

if TYPE_CHECKING:
    import datetime as _dt


@dataclass(frozen=True)
class RuleSetting:
    """A rule's disposition in the policy."""

    state: Disposition = Disposition.BLOCK

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", Disposition(self.state))

    severity: Severity | None = None


@dataclass(frozen=True)
class AllowEntry:
    """An allow-list entry and the reason it was added."""

    target: str  # "module.name" for pickle globals, "module" (prefix) for Keras modules
    reason: str


@dataclass(frozen=True)
class Suppression:
    """A finding suppressed for one file (by hash) and rule, with its reason."""

    sha256: str
    rule: str  # a rule ID or "*"
    reason: str
    expires: _dt.date | None = None

    def expired(self, today: _dt.date) -> bool:
        return self.expires is not None and today > self.expires
