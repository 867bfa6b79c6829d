"""What the dashboard's pages read from the store, in as few and as narrow queries as it can.

Layer: server/. The overview reads each path's newest result through
`path_state.latest_id` (a primary-key look-up per path, never a scan of
`results`); a target's history reads `hourly` rows for long ranges and raw
results for short ones, agent by agent along the (target, agent, time) index;
its events come from the (target, time) index. Only the newest report of each
path is ever parsed (for the path graph and the findings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from mtuscope.store.models import Agent, Event, Hourly, PathState, Result, Target, TargetAgent

CUT_SHORT = frozenset({"budget", "time", "interrupted"})
"""Stop reasons of a search cut short: its bounds are shown, its status is inconclusive."""
RAW_HOURS = 48
"""Ranges up to this many hours are drawn from raw results; longer ones from `hourly`."""


@dataclass(frozen=True, slots=True)
class Cell:
    """One agent's current view of one target (its newest result over its flows)."""

    agent: str
    at_ms: int | None
    pmtu: int | None
    bounds: tuple[int | None, int | None] | None
    """(lo, hi) when the newest search was cut short."""
    pmtu_reverse: int | None
    mss_announced: int | None
    mss_effective: int | None
    status: str
    """`ok`, `warning`, `error`, `inconclusive`, or `none` (no result yet)."""
    flows_pmtu: tuple[int, ...]
    """The distinct exact PMTUs of its flows' newest results when they differ (ECMP
    branches); empty when they agree."""
    last_contact_ms: int | None
    silent: bool


@dataclass(slots=True)
class TargetRow:
    """A target and its agents' cells."""

    id: int
    host: str
    port: int | None
    kind: str
    interval_s: int
    enabled: bool
    cells: list[Cell] = field(default_factory=list)


def status_of(worst: str, exact: bool, stop: str) -> str:
    """The overview's status of one result."""
    if worst == "error":
        return "error"
    if stop in CUT_SHORT or not exact:
        return "inconclusive" if worst != "warning" else "warning"
    return "warning" if worst == "warning" else "ok"


def overview(s: Session) -> list[TargetRow]:
    """Every target with a cell per agent (newest result through `path_state.latest_id`).

    One query walks `target_agents` with each path's state and newest result
    (outer joins: an agent without a result yet still has its cell).
    """
    agents = {
        a_id: (name, contact, silent)
        for a_id, name, contact, silent in s.execute(
            select(Agent.id, Agent.name, Agent.last_contact_ms, Agent.silent)
        ).tuples()
    }
    rows = {
        t_id: TargetRow(id=t_id, host=host, port=port, kind=kind, interval_s=iv, enabled=en)
        for t_id, host, port, kind, iv, en in s.execute(
            select(
                Target.id, Target.host, Target.port, Target.kind, Target.interval_s, Target.enabled
            ).order_by(Target.id)
        ).tuples()
    }
    q = (
        select(
            TargetAgent.target_id,
            TargetAgent.agent_id,
            PathState.last_at_ms,
            Result.pmtu,
            Result.pmtu_lo,
            Result.pmtu_hi,
            Result.exact,
            Result.stop_reason,
            Result.worst,
            Result.pmtu_reverse,
            Result.mss_announced,
            Result.mss_effective,
        )
        .select_from(TargetAgent)
        .outerjoin(
            PathState,
            (PathState.target_id == TargetAgent.target_id)
            & (PathState.agent_id == TargetAgent.agent_id),
        )
        .outerjoin(Result, Result.id == PathState.latest_id)
        .order_by(TargetAgent.target_id, TargetAgent.agent_id)
    )
    newest: dict[tuple[int, int], tuple[Any, ...] | None] = {}
    flows: dict[tuple[int, int], set[int]] = {}
    # Core, not the ORM: ten thousand plain rows without the ORM's per-row loading.
    for row in s.connection().execute(q).tuples().all():
        key = (row[0], row[1])
        if row[2] is None:  # no result yet
            newest.setdefault(key, None)
            continue
        if row[6] and row[3] is not None:
            flows.setdefault(key, set()).add(row[3])
        old = newest.get(key)
        if old is None or row[2] > old[2]:
            newest[key] = row
    for (t_id, a_id), r in newest.items():
        target = rows.get(t_id)
        if target is None:
            continue
        name, contact, silent = agents[a_id]
        if r is None:
            target.cells.append(
                Cell(name, None, None, None, None, None, None, "none", (), contact, silent)
            )
            continue
        _, _, at, pmtu, lo, hi, exact, stop, worst, reverse, announced, effective = r
        many = flows.get((t_id, a_id))
        target.cells.append(
            Cell(
                agent=name,
                at_ms=at,
                pmtu=pmtu if exact else None,
                bounds=None if exact else (lo, hi),
                pmtu_reverse=reverse,
                mss_announced=announced,
                mss_effective=effective,
                status=status_of(worst, exact, stop),
                flows_pmtu=tuple(sorted(many, reverse=True)) if many and len(many) > 1 else (),
                last_contact_ms=contact,
                silent=silent,
            )
        )
    for target in rows.values():
        target.cells.sort(key=lambda c: c.agent)
    return list(rows.values())


