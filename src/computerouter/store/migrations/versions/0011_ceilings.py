"""Max-runtime ceilings: an agent's run ceiling, a sandbox's run and uptime ceilings.

Revision ID: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("max_run_s", sa.Float, nullable=True))
    with op.batch_alter_table("sandbox_settings") as batch:
        batch.add_column(sa.Column("max_run_s", sa.Float, nullable=True))
        batch.add_column(sa.Column("max_uptime_s", sa.Float, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sandbox_settings") as batch:
        batch.drop_column("max_uptime_s")
        batch.drop_column("max_run_s")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("max_run_s")
