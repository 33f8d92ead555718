"""Sessions, their transitions, runs and per-sandbox lifecycle settings.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

LIVE = "state NOT IN ('destroyed', 'failed')"


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("region", sa.String(64), nullable=False, server_default=""),
        sa.Column("runtime", sa.String(64), nullable=False),
        sa.Column("instance_id", sa.String(255)),
        sa.Column("endpoint_kind", sa.String(16)),
        sa.Column("endpoint_address", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("cpus", sa.Float, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("pids", sa.Integer, nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("run_id", sa.String(64), nullable=False, server_default=""),
        sa.Column("owner", sa.String(255)),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("error", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("state_changed_at", sa.Float, nullable=False),
        sa.Column("last_active_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
    )
    op.create_index(
        "uq_sessions_live_key",
        "sessions",
        ["user_id", "sandbox_id"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_index("ix_sessions_state", "sessions", ["state"])
    op.create_table(
        "session_transitions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_session_transitions"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_session_transitions_session_id_sessions"
        ),
    )
    op.create_index("ix_session_transitions_session_id", "session_transitions", ["session_id"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_runs_session_id_sessions"
        ),
    )
    op.create_index("ix_runs_session_id_state", "runs", ["session_id", "state"])
    op.create_table(
        "sandbox_settings",
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False),
        sa.Column("idle_suspend_s", sa.Float),
        sa.Column("archive_after_s", sa.Float),
        sa.PrimaryKeyConstraint("user_id", "sandbox_id", name="pk_sandbox_settings"),
    )


def downgrade() -> None:
    op.drop_table("sandbox_settings")
    op.drop_index("ix_runs_session_id_state", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_session_transitions_session_id", table_name="session_transitions")
    op.drop_table("session_transitions")
    op.drop_index("ix_sessions_state", table_name="sessions")
    op.drop_index("uq_sessions_live_key", table_name="sessions")
    op.drop_table("sessions")
