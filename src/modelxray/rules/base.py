"""What a rule is: a stable ID, a default severity and confidence, and its page."""

from __future__ import annotations

from dataclasses import dataclass, field

from modelxray.model import Confidence, Severity

DOCS_BASE = "docs/rules"


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

    @property
    def help_uri(self) -> str:
        """Stable relative link to the rule page in the repository's docs tree."""
        return f"{DOCS_BASE}/{self.id}.md"

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
