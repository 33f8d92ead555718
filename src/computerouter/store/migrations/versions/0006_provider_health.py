"""Provider health shared by every replica: one circuit per (provider, region).

Revision ID: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_health",
        sa.Column("provider", sa.String(64), primary_key=True),
        sa.Column("region", sa.String(64), primary_key=True, server_default=""),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cooldown_s", sa.Float, nullable=False),
        sa.Column("open_until", sa.Float, nullable=False, server_default="0"),
        sa.Column("probe_owner", sa.String(255)),
        sa.Column("probe_until", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("provider_health")
