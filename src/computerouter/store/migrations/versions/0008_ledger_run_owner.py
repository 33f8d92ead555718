"""Who holds a run's credit and how much it may cost: ``ledger_runs.owner`` (``host:pid:start``),
so the repair pass can give back the hold of a run whose process died before the run began, and
``ledger_runs.ceiling`` (what the run held when it began), the most its entries may add up to.

Revision ID: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_runs") as batch:
        batch.add_column(sa.Column("owner", sa.String(255)))
        batch.add_column(sa.Column("ceiling", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("ledger_runs") as batch:
        batch.drop_column("ceiling")
        batch.drop_column("owner")
