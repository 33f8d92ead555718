"""Agent rows: ``(user_id, sandbox_id, slug)`` with model settings and the system prompt."""

from __future__ import annotations

import builtins

import sqlalchemy as sa
from sqlalchemy.engine import Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from computerouter.domain.agents import AgentAddress, AgentRecord, ModelSettings
from computerouter.errors import Conflict, NotFound
from computerouter.store.engine import read_connection
from computerouter.store.errors import translate_store_errors
from computerouter.store.schema import metadata

__all__ = ["AgentNotFound", "AgentStore", "agents"]

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False),
    sa.Column("sandbox_id", sa.String(128), nullable=False),
    sa.Column("slug", sa.String(64), nullable=False),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("compute_provider", sa.String(32)),
    sa.Column("compute_policy", sa.String(32)),
    sa.Column("compute_region", sa.String(64)),
    sa.Column("max_run_s", sa.Float),
    sa.Column("egress_allow", sa.Text),
    sa.Column("on_provider_down", sa.String(16), nullable=False, server_default="wait"),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("user_id", "sandbox_id", "slug", name="uq_agents_address"),
)


class AgentNotFound(NotFound):
    code = "agent_not_found"

    def __init__(self, user_id: str, address: AgentAddress | str) -> None:
        super().__init__(f"no agent {address} for user {user_id}")
        self.address = str(address)


def _to_agent(row: RowMapping) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        user_id=row["user_id"],
        sandbox_id=row["sandbox_id"],
        slug=row["slug"],
        settings=ModelSettings(
            backend=row["backend"],
            compute_provider=row["compute_provider"],
            compute_policy=row["compute_policy"],
            compute_region=row["compute_region"],
            max_run_s=row["max_run_s"],
            egress_allow=row["egress_allow"],
            on_provider_down=row["on_provider_down"],
        ),
        prompt=row["prompt"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _settings_columns(settings: ModelSettings) -> dict[str, str | float | None]:
    return {
        "backend": settings.backend,
        "compute_provider": settings.compute_provider,
        "compute_policy": settings.compute_policy,
        "compute_region": settings.compute_region,
        "max_run_s": settings.max_run_s,
        "egress_allow": settings.egress_allow,
        "on_provider_down": settings.on_provider_down,
    }


class AgentStore:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def create(self, agent: AgentRecord) -> AgentRecord:
        with translate_store_errors():
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        agents.insert().values(
                            id=agent.id,
                            user_id=agent.user_id,
                            sandbox_id=agent.sandbox_id,
                            slug=agent.slug,
                            prompt=agent.prompt,
                            created_at=agent.created_at,
                            updated_at=agent.updated_at,
                            **_settings_columns(agent.settings),
                        )
                    )
            except IntegrityError as exc:
                raise Conflict(f"agent {agent.address} already exists") from exc
        return agent

    def get(self, user_id: str, address: AgentAddress) -> AgentRecord:
        query = agents.select().where(
            agents.c.user_id == user_id,
            agents.c.sandbox_id == address.sandbox_id,
            agents.c.slug == address.slug,
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise AgentNotFound(user_id, address)
        return _to_agent(row)

    def list(self, user_id: str, *, sandbox_id: str | None = None) -> builtins.list[AgentRecord]:
        query = agents.select().where(agents.c.user_id == user_id)
        if sandbox_id is not None:
            query = query.where(agents.c.sandbox_id == sandbox_id)
        query = query.order_by(agents.c.sandbox_id, agents.c.slug)
        with translate_store_errors(), read_connection(self._engine) as conn:
            return [_to_agent(r) for r in conn.execute(query).mappings()]

    def backends(self, user_id: str, sandbox_id: str) -> set[str]:
        """The backends the sandbox's agents use (one small read: no prompts, no settings)."""
        query = (
            sa.select(agents.c.backend)
            .where(agents.c.user_id == user_id, agents.c.sandbox_id == sandbox_id)
            .distinct()
        )
        with translate_store_errors(), read_connection(self._engine) as conn:
            return {row[0] for row in conn.execute(query)}

    def update(self, agent: AgentRecord) -> AgentRecord:
        with translate_store_errors(), self._engine.begin() as conn:
            result = conn.execute(
                agents.update()
                .where(agents.c.id == agent.id)
                .values(
                    prompt=agent.prompt,
                    updated_at=agent.updated_at,
                    **_settings_columns(agent.settings),
                )
            )
        if result.rowcount != 1:
            raise AgentNotFound(agent.user_id, agent.address)
        return agent

    def delete(self, user_id: str, address: AgentAddress) -> None:
        with translate_store_errors(), self._engine.begin() as conn:
            result = conn.execute(
                agents.delete().where(
                    agents.c.user_id == user_id,
                    agents.c.sandbox_id == address.sandbox_id,
                    agents.c.slug == address.slug,
                )
            )
        if result.rowcount != 1:
            raise AgentNotFound(user_id, address)
