"""Active probes of provider health: when a circuit was last probed and what the probe said
(``provider_health.probed_at``, ``provider_health.probe_error``: null when it succeeded).

Revision ID: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provider_health") as batch:
        batch.add_column(sa.Column("probed_at", sa.Float))
        batch.add_column(sa.Column("probe_error", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("provider_health") as batch:
        batch.drop_column("probe_error")
        batch.drop_column("probed_at")
