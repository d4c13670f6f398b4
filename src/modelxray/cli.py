"""Command line: argument parsing only; the engine scans and a renderer reports."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from modelxray import __version__

if TYPE_CHECKING:
    from modelxray.policy import Policy

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelxray",
        description="Look inside ML model files and say whether loading them would run code.",
    )
    p.add_argument("--version", action="version", version=f"modelxray {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser(
        "scan",
        help="scan files and folders, or remote sources (hf://, s3://, gs://, az://, https://)",
    )
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument(
        "-f", "--format", choices=("console", "json", "sarif", "html"), default="console"
    )
    s.add_argument(
        "-q", "--quiet", action="store_true", help="console: only failing files and the summary"
    )
    s.add_argument("-o", "--output", metavar="FILE", help="write the report here, not stdout")
    s.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file (modelxray.toml or a pyproject.toml with [tool.modelxray]); "
        "default: the one in the current folder, if any",
    )
    s.add_argument("--no-policy", action="store_true", help="ignore policy files")
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

    r = sub.add_parser("rules", help="list every rule")
    r.add_argument("-f", "--format", choices=("table", "json"), default="table")
    r.add_argument("--write-docs", metavar="DIR", help="write one Markdown page per rule into DIR")

    e = sub.add_parser("explain", help="print a rule's page")
    e.add_argument("rule_id", metavar="RULE_ID")

    s.add_argument(
        "--isolate",
        action="store_true",
        help="parse each file in a child process with memory and CPU limits (MX-SCAN-008)",
    )
    s.add_argument("--isolate-memory-mb", type=int, default=4096, metavar="MB")
    s.add_argument("--isolate-cpu-seconds", type=float, default=None, metavar="S")
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
    return p


def _policy(args: argparse.Namespace) -> Policy:
    """The policy file in effect, with command-line flags taking precedence."""
    from dataclasses import replace

    from modelxray.model import Severity
    from modelxray.policy import Policy, PolicyError, find_policy, load_policy

    if args.policy:
        policy = load_policy(args.policy)
    else:
        policy = (None if args.no_policy else find_policy(".")) or Policy()
    if args.fail_on is not None:
        try:
            fail_on = None if args.fail_on.lower() == "none" else Severity.parse(args.fail_on)
        except ValueError as exc:
            raise PolicyError(f"--fail-on: {exc}") from None
        policy = replace(policy, fail_on=fail_on)
    if args.fail_on_unsupported is not None:
        policy = replace(policy, fail_on_unsupported=args.fail_on_unsupported)
    if args.report_only is not None:
        policy = replace(policy, report_only=args.report_only)
    return policy


def _cmd_scan(args: argparse.Namespace) -> int:
    from modelxray.engine import ScanOptions, scan
    from modelxray.policy import PolicyError
    from modelxray.reports import render
    from modelxray.sources import uri_scheme

    missing = [p for p in args.paths if uri_scheme(p) is None and not os.path.lexists(p)]
    if missing:
        print(f"modelxray: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_ERROR
    try:
        policy = _policy(args)
    except PolicyError as exc:
        print(f"modelxray: policy: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if args.isolate:  # same scan, each file parsed in a limited child process
        from functools import partial

        from modelxray.isolate import IsolationSettings, scan_isolated

        settings = IsolationSettings(args.isolate_memory_mb, args.isolate_cpu_seconds)
        scan = partial(scan_isolated, settings=settings)
    report = scan(
        args.paths,
        ScanOptions(
            policy=policy,
            compute_hash=args.hash,
            jobs=max(0, args.jobs),
            show_code=args.show_code,
        ),
    )
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            render(report, args.format, out, quiet=args.quiet)
    else:
        color = args.format == "console" and sys.stdout.isatty()
        render(report, args.format, sys.stdout, color=color, quiet=args.quiet)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="modelxray: %(levelname)s: %(message)s",
    )
    handlers = {"scan": _cmd_scan, "rules": _cmd_rules, "explain": _cmd_explain}
    handlers["convert"] = _cmd_convert
    handlers["pull"] = _cmd_pull
    try:
        return handlers[args.command](args)
    except KeyboardInterrupt:
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - internal error: exit 2, never a false "clean"
        logging.getLogger("modelxray").debug("internal error", exc_info=True)
        print(f"modelxray: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
