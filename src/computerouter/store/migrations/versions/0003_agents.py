"""Agents: (user_id, sandbox_id, slug) with model settings and the system prompt.

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False),
        sa.Column("slug", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("compute_provider", sa.String(32)),
        sa.Column("compute_policy", sa.String(32)),
        sa.Column("compute_region", sa.String(64)),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_agents"),
        sa.UniqueConstraint("user_id", "sandbox_id", "slug", name="uq_agents_address"),
    )


def downgrade() -> None:
    op.drop_table("agents")
