"""Telling people: every event to the log and to every webhook, retried until delivered.

Layer: server/. `enqueue` (inside the transaction that made the events) adds a
delivery row per webhook, so an event is never lost between being stored and
being sent, even if the server stops. `deliver_due` POSTs what is due and
reschedules failures with exponential backoff (5 s doubling to an hour) until
`webhook_give_up_s` after the event. The body of a webhook POST is the event as
`GET /api/v1/events` shows it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from mtuscope.server.config import ServerConfig
from mtuscope.server.times import iso
from mtuscope.store.models import Agent, Delivery, Event, Target, Webhook

log = logging.getLogger("mtuscope.events")
FIRST_RETRY_MS = 5_000
LAST_RETRY_MS = 3_600_000
BATCH = 100
"""Deliveries tried per pass."""


def enqueue(session: Session, event_ids: Sequence[int], *, now_ms: int) -> None:
    """Log the events and queue one delivery per event and webhook."""
    if not event_ids:
        return
    for e in session.scalars(select(Event).where(Event.id.in_(list(event_ids)))):
        log.info("%s %s", e.kind, e.summary)
    hooks = list(session.scalars(select(Webhook.id)))
    session.add_all(
        Delivery(event_id=e, webhook_id=h, attempts=0, next_ms=now_ms, done=False)
        for e in event_ids
        for h in hooks
    )


def event_json(session: Session, e: Event) -> dict[str, Any]:
    """The event as the API shows it."""
    agent = session.get(Agent, e.agent_id) if e.agent_id is not None else None
    target = session.get(Target, e.target_id) if e.target_id is not None else None
    return {
        "id": e.id,
        "at": iso(e.at_ms),
        "agent": agent.name if agent else None,
        "target": e.target_id,
        "target_host": target.host if target else None,
        "kind": e.kind,
        "before": json.loads(e.before) if e.before is not None else None,
        "after": json.loads(e.after) if e.after is not None else None,
        "summary": e.summary,
    }


def deliver_due(
    session: Session, client: httpx.Client, *, now_ms: int, config: ServerConfig
) -> int:
    """Try the deliveries that are due; how many succeeded."""
    due = session.scalars(
        select(Delivery)
        .where(Delivery.done.is_(False), Delivery.next_ms <= now_ms)
        .order_by(Delivery.next_ms)
        .limit(BATCH)
    ).all()
    sent = 0
    for d in due:
        event = session.get(Event, d.event_id)
        hook = session.get(Webhook, d.webhook_id)
        if event is None or hook is None:
            d.done, d.last_status = True, "gone"
            continue
        d.attempts += 1
        try:
            answer = client.post(hook.url, json=event_json(session, event), timeout=5.0)
            ok, status = answer.is_success, f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            ok, status = False, type(exc).__name__
        d.last_status = status
        if ok:
            d.done = True
            sent += 1
            continue
        if now_ms - event.at_ms > config.webhook_give_up_s * 1000:
            d.done, d.last_status = True, f"gave up after {d.attempts} attempts ({status})"
            log.warning("webhook %s: event %d not delivered: %s", hook.id, event.id, d.last_status)
            continue
        d.next_ms = now_ms + min(LAST_RETRY_MS, FIRST_RETRY_MS * 2 ** (d.attempts - 1))
    return sent