@dataclass(frozen=True, slots=True)
class Newest:
    """The newest result of one path (target, agent, flow), its report parsed."""

    agent: str
    flow: int
    at_ms: int
    report: dict[str, Any]


def newest_reports(s: Session, target_id: int) -> list[Newest]:
    """Each path's newest report to a target, agents by name, flows in order."""
    q = (
        select(Agent.name, PathState.flow, Result.at_ms, Result.report)
        .join(Result, Result.id == PathState.latest_id)
        .join(Agent, Agent.id == PathState.agent_id)
        .where(PathState.target_id == target_id)
        .order_by(Agent.name, PathState.flow)
    )
    out = []
    for name, flow, at, text in s.execute(q).tuples():
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.append(Newest(agent=name, flow=flow, at_ms=at, report=doc))
    return out


@dataclass(frozen=True, slots=True)
class Point:
    """One point of an agent's history: a raw result, or an hour of them."""

    at_ms: int
    pmtu: int | None
    pmtu_min: int | None
    pmtu_max: int | None
    mss: int | None
    mss_min: int | None
    mss_max: int | None


@dataclass(frozen=True, slots=True)
class EventRow:
    at_ms: int
    agent: str | None
    kind: str
    summary: str


@dataclass(frozen=True, slots=True)
class History:
    """A target's history over [start, end): per agent its points, and the events."""

    start_ms: int
    end_ms: int
    hourly: bool
    series: dict[str, list[Point]]
    events: list[EventRow]


def history(s: Session, target_id: int, *, start_ms: int, end_ms: int) -> History:
    """PMTU and MSS over time per agent, and the events, for one target."""
    hourly = end_ms - start_ms > RAW_HOURS * 3_600_000
    agents = s.execute(
        select(Agent.id, Agent.name)
        .join(TargetAgent, TargetAgent.agent_id == Agent.id)
        .where(TargetAgent.target_id == target_id)
        .order_by(Agent.name)
    ).tuples()
    series: dict[str, list[Point]] = {}
    names: dict[int, str] = {}
    for a_id, name in agents:
        names[a_id] = name
        series[name] = (
            _hours(s, target_id, a_id, start_ms, end_ms)
            if hourly
            else _raw(s, target_id, a_id, start_ms, end_ms)
        )
    events = [
        EventRow(at, names.get(a_id) if a_id is not None else None, kind, summary)
        for at, a_id, kind, summary in s.execute(
            select(Event.at_ms, Event.agent_id, Event.kind, Event.summary)
            .where(Event.target_id == target_id, Event.at_ms >= start_ms, Event.at_ms < end_ms)
            .order_by(Event.at_ms, Event.id)
        ).tuples()
    ]
    return History(start_ms, end_ms, hourly, series, events)


def _raw(s: Session, target_id: int, agent_id: int, start_ms: int, end_ms: int) -> list[Point]:
    q = (
        select(Result.at_ms, Result.exact, Result.pmtu, Result.mss_announced, Result.mss_effective)
        .where(
            Result.target_id == target_id,
            Result.agent_id == agent_id,
            Result.at_ms >= start_ms,
            Result.at_ms < end_ms,
        )
        .order_by(Result.at_ms)
    )
    out = []
    for at, exact, pmtu, announced, effective in s.execute(q).tuples():
        value = pmtu if exact else None
        mss = announced if announced is not None else effective
        out.append(Point(at, value, value, value, mss, mss, mss))
    return out


def _hours(s: Session, target_id: int, agent_id: int, start_ms: int, end_ms: int) -> list[Point]:
    q = (
        select(
            Hourly.hour_ms,
            Hourly.pmtu_last,
            Hourly.pmtu_min,
            Hourly.pmtu_max,
            Hourly.mss_last,
            Hourly.mss_min,
            Hourly.mss_max,
        )
        .where(
            Hourly.target_id == target_id,
            Hourly.agent_id == agent_id,
            Hourly.hour_ms >= start_ms - 3_600_000,
            Hourly.hour_ms < end_ms,
        )
        .order_by(Hourly.hour_ms)
    )
    return [Point(*row) for row in s.execute(q).tuples()]


def target_of(s: Session, target_id: int) -> Target | None:
    """The target, or None."""
    return s.get(Target, target_id)
