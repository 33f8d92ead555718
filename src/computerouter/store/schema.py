"""Tables. Changes go through a new Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "LIVE_PREDICATE",
    "ledger_accounts",
    "ledger_entries",
    "ledger_meters",
    "ledger_runs",
    "ledger_usage",
    "metadata",
    "pause_events",
    "pauses",
    "provider_health",
    "run_permits",
    "runs",
    "sandbox_settings",
    "session_transitions",
    "sessions",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The single-flight guarantee lives here: at most one live session per (user_id, sandbox_id),
# enforced by a partial unique index on both SQLite and PostgreSQL.
LIVE_PREDICATE = "state NOT IN ('destroyed', 'failed')"

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("sandbox_id", String(128), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("region", String(64), nullable=False, server_default=""),
    Column("runtime", String(64), nullable=False),
    Column("instance_id", String(255)),
    Column("endpoint_kind", String(16)),
    Column("endpoint_address", Text),
    Column("endpoint_headers", Text),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("cpus", Float, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("pids", Integer, nullable=False),
    Column("agent_id", String(128), nullable=False, server_default=""),
    Column("run_id", String(64), nullable=False, server_default=""),
    Column("owner", String(255)),
    Column("lease_expires_at", Float),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("state_changed_at", Float, nullable=False),
    Column("last_active_at", Float, nullable=False),
    Index(
        "uq_sessions_live_key",
        "user_id",
        "sandbox_id",
        unique=True,
        sqlite_where=text(LIVE_PREDICATE),
        postgresql_where=text(LIVE_PREDICATE),
    ),
    Index("ix_sessions_state", "state"),
)

session_transitions = Table(
    "session_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False, index=True),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("session_id", String(64), ForeignKey("sessions.id"), nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("sandbox_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("owner", String(255)),
    Column("started_at", Float, nullable=False),
    Column("heartbeat_at", Float, nullable=False),
    Column("ended_at", Float),
    # A pause --now (or an operator) asks the run's control plane to cancel it (0005).
    Column("cancel_reason", Text),
    Column("cancel_requested_at", Float),
    Index("ix_runs_session_id_state", "session_id", "state"),
    Index("ix_runs_session_id_started_at", "session_id", "started_at"),
)

# Each run's events in order, written by the replica that runs it, so any replica can stream
# them (migration 0009). ``position`` is the 1-based event id of the SSE stream.
run_events = Table(
    "run_events",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("at", Float, nullable=False),
)

# -- gates (migration 0005) --------------------------------------------------------------------

pauses = Table(
    "pauses",
    metadata,
    Column("scope", String(160), primary_key=True),
    Column("mode", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", Float, nullable=False),
)

pause_events = Table(
    "pause_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scope", String(160), nullable=False),
    Column("action", String(16), nullable=False),
    Column("mode", String(16)),
    Column("reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", Float, nullable=False),
)

run_permits = Table(
    "run_permits",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("owner", String(255)),
    Column("created_at", Float, nullable=False),
    Index("ix_run_permits_user_id", "user_id"),
)

# One circuit per (provider, region), shared by every replica (migration 0006).
provider_health = Table(
    "provider_health",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("region", String(64), primary_key=True, server_default=""),
    Column("state", String(16), nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("cooldown_s", Float, nullable=False),
    Column("open_until", Float, nullable=False, server_default="0"),
    Column("probe_owner", String(255)),
    Column("probe_until", Float),
    Column("last_error", Text),
    Column("updated_at", Float, nullable=False),
    Column("probed_at", Float),
    Column("probe_error", Text),
)

sandbox_settings = Table(
    "sandbox_settings",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("sandbox_id", String(128), primary_key=True),
    Column("idle_suspend_s", Float),
    Column("archive_after_s", Float),
    Column("max_run_s", Float),  # migration 0011
    Column("max_uptime_s", Float),  # migration 0011
)


# -- ledger (migration 0002) -------------------------------------------------------------------
# Amounts are BIGINT micro-credits; durations BIGINT milliseconds. Entries are append-only and
# double-entry (one debit account, one credit account, one amount). A user account's balance is
# a cache of its entries, moved in the same transaction as each entry; platform accounts' are
# summed from the entries when asked (see store/ledger_rows.is_cached).

_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER keys only

ledger_accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(160), primary_key=True),
    Column("user_id", String(128)),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("reserved", BigInteger, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    CheckConstraint("reserved >= 0", name="ck_ledger_accounts_reserved"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", _ID, primary_key=True, autoincrement=True),
    Column("key", String(255), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("debit_account", String(160), ForeignKey("ledger_accounts.id"), nullable=False),
    Column("credit_account", String(160), ForeignKey("ledger_accounts.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("user_id", String(128), nullable=False),
    Column("sandbox_id", String(128), nullable=False, server_default=""),
    Column("agent_id", String(128), nullable=False, server_default=""),
    Column("run_id", String(64)),
    Column("session_id", String(64)),
    Column("provider", String(64), nullable=False, server_default=""),
    Column("region", String(64), nullable=False, server_default=""),
    Column("model", String(255), nullable=False, server_default=""),
    Column("quantity_ms", BigInteger, nullable=False, server_default="0"),
    Column("input_tokens", BigInteger, nullable=False, server_default="0"),
    Column("output_tokens", BigInteger, nullable=False, server_default="0"),
    Column("rate_per_ms", BigInteger, nullable=False, server_default="0"),
    Column("input_per_mtok", BigInteger, nullable=False, server_default="0"),
    Column("output_per_mtok", BigInteger, nullable=False, server_default="0"),
    Column("cpu_ms", BigInteger),
    Column("at", Float, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    UniqueConstraint("run_id", "kind", name="uq_ledger_entries_run_id_kind"),
    CheckConstraint("amount >= 0", name="ck_ledger_entries_amount"),
    CheckConstraint("debit_account <> credit_account", name="ck_ledger_entries_sides"),
    Index("ix_ledger_entries_user_id_at", "user_id", "at"),
    Index("ix_ledger_entries_session_id", "session_id"),
)

ledger_runs = Table(
    "ledger_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("user_id", String(128), nullable=False),
    Column("sandbox_id", String(128), nullable=False),
    Column("agent_id", String(128), nullable=False, server_default=""),
    Column("session_id", String(64)),
    Column("hold", BigInteger, nullable=False, server_default="0"),
    Column("hold_state", String(16), nullable=False, server_default="none"),
    Column("busy_ms", BigInteger, nullable=False, server_default="0"),
    Column("cpu_ms", BigInteger),
    Column("created_at", Float, nullable=False),
    Column("owner", String(255)),
    Column("ceiling", BigInteger),
    Index("ix_ledger_runs_hold_state", "hold_state"),
)

ledger_usage = Table(
    "ledger_usage",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("model", String(255), primary_key=True),
    Column("input_tokens", BigInteger, nullable=False),
    Column("output_tokens", BigInteger, nullable=False),
)

ledger_meters = Table(
    "ledger_meters",
    metadata,
    Column("session_id", String(64), ForeignKey("sessions.id"), primary_key=True),
    Column("metered_to_ms", BigInteger, nullable=False),
    Column("running_ms", BigInteger, nullable=False, server_default="0"),
    Column("idle_ms", BigInteger, nullable=False, server_default="0"),
    Column("carry", BigInteger, nullable=False, server_default="0"),
)
