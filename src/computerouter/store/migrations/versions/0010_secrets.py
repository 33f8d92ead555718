"""Secrets at rest: each value under its own data key, wrapped by a key-encryption key.

Revision ID: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("owner", sa.String(140), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kek_id", sa.String(64), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary, nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("rotated_at", sa.Float),
    )
    op.create_index("ix_secrets_kek_id", "secrets", ["kek_id"])


def downgrade() -> None:
    op.drop_index("ix_secrets_kek_id", table_name="secrets")
    op.drop_table("secrets")
