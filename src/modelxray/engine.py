"""The one-way flow: source → container walk → sniff → reader → analysers → findings → report."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from modelxray.artifact import Artifact
from modelxray.budget import BudgetExceeded, Limits
from modelxray.model import (
    FileResult,
    FileStatus,
    Finding,
    Location,
    Report,
    Severity,
)
from modelxray.policy import POLICY_FILE_NAMES, Policy, embedded_policy, file_verdict
from modelxray.rules import scan as scan_rules
from modelxray.scanning import AnalysisSettings, Child, Collector, Reading
from modelxray.sources import SourceFile, selected_sources, sha256_file


@dataclass(frozen=True)
class ScanOptions:
    """What a scan is run with: limits, policy and output choices."""

    limits: Limits = Limits()
    policy: Policy = Policy()
    compute_hash: bool = False
    # Readers that reconstruct programs (pickle) attach them as info findings.
    show_code: bool = False
    jobs: int = 1  # worker processes; 0 means one per core
    # The verdict cache (``modelxray.cache``): its SQLite file, or None for no cache.
    cache: str | None = None


class ScanContext(Collector):
    """The engine's side of the reader contract (:class:`~modelxray.scanning.Sink`) for one
    top-level file: findings, formats and references go into its :class:`FileResult`."""

    def __init__(self, result: FileResult, options: ScanOptions) -> None:
        super().__init__(
            options.limits,
            analysis_settings(options),
            result.findings,
            result.formats,
            result.references,
        )
        self.result = result
        self.options = options
        # A transparent reader's (a compressed wrapper's) child that no reader recognised.
        self.unrecognised_child = False

    def drive(self, reading: Reading) -> None:
        """Run a reader that yields children: scan each child it yields and send back whether
        a reader recognised it; what a child's scan raises is raised where it was yielded."""
        try:
            child = next(reading)
            while True:
                try:
                    recognised = self.scan_child(child)
                except Exception as exc:  # noqa: BLE001 - raised in the reader, as a call would
                    child = reading.throw(exc)
                else:
                    child = reading.send(recognised)
        except StopIteration:
            return

    def scan_child(self, child: Child) -> bool:
        """Scan an artifact a reader found inside the current one; False when no reader
        recognised it.  The depth limit applies here, and a per-member limit stops that
        member, not its parent (the per-file time limit stops the file)."""
        artifact = child.artifact
        if artifact.depth > self.limits.max_container_depth:
            self.report(
                scan_rules.INCOMPLETE,
                artifact.location,
                f"nesting deeper than {self.limits.max_container_depth} levels was not scanned",
                {"limit": "max_container_depth"},
            )
            return True
        try:
            recognised = scan_artifact(artifact, self, child.exclude)
        except BudgetExceeded as exc:
            if exc.per_file:  # the file's own limit: its top level reports it, once
                raise
            self.report(
                scan_rules.INCOMPLETE,
                artifact.location,
                f"scan of this member stopped at a safety limit ({exc.limit}): {exc.detail}",
                {"limit": exc.limit},
            )
            return True
        if not recognised and artifact.depth == 1:
            self.unrecognised_child = True
        return recognised


def analysis_settings(options: ScanOptions) -> AnalysisSettings:
    """The analysis-relevant part of the options and their policy, as plain values."""
    p = options.policy
    return AnalysisSettings(
        allow_pickle_globals=tuple(e.target for e in p.allow_pickle_globals),
        deny_pickle_globals=tuple(e.target for e in p.deny_pickle_globals),
        allow_keras_modules=tuple((e.target, e.reason) for e in p.allow_keras_modules),
        deny_keras_modules=tuple((e.target, e.reason) for e in p.deny_keras_modules),
        show_code=options.show_code,
    )


def _status(ctx: ScanContext, recognised: bool) -> FileStatus:
    """The file's status, derived from what the scan found (never set by a reader)."""
    if ctx.incomplete:
        return FileStatus.UNSCANNABLE
    return FileStatus.SCANNED if recognised else FileStatus.UNSUPPORTED


def _check_file_limits(ctx: ScanContext, location: Location) -> None:
    """A per-file limit reached where a reader caught it (a sniffer that gave up on the
    artifact) still leaves the file incomplete: say so once."""
    limit = ctx.limits.max_decompressed_bytes_per_file
    if ctx.budget.decompressed > limit and not any(
        f.rule_id == scan_rules.INCOMPLETE.id
        and f.evidence.get("limit") == "max_decompressed_bytes_per_file"
        for f in ctx.findings
    ):
        ctx.report(
            scan_rules.INCOMPLETE,
            location,
            f"scan stopped at a safety limit (max_decompressed_bytes_per_file): more than "
            f"{limit} bytes decompressed for this file",
            {"limit": "max_decompressed_bytes_per_file"},
        )


