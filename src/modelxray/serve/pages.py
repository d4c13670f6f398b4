"""Server-rendered pages: the dashboard and each scan's HTML report.  No JavaScript; every
string from a scan goes through Jinja2's autoescaping (or the HTML report's own escaping)."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape
from sqlalchemy import func, select

from modelxray.serve.api import authenticate
from modelxray.serve.models import RuleHit, Scan, ScanFile

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }} · modelxray</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
td.name{font-family:monospace;word-break:break-all;white-space:pre-wrap}
.blocked{color:#b00020;font-weight:600}.allowed{color:#1b5e20}.error{color:#e65100;font-weight:600}
.bar{display:inline-block;background:#b00020;height:.8em}
</style></head><body>
<h1>modelxray · {{ title }}</h1>
{% block body %}{% endblock %}
</body></html>"""

_DASHBOARD = """{% extends "base" %}{% block body %}
<p>{{ counts.total }} scans: {{ counts.queued }} queued, {{ counts.running }} running,
{{ counts.blocked }} blocked, {{ counts.allowed }} allowed, {{ counts.error }} error.</p>
<h2>Recent scans</h2>
<table><tr><th>Created (UTC)</th><th>Name</th><th>Status</th><th>Verdict</th><th>Report</th></tr>
{% for s in recent %}<tr><td>{{ s.created }}</td><td class="name">{{ s.name }}</td>
<td>{{ s.status }}</td><td class="{{ s.verdict or '' }}">{{ s.verdict or '' }}</td>
<td>{% if s.status in ('done', 'failed') %}<a href="/scans/{{ s.id }}">report</a>
{% endif %}</td></tr>
{% else %}<tr><td colspan="5">no scans yet</td></tr>{% endfor %}</table>
<h2>Blocked files</h2>
<table><tr><th>File</th><th>SHA-256</th><th>Scan</th></tr>
{% for f in blocked %}<tr><td class="name">{{ f.path }}</td>
<td class="name">{{ f.sha256 or '' }}</td>
<td><a href="/scans/{{ f.scan_id }}">{{ f.scan_id[:8] }}</a></td></tr>
{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}</table>
<h2>Repositories</h2>
<table><tr><th>Repository</th><th>Scans</th><th>Last verdict</th><th>Last scan (UTC)</th></tr>
{% for r in repos %}<tr>
<td class="name"><a href="/repos?name={{ r.repo|urlencode }}">{{ r.repo }}</a></td>
<td>{{ r.n }}</td><td class="{{ r.verdict or '' }}">{{ r.verdict or '' }}</td>
<td>{{ r.last }}</td></tr>
{% else %}<tr><td colspan="4">no repository scanned by URI yet</td></tr>{% endfor %}</table>
<h2>Rule hits</h2>
<table><tr><th>Rule</th><th>Hits</th><th></th></tr>
{% for r in hits %}<tr><td>{{ r.rule_id }}</td><td>{{ r.n }}</td>
<td><span class="bar" style="width:{{ r.width }}px"></span></td></tr>
{% else %}<tr><td colspan="3">none</td></tr>{% endfor %}</table>
<h2>Rule hits per day (last 14 days)</h2>
<table><tr><th>Day</th><th>Hits</th></tr>
{% for d in days %}<tr><td>{{ d.day }}</td><td>{{ d.n }}</td></tr>
{% else %}<tr><td colspan="2">none</td></tr>{% endfor %}</table>
{% endblock %}"""

_REPO = """{% extends "base" %}{% block body %}
<p>Scans of <span class="name">{{ repo }}</span>, newest first (<a href="/">dashboard</a>).</p>
<table><tr><th>Created (UTC)</th><th>Source</th><th>Status</th><th>Verdict</th><th>Report</th></tr>
{% for s in scans %}<tr><td>{{ s.created }}</td><td class="name">{{ s.name }}</td>
<td>{{ s.status }}</td><td class="{{ s.verdict or '' }}">{{ s.verdict or '' }}</td>
<td>{% if s.status in ('done', 'failed') %}<a href="/scans/{{ s.id }}">report</a>
{% endif %}</td></tr>
{% else %}<tr><td colspan="5">no scans</td></tr>{% endfor %}</table>
{% endblock %}"""

_PENDING = """{% extends "base" %}{% block body %}
<p>Scan <code>{{ id }}</code> of <span class="name">{{ name }}</span> is {{ status }}.
Reload this page later.</p>{% endblock %}"""

_LOGIN = """{% extends "base" %}{% block body %}
<form method="post" action="/login"><label>API key <input name="key" type="password"></label>
<button>Sign in</button></form>{% endblock %}"""

