"""The headers a session's endpoint needs (a remote provider's preview token), beside its
address: ``sessions.endpoint_headers``, JSON pairs, null for none.

Revision ID: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("endpoint_headers", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("endpoint_headers")
