"""Results in: checked, stored once, indexed, rolled up by the hour, and turned into events.

Layer: server/. `ingest` takes one agent's batch inside one transaction: a
result whose id is already stored is a duplicate (an agent's retry), never a
second row and never an error; a bad one refuses the whole batch with one line
naming it (`results[3].report.kind: ...`), so nothing is half-stored and the
agent keeps it in its spool. Paths (target, agent, flow) are updated in the
order of their results' times, under a row lock on PostgreSQL, so two server
processes never debounce the same path at once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from mtuscope.errors import UsageError
from mtuscope.server.alerts import enqueue
from mtuscope.server.changes import Change, Tracker
from mtuscope.server.config import ServerConfig
from mtuscope.store.figures import Figures, ReportError, figures
from mtuscope.store.models import Agent, Event, Hourly, PathState, Result, Target, TargetAgent

HOUR_MS = 3_600_000


class NotYours(UsageError):
    """A result for a target the posting agent was not given (HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Incoming:
    """One result as an agent posts it."""

    id: str
    target: int
    at_ms: int
    report: dict[str, Any]
    report_text: str
    flow: int = 0
    capture: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a batch."""

    accepted: list[str]
    duplicates: list[str]
    events: list[int]
    """Ids of the events the batch raised (for delivery)."""


def ingest(
    session: Session, agent: Agent, batch: Sequence[Incoming], *, config: ServerConfig, now_ms: int
) -> Outcome:
    """Store an agent's results and the events they confirm (one transaction: the caller's).

    Raises:
        NotYours: a result for a target this agent does not test.
        UsageError: a report that is not an indexable `path` report (which one, which field).
    """
    allowed = set(
        session.scalars(select(TargetAgent.target_id).where(TargetAgent.agent_id == agent.id))
    )
    figs: list[Figures] = []
    for i, item in enumerate(batch):
        if item.target not in allowed:
            raise NotYours(f"results[{i}].target: {item.target} is not a target of {agent.name}")
        try:
            figs.append(figures(item.report))
        except ReportError as exc:
            raise UsageError(f"results[{i}].{exc}") from None
    ids = [item.id for item in batch]
    known = set(session.scalars(select(Result.id).where(Result.id.in_(ids)))) if ids else set()
    seen: set[str] = set()
    rows = []
    new: list[tuple[Incoming, Figures]] = []
    duplicates: list[str] = []
    for item, fig in zip(batch, figs, strict=True):
        if item.id in known or item.id in seen:
            duplicates.append(item.id)
            continue
        seen.add(item.id)
        new.append((item, fig))
        rows.append(
            {
                "id": item.id,
                "agent_id": agent.id,
                "target_id": item.target,
                "at_ms": item.at_ms,
                "received_ms": now_ms,
                "report": item.report_text,
                "capture_report": item.capture,
                "flow": item.flow,
                **fig.columns(),
            }
        )
    if rows:
        session.execute(insert(Result), rows)
        _roll_up(session, agent.id, new)
    events = _debounce(session, agent, new, config=config)
    enqueue(session, events, now_ms=now_ms)
    session.execute(update(Agent).where(Agent.id == agent.id).values(last_contact_ms=now_ms))
    return Outcome(
        accepted=[r["id"] for r in rows],
        duplicates=duplicates,
        events=events,
    )


def _debounce(
    session: Session, agent: Agent, new: list[tuple[Incoming, Figures]], *, config: ServerConfig
) -> list[int]:
    by_path: dict[tuple[int, int], list[tuple[Incoming, Figures]]] = defaultdict(list)
    for item, fig in new:
        by_path[item.target, item.flow].append((item, fig))
    hosts = dict(
        session.execute(
            select(Target.id, Target.host).where(Target.id.in_(list({t for t, _ in by_path})))
        )
        .tuples()
        .all()
    )
    event_ids: list[int] = []
    for (target, flow), items in sorted(by_path.items()):
        state = session.execute(
            select(PathState)
            .where(
                PathState.target_id == target,
                PathState.agent_id == agent.id,
                PathState.flow == flow,
            )
            .with_for_update()
        ).scalar_one_or_none()
        if state is None:
            state = PathState(
                target_id=target,
                agent_id=agent.id,
                flow=flow,
                confirmed="{}",
                window="[]",
                last_at_ms=0,
            )
            session.add(state)
        tracker = Tracker.load(
            state.confirmed,
            state.window,
            confirm=config.confirm_rounds,
            window=config.window_rounds,
        )
        where = f"{agent.name} -> {hosts.get(target, target)}" + (f" (flow {flow})" if flow else "")
        for item, fig in sorted(items, key=lambda p: p[0].at_ms):
            if item.at_ms < state.last_at_ms:
                continue  # An old result arriving late is stored, but history does not rewind.
            state.last_at_ms = item.at_ms
            state.latest_id = item.id
            for change in tracker.observe(fig, where=where):
                event_ids.append(_event(session, agent.id, target, item.at_ms, change))
        state.confirmed, state.window = tracker.dump()
    return event_ids


def _event(session: Session, agent_id: int, target_id: int, at_ms: int, change: Change) -> int:
    row = Event(
        at_ms=at_ms,
        agent_id=agent_id,
        target_id=target_id,
        kind=change.kind,
        before=json.dumps(change.before),
        after=json.dumps(change.after),
        summary=change.summary,
    )
    session.add(row)
    session.flush()
    return row.id


def _roll_up(session: Session, agent_id: int, new: list[tuple[Incoming, Figures]]) -> None:
    """Fold the batch into the hourly rows of its targets (created as needed)."""
    groups: dict[tuple[int, int], list[tuple[Incoming, Figures]]] = defaultdict(list)
    for item, fig in new:
        groups[item.target, item.at_ms - item.at_ms % HOUR_MS].append((item, fig))
    for (target, hour), items in groups.items():
        row = session.execute(
            select(Hourly)
            .where(Hourly.target_id == target, Hourly.agent_id == agent_id, Hourly.hour_ms == hour)
            .with_for_update()
        ).scalar_one_or_none()
        if row is None:
            row = Hourly(target_id=target, agent_id=agent_id, hour_ms=hour, rounds=0, errors=0)
            session.add(row)
        items.sort(key=lambda p: p[0].at_ms)
        for _item, fig in items:
            row.rounds += 1
            row.errors += fig.worst == "error"
            if fig.exact and fig.pmtu is not None:
                row.pmtu_min = min(fig.pmtu, row.pmtu_min or fig.pmtu)
                row.pmtu_max = max(fig.pmtu, row.pmtu_max or fig.pmtu)
                row.pmtu_last = fig.pmtu
            mss = fig.mss_announced if fig.mss_announced is not None else fig.mss_effective
            if mss is not None:
                row.mss_min = min(mss, row.mss_min or mss)
                row.mss_max = max(mss, row.mss_max or mss)
                row.mss_last = mss