_env = Environment(
    loader=DictLoader(
        {
            "base": _BASE,
            "dashboard": _DASHBOARD,
            "repo": _REPO,
            "pending": _PENDING,
            "login": _LOGIN,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)


def _html(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    body = _env.get_template(template).render(**values)
    return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": CSP})


def _check(request: Request) -> Response | None:
    if request.app.state.config.open_pages:
        return None
    try:
        authenticate(request, "read")
    except HTTPException as exc:
        if exc.status_code == 401:
            return RedirectResponse("/login", status_code=303)
        raise
    return None


router = APIRouter(include_in_schema=False)


def repo_of(uri: str) -> str | None:
    """The repository (or bucket, or host) a scanned URI belongs to: ``hf://org/name`` (and
    ``hf://datasets/org/name``) without revision or path, ``s3://bucket``, ``https://host``."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not rest:
        return None
    parts = [p for p in rest.split("/") if p]
    if scheme == "hf":
        kind = parts[:1] if parts[:1] in (["datasets"], ["spaces"], ["models"]) else []
        name = parts[len(kind) : len(kind) + 2]
        if len(name) < 2:
            return None
        name[1] = name[1].split("@", 1)[0]
        return "hf://" + "/".join(kind + name)
    return f"{scheme}://{parts[0]}" if parts else None


def _row(s: Scan) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "verdict": s.verdict,
        "created": s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
    }


@router.get("/login")
def login_form() -> HTMLResponse:
    return _html("login", title="sign in")


@router.post("/login")
def login(key: str = Form(...)) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("modelxray_key", key, httponly=True, samesite="strict")
    return response


@router.get("/")
def dashboard(request: Request) -> Response:
    redirect = _check(request)
    if redirect is not None:
        return redirect
    with request.app.state.sessions() as session:
        recent = list(session.scalars(select(Scan).order_by(Scan.created_at.desc()).limit(50)))
        by_status: dict[str, int] = {
            k: n
            for k, n in session.execute(select(Scan.status, func.count()).group_by(Scan.status))
        }
        by_verdict: dict[str | None, int] = {
            k: n
            for k, n in session.execute(
                select(Scan.verdict, func.count())
                .where(Scan.verdict.is_not(None))
                .group_by(Scan.verdict)
            )
        }
        blocked = list(
            session.scalars(
                select(ScanFile)
                .where(ScanFile.verdict == "blocked")
                .order_by(ScanFile.id.desc())
                .limit(50)
            )
        )
        hits = list(
            session.execute(
                select(RuleHit.rule_id, func.count())
                .group_by(RuleHit.rule_id)
                .order_by(func.count().desc())
                .limit(30)
            ).tuples()
        )
        by_uri = list(
            session.scalars(
                select(Scan).where(Scan.kind == "uri").order_by(Scan.created_at.desc()).limit(2000)
            )
        )
        cutoff = _dt.datetime.now(_dt.timezone.utc) - _dt.timedelta(days=14)
        times = list(
            session.scalars(select(RuleHit.created_at).where(RuleHit.created_at >= cutoff))
        )
    days: dict[str, int] = {}
    for t in times:
        days[t.date().isoformat()] = days.get(t.date().isoformat(), 0) + 1
    repos: dict[str, dict[str, Any]] = {}
    for scan in by_uri:  # newest first: the first scan seen of a repository is its last
        repo = repo_of(scan.name)
        if repo is None:
            continue
        row = repos.setdefault(
            repo,
            {"repo": repo, "n": 0, "verdict": scan.verdict,
             "last": scan.created_at.strftime("%Y-%m-%d %H:%M:%S")},
        )  # fmt: skip
        row["n"] += 1
    top = max((n for _, n in hits), default=1)
    counts = {
        "total": sum(by_status.values()),
        "queued": by_status.get("queued", 0),
        "running": by_status.get("running", 0),
        **{v: by_verdict.get(v, 0) for v in ("blocked", "allowed", "error")},
    }
    return _html(
        "dashboard",
        title="dashboard",
        counts=counts,
        recent=[_row(s) for s in recent],
        repos=list(repos.values())[:50],
        blocked=blocked,
        hits=[{"rule_id": r, "n": n, "width": max(2, int(200 * n / top))} for r, n in hits],
        days=[{"day": d, "n": n} for d, n in sorted(days.items(), reverse=True)],
    )


@router.get("/repos")
def repo_page(name: str, request: Request) -> Response:
    """Every scan of one repository (``hf://org/name``, ``s3://bucket`` …), newest first."""
    redirect = _check(request)
    if redirect is not None:
        return redirect
    repo = repo_of(name)
    if repo is None:
        raise HTTPException(404, "not a repository URI")
    with request.app.state.sessions() as session:
        candidates = session.scalars(
            select(Scan)
            .where(Scan.kind == "uri", Scan.name.startswith(repo, autoescape=True))
            .order_by(Scan.created_at.desc())
            .limit(500)
        )
        scans = [_row(s) for s in candidates if repo_of(s.name) == repo]
    return _html("repo", title="repository", repo=repo, scans=scans)


@router.get("/scans/{scan_id}")
def report_page(scan_id: str, request: Request) -> Response:
    redirect = _check(request)
    if redirect is not None:
        return redirect
    with request.app.state.sessions() as session:
        scan = session.get(Scan, scan_id)
    if scan is None:
        raise HTTPException(404, "no such scan")
    if scan.report_html is None:
        return _html(
            "pending", title="scan", id=scan.id, name=scan.name, status=scan.error or scan.status
        )
    # The HTML report escapes every scanned string itself and carries its own CSP.
    return HTMLResponse(scan.report_html)
