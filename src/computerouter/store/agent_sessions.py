"""Which sessions an agent's runs used (for listing sessions by agent)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import runs

__all__ = ["session_ids_of_agent"]


def session_ids_of_agent(engine: Engine, agent_id: str) -> set[str]:
    query = sa.select(runs.c.session_id).where(runs.c.agent_id == agent_id).distinct()
    with translate_store_errors(), read_connection(engine) as conn:
        return {row[0] for row in conn.execute(query)}
