"""What the server does between requests: silent agents, webhook deliveries, retention.

Layer: server/. `Background` runs in one thread of each server process, in
short passes (`tick`), each in its own transaction; with several processes on
one PostgreSQL the passes may overlap, which each step tolerates (row updates
are conditional, deletions idempotent). Stopping it between passes loses
nothing: what is not delivered stays queued in the store.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from sqlalchemy import CursorResult, delete, func, select

from mtuscope.server.alerts import deliver_due, enqueue
from mtuscope.server.config import ServerConfig
from mtuscope.store.database import Store
from mtuscope.store.models import Agent, Event, Hourly, PathState, Result, Target, TargetAgent

log = logging.getLogger("mtuscope.server")
PASS_SECONDS = 2.0
RETENTION_EVERY_S = 600.0


def silent_agents(store: Store, *, now_ms: int, config: ServerConfig) -> list[int]:
    """Raise `agent-silent` for agents unheard for `silent_intervals` of their shortest
    test, and clear it (the same kind, after = false) for those heard again; the events."""
    events: list[int] = []
    with store.session() as s:
        shortest = dict(
            s.execute(
                select(TargetAgent.agent_id, func.min(Target.interval_s))
                .join(Target, Target.id == TargetAgent.target_id)
                .where(Target.enabled)
                .group_by(TargetAgent.agent_id)
            )
            .tuples()
            .all()
        )
        for agent in s.scalars(select(Agent)):
            interval = shortest.get(agent.id)
            if interval is None:
                continue
            heard = agent.last_contact_ms or agent.created_ms
            quiet = now_ms - heard > config.silent_intervals * interval * 1000
            if quiet == agent.silent:
                continue
            agent.silent = quiet
            summary = (
                f"agent {agent.name} silent for {(now_ms - heard) // 1000} s"
                if quiet
                else f"agent {agent.name} heard again"
            )
            row = Event(
                at_ms=now_ms,
                agent_id=agent.id,
                target_id=None,
                kind="agent-silent",
                before="false" if quiet else "true",
                after="true" if quiet else "false",
                summary=summary,
            )
            s.add(row)
            s.flush()
            events.append(row.id)
        enqueue(s, events, now_ms=now_ms)
    return events


def purge(store: Store, *, now_ms: int, config: ServerConfig) -> tuple[int, int]:
    """Delete raw results and hourly rows past their retention; how many of each.

    A path's newest result is kept whatever its age, so the overview still shows it.
    """
    keep = select(PathState.latest_id).where(PathState.latest_id.is_not(None))
    with store.session() as s:
        raw: CursorResult[Any] = s.execute(  # type: ignore[assignment]
            delete(Result).where(
                Result.at_ms < now_ms - config.raw_retention_s * 1000, Result.id.not_in(keep)
            )
        )
        old = now_ms - config.hourly_retention_s * 1000
        hourly: CursorResult[Any] = s.execute(delete(Hourly).where(Hourly.hour_ms < old))  # type: ignore[assignment]
        s.execute(delete(Event).where(Event.at_ms < old))
        return raw.rowcount or 0, hourly.rowcount or 0


class Background:
    """The server's background passes, in a daemon thread."""

    def __init__(self, store: Store, config: ServerConfig) -> None:
        self.store = store
        self.config = config
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mtuscope-background", daemon=True)
        self._last_purge = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def tick(self, client: httpx.Client) -> None:
        """One pass: silent agents, due deliveries, and (every ten minutes) retention."""
        now_ms = int(time.time() * 1000)
        silent_agents(self.store, now_ms=now_ms, config=self.config)
        with self.store.session() as s:
            deliver_due(s, client, now_ms=now_ms, config=self.config)
        if time.monotonic() - self._last_purge > RETENTION_EVERY_S:
            self._last_purge = time.monotonic()
            raw, hourly = purge(self.store, now_ms=now_ms, config=self.config)
            if raw or hourly:
                log.info("retention: %d raw results and %d hourly rows removed", raw, hourly)

    def _run(self) -> None:
        with httpx.Client() as client:
            while not self._stop.wait(PASS_SECONDS):
                try:
                    self.tick(client)
                except Exception:  # A pass that fails is logged and tried again next pass.
                    log.exception("background pass failed")
