"""Run history: each run with its agent, session and the two ledger entries joined on run_id.

One query: ``runs`` left-joined with the agent row (its address, while it exists), the
session (its provider) and the run's token and compute entries (at most one of each, by the
ledger's unique ``(run_id, kind)``). A run with no entry yet shows no cost there, not zero.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping

from computerouter.domain.session import RunRecord
from computerouter.store.agents import agents
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.ledger_rows import EntryKind
from computerouter.store.runs import to_run
from computerouter.store.schema import ledger_entries, runs, sessions

__all__ = ["RunHistory", "RunSummary"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSummary:
    run: RunRecord
    agent_slug: str | None
    """The slug of the run's agent, ``None`` once the agent is deleted (or never was one)."""
    provider: str
    token_cost: int | None
    """Micro-credits of the token entry; ``None`` while there is none."""
    compute_cost: int | None
    input_tokens: int = 0
    output_tokens: int = 0
    model: str = ""
    busy_ms: int | None = None
    """Running time billed to the run (the compute entry's quantity)."""

    @property
    def agent(self) -> str:
        """``sandbox/slug`` while the agent exists, else its id."""
        if self.agent_slug is None:
            return self.run.agent_id
        return f"{self.run.sandbox_id}/{self.agent_slug}"

    @property
    def total_cost(self) -> int | None:
        if self.token_cost is None and self.compute_cost is None:
            return None
        return (self.token_cost or 0) + (self.compute_cost or 0)

    def duration(self, now: float) -> float:
        end = self.run.ended_at if self.run.ended_at is not None else now
        return max(0.0, end - self.run.started_at)


_token = ledger_entries.alias("token_entry")
_compute = ledger_entries.alias("compute_entry")


def _query() -> sa.Select[tuple[object, ...]]:
    return sa.select(
        runs,
        agents.c.slug.label("agent_slug"),
        sessions.c.provider.label("provider"),
        _token.c.amount.label("token_cost"),
        _token.c.input_tokens.label("input_tokens"),
        _token.c.output_tokens.label("output_tokens"),
        _token.c.model.label("model"),
        _compute.c.amount.label("compute_cost"),
        _compute.c.quantity_ms.label("busy_ms"),
    ).select_from(
        runs.outerjoin(agents, agents.c.id == runs.c.agent_id)
        .outerjoin(sessions, sessions.c.id == runs.c.session_id)
        .outerjoin(
            _token,
            sa.and_(_token.c.run_id == runs.c.run_id, _token.c.kind == EntryKind.TOKEN.value),
        )
        .outerjoin(
            _compute,
            sa.and_(_compute.c.run_id == runs.c.run_id, _compute.c.kind == EntryKind.COMPUTE.value),
        )
    )


def _to_summary(row: RowMapping) -> RunSummary:
    return RunSummary(
        run=to_run(row),
        agent_slug=row["agent_slug"],
        provider=row["provider"] or "",
        token_cost=row["token_cost"],
        compute_cost=row["compute_cost"],
        input_tokens=row["input_tokens"] or 0,
        output_tokens=row["output_tokens"] or 0,
        model=row["model"] or "",
        busy_ms=row["busy_ms"],
    )


class RunHistory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def list(
        self,
        *,
        user_id: str | None = None,
        sandbox_id: str | None = None,
        agent: str | None = None,
        limit: int = 100,
    ) -> builtins.list[RunSummary]:
        """The latest ``limit`` runs, oldest first. ``agent`` is a slug, ``sandbox/slug``, or
        an agent id (which also finds runs of deleted agents)."""
        query = _query()
        if user_id is not None:
            query = query.where(runs.c.user_id == user_id)
        if sandbox_id is not None:
            query = query.where(runs.c.sandbox_id == sandbox_id)
        if agent is not None:
            sandbox, sep, slug = agent.rpartition("/")
            by_slug = agents.c.slug == slug
            if sep:
                by_slug = sa.and_(by_slug, runs.c.sandbox_id == sandbox)
            query = query.where(sa.or_(by_slug, runs.c.agent_id == agent))
        query = query.order_by(runs.c.started_at.desc(), runs.c.run_id.desc()).limit(limit)
        with translate_store_errors(), self._engine.connect() as conn:
            found = [_to_summary(row) for row in conn.execute(query).mappings()]
        return found[::-1]

    def get(self, run_id: str) -> RunSummary | None:
        query = _query().where(runs.c.run_id == run_id)
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _to_summary(row)
