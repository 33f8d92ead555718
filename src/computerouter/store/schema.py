"""Tables. Changes go through a new Alembic migration in ``migrations/versions``."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

__all__ = [
    "LIVE_PREDICATE",
    "metadata",
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
    Index("ix_runs_session_id_state", "session_id", "state"),
)

sandbox_settings = Table(
    "sandbox_settings",
    metadata,
    Column("user_id", String(128), primary_key=True),
    Column("sandbox_id", String(128), primary_key=True),
    Column("idle_suspend_s", Float),
    Column("archive_after_s", Float),
)
