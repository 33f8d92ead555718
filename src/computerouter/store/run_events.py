"""Run events as the replica that runs them wrote them, for any replica to stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import run_events

__all__ = ["JournalRow", "RunEventStore"]


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalRow:
    run_id: str
    position: int
    """The event's 1-based id in its run's stream."""
    type: str
    body: str
    """The event as the wire encodes it (JSON)."""
    at: float


class RunEventStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def append(self, rows: Sequence[JournalRow]) -> None:
        """Write events of any runs in one transaction; a row written before is kept as is
        (a retried batch), so the journal never holds two events at one position."""
        if not rows:
            return
        keys = [(r.run_id, r.position) for r in rows]
        with translate_store_errors(), self._engine.begin() as conn:
            taken = {
                (row[0], row[1])
                for row in conn.execute(
                    sa.select(run_events.c.run_id, run_events.c.position).where(
                        sa.tuple_(run_events.c.run_id, run_events.c.position).in_(keys)
                    )
                )
            }
            fresh = [r for r in rows if (r.run_id, r.position) not in taken]
            if fresh:
                conn.execute(
                    run_events.insert(),
                    [
                        {
                            "run_id": r.run_id,
                            "position": r.position,
                            "type": r.type,
                            "body": r.body,
                            "at": r.at,
                        }
                        for r in fresh
                    ],
                )

    def after(self, run_id: str, position: int, *, limit: int = 500) -> list[JournalRow]:
        """The run's events after ``position``, in order."""
        query = (
            sa.select(run_events)
            .where(run_events.c.run_id == run_id, run_events.c.position > position)
            .order_by(run_events.c.position)
            .limit(limit)
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [
                JournalRow(
                    run_id=row["run_id"],
                    position=row["position"],
                    type=row["type"],
                    body=row["body"],
                    at=row["at"],
                )
                for row in conn.execute(query).mappings()
            ]
