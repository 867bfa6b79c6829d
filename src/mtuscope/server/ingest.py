"""Results in: checked, stored once, indexed, rolled up by the hour, and turned into events.

Layer: server/. `ingest` takes one agent's batch inside one transaction: a
result whose id is already stored is a duplicate (an agent's retry), never a
second row and never an error; a bad one refuses the whole batch with one line
naming it (`results[3].report.kind: ...`), so nothing is half-stored and the
agent keeps it in its spool. Paths (target, agent, flow) are updated in the
order of their results' times; on PostgreSQL one batch per agent at a time (a
transaction-scoped advisory lock on the agent's id), so two server processes
never debounce the same path, nor create the same hourly row, at once, while
different agents' batches go in side by side.

A batch costs a fixed number of statements, not a few per result: the results
go in with one executemany (sorted by id, so concurrent writers lock rows in
one order), the batch's hourly rows and path states are read with one query
each and written back with one insert and one update each, and the events with
one insert returning their ids. The figures are read (`prepare`) before the
transaction, outside SQLite's one-writer lock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from mtuscope.errors import UsageError
from mtuscope.server.alerts import enqueue
from mtuscope.server.changes import Tracker
from mtuscope.server.config import ServerConfig
from mtuscope.store.figures import Figures, ReportError, figures
from mtuscope.store.models import Agent, Event, Hourly, PathState, Result, Target, TargetAgent

HOUR_MS = 3_600_000
AGENT_LOCKS = 0x6D7475
"""The first key of PostgreSQL advisory locks that serialise one agent's batches."""
RESULTS: Table = Result.__table__  # type: ignore[assignment]
TARGETS: Table = Target.__table__  # type: ignore[assignment]
STATES: Table = PathState.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
HOURLY: Table = Hourly.__table__  # type: ignore[assignment]
ROLLED = ("rounds", "errors", "pmtu_min", "pmtu_max", "pmtu_last", "mss_min", "mss_max", "mss_last")
"""The columns of an hourly row a batch updates."""


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


def prepare(batch: Sequence[Incoming]) -> list[Figures | ReportError]:
    """Each result's figures, or why its report cannot be indexed (no store needed: the
    server reads them before it takes the write lock)."""
    out: list[Figures | ReportError] = []
    for item in batch:
        try:
            out.append(figures(item.report))
        except ReportError as exc:
            out.append(exc)
    return out


def ingest(
    session: Session,
    agent: Agent,
    batch: Sequence[Incoming],
    *,
    config: ServerConfig,
    now_ms: int,
    prepared: Sequence[Figures | ReportError] | None = None,
) -> Outcome:
    """Store an agent's results and the events they confirm (one transaction: the caller's).

    Args:
        prepared: `prepare(batch)`, when the caller has read the figures already.

    Raises:
        NotYours: a result for a target this agent does not test.
        UsageError: a report that is not an indexable `path` report (which one, which field).
    """
    if session.get_bind().dialect.name == "postgresql":
        # Every row a batch writes but its results is keyed by its agent: one batch per
        # agent at a time (across server processes), so a retry racing its first try
        # sees the stored ids, and two batches never both create one hour or one path.
        session.execute(select(func.pg_advisory_xact_lock(AGENT_LOCKS, agent.id)))
    allowed = set(
        session.scalars(select(TargetAgent.target_id).where(TargetAgent.agent_id == agent.id))
    )
    read = prepare(batch) if prepared is None else prepared
    figs: list[Figures] = []
    for i, (item, fig) in enumerate(zip(batch, read, strict=True)):
        if item.target not in allowed:
            raise NotYours(f"results[{i}].target: {item.target} is not a target of {agent.name}")
        if isinstance(fig, ReportError):
            raise UsageError(f"results[{i}].{fig}") from None
        figs.append(fig)
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
        rows.sort(key=lambda r: r["id"])  # one order of row locks for every writer
        session.execute(insert(RESULTS), rows)
        _roll_up(session, agent.id, new)
    events = _debounce(session, agent, new, config=config)
    enqueue(session, events, now_ms=now_ms)
    session.execute(update(Agent).where(Agent.id == agent.id).values(last_contact_ms=now_ms))
    return Outcome(
        accepted=[item.id for item, _fig in new],
        duplicates=duplicates,
        events=events,
    )


