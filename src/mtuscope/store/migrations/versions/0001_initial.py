"""The first schema: agents, targets, results, state, events, hourly rollups, webhooks.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _fk(column: str, table: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(
        column, sa.Integer, sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=nullable
    )


def upgrade() -> None:
    op.create_table(
        "settings",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "agents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("last_contact_ms", sa.BigInteger, nullable=True),
        sa.Column("silent", sa.Boolean, nullable=False),
    )
    op.create_table(
        "targets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("host", sa.String(253), nullable=False),
        sa.Column("port", sa.Integer, nullable=True),
        sa.Column("family", sa.Integer, nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("interval_s", sa.Integer, nullable=False),
        sa.Column("flows", sa.Integer, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "target_agents",
        sa.Column(
            "target_id",
            sa.Integer,
            sa.ForeignKey("targets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "agent_id",
            sa.Integer,
            sa.ForeignKey("agents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("instant_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.String(36), primary_key=True),
        _fk("agent_id", "agents"),
        _fk("target_id", "targets"),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("capture_report", sa.Text, nullable=True),
        sa.Column("flow", sa.Integer, nullable=False),
        sa.Column("family", sa.Integer, nullable=False),
        sa.Column("exact", sa.Boolean, nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=True)
            for name in (
                "pmtu",
                "pmtu_lo",
                "pmtu_hi",
                "pmtu_reverse",
                "mss_announced",
                "mss_effective",
                "mss_combined",
            )
        ),
        sa.Column("drop_address", sa.String(45), nullable=True),
        sa.Column("drop_ttl", sa.Integer, nullable=True),
        sa.Column("drop_from_mtu", sa.Integer, nullable=True),
        sa.Column("drop_to_mtu", sa.Integer, nullable=True),
        sa.Column("drop_encapsulation", sa.String(128), nullable=True),
        sa.Column("clamp_hop", sa.Integer, nullable=True),
        sa.Column("finding_kinds", sa.String(512), nullable=False),
        sa.Column("worst", sa.String(8), nullable=False),
        sa.Column("probes_sent", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("stop_reason", sa.String(16), nullable=False),
    )
    op.create_index("ix_results_target_agent_at", "results", ["target_id", "agent_id", "at_ms"])
    op.create_table(
        "path_state",
        sa.Column(
            "target_id",
            sa.Integer,
            sa.ForeignKey("targets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "agent_id",
            sa.Integer,
            sa.ForeignKey("agents.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("flow", sa.Integer, primary_key=True),
        sa.Column("confirmed", sa.Text, nullable=False),
        sa.Column("window", sa.Text, nullable=False),
        sa.Column("last_at_ms", sa.BigInteger, nullable=False),
        sa.Column("latest_id", sa.String(36), nullable=True),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at_ms", sa.BigInteger, nullable=False),
        _fk("agent_id", "agents", nullable=True),
        _fk("target_id", "targets", nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("before", sa.Text, nullable=True),
        sa.Column("after", sa.Text, nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_events_at", "events", ["at_ms"])
    op.create_table(
        "hourly",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("target_id", "targets"),
        _fk("agent_id", "agents"),
        sa.Column("hour_ms", sa.BigInteger, nullable=False),
        sa.Column("rounds", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        *(
            sa.Column(name, sa.Integer, nullable=True)
            for name in ("pmtu_min", "pmtu_max", "pmtu_last", "mss_min", "mss_max", "mss_last")
        ),
        sa.UniqueConstraint("target_id", "agent_id", "hour_ms"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        _fk("event_id", "events"),
        _fk("webhook_id", "webhooks"),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_ms", sa.BigInteger, nullable=False),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("last_status", sa.String(128), nullable=True),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["done", "next_ms"])


def downgrade() -> None:
    for table in (
        "deliveries",
        "webhooks",
        "hourly",
        "events",
        "path_state",
        "results",
        "target_agents",
        "targets",
        "agents",
        "settings",
    ):
        op.drop_table(table)
