"""The FastAPI application: API, pages, health, metrics, the worker pool's life."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from modelxray import __version__
from modelxray.serve.config import ServeConfig, admin_key_from_env

log = logging.getLogger("modelxray.serve")


def _load_policy(config: ServeConfig) -> Any:
    from modelxray.policy import Policy, configured_policy, load_policy

    if config.policy_path:
        return load_policy(config.policy_path)
    return configured_policy() or Policy()


def gateway_rules(path: str | None) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The gateway's policy overrides and pre-approved repositories from a TOML file::

        allow = ["org/name", "datasets/org/name"]   # not scanned, still verified by hash
        [overrides]
        "org" = "policies/org.toml"                 # the most specific name wins
        "org/name" = "policies/name.toml"

    Policy paths are relative to the file; a name or path that is not a string is an error.
    """
    if not path:
        return {}, ()
    from modelxray.compat import tomllib
    from modelxray.policy import PolicyError, load_policy

    with open(path, "rb") as f:
        doc = tomllib().load(f)
    allow = doc.get("allow", [])
    table = doc.get("overrides", {})
    if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
        raise PolicyError(f"{path}: allow must be a list of repository names")
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise PolicyError(f"{path}: [overrides] maps names to policy files")
    base = os.path.dirname(os.path.abspath(path))
    overrides = {name: load_policy(os.path.join(base, p)) for name, p in table.items()}
    return overrides, tuple(allow)


def create_app(config: ServeConfig, start_workers: bool = True) -> FastAPI:
    from modelxray.serve import api, pages
    from modelxray.serve.auth import RateLimiter, ensure_admin
    from modelxray.serve.db import make_engine, migrate, sessions
    from modelxray.serve.jobs import WorkerPool, requeue_running

    engine = make_engine(config.database_url)
    factory = sessions(engine)
    policy = _load_policy(config)
    pool = WorkerPool(
        config.workers,
        config.database_url,
        config.upload_dir,
        config.policy_path,
        factory,
        config.uri_guard,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        os.makedirs(config.upload_dir, exist_ok=True)
        migrate(engine)
        with factory() as session:
            token = admin_key_from_env()
            if token:
                ensure_admin(session, token)
            requeued = requeue_running(session)
        if requeued:
            log.info("requeued scans left running", extra={"count": requeued})
        if start_workers:
            pool.start()
        app.state.ready = True
        log.info("serving", extra={"db": engine.url.render_as_string(), "workers": pool.size})
        try:
            yield
        finally:
            app.state.ready = False
            if start_workers:
                pool.stop()
            engine.dispose()

    app = FastAPI(
        title="modelxray",
        version=__version__,
        description="Scan ML model files before anyone loads them.",
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.engine = engine
    app.state.sessions = factory
    app.state.policy = policy
    app.state.limiter = RateLimiter()
    app.state.pool = pool
    app.state.ready = False
    app.include_router(api.router)
    app.include_router(pages.router)

    @app.middleware("http")
    async def access_log(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        caller = getattr(request.state, "caller", None)
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "key": caller.name if caller is not None else None,
            },
        )
        return response

    from starlette.exceptions import HTTPException as StarletteHTTPException
    from starlette.routing import Match

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:  # every method of the path, not only the first route's
            methods: set[str] = set()
            for route in app.router.routes:
                match, _ = route.matches({**request.scope, "method": "\0"})
                if match != Match.NONE:
                    methods |= set(getattr(route, "methods", None) or ())
            headers["Allow"] = ", ".join(sorted(methods))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    def readyz() -> Response:
        problems = []
        if not app.state.ready:
            problems.append("starting")
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            problems.append(f"database: {type(exc).__name__}")
        if start_workers and pool.alive() == 0:
            problems.append("no scan worker alive")
        if problems:
            return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
        return JSONResponse({"status": "ready"})

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request) -> PlainTextResponse:
        from modelxray.serve.api import authenticate
        from modelxray.serve.metrics import render

        if not config.open_metrics:  # a read key (Prometheus: authorization.credentials)
            authenticate(request, "read")

        with factory() as session:
            body = render(session)
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    if config.upstream:
        try:
            from modelxray.serve.gateway import (  # type: ignore[import-not-found,attr-defined,unused-ignore]
                GatewaySettings,
                gateway_router,
            )
        except ImportError:
            log.warning("--upstream given but the gateway is not part of this build")
        else:
            from pathlib import Path

            gateway_dir = Path(config.data_dir).resolve() / "gateway"
            overrides, allow = gateway_rules(config.gateway_config)
            settings = GatewaySettings(
                upstream=config.upstream,
                policy=policy,
                overrides=overrides,
                allow=allow,
                blob_dir=gateway_dir / "blobs",
                blob_cap=config.gateway_cache_bytes,
                verdict_cache=gateway_dir / "verdicts.sqlite",
            )
            # last: its pass-through answers every path no other route took; its scanner is
            # its default (each file parsed in an isolated, limited worker)
            app.include_router(gateway_router(settings))
    return app
