"""The reader contract: what a reader, container or analyser sees of a scan.

A leaf module (it imports only ``artifact``, ``budget``, ``model`` and ``rules.base``), so that
nothing below the engine needs the engine: readers take a :class:`Sink`, report findings to it
and yield the artifacts they find inside the one they read.  The engine's per-file context
implements the sink; it alone recurses, derives the file's status from the findings (a rule
knows whether it means "not fully read", :attr:`Rule.incomplete`) and applies the policy.

A reader that finds artifacts inside the one it reads (archive members, a payload a loader
unpickles, a sibling file a loader reads) does not scan them: its ``scan`` is a generator
that *yields* each as a :class:`Child`, and the engine scans it (applying the depth limit and
stopping a member at a per-member limit) and sends back whether any reader recognised it::

    def scan(self, artifact: Artifact, sink: Sink) -> Reading:
        for member in members:
            recognised = yield Child(member)

A helper that yields children is itself such a generator and is called with ``yield from``
(``tests/test_reader_contract.py`` checks that no call of one is left undriven).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modelxray.budget import Budget, Limits
from modelxray.model import Confidence, Finding, Judgement, Location, Severity

if TYPE_CHECKING:
    from modelxray.artifact import Artifact
    from modelxray.rules.base import Rule


@dataclass(frozen=True)
class AnalysisSettings:
    """The part of the scan policy that changes what analysers conclude (plain values)."""

    # Qualified names a team adds to / removes from the pickle VM's allow-list.
    allow_pickle_globals: tuple[str, ...] = ()
    deny_pickle_globals: tuple[str, ...] = ()
    # Keras modules a team approves as its own (target, reason); never excuses a denied module.
    allow_keras_modules: tuple[tuple[str, str], ...] = ()
    # Keras modules a team denies (target, reason): a reference to them is dangerous.
    deny_keras_modules: tuple[tuple[str, str], ...] = ()
    # Readers that reconstruct programs (pickle) attach them as info findings.
    show_code: bool = False


@dataclass(frozen=True)
class Child:
    """An artifact found inside the one being read, for the engine to scan; ``exclude`` names
    readers not to consider for it (the reader of the parent, where it would see itself)."""

    artifact: Artifact
    exclude: tuple[str, ...] = ()


# What a reader with children returns: a generator that yields them and is sent back, for
# each, whether a reader recognised it.  A helper that also returns a value is annotated
# ``Generator[Child, bool, T]``.
Reading = Generator[Child, bool, None]


class Sink(Protocol):
    """What a reader sees of the engine for one top-level file: a budget and a findings sink."""

    budget: Budget
    limits: Limits
    settings: AnalysisSettings

    @property
    def findings(self) -> list[Finding]:
        """The findings so far (read them; report new ones with :meth:`report`)."""
        ...

    def report(
        self,
        rule: Rule,
        location: Location,
        message: str,
        evidence: dict[str, Any] | None = None,
        *,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        incomplete: bool | None = None,
    ) -> None:
        """Record a finding of ``rule``; ``incomplete`` overrides :attr:`Rule.incomplete` for a
        report that leaves nothing unread (e.g. a damaged end record read another way)."""
        ...

    def add_finding(self, finding: Finding) -> None: ...

    def add_format(self, name: str) -> None:
        """The top-level file is (also) in format ``name``."""
        ...

    def add_reference(self, path: str) -> None:
        """A file on disk that this file's loader reads as its data."""
        ...


def report_judgements(
    sink: Sink,
    by_kind: Mapping[str, Rule],
    location: Location,
    judgements: Iterable[Judgement],
) -> None:
    """Report what an analyser concluded, each as its family's rule (``by_kind``), at
    ``location`` and the path the judgement names below it.  A lazy iterable is reported as it
    yields, so what was concluded before a budget runs out is kept."""
    for judgement in judgements:
        sink.report(
            by_kind[judgement.kind],
            location.child(*judgement.where),
            judgement.message,
            judgement.evidence,
            severity=judgement.severity,
            confidence=judgement.confidence,
        )


# The same finding at this many places is listed at each; at more, the rest are counted.
MAX_REPEATS = 10
# Places beyond those named in the first finding's evidence (``more_locations``).
MAX_LOCATIONS = 20


