"""``modelxray serve`` and ``modelxray keys``: argument parsing lives in modelxray.cli."""

from __future__ import annotations

import argparse
import os
import sys

from modelxray.serve.config import DATA_ENV, DB_ENV, ServeConfig
from modelxray.sources.uri_guard import DEFAULT_ALLOW


def _missing(exc: ImportError) -> int:
    print(
        f"modelxray: serve needs the optional extra: pip install 'modelxray[serve]' ({exc})",
        file=sys.stderr,
    )
    return 2


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    return ServeConfig(
        host=args.host,
        port=args.port,
        db_url=args.db or os.environ.get(DB_ENV) or None,
        data_dir=args.data_dir or os.environ.get(DATA_ENV) or "modelxray-data",
        upstream=getattr(args, "upstream", None),
        policy_path=getattr(args, "policy", None),
        workers=getattr(args, "workers", 2),
        max_upload_bytes=getattr(args, "max_upload_bytes", ServeConfig.max_upload_bytes),
        rate_per_minute=getattr(args, "rate_per_minute", ServeConfig.rate_per_minute),
        open_pages=getattr(args, "open_pages", False),
        gateway_config=getattr(args, "gateway_config", None),
        uri_allow=tuple(getattr(args, "allow_uri", None) or DEFAULT_ALLOW),
        allow_networks=tuple(getattr(args, "allow_network", None) or ()),
        open_metrics=getattr(args, "open_metrics", False),
        gateway_cache_bytes=getattr(args, "gateway_cache_bytes", ServeConfig.gateway_cache_bytes),
    )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from modelxray.serve.app import create_app
        from modelxray.serve.logs import setup_logging
    except ImportError as exc:
        return _missing(exc)
    setup_logging()
    config = config_from_args(args)
    try:
        config.uri_guard  # noqa: B018 - a malformed prefix or network is a usage error
    except ValueError as exc:
        print(f"modelxray serve: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(config), host=config.host, port=config.port, log_config=None, access_log=False
    )
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    try:
        from modelxray.serve.auth import create_key
        from modelxray.serve.db import make_engine, migrate, sessions
    except ImportError as exc:
        return _missing(exc)
    config = config_from_args(args)
    engine = make_engine(config.database_url)
    migrate(engine)
    with sessions(engine)() as session:
        token = create_key(
            session,
            args.role,
            args.name or f"{args.role} key",
            rate_per_minute=args.rate_per_minute,
            max_upload_bytes=args.max_upload_bytes,
        )
    engine.dispose()
    print(token)
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="database URL (default: SQLite in --data-dir;"
                       " postgresql://user@host/db for PostgreSQL; or $MODELXRAY_DB)")  # fmt: skip
        p.add_argument("--data-dir", metavar="DIR", help="uploads and the SQLite database "
                       "(default ./modelxray-data or $MODELXRAY_DATA_DIR)")  # fmt: skip

    sv = sub.add_parser("serve", help="run the scanning service (needs modelxray[serve])")
    common(sv)
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--upstream", metavar="URL", help="serve a Hugging Face-compatible gateway")
    sv.add_argument("--gateway-config", metavar="FILE", help="the gateway's per-organisation "
                    "and per-repository policies and pre-approved repositories (TOML)")  # fmt: skip
    sv.add_argument("--policy", metavar="FILE", help="the policy every scan is judged by")
    sv.add_argument("--workers", type=int, default=2, metavar="N", help="scan worker processes")
    sv.add_argument("--max-upload-bytes", type=int, default=ServeConfig.max_upload_bytes,
                    metavar="N", help="per-key default upload limit")  # fmt: skip
    sv.add_argument("--rate-per-minute", type=int, default=ServeConfig.rate_per_minute,
                    metavar="N", help="per-key default request rate")  # fmt: skip
    sv.add_argument("--open-pages", action="store_true",
                    help="serve the HTML pages without a key (trusted networks only)")  # fmt: skip
    sv.add_argument("--open-metrics", action="store_true",
                    help="serve /metrics without a key (a scraper on a private network; "
                    "by default it needs a read key)")  # fmt: skip
    sv.add_argument("--allow-uri", action="append", metavar="PREFIX",
                    help="a URI prefix {\"uri\": ...} scans may name (repeatable; replaces the "
                    "default, hf://), e.g. hf://org/, s3://bucket/prefix, "
                    "https://host/prefix")  # fmt: skip
    sv.add_argument("--allow-network", action="append", metavar="CIDR",
                    help="a non-public network http(s) URI scans may reach (repeatable; "
                    "default none: loopback, link-local, private and reserved addresses "
                    "are refused)")  # fmt: skip
    sv.add_argument("--gateway-cache-bytes", type=int,
                    default=ServeConfig.gateway_cache_bytes, metavar="N",
                    help="the gateway's blob store cap; least recently served blobs "
                    "are evicted (verdicts are kept)")  # fmt: skip

    k = sub.add_parser("keys", help="manage the service's API keys")
    ks = k.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    kc = ks.add_parser("create", help="create a key and print its token (shown once)")
    common(kc)
    kc.add_argument("--role", choices=("admin", "scan", "read"), required=True)
    kc.add_argument("--name", help="a label for the key")
    kc.add_argument("--rate-per-minute", type=int, default=None, metavar="N")
    kc.add_argument("--max-upload-bytes", type=int, default=None, metavar="N")
    kc.set_defaults(host="127.0.0.1", port=8000)
