"""Gates: pauses (the kill switch) with their audit trail, run permits (per-user caps), and
cancel requests on runs in flight.

Revision ID: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pauses",
        sa.Column("scope", sa.String(160), primary_key=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "pause_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(160), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_table(
        "run_permits",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(255)),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_run_permits_user_id", "run_permits", ["user_id"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.Text))
        batch.add_column(sa.Column("cancel_requested_at", sa.Float))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("cancel_requested_at")
        batch.drop_column("cancel_reason")
    op.drop_index("ix_run_permits_user_id", table_name="run_permits")
    op.drop_table("run_permits")
    op.drop_table("pause_events")
    op.drop_table("pauses")
