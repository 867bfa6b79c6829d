"""Dashboard sessions: the admin token once at login, then a signed cookie and a CSRF token.

Layer: server/. A session cookie is `<payload>.<signature>`: the payload is
URL-safe base64 of a small JSON object (expiry, the per-session CSRF token,
and a tag of the admin token's hash, so that a new admin token ends every
session), the signature HMAC-SHA256 of the payload under a secret made once
from the OS's random source and kept in the `settings` table (several server
processes on one database share it). The cookie is HttpOnly and
SameSite=Strict; every form carries the session's CSRF token and every POST
checks it. The login form, which has no session yet, is protected the same
way by a short-lived signed pre-session cookie. The token itself is never
stored in a cookie, a URL or a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response
from sqlalchemy.exc import IntegrityError

from mtuscope.server.auth import ADMIN_KEY
from mtuscope.server.tokens import same_hash, token_hash
from mtuscope.store.database import Store
from mtuscope.store.models import Setting

SECRET_KEY = "dashboard_secret"
"""The `settings` row holding the signing secret (hex of 32 random bytes)."""
SESSION_COOKIE = "mtuscope_session"
LOGIN_COOKIE = "mtuscope_login"
SESSION_SECONDS = 12 * 3600
LOGIN_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class DashboardSession:
    """A valid session: its CSRF token and when it ends."""

    csrf: str
    expires_ms: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Signs and checks the dashboard's cookies for one store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._secret: bytes | None = None

    def secret(self) -> bytes:
        """The signing secret, made and stored at first use."""
        if self._secret is None:
            with self.store.session() as s:
                row = s.get(Setting, SECRET_KEY)
                value = row.value if row is not None else None
            if value is None:
                value = secrets.token_hex(32)
                try:
                    with self.store.session() as s:
                        s.add(Setting(key=SECRET_KEY, value=value))
                except IntegrityError:
                    # Another server process made it first: use theirs.
                    with self.store.session() as s:
                        row = s.get(Setting, SECRET_KEY)
                        assert row is not None
                        value = row.value
            self._secret = bytes.fromhex(value)
        return self._secret

    def admin_hash(self) -> str | None:
        """The stored hash of the admin token (it may change while the server runs)."""
        with self.store.session() as s:
            row = s.get(Setting, ADMIN_KEY)
            return row.value if row is not None else None

    def check_token(self, token: str) -> bool:
        """Whether `token` is the admin token (compared by hash, in constant time)."""
        stored = self.admin_hash()
        return stored is not None and same_hash(stored, token_hash(token))

    def _sign(self, doc: dict[str, Any]) -> str:
        payload = _b64(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode())
        mac = hmac.new(self.secret(), payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def _verify(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or cookie.count(".") != 1 or len(cookie) > 4096:
            return None
        payload, _, sig = cookie.partition(".")
        mac = hmac.new(self.secret(), payload.encode(), hashlib.sha256).digest()
        try:
            if not hmac.compare_digest(_unb64(sig), mac):
                return None
            doc = json.loads(_unb64(payload))
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("exp"), int):
            return None
        if doc["exp"] < _now_ms():
            return None
        return doc

    def _admin_tag(self) -> str:
        """A tag of the admin token's hash: sessions end when the token changes."""
        stored = self.admin_hash() or ""
        return hmac.new(self.secret(), stored.encode(), hashlib.sha256).hexdigest()[:32]

    # -- the session -------------------------------------------------------------------

    def start(self, response: Response, request: Request) -> DashboardSession:
        """Set a fresh session cookie on `response` (after a good login)."""
        session = DashboardSession(
            csrf=secrets.token_urlsafe(24), expires_ms=_now_ms() + SESSION_SECONDS * 1000
        )
        doc = {"kind": "session", "exp": session.expires_ms, "csrf": session.csrf}
        doc["adm"] = self._admin_tag()
        _set_cookie(response, request, SESSION_COOKIE, self._sign(doc), SESSION_SECONDS)
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return session

    def current(self, request: Request) -> DashboardSession | None:
        """The request's valid session, or None (missing, forged, expired, or an old token)."""
        doc = self._verify(request.cookies.get(SESSION_COOKIE))
        if doc is None or doc.get("kind") != "session" or not isinstance(doc.get("csrf"), str):
            return None
        if not hmac.compare_digest(str(doc.get("adm", "")), self._admin_tag()):
            return None
        return DashboardSession(csrf=doc["csrf"], expires_ms=doc["exp"])

    @staticmethod
    def end(response: Response) -> None:
        """Remove the session cookie (logout)."""
        response.delete_cookie(SESSION_COOKIE, path="/")

    # -- the login form's CSRF token ----------------------------------------------------

    def login_nonce(self, request: Request) -> tuple[str, str | None]:
        """The login form's CSRF token, and the pre-session cookie to set (None: it is set)."""
        doc = self._verify(request.cookies.get(LOGIN_COOKIE))
        if doc is not None and doc.get("kind") == "login" and isinstance(doc.get("nonce"), str):
            nonce: str = doc["nonce"]
            return nonce, None
        nonce = secrets.token_urlsafe(24)
        cookie = self._sign(
            {"kind": "login", "exp": _now_ms() + LOGIN_SECONDS * 1000, "nonce": nonce}
        )
        return nonce, cookie

    @staticmethod
    def set_login_cookie(response: Response, request: Request, cookie: str | None) -> None:
        """Set the pre-session cookie `login_nonce` made, if it made one."""
        if cookie is not None:
            _set_cookie(response, request, LOGIN_COOKIE, cookie, LOGIN_SECONDS)

    def check_login_nonce(self, request: Request, given: str | None) -> bool:
        """Whether the login form's CSRF field matches its pre-session cookie."""
        doc = self._verify(request.cookies.get(LOGIN_COOKIE))
        if doc is None or doc.get("kind") != "login" or not given:
            return False
        return hmac.compare_digest(str(doc.get("nonce", "")), given)


def check_csrf(session: DashboardSession, given: str | None) -> bool:
    """Whether a form's CSRF field is the session's token."""
    return bool(given) and hmac.compare_digest(session.csrf, given or "")


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