class Collector:
    """A sink that keeps what it is told: the engine's per-file context builds on it, and a
    reader's worker process (HDF5) uses it alone to collect findings to send back."""

    def __init__(
        self,
        limits: Limits,
        settings: AnalysisSettings | None = None,
        findings: list[Finding] | None = None,
        formats: list[str] | None = None,
        references: list[str] | None = None,
    ) -> None:
        self.limits = limits
        self.budget = Budget(limits)
        self.settings = settings if settings is not None else AnalysisSettings()
        self._findings: list[Finding] = findings if findings is not None else []
        self.formats: list[str] = formats if formats is not None else []
        self.references: list[str] = references if references is not None else []
        # Whether a finding said that part of the file was not read (the engine derives the
        # file's status from it).
        self.incomplete = False
        self._seen: set[tuple[str, str, str]] = set()
        # The findings listed for each (rule, severity, message); repeats are counted on the first.
        self._first: dict[tuple[str, str, str], list[Finding]] = {}

    @property
    def findings(self) -> list[Finding]:
        return self._findings

    def report(
        self,
        rule: Rule,
        location: Location,
        message: str,
        evidence: dict[str, Any] | None = None,
        *,
        severity: Severity | None = None,
        confidence: Confidence | None = None,
        incomplete: bool | None = None,
    ) -> None:
        if rule.incomplete if incomplete is None else incomplete:
            self.incomplete = True
        self.add_finding(
            Finding(
                rule_id=rule.id,
                severity=severity if severity is not None else rule.severity,
                confidence=confidence if confidence is not None else rule.confidence,
                location=location,
                message=message,
                evidence=evidence or {},
                help_uri=rule.help_uri,
            )
        )

    def add_finding(self, finding: Finding) -> None:
        """Record a finding; the same rule at the same place saying the same thing is one.

        The same rule saying the same thing at more than :data:`MAX_REPEATS` places is listed
        at the first ones; further places are counted on the first finding (evidence
        ``occurrences``: how many places in all, ``more_locations``: the first
        :data:`MAX_LOCATIONS` of those not listed): a hostile archive of a million alike
        members yields a few findings, not a million."""
        where = str(finding.location)
        key = (finding.rule_id, where, finding.message)
        if key in self._seen:
            return
        said = (finding.rule_id, str(finding.severity), finding.message)
        group = self._first.get(said)
        if group is None or len(group) < MAX_REPEATS:
            if group is None:
                self._first[said] = group = []
            group.append(finding)
            self._seen.add(key)
            self._findings.append(finding)
            return
        first = group[0]
        evidence = first.evidence
        if "occurrences" not in evidence:
            evidence = first.evidence = {
                **evidence,
                "occurrences": len(group),
                "more_locations": [],
            }
        evidence["occurrences"] += 1
        if len(evidence["more_locations"]) < MAX_LOCATIONS:
            evidence["more_locations"].append(where)
            self._seen.add(key)

    def add_format(self, name: str) -> None:
        if name not in self.formats:
            self.formats.append(name)

    def add_reference(self, path: str) -> None:
        import os

        if len(self.references) < self.limits.max_members:
            self.references.append(os.path.realpath(path))


class FormatReader(ABC):
    """Reads one format: finds what can carry a threat and hands it to analysers.

    ``sniff`` looks at content only (the first bytes, and where needed the end of
    the artifact) and returns a score: 0 means "not mine"; the highest score wins.
    The extension may only break ties, through ``extensions`` (set from the reader's row in
    ``formats.registry``).
    """

    name: str = ""
    extensions: tuple[str, ...] = ()
    # A wrapper whose one child is what the loader reads (a compressed file): when no reader
    # recognises that child, the file is unsupported.
    transparent: bool = False

    @abstractmethod
    def sniff(self, artifact: Artifact, head: bytes) -> int: ...

    @abstractmethod
    def scan(self, artifact: Artifact, ctx: Sink) -> Reading | None:
        """Read ``artifact``, reporting to ``ctx``; a reader that finds artifacts inside it
        yields them as :class:`Child` values (see the module's doc) instead of returning None."""
