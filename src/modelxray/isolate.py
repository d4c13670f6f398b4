"""Isolated inspection: parse each file in a child process under memory and CPU limits.

A native parser (HDF5, protobuf, a decompressor) that crashes, leaks or spins on a
hostile file takes down only its child: the parent records an MX-SCAN-008 finding for
that file and goes on with the next one.

The child is ``python -m modelxray.isolate``: it reads one JSON request on stdin
(path, display name, limits, the policy as data), imports the readers, sets ``RLIMIT_AS`` and
``RLIMIT_CPU`` on itself, runs :func:`modelxray.engine.scan_file` and writes
``FileResult.to_dict()`` as JSON on stdout.  The parent rebuilds the result and applies
its own policy.  Only modelxray's own data crosses the boundary (JSON, never pickle).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from modelxray.budget import Limits
from modelxray.engine import ScanOptions, scan_file
from modelxray.model import (
    Disposition,
    FileResult,
    FileStatus,
    Finding,
    Location,
    Report,
    Verdict,
)
from modelxray.policy import file_verdict, policy_from_dict, policy_to_dict
from modelxray.rules import scan as scan_rules
from modelxray.sources import SourceFile, selected_sources

DEFAULT_MEMORY_MB = 4096
_POLICY_MADE = frozenset({scan_rules.SUPPRESSION_EXPIRED.id, scan_rules.FORMAT_NOT_APPROVED.id})


@dataclass(frozen=True)
class IsolationSettings:
    # Address space the parse may add on top of the child's start-up (interpreter + readers).
    memory_mb: int = DEFAULT_MEMORY_MB
    # CPU seconds per file; None: twice the per-file time limit, plus start-up.
    cpu_seconds: float | None = None

    def cpu_limit(self, limits: Limits) -> int:
        if self.cpu_seconds is not None:
            return max(1, int(self.cpu_seconds + 0.999))
        return int(limits.max_seconds_per_file * 2 + 10)


# ------------------------------------------------------------------------------ rebuild


def result_from_dict(d: dict[str, Any]) -> FileResult:
    """Rebuild a :class:`FileResult` from ``FileResult.to_dict()`` (suppressions included)."""
    # Findings the policy itself adds (expired suppression, format not approved) are added
    # again when the parent applies the policy: keep one.
    findings = [
        Finding.from_dict(f) for f in d.get("findings", []) if f["rule_id"] not in _POLICY_MADE
    ]
    suppressed = [Finding.from_dict(f) for f in d.get("suppressed", [])]
    r = FileResult(
        path=d["path"],
        size=int(d["size"]),
        sha256=d.get("sha256", ""),
        formats=list(d.get("formats", [])),
        status=FileStatus(d.get("status", FileStatus.SCANNED)),
        findings=findings + suppressed,  # the parent's policy decides again
        seconds=float(d.get("seconds", 0.0)),
        verdict=Verdict(d.get("verdict", Verdict.ALLOWED)),
        bytes_fetched=d.get("bytes_fetched"),
        revision=d.get("revision"),
    )
    for f in r.findings:
        f.disposition = Disposition.BLOCK
        f.evidence.pop("suppressed_because", None)
    return r


# ------------------------------------------------------------------------------ parent


def _crash_result(
    source: SourceFile, options: ScanOptions, why: str, evidence: dict[str, Any], seconds: float
) -> FileResult:
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
    result.verdict = file_verdict(options.policy, result, date.today())
    result.seconds = seconds
    return result


def _describe_exit(code: int) -> str:
    if code < 0:
        import signal

        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def scan_file_isolated(
    source: SourceFile, options: ScanOptions, settings: IsolationSettings
) -> FileResult:
    """Scan one file in a child process; a crash or a limit becomes an MX-SCAN-008 finding."""
    if source.path is None:  # nothing to parse: problems only (links, unreadable)
        return scan_file(source, options)
    request = {
        "path": source.path,
        "display": source.display,
        "size": source.size,
        "limits": asdict(options.limits),
        # The child analyses under the same policy (allow/deny lists, rule states, severities).
        "policy": policy_to_dict(options.policy),
        "policy_source": options.policy.source,
        "compute_hash": options.compute_hash or options.policy.needs_hashes,
        "show_code": bool(getattr(options, "show_code", False)),
        "memory_mb": settings.memory_mb,
        "cpu_seconds": settings.cpu_limit(options.limits),
    }
    wall = settings.cpu_limit(options.limits) * 2 + 30
    started = time.perf_counter()
    evidence: dict[str, Any] = {
        "memory_mb": settings.memory_mb,
        "cpu_seconds": request["cpu_seconds"],
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "modelxray.isolate"],
            input=json.dumps(request).encode(),
            capture_output=True,
            timeout=wall,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
    except subprocess.TimeoutExpired:
        return _crash_result(
            source,
            options,
            f"the isolated parser did not finish within {wall}s of wall-clock time",
            {**evidence, "limit": "wall_clock", "seconds": wall},
            time.perf_counter() - started,
        )
    seconds = time.perf_counter() - started
    stderr_tail = proc.stderr.decode("utf-8", "replace")[-800:]
    if proc.returncode == 0:
        try:
            payload = json.loads(proc.stdout.decode("utf-8"))
            result = result_from_dict(payload)
        except (ValueError, KeyError, TypeError) as exc:
            return _crash_result(
                source,
                options,
                f"the isolated parser returned no usable result ({type(exc).__name__})",
                {**evidence, "stderr": stderr_tail},
                seconds,
            )
        result.verdict = file_verdict(options.policy, result, date.today())
        return result
    code = proc.returncode
    hit = "cpu" if code == -24 else ("memory" if "MemoryError" in stderr_tail else "crash")
    return _crash_result(
        source,
        options,
        f"the parser {_describe_exit(code)} in isolation "
        f"(limits: {settings.memory_mb} MB address space, {request['cpu_seconds']} CPU seconds)",
        {**evidence, "exit": code, "cause": hit, "stderr": stderr_tail},
        seconds,
    )


def iter_results_isolated(
    paths: Iterable[str], options: ScanOptions, settings: IsolationSettings
) -> Iterator[FileResult]:
    """Like :func:`modelxray.engine.iter_results`, one child process per file."""
    sources = list(selected_sources(paths, options.policy))
    jobs = options.jobs if options.jobs > 0 else (os.cpu_count() or 1)
    if jobs <= 1 or len(sources) < 2:
        for s in sources:
            yield scan_file_isolated(s, options, settings)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        yield from pool.map(lambda s: scan_file_isolated(s, options, settings), sources)


def scan_isolated(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    options: ScanOptions | None = None,
    settings: IsolationSettings | None = None,
) -> Report:
    """:func:`modelxray.scan`, with every file parsed in its own limited child process."""
    options = options or ScanOptions()
    settings = settings or IsolationSettings()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    started = time.perf_counter()
    report = Report(gate=options.policy.gate())
    report.files.extend(iter_results_isolated([os.fspath(p) for p in paths], options, settings))
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------------------------ child


def _vm_size() -> int:
    """This process's current virtual size in bytes (0 when /proc is not available)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _limit_self(memory_mb: int, cpu_seconds: int) -> None:
    """Limit what the parse may add: address space and CPU time on top of start-up."""
    import resource

    mem = _vm_size() + memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime) + 1 + cpu_seconds
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def child_main() -> int:
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    # Import what parsing needs before the address-space limit applies, so the limit
    # measures the parse, not the interpreter's start-up.
    import modelxray.formats  # noqa: F401

    for lib in ("numpy", "h5py"):
        try:
            __import__(lib)
        except ImportError:
            pass
    limits = Limits(**request["limits"])
    options = ScanOptions(
        limits=limits,
        policy=policy_from_dict(request["policy"], source=request.get("policy_source")),
        compute_hash=bool(request["compute_hash"]),
        show_code=bool(request.get("show_code", False)),
    )
    source = SourceFile(request["display"], request["path"], int(request["size"]))
    _limit_self(int(request["memory_mb"]), int(request["cpu_seconds"]))
    result = scan_file(source, options)
    out = json.dumps(result.to_dict(), default=str)
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(child_main())
