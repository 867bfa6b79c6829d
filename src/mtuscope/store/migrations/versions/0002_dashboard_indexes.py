"""Indexes the dashboard reads by: a target's events in time order.

The history page asks for one target's events over a range; without this
index that is a walk over every event of the range (all targets).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_events_target_at", "events", ["target_id", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_events_target_at", table_name="events")
