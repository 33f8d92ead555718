"""Run tokens: the per-run bearer of calls to the router's MCP host (only a hash is kept).

Revision ID: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_tokens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float),
    )
    op.create_index("ix_run_tokens_run_id", "run_tokens", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_run_tokens_run_id", table_name="run_tokens")
    op.drop_table("run_tokens")