def _debounce(
    session: Session, agent: Agent, new: list[tuple[Incoming, Figures]], *, config: ServerConfig
) -> list[int]:
    """Feed each path's results, oldest first, to its tracker; store the events they confirm.

    One query reads (and on PostgreSQL locks, in key order) the batch's paths, one
    statement each inserts the events, the new paths and updates the known ones.
    """
    by_path: dict[tuple[int, int], list[tuple[Incoming, Figures]]] = defaultdict(list)
    for item, fig in new:
        by_path[item.target, item.flow].append((item, fig))
    if not by_path:
        return []
    targets = sorted({t for t, _ in by_path})
    hosts: dict[int, str] = {
        tid: host
        for tid, host in session.execute(
            select(TARGETS.c.id, TARGETS.c.host).where(TARGETS.c.id.in_(targets))
        )
    }
    known = {
        (row.target_id, row.flow): row
        for row in session.execute(
            select(
                STATES.c.target_id,
                STATES.c.flow,
                STATES.c.confirmed,
                STATES.c.window,
                STATES.c.last_at_ms,
            )
            .where(STATES.c.agent_id == agent.id, STATES.c.target_id.in_(targets))
            .order_by(STATES.c.target_id, STATES.c.flow)
            .with_for_update()
        )
        if (row.target_id, row.flow) in by_path
    }
    changes: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (target, flow), items in sorted(by_path.items()):
        state = known.get((target, flow))
        tracker = Tracker.load(
            state.confirmed if state is not None else "{}",
            state.window if state is not None else "[]",
            confirm=config.confirm_rounds,
            window=config.window_rounds,
        )
        last_at = state.last_at_ms if state is not None else 0
        latest: str | None = None
        where = f"{agent.name} -> {hosts.get(target, target)}" + (f" (flow {flow})" if flow else "")
        for item, fig in sorted(items, key=lambda p: p[0].at_ms):
            if item.at_ms < last_at:
                continue  # An old result arriving late is stored, but history does not rewind.
            last_at, latest = item.at_ms, item.id
            for change in tracker.observe(fig, where=where):
                changes.append(
                    {
                        "at_ms": item.at_ms,
                        "agent_id": agent.id,
                        "target_id": target,
                        "kind": change.kind,
                        "before": json.dumps(change.before),
                        "after": json.dumps(change.after),
                        "summary": change.summary,
                    }
                )
        confirmed, window = tracker.dump()
        values = {"confirmed": confirmed, "window": window, "last_at_ms": last_at}
        if state is None:
            inserts.append(
                {"target_id": target, "agent_id": agent.id, "flow": flow, "latest_id": latest}
                | values
            )
        elif latest is not None:
            updates.append({"t": target, "f": flow, "latest_id": latest} | values)
    if inserts:
        session.execute(insert(STATES), inserts)
    if updates:
        session.execute(
            update(STATES)
            .where(
                STATES.c.agent_id == agent.id,
                STATES.c.target_id == bindparam("t"),
                STATES.c.flow == bindparam("f"),
            )
            .values(
                confirmed=bindparam("confirmed"),
                window=bindparam("window"),
                last_at_ms=bindparam("last_at_ms"),
                latest_id=bindparam("latest_id"),
            ),
            updates,
        )
    if not changes:
        return []
    ids = session.execute(
        insert(EVENTS).returning(EVENTS.c.id, sort_by_parameter_order=True), changes
    ).scalars()
    return list(ids)


def _roll_up(session: Session, agent_id: int, new: list[tuple[Incoming, Figures]]) -> None:
    """Fold the batch into the hourly rows of its targets (created as needed): one query
    reads (and locks) them, one statement inserts the new hours, one updates the others."""
    groups: dict[tuple[int, int], list[Figures]] = defaultdict(list)
    for item, fig in sorted(new, key=lambda p: p[0].at_ms):
        groups[item.target, item.at_ms - item.at_ms % HOUR_MS].append(fig)
    targets = sorted({t for t, _ in groups})
    hours = sorted({h for _, h in groups})
    known = {
        (row.target_id, row.hour_ms): row._asdict()
        for row in session.execute(
            select(HOURLY)
            .where(
                HOURLY.c.agent_id == agent_id,
                HOURLY.c.target_id.in_(targets),
                HOURLY.c.hour_ms.in_(hours),
            )
            .order_by(HOURLY.c.id)
            .with_for_update()
        )
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for (target, hour), figs in sorted(groups.items()):
        row = known.get((target, hour))
        fresh = row is None
        if row is None:
            row = dict.fromkeys(ROLLED, None) | {"rounds": 0, "errors": 0}
        for fig in figs:
            row["rounds"] += 1
            row["errors"] += fig.worst == "error"
            if fig.exact and fig.pmtu is not None:
                row["pmtu_min"] = min(fig.pmtu, row["pmtu_min"] or fig.pmtu)
                row["pmtu_max"] = max(fig.pmtu, row["pmtu_max"] or fig.pmtu)
                row["pmtu_last"] = fig.pmtu
            mss = fig.mss_announced if fig.mss_announced is not None else fig.mss_effective
            if mss is not None:
                row["mss_min"] = min(mss, row["mss_min"] or mss)
                row["mss_max"] = max(mss, row["mss_max"] or mss)
                row["mss_last"] = mss
        values = {k: row[k] for k in ROLLED}
        if fresh:
            inserts.append({"target_id": target, "agent_id": agent_id, "hour_ms": hour} | values)
        else:
            updates.append({"row_id": row["id"]} | {f"v_{k}": v for k, v in values.items()})
    if inserts:
        session.execute(insert(HOURLY), inserts)
    if updates:
        session.execute(
            update(HOURLY)
            .where(HOURLY.c.id == bindparam("row_id"))
            .values({k: bindparam(f"v_{k}") for k in ROLLED}),
            updates,
        )
