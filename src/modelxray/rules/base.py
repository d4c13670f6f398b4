"""What a rule is: a stable ID, a default severity and confidence, and its page.

A family module declares its rules through one :class:`RuleFamily`; declaring a rule
registers it, so the catalogue (``modelxray.rules.ALL_RULES``) cannot miss one::

    FAMILY = RuleFamily("pickle", package=__name__, formats=("pickle",))
    DANGEROUS_CALLABLE = FAMILY.rule("MX-PICKLE-001", "...", Severity.CRITICAL, Confidence.HIGH)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from modelxray.model import Confidence, FormatName, Severity

DOCS_BASE = "docs/rules"
# Where the rule pages are published (the repository's docs tree on its default branch).
PAGES_URL = "https://github.com/modelxray/modelxray/blob/main/" + DOCS_BASE

# Every rule declared so far, by ID: filled by RuleFamily.rule, read by modelxray.rules.
REGISTRY: dict[str, Rule] = {}


@dataclass(frozen=True)
class Rule:
    """One detector's identity.  The page (Markdown) lives beside the family module."""

    id: str
    title: str
    family: str
    severity: Severity
    confidence: Confidence
    formats: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    cwes: tuple[str, ...] = ()
    # A finding of this rule means part of the file was not read: the file is unscannable.
    incomplete: bool = False
    package: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        unknown = [f for f in self.formats if f not in FormatName.values()]
        if unknown:
            valid = ", ".join(sorted(FormatName.values()))
            raise ValueError(f"{self.id}: unknown format(s) {unknown} (valid: {valid})")

    @property
    def help_uri(self) -> str:
        """Stable relative link to the rule page in the repository's docs tree."""
        return f"{DOCS_BASE}/{self.id}.md"

    @property
    def page_url(self) -> str:
        """Absolute URL of the rule page (for reports read away from the repository)."""
        return f"{PAGES_URL}/{self.id}.md"

    def page(self) -> str:
        """The rule's Markdown page, read from the package beside its declaration."""
        import os
        import sys

        # The family package is imported already (it declared this rule): read beside it.
        # (importlib.resources would do the same, at the cost of importing zipfile.)
        module = sys.modules.get(self.package)
        folder = os.path.dirname(getattr(module, "__file__", "") or "")
        try:
            with open(os.path.join(folder, f"{self.id}.md"), encoding="utf-8") as f:
                return f.read()
        except OSError:
            return f"# {self.id}: {self.title}\n\n(no page written yet)\n"

    def summary(self) -> str:
        """First paragraph under the title: used as SARIF shortDescription and in tables."""
        lines = self.page().splitlines()
        body: list[str] = []
        for line in lines[1:]:
            if line.startswith("#"):
                if body:
                    break
                continue
            if not line.strip():
                if body:
                    break
                continue
            body.append(line.strip())
        return " ".join(body) or self.title


@dataclass(frozen=True)
class RuleFamily:
    """One family of rules (one package under ``modelxray.rules``, its pages beside it).

    ``formats`` is the default for the family's rules; :meth:`rule` declares and registers one.
    """

    name: str
    package: str
    formats: tuple[str, ...] = ()

    def rule(
        self,
        rule_id: str,
        title: str,
        severity: Severity,
        confidence: Confidence,
        *,
        formats: tuple[str, ...] | None = None,
        cves: tuple[str, ...] = (),
        cwes: tuple[str, ...] = (),
        incomplete: bool = False,
    ) -> Rule:
        """Declare a rule of this family and add it to the catalogue (its ID must be new).

        ``incomplete``: a finding of this rule means the file was not fully read (the engine
        then derives the status UNSCANNABLE)."""
        declared = Rule(
            rule_id,
            title,
            self.name,
            severity,
            confidence,
            formats=self.formats if formats is None else formats,
            cves=cves,
            cwes=cwes,
            package=self.package,
            incomplete=incomplete,
        )
        known = REGISTRY.get(rule_id)
        if known is not None and (known != declared or known.package != declared.package):
            raise ValueError(f"rule {rule_id} is declared twice ({known.package}, {self.package})")
        REGISTRY[rule_id] = declared
        return declared
