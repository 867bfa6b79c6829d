"""Agent routes: the schedule an agent pulls, and the results it pushes.

Layer: server/. An agent's token reads its own schedule and posts results for
its own targets; everything else is 403 for it. A pull is the agent's contact
(it clears an `agent-silent`) and takes the instant tests asked for its targets.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from mtuscope.server.app import caller, session
from mtuscope.server.auth import Caller, bearer, identify, require_agent
from mtuscope.server.config import ServerConfig
from mtuscope.server.ingest import Incoming, ingest, prepare
from mtuscope.server.times import parse_time
from mtuscope.store.database import Store
from mtuscope.store.models import Agent, Target, TargetAgent

router = APIRouter()
UUID_TEXT = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def agent(who: Caller = Depends(caller)) -> Agent:  # noqa: B008
    """The calling agent, or 401/403."""
    return require_agent(who)


Db = Annotated[Session, Depends(session)]
Me = Annotated[Agent, Depends(agent)]


class ResultBody(BaseModel):
    """One result of a POST; its `at` is read once, by `parse_batch` (422 `results[i].at`)."""

    id: str = Field(pattern=UUID_TEXT)
    target: int = Field(ge=1)
    at: str
    flow: int = Field(default=0, ge=0, le=63)
    report: dict[str, Any]
    capture: dict[str, Any] | None = None


class ResultsIn(BaseModel):
    results: list[ResultBody] = Field(max_length=1000)


@router.get("/agent/schedule")
def schedule(s: Db, me: Me) -> dict[str, Any]:
    """The agent's tests, and the instant tests waiting for it (taken by this pull)."""
    now = int(time.time() * 1000)
    rows = s.execute(
        select(Target, TargetAgent.instant_ms)
        .join(TargetAgent, TargetAgent.target_id == Target.id)
        .where(TargetAgent.agent_id == me.id, Target.enabled)
        .order_by(Target.id)
    ).tuples()
    tests, instant = [], []
    for t, asked in rows:
        test = {
            "target": t.id,
            "host": t.host,
            "port": t.port,
            "family": t.family,
            "kind": t.kind,
            "interval_s": t.interval_s,
            "flows": t.flows,
        }
        tests.append(test)
        if asked is not None:
            instant.append(test)
    if instant:
        s.execute(
            update(TargetAgent)
            .where(TargetAgent.agent_id == me.id, TargetAgent.instant_ms.is_not(None))
            .values(instant_ms=None)
        )
    s.execute(update(Agent).where(Agent.id == me.id).values(last_contact_ms=now))
    return {"agent": me.name, "tests": tests, "instant": instant}


def parse_batch(raw: bytes, cfg: ServerConfig) -> list[Incoming]:
    """The batch of a POST body, checked (413 too big, 422 naming the field)."""
    if len(raw) > cfg.results_per_post * cfg.report_limit:
        raise HTTPException(413, f"body: over {cfg.results_per_post * cfg.report_limit} bytes")
    try:
        # orjson builds the nested reports in C and pydantic checks only the few fields
        # of each result (its `report` is Any): cheaper than model_validate_json.
        parsed = ResultsIn.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError as exc:
        raise HTTPException(
            422, f"body: not valid JSON at character {exc.pos} ({exc.msg})"
        ) from None
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    batch = []
    for i, r in enumerate(parsed.results):
        try:
            text = orjson.dumps(r.report).decode()
        except orjson.JSONEncodeError as exc:  # an integer beyond 64 bits
            raise HTTPException(422, f"results[{i}].report: {exc}") from None
        if len(text) > cfg.report_limit:
            raise HTTPException(413, f"results[{i}].report: over {cfg.report_limit} bytes")
        batch.append(
            Incoming(
                id=r.id.lower(),
                target=r.target,
                at_ms=parse_time(r.at, what=f"results[{i}].at"),
                report=r.report,
                report_text=text,
                flow=r.flow,
                capture=_capture_text(i, r.capture),
            )
        )
    return batch


@router.post("/results")
async def post_results(request: Request) -> dict[str, Any]:
    """Store the agent's results (idempotent by id); lists what was new and what was known.

    The event loop only reads the body: the token is checked, the batch parsed and
    stored in the thread pool, in one session (SQLite: `Store.writing`, one writer
    at a time), so a slow disk never stalls the other requests.
    """
    app = request.app
    me = await run_in_threadpool(_agent_of, app, bearer(request))
    raw = await request.body()
    return await run_in_threadpool(_post, app, me, raw)


def _agent_of(app: Any, token: str | None) -> Agent:
    """The calling agent (401, 403, 429), in a short read-only session."""
    with app.state.store.session() as s:
        who = identify(s, token)
    app.state.rate.charge(who.key)
    return require_agent(who)


def _post(app: Any, me: Agent, raw: bytes) -> dict[str, Any]:
    cfg: ServerConfig = app.state.config
    batch = parse_batch(raw, cfg)
    read = prepare(batch)
    store: Store = app.state.store
    for attempt in (1, 2):
        try:
            with store.writing() as s:
                now = int(time.time() * 1000)
                outcome = ingest(s, me, batch, config=cfg, now_ms=now, prepared=read)
            break
        except IntegrityError:
            # Another process stored one of these ids between our look-up and insert:
            # the second attempt sees them as duplicates.
            if attempt == 2:
                raise
    app.state.metrics.ingested.inc(len(outcome.accepted))
    return {"accepted": outcome.accepted, "duplicates": outcome.duplicates}


def _capture_text(i: int, capture: dict[str, Any] | None) -> str | None:
    if capture is None:
        return None
    try:
        return orjson.dumps(capture).decode()
    except orjson.JSONEncodeError as exc:
        raise HTTPException(422, f"results[{i}].capture: {exc}") from None
