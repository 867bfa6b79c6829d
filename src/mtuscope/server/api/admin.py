"""Admin routes: agents, targets, results, events, instant tests (DESIGN.md's contract).

Layer: server/. Every route needs the admin token (403 with an agent's). Bodies
are checked by the pydantic models below; a failure is a 422 naming the field.
Results come back with their report exactly as the agent sent it (the stored
JSON text is spliced in, not re-encoded).
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from mtuscope.errors import UsageError
from mtuscope.jobs.inputs import check_host
from mtuscope.server.app import caller, session
from mtuscope.server.auth import Caller, require_admin
from mtuscope.server.times import iso, parse_time
from mtuscope.server.tokens import new_token
from mtuscope.store.models import (
    Agent,
    Delivery,
    Event,
    PathState,
    Result,
    Target,
    TargetAgent,
    Webhook,
)

router = APIRouter()
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PAGE = 10_000
"""Most results or events one GET returns (the oldest first; page on with `since`)."""


def admin(who: Caller = Depends(caller)) -> Caller:  # noqa: B008
    """The admin, or 401/403."""
    require_admin(who)
    return who


Db = Annotated[Session, Depends(session)]
Admin = Annotated[Caller, Depends(admin)]


class AgentIn(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not NAME.match(v):
            raise ValueError(
                "1 to 64 letters, digits, '.', '_' or '-', starting with one of the first two"
            )
        return v


class TargetBody(BaseModel):
    host: str
    port: int | None = Field(default=None, ge=1, le=65535)
    family: Literal[4, 6] | None = None
    kind: Literal["tcp", "icmp", "udp", "agent"] | None = None
    """Default: "tcp" (SYN probes) when a port is given, else "icmp" (echo probes)."""
    interval_s: int = Field(ge=10, le=86400)
    flows: int = Field(default=3, ge=1, le=16)
    agents: list[str] = Field(min_length=1, max_length=1000)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        try:
            return check_host(v, what="")
        except UsageError as exc:
            raise ValueError(str(exc).strip()) from None

    @model_validator(mode="after")
    def _port_for_kind(self) -> TargetBody:
        if self.kind is None:
            self.kind = "tcp" if self.port is not None else "icmp"
        if self.kind in ("tcp", "agent") and self.port is None:
            raise ValueError(f"a {self.kind} target needs a port")
        return self


@router.post("/agents", status_code=201)
def create_agent(body: AgentIn, s: Db, _: Admin) -> dict[str, Any]:
    """A new agent and its token (shown this once)."""
    if s.scalars(select(Agent.id).where(Agent.name == body.name)).first() is not None:
        raise HTTPException(409, f"name: an agent {body.name!r} exists")
    token, digest = new_token()
    row = Agent(name=body.name, token_hash=digest, created_ms=_now_ms(), silent=False)
    s.add(row)
    s.flush()
    return {"id": row.id, "name": row.name, "token": token}


@router.get("/agents")
def list_agents(s: Db, _: Admin) -> dict[str, Any]:
    """Every agent with its last contact."""
    rows = s.scalars(select(Agent).order_by(Agent.name)).all()
    return {
        "agents": [
            {
                "id": a.id,
                "name": a.name,
                "last_contact": iso(a.last_contact_ms),
                "silent": a.silent,
            }
            for a in rows
        ]
    }


@router.post("/targets", status_code=201)
def create_target(body: TargetBody, s: Db, _: Admin) -> dict[str, Any]:
    """A new target, tested by the named agents."""
    names = list(dict.fromkeys(body.agents))
    agents = dict(
        s.execute(select(Agent.name, Agent.id).where(Agent.name.in_(names))).tuples().all()
    )
    unknown = [n for n in names if n not in agents]
    if unknown:
        raise UsageError(f"agents: unknown agent {unknown[0]!r}")
    row = Target(
        host=body.host,
        port=body.port,
        family=body.family,
        kind=body.kind or "icmp",
        interval_s=body.interval_s,
        flows=body.flows,
        created_ms=_now_ms(),
        enabled=True,
    )
    s.add(row)
    s.flush()
    s.add_all(TargetAgent(target_id=row.id, agent_id=agents[n]) for n in names)
    return _target_json(row, names)


@router.get("/targets")
def list_targets(s: Db, _: Admin) -> dict[str, Any]:
    """Every target with, per agent, its newest result's figures."""
    targets = s.scalars(select(Target).order_by(Target.id)).all()
    names = dict(s.execute(select(Agent.id, Agent.name)).tuples().all())
    members: dict[int, list[str]] = {}
    for t_id, a_id in s.execute(select(TargetAgent.target_id, TargetAgent.agent_id)).tuples():
        members.setdefault(t_id, []).append(names[a_id])
    latest: dict[int, dict[str, Any]] = {}
    rows = s.execute(
        select(
            PathState.target_id,
            PathState.agent_id,
            Result.at_ms,
            Result.pmtu,
            Result.pmtu_lo,
            Result.pmtu_hi,
            Result.mss_announced,
            Result.mss_effective,
            Result.worst,
            Result.exact,
            Result.stop_reason,
        )
        .join(Result, Result.id == PathState.latest_id)
        .order_by(PathState.last_at_ms)
    ).tuples()
    for t_id, a_id, at, pmtu, lo, hi, announced, effective, worst, exact, stop in rows:
        latest.setdefault(t_id, {})[names[a_id]] = {
            "at": iso(at),
            "pmtu": pmtu,
            "pmtu_bounds": None if exact or lo is None else {"lo": lo, "hi": hi},
            "mss": announced if announced is not None else effective,
            "status": worst
            if exact or stop not in ("budget", "time", "interrupted")
            else "inconclusive",
        }
    return {
        "targets": [
            {**_target_json(t, sorted(members.get(t.id, []))), "latest": latest.get(t.id, {})}
            for t in targets
        ]
    }


