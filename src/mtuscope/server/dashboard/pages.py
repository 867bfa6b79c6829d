"""The dashboard's pages: login, the targets overview, a target's path view and history,
and the capture upload.

Layer: server/. HTML from Jinja2 templates (package data beside this module)
with SVG drawn by `svg.py`; the only script is none at all. Every page but the
login needs a session (else a redirect to /login), every POST checks the
session's CSRF token, and the admin token is read once, from the login form.
Uploads run `jobs.analyze` / `jobs.compare` on temporary copies (removed
afterwards) in a worker thread, and render the same report as the CLI through
`report.capture_html` / `report.compare_html`.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import update
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from mtuscope.errors import CaptureError, DecodeError, UsageError
from mtuscope.report.html import finding_html
from mtuscope.server.config import ServerConfig
from mtuscope.server.dashboard import queries
from mtuscope.server.dashboard.graph import AgentPath, merge
from mtuscope.server.dashboard.overview import ago, table_html
from mtuscope.server.dashboard.session import DashboardSession, Sessions, check_csrf
from mtuscope.server.dashboard.svg import Mark, Series, color, line_chart, path_svg
from mtuscope.store.database import Store
from mtuscope.store.models import TargetAgent

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)
RANGES = {"1h": 1, "6h": 6, "24h": 24, "48h": 48, "7d": 168, "30d": 720}
"""The history's ranges: name -> hours (up to 48 h from raw results, longer from `hourly`)."""
COPY_CHUNK = 1 << 20


class LoginNeeded(Exception):
    """No valid session: the page redirects to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__("login needed")
        self.next_path = next_path


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.sessions
    return sessions


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def need_session(request: Request) -> DashboardSession:
    """The request's session, or a redirect to the login page (LoginNeeded)."""
    found = _sessions(request).current(request)
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginNeeded(path)
    return found


Sess = Annotated[DashboardSession, Depends(need_session)]


def _csrf(session: DashboardSession, given: str | None) -> None:
    if not check_csrf(session, given):
        raise HTTPException(403, "csrf: the form's token does not match this session")


