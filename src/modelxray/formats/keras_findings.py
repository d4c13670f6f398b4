"""Keras configs as findings: what :mod:`modelxray.analysis.keras_config` concludes, reported.

Shared by the readers that find Keras configs (JSON documents, HDF5 attributes, SavedModel
metadata): the analyser returns judgements, ``rules.keras.BY_KIND`` names their rules, and a
TorchModuleWrapper's payload is yielded to the engine as a child artifact, and its own
judgement is made from what that scan found.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from modelxray.formats.base import identify
from modelxray.rules import keras as rules
from modelxray.scanning import Child, Reading, report_judgements

if TYPE_CHECKING:
    from modelxray.analysis.keras_config import KerasDoc, NestedPayload
    from modelxray.model import Judgement
    from modelxray.scanning import Sink


def report_config(doc: KerasDoc, ctx: Sink) -> Reading:
    """Judge one Keras config document and report what it concludes; a TorchModuleWrapper's
    payload is yielded to the engine as a child first."""
    from modelxray.analysis.keras_config import (
        NestedPayload,
        archive_location,
        judge_archive_members,
        judge_config,
    )

    for item in judge_config(doc, ctx.budget, ctx.limits, ctx.settings):
        if isinstance(item, NestedPayload):
            judgement = yield from _scan_payload(item, ctx)
        else:
            judgement = item
        report_judgements(ctx, rules.BY_KIND, doc.location, (judgement,))
    members = judge_archive_members(doc, ctx.limits)
    report_judgements(ctx, rules.BY_KIND, archive_location(doc), members)


def _scan_payload(payload: NestedPayload, ctx: Sink) -> Generator[Child, bool, Judgement]:
    """Scan the bytes the loader unpickles with the engine's own readers; the payload's
    judgement follows from the findings made at or below it."""
    child = payload.artifact
    loc = child.location
    recognised = identify(child) is not None
    since = len(ctx.findings)
    yield Child(child)
    found = [
        f
        for f in ctx.findings[since:]
        if f.location.path == loc.path and f.location.inner[: len(loc.inner)] == loc.inner
    ]
    return payload.conclude(recognised, found)
