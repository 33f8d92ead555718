"""Credit ledger: accounts, double-entry entries, per-run holds and meters, usage, session meters.

Revision ID: 0002
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(160), nullable=False),
        sa.Column("user_id", sa.String(128)),
        sa.Column("balance", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("reserved", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_accounts"),
        sa.CheckConstraint("reserved >= 0", name="ck_ledger_accounts_reserved"),
    )
    # The other side of every entry. Their balance is the sum of their entries, not cached.
    accounts = sa.table(
        "ledger_accounts",
        sa.column("id", sa.String),
        sa.column("balance", sa.BigInteger),
        sa.column("reserved", sa.BigInteger),
        sa.column("created_at", sa.Float),
    )
    op.bulk_insert(
        accounts,
        [
            {"id": name, "balance": 0, "reserved": 0, "created_at": time.time()}
            for name in ("platform:compute", "platform:grants", "platform:tokens")
        ],
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("debit_account", sa.String(160), nullable=False),
        sa.Column("credit_account", sa.String(160), nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("agent_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("run_id", sa.String(64)),
        sa.Column("session_id", sa.String(64)),
        sa.Column("provider", sa.String(64), nullable=False, server_default=""),
        sa.Column("region", sa.String(64), nullable=False, server_default=""),
        sa.Column("model", sa.String(255), nullable=False, server_default=""),
        sa.Column("quantity_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("input_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_tokens", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rate_per_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("input_per_mtok", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("output_per_mtok", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cpu_ms", sa.BigInteger),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entries"),
        sa.UniqueConstraint("key", name="uq_ledger_entries_key"),
        sa.UniqueConstraint("run_id", "kind", name="uq_ledger_entries_run_id_kind"),
        sa.CheckConstraint("amount >= 0", name="ck_ledger_entries_amount"),
        sa.CheckConstraint("debit_account <> credit_account", name="ck_ledger_entries_sides"),
        sa.ForeignKeyConstraint(
            ["debit_account"],
            ["ledger_accounts.id"],
            name="fk_ledger_entries_debit_account_ledger_accounts",
        ),
        sa.ForeignKeyConstraint(
            ["credit_account"],
            ["ledger_accounts.id"],
            name="fk_ledger_entries_credit_account_ledger_accounts",
        ),
    )
    op.create_index("ix_ledger_entries_user_id_at", "ledger_entries", ["user_id", "at"])
    op.create_index("ix_ledger_entries_session_id", "ledger_entries", ["session_id"])
    op.create_table(
        "ledger_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.String(128), nullable=False),
        sa.Column("sandbox_id", sa.String(128), nullable=False),
        sa.Column("agent_id", sa.String(128), nullable=False, server_default=""),
        sa.Column("session_id", sa.String(64)),
        sa.Column("hold", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("hold_state", sa.String(16), nullable=False, server_default="none"),
        sa.Column("busy_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("cpu_ms", sa.BigInteger),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_ledger_runs"),
    )
    op.create_index("ix_ledger_runs_hold_state", "ledger_runs", ["hold_state"])
    op.create_table(
        "ledger_usage",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "model", name="pk_ledger_usage"),
    )
    op.create_table(
        "ledger_meters",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("metered_to_ms", sa.BigInteger, nullable=False),
        sa.Column("running_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("idle_ms", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("carry", sa.BigInteger, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("session_id", name="pk_ledger_meters"),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_ledger_meters_session_id_sessions"
        ),
    )


def downgrade() -> None:
    op.drop_table("ledger_meters")
    op.drop_table("ledger_usage")
    op.drop_index("ix_ledger_runs_hold_state", table_name="ledger_runs")
    op.drop_table("ledger_runs")
    op.drop_index("ix_ledger_entries_session_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_user_id_at", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_accounts")