def scan_artifact(artifact: Artifact, ctx: ScanContext, exclude: tuple[str, ...] = ()) -> bool:
    """Sniff and read one artifact; returns False when no reader recognised it."""
    from modelxray import formats  # (loads with the first file read: a cached verdict reads none)

    try:
        reader = formats.identify(artifact, exclude)
    except OSError as exc:
        ctx.report(scan_rules.UNREADABLE, artifact.location, f"could not read: {exc}")
        return True
    if reader is None:
        # What the loaders a name invites would make of content no reader recognises.
        ctx.drive(judge_unrecognised(artifact, ctx))
        return False
    if artifact.depth == 0:
        ctx.add_format(reader.name)
    try:
        reading = reader.scan(artifact, ctx)
        if reading is not None:
            ctx.drive(reading)
        if artifact.depth == 0 and reader.transparent and ctx.unrecognised_child:
            return False  # a wrapper of content no reader knows: the file is unsupported
    except BudgetExceeded as exc:
        if exc.per_file and artifact.depth > 0:
            raise  # the whole file stops: reported once, at its top level
        ctx.report(
            scan_rules.INCOMPLETE,
            artifact.location,
            f"scan stopped at a safety limit ({exc.limit}): {exc.detail}",
            {"limit": exc.limit, "format": reader.name},
        )
    except RecursionError:
        ctx.report(
            scan_rules.INCOMPLETE,
            artifact.location,
            "structure nested too deeply to analyse",
            {"limit": "recursion", "format": reader.name},
        )
    except MemoryError:
        ctx.report(
            scan_rules.INCOMPLETE,
            artifact.location,
            "ran out of memory while parsing",
            {"limit": "memory", "format": reader.name},
        )
    except Exception as exc:  # noqa: BLE001 - fail closed: any parser failure is a finding
        import logging  # only on this path: start-up never pays for it

        logging.getLogger("modelxray").debug(
            "reader %s failed on %s", reader.name, artifact.location, exc_info=True
        )
        ctx.report(
            scan_rules.UNPARSEABLE,
            artifact.location,
            f"could not be parsed as {reader.name}: {type(exc).__name__}: {exc}"[:500],
            {"format": reader.name, "error": type(exc).__name__},
        )
    return True


def judge_unrecognised(artifact: Artifact, ctx: ScanContext) -> Reading:
    """Judge content no reader recognised as what its name invites (``formats.loaders``)."""
    from modelxray.formats.loaders import FILE_PROMISES, PROMISES

    promise = FILE_PROMISES.get(artifact.name.lower()) or PROMISES.get(artifact.extension)
    if promise is None:
        return
    if promise.unpickled_by:
        from modelxray.formats.pickle import judge_as_unpickled

        why = f"content behind {artifact.extension!r} is no format modelxray recognises"
        if (yield from judge_as_unpickled(artifact, ctx, promise.unpickled_by, why)):
            return
    if promise.mismatch:
        if artifact.name.lower() in FILE_PROMISES:
            name = f"is {artifact.name!r}"
        else:
            name = f"ends in {artifact.extension!r}"
        ctx.report(
            scan_rules.UNRECOGNISED_MODEL,
            artifact.location,
            f"the name {name} ({promise.why}) but the content is no format modelxray knows",
            {"head": artifact.head(16).hex(), "extension": artifact.extension},
        )


def _judge_embedded_policy(path: str, display: str, ctx: ScanContext) -> None:
    """A policy file inside the scanned content is never applied; say so (high if looser)."""
    names = {os.path.basename(path), os.path.basename(display)}  # a link is judged by its name
    if not names & set(POLICY_FILE_NAMES):
        return
    from modelxray.rules import repo as repo_rules

    judged = embedded_policy(path, ctx.options.policy)
    if judged is not None:
        message, evidence, loosens = judged
        ctx.report(
            repo_rules.EMBEDDED_POLICY,
            Location(display),
            message,
            evidence,
            severity=None if loosens else Severity.INFO,
        )


def scan_file(source: SourceFile, options: ScanOptions) -> FileResult:
    """Scan one file from a source; never raises for anything the file contains.  With a
    verdict cache, the same bytes already judged under the same settings are not read again
    (``modelxray.cache``); the policy decides on the findings either way."""
    started = time.perf_counter()
    if options.cache is not None:
        from modelxray.cache import judged

        result = judged(
            source,
            options.cache,
            (analysis_settings(options), options.limits),
            options.compute_hash or options.policy.needs_hashes,
            lambda s: judge_file(s, options),
        )
    else:
        result = judge_file(source, options)
    result.verdict = file_verdict(options.policy, result)
    result.seconds = time.perf_counter() - started
    return result


