"""Request and response bodies of the HTTP API, shared by the server and the SDK.

Pydantic models at the wire only; the core keeps its frozen dataclasses, and the ``from_*``
constructors and ``to_record`` methods here are the one place each is turned into its wire
form and back (the CLI against a server renders what the SDK gets as the core's records).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from computerouter.domain.agents import AgentRecord, ModelSettings
from computerouter.domain.session import RunRecord, SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Resources
from computerouter.ledger import AccountBalance, LedgerEntry, UsageLine
from computerouter.wire.reports import CircuitOut, ComputePriceOut

__all__ = [
    "AgentIn",
    "AgentOut",
    "AgentUpdate",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "ApprovalIn",
    "CreditsOut",
    "EntryOut",
    "ErrorBody",
    "ErrorDetail",
    "GrantIn",
    "MeOut",
    "ModelSettingsIn",
    "PauseIn",
    "PauseOut",
    "ProviderOut",
    "RunBillOut",
    "RunIn",
    "RunOut",
    "SessionEnsure",
    "SessionOut",
    "UnpauseIn",
    "UsageLineOut",
    "UsageOut",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSettingsIn(_Model):
    backend: str = "hermes"
    compute_provider: str | None = None
    compute_policy: str | None = None
    compute_region: str | None = None
    max_run_s: float | None = None
    egress_allow: str | None = Field(default=None, max_length=4096)
    on_provider_down: Literal["wait", "move"] = "wait"

    def to_domain(self) -> ModelSettings:
        return ModelSettings(
            backend=self.backend,
            compute_provider=self.compute_provider,
            compute_policy=self.compute_policy,
            compute_region=self.compute_region,
            max_run_s=self.max_run_s,
            egress_allow=self.egress_allow,
            on_provider_down=self.on_provider_down,
        )

    @classmethod
    def from_domain(cls, settings: ModelSettings) -> ModelSettingsIn:
        return cls(
            backend=settings.backend,
            compute_provider=settings.compute_provider,
            compute_policy=settings.compute_policy,
            compute_region=settings.compute_region,
            max_run_s=settings.max_run_s,
            egress_allow=settings.egress_allow,
            on_provider_down="move" if settings.on_provider_down == "move" else "wait",
        )


class AgentIn(_Model):
    slug: str = Field(max_length=63)
    model_settings: ModelSettingsIn = Field(default_factory=ModelSettingsIn)
    prompt: str = Field(max_length=200_000)


class AgentUpdate(_Model):
    model_settings: ModelSettingsIn | None = None
    prompt: str | None = Field(default=None, max_length=200_000)


class AgentOut(_Model):
    id: str
    user_id: str
    sandbox_id: str
    slug: str
    address: str
    model_settings: ModelSettingsIn
    prompt: str
    created_at: float
    updated_at: float

    @classmethod
    def from_record(cls, agent: AgentRecord) -> AgentOut:
        return cls(
            id=agent.id,
            user_id=agent.user_id,
            sandbox_id=agent.sandbox_id,
            slug=agent.slug,
            address=str(agent.address),
            model_settings=ModelSettingsIn.from_domain(agent.settings),
            prompt=agent.prompt,
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )

    def to_record(self) -> AgentRecord:
        return AgentRecord(
            id=self.id,
            user_id=self.user_id,
            sandbox_id=self.sandbox_id,
            slug=self.slug,
            settings=self.model_settings.to_domain(),
            prompt=self.prompt,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


class SessionEnsure(_Model):
    sandbox_id: str = Field(max_length=128)
    provider: str | None = Field(default=None, max_length=64)
    runtime: str | None = Field(
        default=None, max_length=64, description="Default: the sandbox's agents' runtime."
    )


class SessionOut(_Model):
    id: str
    user_id: str
    sandbox_id: str
    provider: str
    region: str
    runtime: str
    state: str
    agent_id: str
    run_id: str
    cpus: float
    memory_mb: int
    created_at: float
    updated_at: float
    state_changed_at: float
    last_active_at: float
    error: str | None = None

    @classmethod
    def from_record(cls, record: SessionRecord) -> SessionOut:
        return cls(
            id=record.id,
            user_id=record.user_id,
            sandbox_id=record.sandbox_id,
            provider=record.provider,
            region=record.region,
            runtime=record.runtime,
            state=record.state.value,
            agent_id=record.agent_id,
            run_id=record.run_id,
            cpus=record.resources.cpus,
            memory_mb=record.resources.memory_mb,
            created_at=record.created_at,
            updated_at=record.updated_at,
            state_changed_at=record.state_changed_at,
            last_active_at=record.last_active_at,
            error=record.error,
        )

    def to_record(self) -> SessionRecord:
        """The session as the server described it (no instance, endpoint or owner: those stay
        on the server)."""
        return SessionRecord(
            id=self.id,
            user_id=self.user_id,
            sandbox_id=self.sandbox_id,
            provider=self.provider,
            runtime=self.runtime,
            state=SessionState(self.state),
            version=0,
            resources=Resources(cpus=self.cpus, memory_mb=self.memory_mb),
            created_at=self.created_at,
            updated_at=self.updated_at,
            state_changed_at=self.state_changed_at,
            last_active_at=self.last_active_at,
            region=self.region,
            agent_id=self.agent_id,
            run_id=self.run_id,
            error=self.error,
        )


class RunIn(_Model):
    agent: str = Field(description="The agent's address, SANDBOX/SLUG.", max_length=200)
    input: str = Field(max_length=200_000)


class RunOut(_Model):
    run_id: str
    user_id: str
    agent_id: str
    sandbox_id: str
    state: Literal["pending", "running", "completed", "failed", "cancelled", "abandoned"]
    session_id: str | None = None
    output: str | None = None
    error: str | None = None
    events: int = 0
    started_at: float | None = None
    ended_at: float | None = None

    @classmethod
    def from_record(cls, run: RunRecord) -> RunOut:
        state = run.state if run.state in _RUN_STATES else "failed"
        return cls(
            run_id=run.run_id,
            user_id=run.user_id,
            agent_id=run.agent_id,
            sandbox_id=run.sandbox_id,
            state=state,  # type: ignore[arg-type]
            session_id=run.session_id,
            started_at=run.started_at,
            ended_at=run.ended_at,
        )


_RUN_STATES = ("pending", "running", "completed", "failed", "cancelled", "abandoned")


class ApprovalIn(_Model):
    choice: Literal["once", "session", "always", "deny"]


class UsageLineOut(_Model):
    user_id: str
    sandbox_id: str
    agent_id: str
    runs: int
    input_tokens: int
    output_tokens: int
    busy_ms: int
    idle_ms: int
    token_micro: int
    compute_micro: int
    idle_micro: int
    total_micro: int

    @classmethod
    def from_line(cls, x: UsageLine) -> UsageLineOut:
        return cls(
            user_id=x.user_id,
            sandbox_id=x.sandbox_id,
            agent_id=x.agent_id,
            runs=x.runs,
            input_tokens=x.input_tokens,
            output_tokens=x.output_tokens,
            busy_ms=x.busy_ms,
            idle_ms=x.idle_ms,
            token_micro=x.token,
            compute_micro=x.compute,
            idle_micro=x.idle,
            total_micro=x.total,
        )


class UsageOut(_Model):
    lines: list[UsageLineOut]
    total_micro: int


class EntryOut(_Model):
    entry_id: int
    kind: str
    amount_micro: int
    user_id: str
    sandbox_id: str
    agent_id: str
    run_id: str | None
    session_id: str | None
    provider: str
    model: str
    quantity_ms: int
    input_tokens: int
    output_tokens: int
    at: float

    @classmethod
    def from_entry(cls, x: LedgerEntry) -> EntryOut:
        return cls(
            entry_id=x.id,
            kind=x.kind.value,
            amount_micro=x.amount,
            user_id=x.user_id,
            sandbox_id=x.sandbox_id,
            agent_id=x.agent_id,
            run_id=x.run_id,
            session_id=x.session_id,
            provider=x.provider,
            model=x.model,
            quantity_ms=x.quantity_ms,
            input_tokens=x.input_tokens,
            output_tokens=x.output_tokens,
            at=x.at,
        )


class RunBillOut(_Model):
    run_id: str
    token: EntryOut | None
    compute: EntryOut | None
    total_micro: int


class CreditsOut(_Model):
    user_id: str
    balance_micro: int
    reserved_micro: int
    available_micro: int

    @classmethod
    def from_balance(cls, b: AccountBalance) -> CreditsOut:
        return cls(
            user_id=b.user_id or "",
            balance_micro=b.balance,
            reserved_micro=b.reserved,
            available_micro=b.balance - b.reserved,
        )


class GrantIn(_Model):
    user_id: str = Field(max_length=128)
    amount_micro: int = Field(gt=0, le=10**15)
    note: str = Field(default="", max_length=500)


class ApiKeyCreate(_Model):
    user_id: str = Field(max_length=128)
    name: str = Field(default="", max_length=100)
    admin: bool = False


class ApiKeyOut(_Model):
    id: str
    user_id: str
    name: str
    admin: bool
    created_at: float
    revoked_at: float | None = None


class ApiKeyCreated(_Model):
    key: ApiKeyOut
    secret: str = Field(description="The key itself; shown once, stored only as a hash.")


class MeOut(_Model):
    user_id: str
    key_id: str
    admin: bool


class ProviderOut(_Model):
    name: str
    healthy: bool
    retry_at: float | None = Field(
        default=None, description="When a provider cooling down (a create failed) is retried."
    )
    suspend: bool
    archive: bool
    regions: list[str]
    circuits: list[CircuitOut] = Field(
        default_factory=list, description="Its circuits that are not closed (or were probed)."
    )
    price: ComputePriceOut | None = Field(default=None, description="Its default list price.")


class PauseIn(_Model):
    scope: str = Field(description="`global`, `user:U` or `provider:P`.", max_length=200)
    mode: Literal["drain", "now"] = "drain"
    reason: str = Field(max_length=2000)


class UnpauseIn(_Model):
    scope: str = Field(max_length=200)
    reason: str = Field(max_length=2000)


class PauseOut(_Model):
    scope: str
    mode: str
    reason: str
    actor: str
    at: float
    cancelled_runs: list[str] = Field(default_factory=list)


class ErrorDetail(_Model):
    code: str = Field(description="Stable code; see computerouter.wire.errors.ERROR_TABLE.")
    message: str
    retryable: bool
    request_id: str
    details: dict[str, object] = Field(default_factory=dict)


class ErrorBody(_Model):
    """The one shape of every error response."""

    error: ErrorDetail