@router.delete("/targets/{target_id}", status_code=204)
def delete_target(target_id: int, s: Db, _: Admin) -> Response:
    """Stop testing a target and forget its results."""
    if s.get(Target, target_id) is None:
        raise HTTPException(404, f"target {target_id}: unknown")
    s.execute(delete(Target).where(Target.id == target_id))
    return Response(status_code=204)


@router.post("/targets/{target_id}/instant", status_code=202)
def instant(target_id: int, s: Db, _: Admin) -> dict[str, Any]:
    """Ask every agent of the target to test it at its next pull."""
    if s.get(Target, target_id) is None:
        raise HTTPException(404, f"target {target_id}: unknown")
    now = _now_ms()
    links = s.scalars(select(TargetAgent).where(TargetAgent.target_id == target_id)).all()
    for link in links:
        link.instant_ms = now
    names = dict(s.execute(select(Agent.id, Agent.name)).tuples().all())
    return {"target": target_id, "agents": sorted(names[link.agent_id] for link in links)}


@router.get("/targets/{target_id}/results")
def results(
    target_id: int,
    s: Db,
    _: Admin,
    agent: Annotated[str | None, Query()] = None,
    since: Annotated[str | None, Query()] = None,
) -> Response:
    """A target's results, oldest first, with the agent's report as it was sent."""
    if s.get(Target, target_id) is None:
        raise HTTPException(404, f"target {target_id}: unknown")
    q = (
        select(Result.id, Agent.name, Result.at_ms, Result.report)
        .join(Agent, Agent.id == Result.agent_id)
        .where(Result.target_id == target_id)
    )
    if agent is not None:
        q = q.where(Agent.name == agent)
    if since is not None:
        q = q.where(Result.at_ms >= parse_time(since, what="since"))
    rows = s.execute(q.order_by(Result.at_ms).limit(PAGE)).tuples()
    parts = [
        f'{{"id":{json.dumps(rid)},"agent":{json.dumps(name)},"target":{target_id},'
        f'"at":{json.dumps(iso(at))},"report":{report}}}'
        for rid, name, at, report in rows
    ]
    return Response('{"results":[' + ",".join(parts) + "]}", media_type="application/json")


@router.get("/events")
def events(s: Db, _: Admin, since: Annotated[str | None, Query()] = None) -> dict[str, Any]:
    """Events, oldest first."""
    names = dict(s.execute(select(Agent.id, Agent.name)).tuples().all())
    hosts = dict(s.execute(select(Target.id, Target.host)).tuples().all())
    q = select(Event)
    if since is not None:
        q = q.where(Event.at_ms >= parse_time(since, what="since"))
    rows = s.scalars(q.order_by(Event.at_ms, Event.id).limit(PAGE)).all()
    return {
        "events": [
            {
                "id": e.id,
                "at": iso(e.at_ms),
                "agent": names.get(e.agent_id) if e.agent_id is not None else None,
                "target": e.target_id,
                "target_host": hosts.get(e.target_id) if e.target_id is not None else None,
                "kind": e.kind,
                "before": json.loads(e.before) if e.before is not None else None,
                "after": json.loads(e.after) if e.after is not None else None,
                "summary": e.summary,
            }
            for e in rows
        ]
    }


class WebhookIn(BaseModel):
    url: str = Field(max_length=2048)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("want an http:// or https:// URL")
        return v


@router.post("/webhooks", status_code=201)
def create_webhook(body: WebhookIn, s: Db, _: Admin) -> dict[str, Any]:
    """A URL every event from now on is POSTed to."""
    row = Webhook(url=body.url, created_ms=_now_ms())
    s.add(row)
    s.flush()
    return {"id": row.id, "url": row.url}


@router.get("/webhooks")
def list_webhooks(s: Db, _: Admin) -> dict[str, Any]:
    """The webhooks, with each one's undelivered count."""
    pending = dict(
        s.execute(
            select(Delivery.webhook_id, func.count())
            .where(Delivery.done.is_(False))
            .group_by(Delivery.webhook_id)
        )
        .tuples()
        .all()
    )
    rows = s.scalars(select(Webhook).order_by(Webhook.id)).all()
    return {"webhooks": [{"id": w.id, "url": w.url, "pending": pending.get(w.id, 0)} for w in rows]}


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: int, s: Db, _: Admin) -> Response:
    """Stop notifying a URL (its queued deliveries go too)."""
    if s.get(Webhook, webhook_id) is None:
        raise HTTPException(404, f"webhook {webhook_id}: unknown")
    s.execute(delete(Webhook).where(Webhook.id == webhook_id))
    return Response(status_code=204)


def _target_json(t: Target, agents: list[str]) -> dict[str, Any]:
    return {
        "id": t.id,
        "host": t.host,
        "port": t.port,
        "family": t.family,
        "kind": t.kind,
        "interval_s": t.interval_s,
        "flows": t.flows,
        "agents": agents,
    }


def _now_ms() -> int:
    return int(time.time() * 1000)
