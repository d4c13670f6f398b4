"""The JSON API under ``/v1``: scans (upload or remote URI), rules, the policy."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from modelxray.serve.auth import Caller, lookup, role_allows
from modelxray.serve.models import RuleHit, Scan
from modelxray.sources.uri_guard import UriGuard, UriRefused

CHUNK = 1024 * 1024
URI_PATTERN = r"^(hf|s3|gs|gcs|az|abfs|abfss|http|https)://[^\u0000-\u001f\u007f]+$"
_TIME = re.compile(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)?")
MULTIPART_SLACK = 64 * 1024  # headers and boundaries a multipart body adds to the file
MAX_NAME = 255
MAX_JSON = 64 * 1024


class UploadRefused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get("modelxray_key")
    return cookie or None


def authenticate(request: Request, needed: str) -> Caller:
    state = request.app.state
    token = _bearer(request)
    caller = None
    if token is not None:
        caller = lookup(
            state.sessions, token, state.config.rate_per_minute, state.config.max_upload_bytes
        )
    if caller is None:
        raise HTTPException(401, "a valid API key is needed", {"WWW-Authenticate": "Bearer"})
    if not role_allows(caller.role, needed):
        raise HTTPException(403, f"the key's role ({caller.role}) may not do this ({needed})")
    if not state.limiter.allow(caller.key_id, caller.rate_per_minute):
        raise HTTPException(429, "rate limit exceeded", {"Retry-After": "60"})
    request.state.caller = caller
    return caller


def require(needed: str) -> Callable[[Request], Caller]:
    def dependency(request: Request) -> Caller:
        return authenticate(request, needed)

    return dependency


def safe_name(name: str) -> str:
    """An uploaded file's name as given, or refused: no folders, no traversal, no controls."""
    if (
        not name
        or len(name) > MAX_NAME
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise UploadRefused(400, "unsafe file name: give a plain file name without folders")
    return name


ReadKey = Annotated[Caller, Depends(require("read"))]
ScanKey = Annotated[Caller, Depends(require("scan"))]


async def receive_upload(request: Request, folder: str, limit: int) -> tuple[str, int]:
    """Stream the multipart body's ``file`` part to disk in ``folder``, chunk by chunk,
    refusing it (413) as soon as it passes ``limit`` bytes; never held whole in memory."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise UploadRefused(400, "multipart body without a boundary")
    state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "out": None}
    written = 0
    result: list[str] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        state["headers"] = {}
        if disp.get(b"name") != b"file":
            state["out"] = None
            return
        if result:
            raise UploadRefused(400, "one file per scan")
        raw = disp.get(b"filename")
        if raw is None:
            raise UploadRefused(400, "the 'file' part has no file name")
        name = safe_name(raw.decode("utf-8", "replace"))
        path = os.path.join(folder, name)
        result.append(path)
        state["out"] = open(path, "xb")  # noqa: SIM115 - closed in on_part_end / finally

    def on_part_data(data: bytes, start: int, end: int) -> None:
        nonlocal written
        out = state["out"]
        if out is None:
            return
        written += end - start
        if written > limit:
            raise UploadRefused(413, f"upload larger than this key's limit ({limit} bytes)")
        out.write(data[start:end])

    def on_part_end() -> None:
        if state["out"] is not None:
            state["out"].close()
            state["out"] = None

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    finally:
        if state["out"] is not None:
            state["out"].close()
    if not result:
        raise UploadRefused(400, "no 'file' part in the multipart body")
    return result[0], written


_SCAN_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "uri": {
                        "type": "string",
                        "pattern": URI_PATTERN,
                        "description": "hf://, s3://, gs://, az://, https:// (range reads); "
                        "only URIs on the service's allow-list (default hf://)",
                    }
                },
                "required": ["uri"],
            }
        },
    },
}

_SCAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
        "kind": {"type": "string", "enum": ["upload", "uri"]},
        "name": {"type": "string"},
        "size": {"type": ["integer", "null"]},
        "verdict": {"type": ["string", "null"]},
        "created_at": {"type": "string"},
        "started_at": {"type": ["string", "null"]},
        "finished_at": {"type": ["string", "null"]},
        "error": {"type": ["string", "null"]},
        "report": {
            "type": ["object", "null"],
            "description": "the JSON report (modelxray scan -f json): per-file verdicts, findings",
        },
        "report_url": {"type": "string"},
    },
    "required": ["id", "status", "kind", "name", "created_at"],
}


def _iso(value: _dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.isoformat()


def scan_dict(scan: Scan, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": scan.id,
        "status": scan.status,
        "kind": scan.kind,
        "name": scan.name,
        "size": scan.size,
        "verdict": scan.verdict,
        "created_at": _iso(scan.created_at),
        "started_at": _iso(scan.started_at),
        "finished_at": _iso(scan.finished_at),
        "error": scan.error,
        "report_url": f"/scans/{scan.id}",
    }
    if full:
        out["report"] = json.loads(scan.report_json) if scan.report_json else None
    return out


def _error(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


_ERROR = {
    "content": {
        "application/json": {
            "schema": {"type": "object", "properties": {"detail": {}}, "required": ["detail"]}
        }
    }
}
router = APIRouter(
    prefix="/v1",
    responses={
        400: {"description": "bad request", **_ERROR},
        401: {"description": "no valid API key", **_ERROR},
        403: {"description": "the key's role may not do this", **_ERROR},
        429: {"description": "the key's rate limit is exceeded", **_ERROR},
    },
)


@router.post(
    "/scans",
    status_code=202,
    openapi_extra={"requestBody": _SCAN_BODY},
    responses={
        202: {"description": "queued", "content": {"application/json": {"schema": _SCAN_SCHEMA}}},
        403: {"description": "the key's role may not scan, or the URI is not allowed", **_ERROR},
        413: {"description": "upload over the key's limit", **_ERROR},
        415: {"description": "neither multipart nor JSON", **_ERROR},
    },
)
async def create_scan(request: Request, caller: ScanKey) -> JSONResponse:
    """Queue a scan of an uploaded file (multipart field ``file``) or a remote URI."""
    config = request.app.state.config
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    scan_id = str(uuid.uuid4())
    if ctype == "multipart/form-data":
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > caller.max_upload_bytes + MULTIPART_SLACK:
                return _error(
                    413, f"upload larger than this key's limit ({caller.max_upload_bytes} bytes)"
                )
        folder = os.path.join(config.upload_dir, scan_id)
        os.makedirs(folder, exist_ok=True)
        try:
            target, size = await receive_upload(request, folder, caller.max_upload_bytes)
        except UploadRefused as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return _error(exc.status, exc.detail)
        except Exception:  # a malformed body: nothing kept
            shutil.rmtree(folder, ignore_errors=True)
            return _error(400, "malformed multipart body")
        scan = Scan(
            id=scan_id, status="queued", kind="upload", name=os.path.basename(target),
            target=target, size=size, key_id=caller.key_id, attempts=0, completions=0,
        )  # fmt: skip
    elif ctype == "application/json":
        from modelxray.sources.interface import uri_scheme

        raw = b""
        async for chunk in request.stream():  # a URI is short: the body is capped, not buffered
            raw += chunk
            if len(raw) > MAX_JSON:
                return _error(413, f"a JSON body is at most {MAX_JSON} bytes")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "malformed JSON body")
        uri = body.get("uri") if isinstance(body, dict) else None
        if not isinstance(uri, str) or not uri:
            return _error(400, 'expected {"uri": "..."}')
        if not config.allow_uri:
            return _error(403, "remote scans are disabled on this service")
        if uri_scheme(uri) is None or not re.fullmatch(URI_PATTERN, uri):
            return _error(400, "only remote URIs (hf://, s3://, gs://, az://, https://)")
        refused = await _refuse_uri(config.uri_guard, uri)
        if refused is not None:
            return refused
        scan = Scan(
            id=scan_id, status="queued", kind="uri", name=uri, target=uri, size=None,
            key_id=caller.key_id, attempts=0, completions=0,
        )  # fmt: skip
    else:
        return _error(415, "send multipart/form-data (field 'file') or JSON {\"uri\": ...}")
    with request.app.state.sessions() as session:
        session.add(scan)
        session.commit()
        session.refresh(scan)
    return JSONResponse(scan_dict(scan, full=False), status_code=202)


async def _refuse_uri(guard: UriGuard, uri: str) -> JSONResponse | None:
    """403 with the reason when the service's URI guard refuses ``uri`` (its allow-list; for
    http(s) every address its host resolves to now: the worker checks again when it
    connects); None when it may be queued.  Nothing is fetched here."""
    from starlette.concurrency import run_in_threadpool

    try:
        guard.check(uri)
        await run_in_threadpool(guard.check_host, uri)
    except UriRefused as exc:
        return JSONResponse(
            {"detail": f"URI refused: {exc}", "code": "UriNotAllowed"}, status_code=403
        )
    return None


@router.get(
    "/scans/{scan_id}",
    responses={
        200: {"content": {"application/json": {"schema": _SCAN_SCHEMA}}},
        404: {"description": "no such scan", **_ERROR},
    },
)
def get_scan(scan_id: str, request: Request, _: ReadKey) -> Any:
    """A scan: its status and, once done, the JSON report (per-file verdicts, findings)."""
    with request.app.state.sessions() as session:
        scan = session.get(Scan, scan_id)
    if scan is None:
        return _error(404, "no such scan")
    return scan_dict(scan, full=True)


@router.get("/scans")
def list_scans(
    request: Request,
    _: ReadKey,
    verdict: str | None = Query(None, description="allowed | blocked | error"),
    status: str | None = Query(None, description="queued | running | done | failed"),
    rule: str | None = Query(None, description="scans with a finding of this rule ID"),
    since: str | None = Query(
        None,
        description="created at or after (RFC 3339)",
        json_schema_extra={"format": "date-time"},
    ),
    until: str | None = Query(
        None, description="created before (RFC 3339)", json_schema_extra={"format": "date-time"}
    ),
    limit: int = Query(50, ge=1, le=500),
    # bounded: a database integer (SQLite's is 64-bit) must hold it
    offset: int = Query(0, ge=0, le=2**31 - 1),
) -> dict[str, Any]:
    """Scans, newest first, filtered by verdict, status, rule and time."""
    times = {"since": since, "until": until}
    parsed: dict[str, _dt.datetime] = {}
    for name, value in times.items():
        if value is not None:
            moment = _moment(value)
            if moment is None:
                raise HTTPException(400, f"{name}: expected an RFC 3339 date-time")
            parsed[name] = moment
    query = select(Scan)
    if verdict:
        query = query.where(Scan.verdict == verdict)
    if status:
        query = query.where(Scan.status == status)
    if rule:
        query = query.where(Scan.id.in_(select(RuleHit.scan_id).where(RuleHit.rule_id == rule)))
    if "since" in parsed:
        query = query.where(Scan.created_at >= parsed["since"])
    if "until" in parsed:
        query = query.where(Scan.created_at < parsed["until"])
    query = query.order_by(Scan.created_at.desc(), Scan.id).limit(limit).offset(offset)
    with request.app.state.sessions() as session:
        rows = list(session.scalars(query))
    return {"scans": [scan_dict(s, full=False) for s in rows], "limit": limit, "offset": offset}


def _moment(value: str) -> _dt.datetime | None:
    """An RFC 3339 date-time (no offset: UTC) in UTC, or None."""
    if not _TIME.fullmatch(value):
        return None
    text = value.upper().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


def _rule_dict(rule: Any) -> dict[str, Any]:
    return {
        "id": rule.id,
        "title": rule.title,
        "family": rule.family,
        "severity": str(rule.severity),
        "confidence": str(rule.confidence),
        "cves": list(rule.cves),
        "cwes": list(rule.cwes),
        "help_uri": rule.help_uri,
    }


@router.get("/rules")
def list_rules(_: ReadKey) -> dict[str, Any]:
    """Every rule the scanner reports."""
    from modelxray.rules import ALL_RULES

    return {"rules": [_rule_dict(r) for r in ALL_RULES.values()]}


@router.get("/rules/{rule_id}", responses={404: {"description": "no such rule", **_ERROR}})
def get_rule(rule_id: str, _: ReadKey) -> Any:
    """A rule and its page (Markdown)."""
    from modelxray.rules import ALL_RULES

    rule = ALL_RULES.get(rule_id)
    if rule is None:
        return _error(404, "no such rule")
    return {**_rule_dict(rule), "page": rule.page()}


@router.get("/policy")
def get_policy(request: Request, _: ReadKey) -> dict[str, Any]:
    """The policy every scan of this service is judged by."""
    from modelxray.policy import policy_to_dict

    policy = request.app.state.policy
    return {
        "source": policy.source,
        "fingerprint": policy.fingerprint,
        "policy": policy_to_dict(policy),
    }
