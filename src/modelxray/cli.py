"""Command line: argument parsing only; the engine scans and a renderer reports."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO, cast

from modelxray import __version__

if TYPE_CHECKING:
    from modelxray.policy import Policy

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Stopped by a signal: 128 + its number, as a shell reports it (130 SIGINT, 143 SIGTERM).  A
# reader that went away (``| head``) ends the run quietly with 141, 128 + SIGPIPE: what a shell
# reports for a program the broken pipe killed.  Never 0: the report was not delivered, so a
# pipeline under ``set -o pipefail`` must not pass.
EXIT_SIGNAL_BASE = 128
EXIT_BROKEN_PIPE = EXIT_SIGNAL_BASE + 13


class UsageError(Exception):
    """A command line that cannot work, found before any file is read (exit 2, one line)."""


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: stop scanning, report what was judged."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _Stopper:
    """Turns SIGINT and SIGTERM into :class:`_Interrupted` where the main thread is (waiting
    for a worker, or parsing), except inside :meth:`hold`: a report line being written is
    finished first, so no output is cut mid-line.  One signal stops the run; later ones are
    ignored while the partial report is written."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self.holding = False

    def __call__(self, signum: int, frame: object) -> None:
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        if self.holding:
            self.pending = signum
            return
        raise _Interrupted(signum)

    @contextmanager
    def hold(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        signum, self.pending = self.pending, None
        if signum is not None:
            raise _Interrupted(signum)


def _columns() -> int:
    """The terminal's width as ``shutil.get_terminal_size`` finds it ($COLUMNS, then the
    terminal on stdout, else 80), without importing shutil (and with it bz2 and lzma)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, sized by :func:`_columns` (argparse makes one for every
    argument it defines, and its own sizing imports shutil)."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = _columns() - 2 if width is None else width
        super().__init__(prog, indent_increment, max_help_position, width)


class _ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser using :class:`_HelpFormatter`, as do its sub-command parsers (of its
    own class)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


# The sub-commands, in the order ``--help`` lists them.
COMMANDS = ("scan", "rules", "explain", "pull", "convert", "serve", "keys")


def _command_word(argv: Sequence[str]) -> str | None:
    """The sub-command a command line names (the global options take no value), or None."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg
    return None


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with ``only`` (a sub-command), that sub-command alone is
    defined: each ``add_argument`` costs start-up time, and a one-file scan pays for its own
    options only.  Without it (``--help``, an unknown command) every sub-command is."""
    p = _ArgumentParser(
        prog="modelxray",
        description="Look inside ML model files and say whether loading them would run code.",
    )
    p.add_argument("--version", action="version", version=f"modelxray {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        p.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    if only in (None, "scan"):
        _scan_parser(sub)
    if only in (None, "rules"):
        r = sub.add_parser("rules", help="list every rule")
        r.add_argument("-f", "--format", choices=("table", "json"), default="table")
        r.add_argument(
            "--write-docs", metavar="DIR", help="write one Markdown page per rule into DIR"
        )
    if only in (None, "explain"):
        e = sub.add_parser("explain", help="print a rule's page")
        e.add_argument("rule_id", metavar="RULE_ID")
    if only in (None, "pull"):
        _pull_parser(sub)
    if only in (None, "convert"):
        _convert_parser(sub)
    if only in (None, "serve", "keys"):
        from modelxray.serve.cli import add_parsers  # argparse only: no service imports

        add_parsers(sub)
    return p


def _scan_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    s = sub.add_parser(
        "scan",
        help="scan files and folders, or remote sources (hf://, s3://, gs://, az://, https://)",
    )
    s.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files and folders to scan; '-' scans what is piped in on standard input",
    )
    s.add_argument(
        "--from-list",
        metavar="FILE",
        action="append",
        default=[],
        help="also scan the paths and URIs listed in FILE (one a line, '#' comments)",
    )
    s.add_argument(
        "--resume",
        metavar="RESULTS.jsonl",
        help="continue from this JSON Lines results file: files it judged are not judged "
        "again; new judgements are appended to it as they are made",
    )
    s.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="where files are judged: this machine (default) or a Dask cluster (extra 'dask')",
    )
    s.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="--engine dask: the scheduler's address (default: a LocalCluster, one worker per "
        "--jobs)",
    )
    s.add_argument(
        "--cache",
        metavar="PATH",
        help="the verdict cache's SQLite file (default: $XDG_CACHE_HOME/modelxray/"
        "verdicts.sqlite): the same bytes under the same scanner and analysis settings are "
        "judged once",
    )
    s.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    s.add_argument(
        "-f",
        "--format",
        choices=("console", "json", "jsonl", "sarif", "html", "cyclonedx"),
        default="console",
        help="report format; jsonl writes one line per file as it is judged, then a summary; "
        "cyclonedx writes a CycloneDX 1.6 ML-BOM (the 'sbom' extra)",
    )
    s.add_argument(
        "-q", "--quiet", action="store_true", help="console: only failing files and the summary"
    )
    s.add_argument("-o", "--output", metavar="FILE", help="write the report here, not stdout")
    s.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file (modelxray.toml or a pyproject.toml with [tool.modelxray]); "
        "default: the nearest one from the working directory up to the project root",
    )
    s.add_argument("--no-policy", action="store_true", help="ignore policy files")
    s.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="console colours (default auto: on a terminal, unless NO_COLOR is set)",
    )
    s.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress line on stderr (it is shown only on a terminal, never under CI)",
    )
    s.add_argument(
        "--fail-on",
        metavar="SEVERITY",
        help="block files with a finding at or above this: critical, high, medium, low, info, or "
        "'none' (overrides the policy; default: high)",
    )
    s.add_argument(
        "--fail-on-unsupported",
        action="store_true",
        default=None,
        help="also fail when a file is in no model format modelxray knows (listed as unsupported)",
    )
    s.add_argument(
        "--report-only", action="store_true", default=None, help="report, but always exit 0"
    )
    s.add_argument("--hash", action="store_true", help="record each file's SHA-256")
    s.add_argument(
        "--show-code",
        action="store_true",
        help="print the program reconstructed from every pickle stream (MX-PICKLE-010)",
    )
    s.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        metavar="N",
        help="worker processes for folders (default: one per core)",
    )

    s.add_argument(
        "--isolate",
        action="store_true",
        help="parse each file in a child process with memory and CPU limits (MX-SCAN-008)",
    )
    s.add_argument(
        "--isolate-memory-mb",
        type=int,
        default=4096,
        metavar="MB",
        help="--isolate: address-space limit of each child process (default 4096)",
    )
    s.add_argument(
        "--isolate-cpu-seconds",
        type=float,
        default=None,
        metavar="S",
        help="--isolate: CPU-time limit of each child process (default: from the time limit)",
    )


def _pull_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    pl = sub.add_parser(
        "pull",
        help="scan a Hugging Face repository by range reads; download it only if every file is "
        "allowed, and keep only bytes with the SHA-256 that was scanned",
    )
    pl.add_argument("uri", metavar="hf://ORG/NAME[@REVISION][/PATH]")
    pl.add_argument("--revision", metavar="R", help="branch, tag or commit (resolved to a commit)")
    pl.add_argument(
        "--local-dir", metavar="DIR", help="download into DIR (default: the Hugging Face cache)"
    )
    pl.add_argument("-f", "--format", choices=("console", "json"), default="console")
    pl.add_argument("--policy", metavar="FILE", help="policy file (as for scan)")
    pl.add_argument("--no-policy", action="store_true", help="ignore policy files")
    pl.add_argument("--fail-on", metavar="SEVERITY", help="as for scan")
    pl.set_defaults(fail_on_unsupported=None, report_only=None)


def _convert_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser(
        "convert", help="convert PyTorch/NumPy/Keras weights to SafeTensors, executing nothing"
    )
    c.add_argument("src", metavar="SRC")
    c.add_argument("dst", metavar="DST.safetensors")
    c.add_argument(
        "--force", action="store_true", help="convert even with critical findings (still inert)"
    )
    c.add_argument(
        "--verify",
        action="store_true",
        help="re-read the output with an independent reader and check it against the source",
    )
    c.add_argument(
        "--max-amplification",
        type=float,
        default=None,
        metavar="N",
        help="refuse an output over N times the source's storage bytes (+16 MiB; default 4)",
    )
    c.add_argument("-f", "--format", choices=("text", "json"), default="text")


def _policy(args: argparse.Namespace) -> Policy:
    """The policy file in effect, with command-line flags taking precedence."""
    from dataclasses import replace

    from modelxray.model import Severity
    from modelxray.policy import Policy, PolicyError, find_policy, load_policy

    if args.fail_on is not None:
        try:
            fail_on = None if args.fail_on.lower() == "none" else Severity.parse(args.fail_on)
        except ValueError:
            words = ", ".join(str(v) for v in reversed(Severity))
            raise UsageError(
                f"--fail-on: unknown severity {args.fail_on!r} (expected one of {words}, none)"
            ) from None
    try:
        if args.policy:
            if not os.path.lexists(args.policy):
                raise UsageError(f"--policy {args.policy}: no such policy file")
            if not os.path.isfile(args.policy):  # a FIFO or device is never opened
                raise UsageError(f"--policy {args.policy}: not a regular file")
            policy = load_policy(args.policy)
        else:
            policy = (None if args.no_policy else find_policy(".")) or Policy()
    except PolicyError as exc:
        raise UsageError(f"policy: {exc}") from None
    except OSError as exc:
        raise UsageError(f"policy: {exc.filename}: {exc.strerror}") from None
    if args.fail_on is not None:
        policy = replace(policy, fail_on=fail_on)
    if args.fail_on_unsupported is not None:
        policy = replace(policy, fail_on_unsupported=args.fail_on_unsupported)
    if args.report_only is not None:
        policy = replace(policy, report_only=args.report_only)
    return policy


def _check_scan_args(args: argparse.Namespace) -> None:
    """What can be known wrong before any file is read: conflicting options, paths."""
    if args.policy and args.no_policy:
        raise UsageError("--policy and --no-policy cannot be used together")
    if args.paths.count("-") > 1:
        raise UsageError("'-' (standard input) can be named once")
    if args.cache and args.no_cache:
        raise UsageError("--cache and --no-cache cannot be used together")
    if args.resume and args.output and os.path.abspath(args.resume) == os.path.abspath(args.output):
        raise UsageError("--resume names the results file kept beside the report: -o must differ")
    if args.scheduler and args.engine != "dask":
        raise UsageError("--scheduler needs --engine dask")
    if args.isolate and (args.engine == "dask" or args.resume):
        raise UsageError("--isolate cannot be used with --engine dask or --resume")
    for listed in args.from_list:
        try:
            from modelxray.batch import read_list

            args.paths.extend(read_list(listed))
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--from-list {listed}: {exc}") from None
    if not args.paths and not args.from_list:
        raise UsageError("name a file, folder or URI to scan (or --from-list FILE)")
    from modelxray.reports import ReportUnavailable, check_available

    try:
        check_available(args.format)  # a report format that needs a missing extra
    except ReportUnavailable as exc:
        raise UsageError(str(exc)) from None
    from modelxray.sources import uri_scheme

    missing = [
        p for p in args.paths if p != "-" and uri_scheme(p) is None and not os.path.lexists(p)
    ]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")


def _open_output(path: str | None) -> TextIO:
    """The report's destination, opened before the scan: a path that cannot be written is a
    usage error now, not an internal error after the scan."""
    if path is None or path == "-":
        return sys.stdout
    if os.path.isdir(path):
        raise UsageError(f"-o {path}: is a folder, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"-o {path}: the folder {parent} does not exist")
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"-o {path}: cannot write: {exc.strerror or exc}") from None


def _color(choice: str, out: TextIO) -> bool:
    """``--color``: always / never, or auto: a terminal, unless ``NO_COLOR`` (no-color.org) or
    a dumb terminal says otherwise; ``FORCE_COLOR`` turns it on."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return out.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def _progress_wanted(args: argparse.Namespace) -> bool:
    """A progress line on stderr: folder scans on a terminal, not under CI, not switched off."""
    if args.no_progress or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    if not any(p != "-" and os.path.isdir(p) for p in args.paths):
        return False
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _cmd_scan(args: argparse.Namespace) -> int:
    import signal

    _check_scan_args(args)
    policy = _policy(args)
    out = _open_output(args.output)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    stopper = _Stopper()
    try:
        try:
            for sig in handlers:
                signal.signal(sig, stopper)
        except ValueError:  # not the main thread: only it may set handlers; the caller's stay
            handlers = {}
        return _run_scan(args, policy, out, stopper)
    finally:
        for sig, handler in handlers.items():
            if handler is not None:  # None: set outside Python, nothing to restore
                signal.signal(sig, handler)
        if out is not sys.stdout:
            out.close()


def _default_cache_path() -> str | None:
    from modelxray.cache import default_path  # (SQLite and hashing: only with the cache)

    return default_path()


def _run_scan(args: argparse.Namespace, policy: Policy, out: TextIO, stopper: _Stopper) -> int:
    """Judge every file, reporting each as it is judged (progress, JSON Lines); on SIGINT or
    SIGTERM stop the workers, report what was judged (marked incomplete) and exit 128+N."""
    import signal
    import time

    from modelxray.engine import ScanOptions, iter_results, link_model_data, plan
    from modelxray.model import FileStatus, Report
    from modelxray.reports import render
    from modelxray.sources import SourceFile, spool_stdin

    options = ScanOptions(
        policy=policy,
        compute_hash=args.hash or args.format == "cyclonedx",  # an SBOM lists hashes
        jobs=max(0, args.jobs),
        show_code=args.show_code,
        cache=None if args.no_cache else (args.cache or _default_cache_path()),
    )
    iterate: Any = iter_results
    if args.engine == "dask" or args.resume:
        from modelxray.batch import in_input_order, iter_indexed

        def iterate(_paths: list[str], options: ScanOptions, sources: list[SourceFile]) -> Any:
            return in_input_order(
                iter_indexed(
                    sources,
                    options,
                    engine=args.engine,
                    scheduler=args.scheduler,
                    workers=args.jobs if args.jobs > 0 else None,
                    resume=args.resume,
                )
            )

    if args.isolate:  # same scan, each file parsed in a limited child process
        from functools import partial

        from modelxray.isolate import IsolationSettings, iter_results_isolated

        settings = IsolationSettings(args.isolate_memory_mb, args.isolate_cpu_seconds)
        iterate = partial(iter_results_isolated, settings=settings)
    if args.format == "console" and out is sys.stdout and hasattr(out, "reconfigure"):
        out.reconfigure(errors="backslashreplace")  # a name the locale cannot encode
    color = args.format == "console" and _color(args.color, out)
    paths = [p for p in args.paths if p != "-"]
    report = Report(gate=policy.gate())
    writer = None
    if args.format == "jsonl":
        from modelxray.reports.jsonl import JsonLinesWriter

        writer = JsonLinesWriter(out)
    bar = None
    stdin_file: str | None = None
    started = time.perf_counter()
    code = 0
    try:
        sources: list[SourceFile] = []
        if "-" in args.paths:
            source = spool_stdin(sys.stdin.buffer, options.limits.max_member_bytes)
            stdin_file = source.path
            sources.append(source)
        if paths:
            sources.extend(plan(paths, options))
        report.total = len(sources)
        if _progress_wanted(args):
            from modelxray.progress import Progress

            bar = Progress(sys.stderr, len(sources))
            bar.start(sources[0].display if sources else "")
        results = iterate(paths, options, sources=sources)
        try:
            for i, result in enumerate(results):
                with stopper.hold():
                    report.files.append(result)
                    if writer is not None:
                        if bar is not None:
                            bar.clear()
                        writer.file(result)
                    if bar is not None:
                        following = sources[i + 1].display if i + 1 < len(sources) else ""
                        bar.advance(result, following)
        finally:  # stops the workers now when the loop ends early (signal, broken pipe)
            getattr(results, "close", lambda: None)()
    except _Interrupted as exc:
        report.interrupted = signal.Signals(exc.signum).name
        code = EXIT_SIGNAL_BASE + exc.signum
    finally:
        if bar is not None:
            bar.clear()
        if stdin_file is not None:
            os.unlink(stdin_file)
    with stopper.hold():  # the report is written whole; a signal now ends the run after it
        unsupported = [r for r in report.files if r.status == FileStatus.UNSUPPORTED]
        link_model_data(report.files, policy)
        report.seconds = time.perf_counter() - started
        if writer is not None:
            for r in unsupported:
                if r.status != FileStatus.UNSUPPORTED:
                    writer.file(r, revised=True)
            writer.summary(report)
        else:
            render(report, args.format, out, color=color, quiet=args.quiet)
        out.flush()
    if report.interrupted is not None:
        from modelxray.reports.common import interrupted_text

        print(f"modelxray: {interrupted_text(report)}", file=sys.stderr)
        return code
    return EXIT_FINDINGS if report.failed else EXIT_OK


def _cmd_rules(args: argparse.Namespace) -> int:
    import json

    from modelxray.rules import ALL_RULES

    if args.write_docs:
        from modelxray.rules.docs import write_docs

        for path in write_docs(args.write_docs):
            print(path)
        return EXIT_OK
    if args.format == "json":
        rows = [
            {"id": r.id, "title": r.title, "family": r.family, "severity": str(r.severity),
             "confidence": str(r.confidence), "cves": list(r.cves), "cwes": list(r.cwes),
             "help_uri": r.help_uri}
            for r in ALL_RULES.values()
        ]  # fmt: skip
        json.dump(rows, sys.stdout, indent=2)
        print()
        return EXIT_OK
    width = max(len(r.title) for r in ALL_RULES.values())
    for r in ALL_RULES.values():
        print(f"{r.id:<14} {str(r.severity):<9} {r.title:<{width}}  {' '.join(r.cves)}".rstrip())
    return EXIT_OK


_CONVERT_NEEDS = ("numpy", "h5py")  # the [convert] extra


def _cmd_convert(args: argparse.Namespace) -> int:
    import json

    from modelxray.convert import ConvertError, ConvertRefused, convert

    try:
        extra = (
            {} if args.max_amplification is None else {"max_amplification": args.max_amplification}
        )
        result = convert(args.src, args.dst, force=args.force, verify=args.verify, **extra)
    except ConvertRefused as exc:
        print(f"modelxray: convert: {exc}", file=sys.stderr)
        for line in exc.findings[:20]:
            print(f"  {line}", file=sys.stderr)
        return EXIT_FINDINGS
    except (ConvertError, OSError) as exc:
        print(f"modelxray: convert: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ModuleNotFoundError as exc:
        if exc.name not in _CONVERT_NEEDS:
            raise
        print(
            f"modelxray: convert needs {exc.name}, which is not installed: "
            "pip install 'modelxray[convert]'",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.format == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
        return EXIT_OK
    print(f"{result.source} ({result.format}) -> {result.output}: {len(result.tensors)} tensors")
    if result.forced:
        print(f"  converted despite {len(result.critical)} critical finding(s) (--force)")
    for key, value in result.metadata.items():
        print(f"  metadata {key} = {value[:80]}")
    for name, why in result.dropped:
        print(f"  dropped {name}: {why}")
    if result.config_path:
        print(f"  model config (Lambdas removed): {result.config_path}")
    if result.verification is not None:
        print(f"  verified: {result.verification.checked} tensors match the source")
    return EXIT_OK


def _cmd_pull(args: argparse.Namespace) -> int:
    from modelxray.engine import ScanOptions
    from modelxray.policy import PolicyError
    from modelxray.pull import PullError, pull
    from modelxray.reports import render

    try:
        policy = _policy(args)
    except PolicyError as exc:
        print(f"modelxray: policy: {exc}", file=sys.stderr)
        return EXIT_ERROR
    try:
        result = pull(args.uri, args.revision, args.local_dir, ScanOptions(policy=policy))
    except PullError as exc:
        print(f"modelxray: pull: {exc}", file=sys.stderr)
        return EXIT_ERROR
    render(result.report, args.format, sys.stdout, color=sys.stdout.isatty())
    if not result.ok:
        print(f"modelxray: pull: refused: {result.refused}", file=sys.stderr)
        return EXIT_FINDINGS
    where = args.local_dir or "the Hugging Face cache"
    print(f"modelxray: pull: {len(result.files)} file(s) at {result.commit} into {where}",
          file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace) -> int:
    from modelxray.rules import get_rule

    try:
        rule = get_rule(args.rule_id)
    except KeyError as exc:
        print(f"modelxray: {exc.args[0]}", file=sys.stderr)
        return EXIT_ERROR
    print(rule.page())
    return EXIT_OK


def _quiet_stdout() -> None:
    """The reader of stdout went away (``| head``): send what is left to /dev/null, so the
    flush at exit raises nothing either (the recipe in Python's ``signal`` docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # not a real file descriptor (captured in tests)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    command = _command_word(words)
    parser = _parser(command if command in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.verbose:  # logging is imported only to show debug messages (start-up cost)
        import logging

        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="modelxray: %(levelname)s: %(message)s"
        )
    handlers = {"scan": _cmd_scan, "rules": _cmd_rules, "explain": _cmd_explain}
    handlers["convert"] = _cmd_convert
    handlers["pull"] = _cmd_pull
    if args.command in ("serve", "keys"):
        from modelxray.serve.cli import cmd_keys, cmd_serve

        handlers["serve"], handlers["keys"] = cmd_serve, cmd_keys
    try:
        code = handlers[args.command](args)
        sys.stdout.flush()  # a reader that went away is found here, not at exit
        return code
    except UsageError as exc:
        print(f"modelxray: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (KeyboardInterrupt, _Interrupted) as exc:
        import signal

        signum = exc.signum if isinstance(exc, _Interrupted) else signal.SIGINT
        print("modelxray: interrupted", file=sys.stderr)
        return EXIT_SIGNAL_BASE + signum
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - internal error: exit 2, never a false "clean"
        if args.verbose:
            import logging

            logging.getLogger("modelxray").debug("internal error", exc_info=True)
        print(f"modelxray: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