def judge_file(source: SourceFile, options: ScanOptions) -> FileResult:
    """What one file holds: its formats, status and findings, before the policy decides."""
    result = FileResult(path=source.display, size=source.size, sha256="")
    ctx = ScanContext(result, options)
    recognised = True
    for rule, message, evidence in source.problems:
        ctx.report(rule, Location(source.display), message, evidence)
    if source.remote is not None:
        recognised = _scan_remote(source, ctx, options)
    elif source.path is None:  # nothing was read: never "ok", whatever the policy turns off
        ctx.incomplete = True
    else:
        _judge_embedded_policy(source.path, source.display, ctx)
        try:
            if options.compute_hash or options.policy.needs_hashes:
                result.sha256 = sha256_file(source.path)
            artifact = Artifact.from_file(source.path, display=source.display)
        except OSError as exc:
            ctx.report(scan_rules.UNREADABLE, Location(source.display), f"could not read: {exc}")
        else:
            recognised = scan_artifact(artifact, ctx)
            _check_file_limits(ctx, artifact.location)
    result.status = _status(ctx, recognised)
    return result


def _scan_remote(source: SourceFile, ctx: ScanContext, options: ScanOptions) -> bool:
    """Scan a remote file by range reads (``sources.remote``); a read that failed after
    retries is a finding (MX-SCAN-012), whatever a reader made of the exception."""
    import posixpath

    from modelxray.sources.remote import RemoteBlob

    obj, result = source.remote, ctx.result
    assert obj is not None
    blob = RemoteBlob(obj)
    result.revision = obj.spec.revision or None
    recognised = True
    try:
        if obj.sha256:  # given by the source (the hub's LFS oid): nothing to download
            result.sha256 = obj.sha256
        elif options.compute_hash or options.policy.needs_hashes:
            result.sha256 = blob.sha256()
        name = posixpath.basename(obj.key.split("?", 1)[0])
        if name in POLICY_FILE_NAMES and obj.size <= 1 << 20:  # judged as a local one is
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                copy = os.path.join(tmp, name)
                with open(copy, "wb") as f:
                    f.write(blob.read(0, obj.size))
                _judge_embedded_policy(copy, source.display, ctx)
        artifact = Artifact(Location(source.display), obj.size, blob.open, name)
        artifact.facts["loader_folder"] = blob.folder()  # for sibling files (joblib sidecars)
        recognised = scan_artifact(artifact, ctx)
    except OSError:
        pass  # kept on the blob, reported below
    finally:
        result.bytes_fetched = blob.fetched
    if blob.failure is not None:
        ctx.report(
            scan_rules.REMOTE_READ_FAILED,
            Location(source.display),
            f"remote read failed, the file was not fully judged: {blob.failure}"[:500],
            {"bytes_fetched": blob.fetched, "size": obj.size},
        )
    return recognised


def scan_bytes(data: bytes, name: str, options: ScanOptions | None = None) -> FileResult:
    """Scan in-memory content (e.g. what ``pickle.loads`` is about to load) as one file."""
    import hashlib

    options = options or ScanOptions()
    started = time.perf_counter()
    result = FileResult(path=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())
    ctx = ScanContext(result, options)
    artifact = Artifact.from_bytes(data, Location(name), os.path.basename(name) or name)
    recognised = scan_artifact(artifact, ctx)
    _check_file_limits(ctx, artifact.location)
    result.status = _status(ctx, recognised)
    result.verdict = file_verdict(options.policy, result)
    result.seconds = time.perf_counter() - started
    return result


def link_model_data(files: list[FileResult], policy: Policy) -> None:
    """Files a model in the same scan reads as its data (its ONNX external data, joblib
    sidecars) are that model's data, not unsupported files: the references readers recorded
    (``ScanContext.add_reference``) are matched against the other results once all are in.
    Only finding-free unsupported files change, and each gets an info finding naming its model.
    """
    owners: dict[str, str] = {}
    for r in files:
        for ref in r.references:
            owners.setdefault(ref, r.path)
    if not owners:
        return
    for r in files:
        if r.status != FileStatus.UNSUPPORTED or r.findings or r.suppressed:
            continue
        owner = owners.get(os.path.realpath(r.path))
        if owner is None or owner == r.path:
            continue
        r.status = FileStatus.SCANNED
        r.findings.append(
            Finding(
                rule_id=scan_rules.MODEL_DATA.id,
                severity=scan_rules.MODEL_DATA.severity,
                confidence=scan_rules.MODEL_DATA.confidence,
                location=Location(r.path),
                message=f"data read by the model {owner} (judged with it)",
                evidence={"model": owner},
                help_uri=scan_rules.MODEL_DATA.help_uri,
            )
        )
        r.verdict = file_verdict(policy, r)


