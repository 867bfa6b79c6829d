"""The dashboard: HTML pages with server-rendered SVG, behind a login with the admin token.

Layer: server/. `mount(app)` adds the pages (`pages.router`), the stylesheet
under /static, the session signer, and the redirect to /login for pages asked
for without a session. Nothing is fetched from elsewhere: no CDN, no script.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from mtuscope.server.dashboard.pages import HERE, LoginNeeded, router
from mtuscope.server.dashboard.session import Sessions

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Add the dashboard to the server's app (its store is `app.state.store`)."""
    app.state.sessions = Sessions(app.state.store)
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(LoginNeeded, _to_login)  # type: ignore[arg-type]


async def _to_login(_request: Request, exc: LoginNeeded) -> Response:
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)
