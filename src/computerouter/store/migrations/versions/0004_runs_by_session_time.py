"""Index runs by (session_id, started_at): metering reads a session's runs in time order.

Revision ID: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_session_id_started_at", "runs", ["session_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_session_id_started_at", table_name="runs")
