"""The tables of the monitoring store (SQLAlchemy 2 declarative models).

Layer: store/ (an edge: the database). The server and its tests are the only
users. Every schema change is an Alembic revision in `store/migrations/`; a test
checks that the migrations build exactly these tables, on SQLite and PostgreSQL.

Times are integer milliseconds since the Unix epoch, UTC (`*_ms` columns): one
representation on both databases, cheap to index and to compare; the API turns
them into ISO 8601 at its edge. A result's full `path` report is kept as the
JSON text the agent sent; the figures dashboards and events need are copied
into indexed columns when it is ingested (`store/figures.py`).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """The declarative base of every table here."""


class Setting(Base):
    """One fact about this store (`admin_token_hash`, ...)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Agent(Base):
    """A vantage point that runs tests and pushes results."""

    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 (hex) of the agent's bearer token; the token itself is shown once."""
    created_ms: Mapped[int] = mapped_column(BigInteger)
    last_contact_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    silent: Mapped[bool] = mapped_column(Boolean, default=False)
    """True once an `agent-silent` event was raised, until the agent is heard again."""


class Target(Base):
    """What an admin asked to be tested: a host (and port), how often, by which agents."""

    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    host: Mapped[str] = mapped_column(String(253))
    port: Mapped[int | None] = mapped_column(Integer, default=None)
    family: Mapped[int | None] = mapped_column(Integer, default=None)
    """4 or 6; None: whatever the name resolves to first."""
    kind: Mapped[str] = mapped_column(String(16), default="tcp")
    """`tcp` (SYN probes, needs a port), `icmp`, `udp`, or `agent` (a responder at host:port)."""
    interval_s: Mapped[int] = mapped_column(Integer)
    flows: Mapped[int] = mapped_column(Integer, default=3)
    """Source ports tested per round (ECMP branches)."""
    created_ms: Mapped[int] = mapped_column(BigInteger)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class TargetAgent(Base):
    """Which agent tests which target."""

    __tablename__ = "target_agents"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    instant_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    """When an instant test was asked for and the agent has not yet taken it."""


class Result(Base):
    """One test run by one agent: the report as sent, and its indexed figures."""

    __tablename__ = "results"
    __table_args__ = (Index("ix_results_target_agent_at", "target_id", "agent_id", "at_ms"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    """Made by the agent (a UUID): a retried upload is recognised, never stored twice."""
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    """When the test ended, by the agent's clock."""
    received_ms: Mapped[int] = mapped_column(BigInteger)
    report: Mapped[str] = mapped_column(Text)
    """The `path` JSON report, exactly as `mtuscope probe --json` prints it."""
    capture_report: Mapped[str | None] = mapped_column(Text, default=None)
    """The `capture` JSON report of a short capture taken when the test went wrong."""
    flow: Mapped[int] = mapped_column(Integer, default=0)
    """Which of the round's flows (source ports, for ECMP) this is: 0, 1, ..."""
    family: Mapped[int] = mapped_column(Integer)
    """4 or 6: the family of the address probed."""
    exact: Mapped[bool] = mapped_column(Boolean)
    """True when the search finished (`converged` or `blackhole`): only then does PMTU count."""
    pmtu: Mapped[int | None] = mapped_column(Integer, default=None)
    pmtu_lo: Mapped[int | None] = mapped_column(Integer, default=None)
    pmtu_hi: Mapped[int | None] = mapped_column(Integer, default=None)
    pmtu_reverse: Mapped[int | None] = mapped_column(Integer, default=None)
    mss_announced: Mapped[int | None] = mapped_column(Integer, default=None)
    mss_effective: Mapped[int | None] = mapped_column(Integer, default=None)
    mss_combined: Mapped[int | None] = mapped_column(Integer, default=None)
    drop_address: Mapped[str | None] = mapped_column(String(45), default=None)
    drop_ttl: Mapped[int | None] = mapped_column(Integer, default=None)
    drop_from_mtu: Mapped[int | None] = mapped_column(Integer, default=None)
    drop_to_mtu: Mapped[int | None] = mapped_column(Integer, default=None)
    drop_encapsulation: Mapped[str | None] = mapped_column(String(128), default=None)
    clamp_hop: Mapped[int | None] = mapped_column(Integer, default=None)
    finding_kinds: Mapped[str] = mapped_column(String(512), default="")
    """Sorted, comma-separated kinds of the report's findings."""
    worst: Mapped[str] = mapped_column(String(8), default="ok")
    """`ok`, `info`, `warning` or `error`: the most severe finding."""
    probes_sent: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    stop_reason: Mapped[str] = mapped_column(String(16))


class PathState(Base):
    """Per target, agent and flow: the confirmed figures and the window events are debounced
    over (each flow is its own path: ECMP branches may differ)."""

    __tablename__ = "path_state"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[int] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    flow: Mapped[int] = mapped_column(Integer, primary_key=True, default=0)
    confirmed: Mapped[str] = mapped_column(Text, default="{}")
    """JSON: the figures last confirmed (pmtu, pmtu_reverse, mss, drop, findings)."""
    window: Mapped[str] = mapped_column(Text, default="[]")
    """JSON: the figures of the last Y rounds, newest last."""
    last_at_ms: Mapped[int] = mapped_column(BigInteger, default=0)
    latest_id: Mapped[str | None] = mapped_column(String(36), default=None)
    """The newest result of this path (the overview reads it, not the results table)."""


class Event(Base):
    """A change worth telling someone about (DESIGN.md's event kinds)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_at", "at_ms"),
        Index("ix_events_target_at", "target_id", "at_ms"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at_ms: Mapped[int] = mapped_column(BigInteger)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    target_id: Mapped[int | None] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text, default=None)
    """JSON of the value before (null for a first value)."""
    after: Mapped[str | None] = mapped_column(Text, default=None)
    summary: Mapped[str] = mapped_column(Text)


class Hourly(Base):
    """One hour of one target and agent, kept after the raw results are purged."""

    __tablename__ = "hourly"
    __table_args__ = (UniqueConstraint("target_id", "agent_id", "hour_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    hour_ms: Mapped[int] = mapped_column(BigInteger)
    rounds: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    """Rounds with an error-severity finding."""
    pmtu_min: Mapped[int | None] = mapped_column(Integer, default=None)
    pmtu_max: Mapped[int | None] = mapped_column(Integer, default=None)
    pmtu_last: Mapped[int | None] = mapped_column(Integer, default=None)
    mss_min: Mapped[int | None] = mapped_column(Integer, default=None)
    mss_max: Mapped[int | None] = mapped_column(Integer, default=None)
    mss_last: Mapped[int | None] = mapped_column(Integer, default=None)


class Webhook(Base):
    """A URL every event is POSTed to."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Delivery(Base):
    """One event to one webhook: tried until it is delivered or a day has passed."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "done", "next_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_ms: Mapped[int] = mapped_column(BigInteger)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    last_status: Mapped[str | None] = mapped_column(String(128), default=None)
