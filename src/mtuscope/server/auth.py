"""Who is asking: the admin, an agent, or nobody (401), and what each may do (403).

Layer: server/. The admin token comes from `MTUSCOPE_ADMIN_TOKEN` when set;
otherwise one is made at the first start, its hash stored, and the token
printed once (`ensure_admin_token`). Tokens are looked up by hash only.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from mtuscope.server.tokens import new_token, same_hash, token_hash
from mtuscope.store.database import Store
from mtuscope.store.models import Agent, Setting

ADMIN_KEY = "admin_token_hash"


@dataclass(frozen=True, slots=True)
class Caller:
    """The holder of a request's token."""

    admin: bool
    agent: Agent | None
    key: str
    """What the rate limit counts by: the token's hash."""


def ensure_admin_token(store: Store, env_token: str | None) -> str | None:
    """Make sure an admin token exists; the new token when one was made now, else None.

    `env_token` (MTUSCOPE_ADMIN_TOKEN) replaces the stored hash whenever it is given.
    """
    with store.session() as s:
        row = s.get(Setting, ADMIN_KEY)
        if env_token:
            digest = token_hash(env_token)
            if row is None:
                s.add(Setting(key=ADMIN_KEY, value=digest))
            else:
                row.value = digest
            return None
        if row is not None:
            return None
        token, digest = new_token()
        s.add(Setting(key=ADMIN_KEY, value=digest))
        return token


def bearer(request: Request) -> str | None:
    """The bearer token of a request, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def identify(session: Session, token: str | None) -> Caller:
    """The caller a token belongs to.

    Raises:
        HTTPException: 401 without a token or with an unknown one.
    """
    if token is None:
        raise HTTPException(401, "no bearer token (Authorization: Bearer <token>)")
    digest = token_hash(token)
    admin = session.get(Setting, ADMIN_KEY)
    if admin is not None and same_hash(admin.value, digest):
        return Caller(admin=True, agent=None, key=digest)
    agent = session.scalars(select(Agent).where(Agent.token_hash == digest)).one_or_none()
    if agent is None:
        raise HTTPException(401, "unknown token")
    return Caller(admin=False, agent=agent, key=digest)


def require_admin(caller: Caller) -> None:
    """Raises HTTPException 403 unless the caller is the admin."""
    if not caller.admin:
        raise HTTPException(403, "this route needs the admin token")


def require_agent(caller: Caller) -> Agent:
    """The calling agent. Raises HTTPException 403 for the admin (who is no agent)."""
    if caller.agent is None:
        raise HTTPException(403, "this route needs an agent token")
    return caller.agent