def failed_result(
    source: SourceFile, options: ScanOptions, why: str, evidence: dict[str, Any], seconds: float
) -> FileResult:
    """The result of a file whose scanning process died or was stopped (MX-SCAN-008): the
    file is unscannable (verdict error), and the run goes on."""
    rule = scan_rules.ISOLATED_FAILURE
    result = FileResult(path=source.display, size=source.size, sha256="")
    result.findings.append(
        Finding(
            rule_id=rule.id,
            severity=rule.severity,
            confidence=rule.confidence,
            location=Location(source.display),
            message=why,
            evidence=evidence,
            help_uri=rule.help_uri,
        )
    )
    result.status = FileStatus.UNSCANNABLE
    result.verdict = file_verdict(options.policy, result)
    result.seconds = seconds
    return result


def describe_exit(code: int) -> str:
    """A process's exit code (negative: the signal that killed it) in words."""
    if code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


# A pool pays for its start (a fork per worker, a pipe round trip per file) only with enough
# work: at least this many files per worker, or this many bytes in all.
_POOL_FILES_PER_JOB = 4
_POOL_BYTES = 16 * 1024 * 1024


def pool_pays(sources: list[SourceFile], jobs: int) -> bool:
    """Whether spreading ``sources`` over ``jobs`` processes is worth starting them."""
    if jobs <= 1 or len(sources) < 2:
        return False
    readable = [s for s in sources if s.path is not None]
    if len(readable) < 2:
        return False
    return (
        len(readable) >= _POOL_FILES_PER_JOB * jobs or sum(s.size for s in readable) >= _POOL_BYTES
    )


def preload_readers() -> None:
    """Import every reader, container and analyser module (not the generated tables) before
    workers fork (readers load lazily, so a worker would otherwise import its own copy of what
    its files need): forked workers then share one copy, and a limited worker's memory limit
    measures parsing, not imports."""
    import importlib
    import pkgutil

    for package in ("formats", "containers", "analysis"):
        root = importlib.import_module(f"modelxray.{package}")
        for info in pkgutil.walk_packages(root.__path__, f"modelxray.{package}."):
            if "._generated" in info.name:
                continue  # tables: loaded by the few files that need them
            try:
                importlib.import_module(info.name)
            except ImportError:  # an optional dependency: the file that needs it says so
                pass


def _worker_died(source: SourceFile, options: ScanOptions, code: int | None) -> FileResult:
    how = "ended" if code is None else describe_exit(code)
    return failed_result(
        source,
        options,
        f"the worker process scanning this file {how} (killed for memory or CPU time, or "
        "crashed); the file was not scanned",
        {"exit": code, "cause": "worker died", "jobs": options.jobs},
        0.0,
    )


def plan(paths: Iterable[str], options: ScanOptions) -> list[SourceFile]:
    """The files a scan of ``paths`` will judge, in source order, listed before any is read
    (so a progress display knows the total)."""
    return list(selected_sources(paths, options.policy))


def iter_results(
    paths: Iterable[str], options: ScanOptions, sources: Sequence[SourceFile] | None = None
) -> Iterator[FileResult]:
    """Results in source order, each as soon as it and those before it are judged; files are
    spread over ``options.jobs`` processes when that pays (:func:`pool_pays`).  ``sources``:
    the files to judge when already listed (:func:`plan`); ``paths`` are then not walked
    again.  Closing the iterator early, or an exception (KeyboardInterrupt) while it waits,
    stops the workers at once (``pool.ordered_map``)."""
    if sources is None:
        sources = plan(paths, options)
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    if jobs > 1 and hasattr(os, "fork"):
        batch = list(sources)
        if pool_pays(batch, jobs):
            from modelxray.pool import ordered_map

            preload_readers()
            yield from ordered_map(
                batch,
                lambda source: scan_file(source, options),
                min(jobs, len(batch)),
                lambda source, code: _worker_died(source, options, code),
                # what the per-file time limit allows, twice over (as --isolate's default)
                cpu_seconds=options.limits.max_seconds_per_file * 2 + 10,
            )
            return
        sources = batch
    for source in sources:
        yield scan_file(source, options)


def scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    options: ScanOptions | None = None,
) -> Report:
    """Scan files and directories; the public entry point behind ``modelxray.scan``."""
    options = options or ScanOptions()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    started = time.perf_counter()
    report = Report(gate=options.policy.gate())
    report.files.extend(iter_results([os.fspath(p) for p in paths], options))
    link_model_data(report.files, options.policy)
    report.seconds = time.perf_counter() - started
    return report
