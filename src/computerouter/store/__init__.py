"""Persistence: SQLite by default, PostgreSQL for several control planes; migrations on open."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from computerouter.store.engine import create_engine, migrate
from computerouter.store.runs import RunStore
from computerouter.store.sandboxes import SandboxStore
from computerouter.store.sessions import SessionStore, Transition, TransitionRow

__all__ = ["Store", "Transition", "TransitionRow", "open_store"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Store:
    engine: Engine
    sessions: SessionStore
    runs: RunStore
    sandboxes: SandboxStore

    def close(self) -> None:
        self.sessions.close()
        self.engine.dispose()


def open_store(database_url: str) -> Store:
    """Open (and migrate) the database at ``database_url``."""
    engine = create_engine(database_url)
    migrate(engine)
    return Store(
        engine=engine,
        sessions=SessionStore(engine),
        runs=RunStore(engine),
        sandboxes=SandboxStore(engine),
    )