def _safe_next(value: str | None) -> str:
    """A local path to go to after login (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _iso(ms: int | None) -> str:
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


templates.env.globals.update(ago=ago, iso=_iso)


SECURITY_HEADERS = {
    # No script at all, nothing from elsewhere, no framing; forms post only here.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status, headers=SECURITY_HEADERS
    )


# -- login, logout ----------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:  # noqa: A002
    sessions = _sessions(request)
    if sessions.current(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, _safe_next(next), None, 200)


def _login_page(request: Request, next_path: str, error: str | None, status: int) -> Response:
    sessions = _sessions(request)
    nonce, cookie = sessions.login_nonce(request)
    context = {"nonce": nonce, "next": next_path, "error": error}
    page = _page(request, "login.html", context, status=status)
    sessions.set_login_cookie(page, request, cookie)
    return page


@router.post("/login")
def login(
    request: Request,
    token: Annotated[str, Form(max_length=512)] = "",
    csrf: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",  # noqa: A002
) -> Response:
    sessions = _sessions(request)
    client = request.client.host if request.client else "?"
    request.app.state.rate.charge(f"login:{client}")
    if not sessions.check_login_nonce(request, csrf):
        return _login_page(request, _safe_next(next), "csrf: the form expired; try again", 403)
    if not sessions.check_token(token.strip()):
        return _login_page(request, _safe_next(next), "token: not the admin token", 401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    sessions.start(response, request)
    return response


@router.post("/logout")
def logout(
    request: Request, session: Sess, csrf: Annotated[str, Form(max_length=128)] = ""
) -> Response:
    _csrf(session, csrf)
    response = RedirectResponse("/login", status_code=303)
    Sessions.end(response)
    return response


# -- the overview -----------------------------------------------------------------------


@router.get("/")
def overview(request: Request, session: Sess) -> Response:
    now = int(time.time() * 1000)
    with _store(request).session() as s:
        rows = queries.overview(s)
    context = {"rows": bool(rows), "table": table_html(rows, now), "csrf": session.csrf}
    return _page(request, "overview.html", context)


# -- a target: its path, its history ----------------------------------------------------


def _target(request: Request, target_id: int) -> Any:
    with _store(request).session() as s:
        target = queries.target_of(s, target_id)
    if target is None:
        raise HTTPException(404, f"target {target_id}: unknown")
    return target


@router.get("/targets/{target_id}")
def path_view(request: Request, target_id: int, session: Sess) -> Response:
    target = _target(request, target_id)
    with _store(request).session() as s:
        newest = queries.newest_reports(s, target_id)
    graph = merge([AgentPath(n.agent, n.flow, n.report) for n in newest])
    agents = [
        {
            "agent": n.agent,
            "flow": n.flow,
            "at": _iso(n.at_ms),
            "pmtu": n.report.get("pmtu"),
            "bounds": n.report.get("pmtu_bounds"),
            "pmtu_reverse": n.report.get("pmtu_reverse"),
            "mss": n.report.get("mss") or {},
            "stop": n.report.get("stop_reason"),
            "hops": len(n.report.get("hops") or []),
        }
        for n in newest
    ]
    context = {
        "target": target,
        "svg": path_svg(graph) if newest else "",
        "notes": graph.notes,
        "agents": agents,
        "csrf": session.csrf,
        "message": request.query_params.get("message"),
    }
    return _page(request, "path.html", context)


@router.post("/targets/{target_id}/instant")
def instant(
    request: Request,
    target_id: int,
    session: Sess,
    csrf: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    _csrf(session, csrf)
    _target(request, target_id)
    with _store(request).session() as s:
        s.execute(
            update(TargetAgent)
            .where(TargetAgent.target_id == target_id)
            .values(instant_ms=int(time.time() * 1000))
        )
    message = quote("instant test asked for: each agent runs it at its next pull")
    return RedirectResponse(f"/targets/{target_id}?message={message}", status_code=303)


@router.get("/targets/{target_id}/history")
def history(
    request: Request,
    target_id: int,
    session: Sess,
    range: str = "7d",  # noqa: A002
) -> Response:
    if range not in RANGES:
        raise HTTPException(422, f"range: want one of {', '.join(RANGES)}")
    target = _target(request, target_id)
    end = int(time.time() * 1000)
    start = end - RANGES[range] * 3_600_000
    with _store(request).session() as s:
        hist = queries.history(s, target_id, start_ms=start, end_ms=end)
        newest = queries.newest_reports(s, target_id)
    marks = [Mark(e.at_ms, e.kind, f"{_iso(e.at_ms)} {e.summary}") for e in hist.events]
    names = list(hist.series)
    pmtu = [
        Series(
            name,
            [(p.at_ms, p.pmtu) for p in pts],
            [p.pmtu_min for p in pts] if hist.hourly else (),
            [p.pmtu_max for p in pts] if hist.hourly else (),
        )
        for name, pts in hist.series.items()
    ]
    mss = [
        Series(
            name,
            [(p.at_ms, p.mss) for p in pts],
            [p.mss_min for p in pts] if hist.hourly else (),
            [p.mss_max for p in pts] if hist.hourly else (),
        )
        for name, pts in hist.series.items()
    ]
    findings: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for n in newest:
        for f in n.report.get("findings") or []:
            if not isinstance(f, dict):
                continue
            key = (n.agent, str(f.get("kind")), str(f.get("summary")))
            if key not in seen:
                seen.add(key)
                who = n.agent if n.flow == 0 else f"{n.agent} (flow {n.flow})"
                findings.append(finding_html(f, who=who))
    context = {
        "target": target,
        "range": range,
        "ranges": list(RANGES),
        "hourly": hist.hourly,
        "legend": [(name, color(i)) for i, name in enumerate(names)],
        "pmtu_svg": line_chart(
            "chart-pmtu", "path MTU (bytes)", pmtu, marks, start_ms=start, end_ms=end
        ),
        "mss_svg": line_chart("chart-mss", "MSS (bytes)", mss, marks, start_ms=start, end_ms=end),
        "events": [
            {"at": _iso(e.at_ms), "agent": e.agent, "kind": e.kind, "summary": e.summary}
            for e in reversed(hist.events)
        ],
        "findings": findings,
        "points": sum(len(v) for v in hist.series.values()),
        "csrf": session.csrf,
    }
    return _page(request, "history.html", context)


# -- capture upload ---------------------------------------------------------------------


def _platforms() -> list[str]:
    from mtuscope.jobs.calc import PLATFORMS

    return list(PLATFORMS)


@router.get("/upload")
def upload_form(request: Request, session: Sess) -> Response:
    context = {"csrf": session.csrf, "platforms": _platforms(), "error": None, "report": None}
    return _page(request, "upload.html", context)


def _fail(request: Request, session: DashboardSession, status: int, line: str) -> Response:
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"detail": line}, status_code=status)
    context = {"csrf": session.csrf, "platforms": _platforms(), "error": line, "report": None}
    return _page(request, "upload.html", context, status=status)


async def _save(upload: UploadFile, where: Path, limit: int, total: int) -> int:
    """Copy an upload to `where`; the running byte total (raises past `limit`)."""
    with where.open("wb") as out:
        while chunk := await upload.read(COPY_CHUNK):
            total += len(chunk)
            if total > limit:
                raise HTTPException(413, f"upload: over the limit of {limit} bytes")
            out.write(chunk)
    return total


@router.post("/upload")
async def upload(request: Request, session: Sess) -> Response:
    cfg: ServerConfig = request.app.state.config
    limit = cfg.upload_limit
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return _fail(request, session, 411, "upload: send a Content-Length")
    if int(declared) > limit + 64 * 1024:  # the multipart framing on top of the files
        return _fail(request, session, 413, f"upload: over the limit of {limit} bytes")
    # Files of the form are spooled by Starlette; the Content-Length check above bounds them.
    form = await request.form(max_files=2, max_fields=8)
    work = Path(tempfile.mkdtemp(prefix="mtuscope-upload-"))
    try:
        csrf = form.get("csrf")
        _csrf(session, csrf if isinstance(csrf, str) else None)
        first, second = form.get("capture"), form.get("second")
        if not isinstance(first, UploadFile) or not first.filename:
            return _fail(request, session, 422, "capture: choose a capture file")
        platform = form.get("platform")
        platform = platform if isinstance(platform, str) and platform else None
        names: dict[str, str] = {}
        total = 0
        paths = []
        for i, up in enumerate((first, second)):
            if not isinstance(up, UploadFile) or not up.filename:
                continue
            path = work / f"capture-{i}"
            total = await _save(up, path, limit, total)
            names[str(path)] = Path(up.filename).name
            paths.append(str(path))
        try:
            html = await run_in_threadpool(_report_html, paths, platform, names)
        except (CaptureError, DecodeError, UsageError) as exc:
            line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            for temp, name in names.items():
                line = line.replace(temp, name)
            return _fail(request, session, 422, line)
        except HTTPException as exc:
            return _fail(request, session, exc.status_code, str(exc.detail))
        context = {
            "csrf": session.csrf,
            "platforms": _platforms(),
            "error": None,
            "report": html,
            "names": list(names.values()),
        }
        return _page(request, "upload.html", context)
    except HTTPException as exc:
        return _fail(request, session, exc.status_code, str(exc.detail))
    finally:
        await form.close()
        shutil.rmtree(work, ignore_errors=True)


def _report_html(paths: list[str], platform: str | None, names: dict[str, str]) -> str:
    """The analyze (one file) or compare (two files) report of the uploads, as HTML."""
    if len(paths) == 2:
        from mtuscope.jobs.compare import CompareOptions, compare
        from mtuscope.report.compare_html import render_html as compare_html

        return compare_html(
            compare(CompareOptions(a=paths[0], b=paths[1], platform=platform)), names=names
        )
    from mtuscope.jobs.analyze import AnalyzeOptions, analyze
    from mtuscope.report.capture_html import render_html as capture_html

    return capture_html(analyze(AnalyzeOptions(paths=tuple(paths), platform=platform)), names=names)
