"""Run tokens name their audience: the MCP host (a run reads its own sandbox) or the operator's
API (a Concierge run acts as its user), and whether destructive operations were confirmed.

Revision ID: 0017
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_tokens") as batch:
        batch.add_column(
            sa.Column("audience", sa.String(32), nullable=False, server_default="mcp-host")
        )
        batch.add_column(
            sa.Column("destructive", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("run_tokens") as batch:
        batch.drop_column("destructive")
        batch.drop_column("audience")
