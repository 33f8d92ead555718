"""Request and response bodies of the HTTP API, shared by the server and the SDK.

Pydantic models at the wire only; the core keeps its frozen dataclasses, and the ``from_*``
constructors and ``to_record`` methods here are the one place each is turned into its wire
form and back (the CLI against a server renders what the SDK gets as the core's records).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from computerouter.domain.agents import AgentRecord, ModelSettings
from computerouter.domain.gates import Pause
from computerouter.domain.session import RunRecord, SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Resources
from computerouter.ledger import (
    Ledger,
    LedgerEntry,
    RunBill,
    UsageLine,
    dead_holds,
)
from computerouter.ledger.prices import RATE_DENOMINATOR
from computerouter.store.gates import PauseEvent
from computerouter.store.health import Circuit
from computerouter.store.ledger_rows import EntryKind
from computerouter.store.run_history import RunSummary
from computerouter.wire.reports import ComputePriceOut

__all__ = [
    "AgentIn",
    "AgentOut",
    "AgentUpdate",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "ApprovalIn",
    "AuditOut",
    "CapabilitiesOut",
    "CircuitOut",
    "ConciergeIn",
    "CreditsOut",
    "EntryOut",
    "ErrorBody",
    "ErrorDetail",
    "GrantIn",
    "GrantOut",
    "HoldOut",
    "MeOut",
    "ModelSettingsIn",
    "PauseEventOut",
    "PauseIn",
    "PauseOut",
    "PriceOut",
    "PricesOut",
    "ProviderOut",
    "ProviderReportOut",
    "RunBillOut",
    "RunIn",
    "RunOut",
    "RunSummaryOut",
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


class ConciergeIn(_Model):
    input: str = Field(
        description="What to ask the Concierge, in plain language.", max_length=200_000
    )
    yes: bool = Field(
        default=False,
        description="Confirm destructive operations (delete, destroy, pause) for this run.",
    )


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


class RunSummaryOut(_Model):
    """A run with where it ran and what it cost: what ``runs list|show`` print."""

    run_id: str
    user_id: str
    sandbox_id: str
    agent_id: str
    agent_slug: str | None = Field(description="None once the agent is deleted.")
    session_id: str
    provider: str
    state: str
    started_at: float
    ended_at: float | None
    token_micro: int | None = Field(description="None while the run has no token entry.")
    compute_micro: int | None = Field(description="None while the run has no compute entry.")
    input_tokens: int
    output_tokens: int
    model: str
    busy_ms: int | None

    @classmethod
    def from_summary(cls, s: RunSummary) -> RunSummaryOut:
        r = s.run
        return cls(
            run_id=r.run_id,
            user_id=r.user_id,
            sandbox_id=r.sandbox_id,
            agent_id=r.agent_id,
            agent_slug=s.agent_slug,
            session_id=r.session_id,
            provider=s.provider,
            state=r.state,
            started_at=r.started_at,
            ended_at=r.ended_at,
            token_micro=s.token_cost,
            compute_micro=s.compute_cost,
            input_tokens=s.input_tokens,
            output_tokens=s.output_tokens,
            model=s.model,
            busy_ms=s.busy_ms,
        )

    def to_summary(self) -> RunSummary:
        """The summary as the server described it (its heartbeat and owner stay there)."""
        run = RunRecord(
            run_id=self.run_id,
            session_id=self.session_id,
            user_id=self.user_id,
            sandbox_id=self.sandbox_id,
            agent_id=self.agent_id,
            state=self.state,
            started_at=self.started_at,
            heartbeat_at=self.started_at if self.ended_at is None else self.ended_at,
            ended_at=self.ended_at,
        )
        return RunSummary(
            run=run,
            agent_slug=self.agent_slug,
            provider=self.provider,
            token_cost=self.token_micro,
            compute_cost=self.compute_micro,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            model=self.model,
            busy_ms=self.busy_ms,
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

    def to_line(self) -> UsageLine:
        return UsageLine(
            user_id=self.user_id,
            sandbox_id=self.sandbox_id,
            agent_id=self.agent_id,
            runs=self.runs,
            token=self.token_micro,
            compute=self.compute_micro,
            idle=self.idle_micro,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            busy_ms=self.busy_ms,
            idle_ms=self.idle_ms,
        )


class UsageOut(_Model):
    lines: list[UsageLineOut]
    total_micro: int


class EntryOut(_Model):
    entry_id: int
    kind: str
    amount_micro: int
    debit_account: str = ""
    credit_account: str = ""
    user_id: str
    sandbox_id: str
    agent_id: str
    run_id: str | None
    session_id: str | None
    provider: str
    region: str = ""
    model: str
    quantity_ms: int
    input_tokens: int
    output_tokens: int
    rate_per_ms: int = Field(
        default=0, description="Compute price: micro-credits per ms * rate_denominator."
    )
    rate_denominator: int = RATE_DENOMINATOR
    input_per_mtok_micro: int = 0
    output_per_mtok_micro: int = 0
    cpu_ms: int | None = Field(default=None, description="CPU time measured; not billed.")
    at: float

    @classmethod
    def from_entry(cls, x: LedgerEntry) -> EntryOut:
        return cls(
            entry_id=x.id,
            kind=x.kind.value,
            amount_micro=x.amount,
            debit_account=x.debit_account,
            credit_account=x.credit_account,
            user_id=x.user_id,
            sandbox_id=x.sandbox_id,
            agent_id=x.agent_id,
            run_id=x.run_id,
            session_id=x.session_id,
            provider=x.provider,
            region=x.region,
            model=x.model,
            quantity_ms=x.quantity_ms,
            input_tokens=x.input_tokens,
            output_tokens=x.output_tokens,
            rate_per_ms=x.rate_per_ms,
            input_per_mtok_micro=x.input_per_mtok,
            output_per_mtok_micro=x.output_per_mtok,
            cpu_ms=x.cpu_ms,
            at=x.at,
        )

    def to_entry(self) -> LedgerEntry:
        """The entry as the server described it (its idempotency key and note stay there)."""
        return LedgerEntry(
            id=self.entry_id,
            key="",
            kind=EntryKind(self.kind),
            debit_account=self.debit_account,
            credit_account=self.credit_account,
            amount=self.amount_micro,
            user_id=self.user_id,
            at=self.at,
            sandbox_id=self.sandbox_id,
            agent_id=self.agent_id,
            run_id=self.run_id,
            session_id=self.session_id,
            provider=self.provider,
            region=self.region,
            model=self.model,
            quantity_ms=self.quantity_ms,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            rate_per_ms=self.rate_per_ms,
            input_per_mtok=self.input_per_mtok_micro,
            output_per_mtok=self.output_per_mtok_micro,
            cpu_ms=self.cpu_ms,
        )


class RunBillOut(_Model):
    run_id: str
    token: EntryOut | None
    compute: EntryOut | None
    total_micro: int

    @classmethod
    def from_bill(cls, bill: RunBill) -> RunBillOut:
        return cls(
            run_id=bill.run_id,
            token=None if bill.token is None else EntryOut.from_entry(bill.token),
            compute=None if bill.compute is None else EntryOut.from_entry(bill.compute),
            total_micro=bill.total,
        )

    def to_bill(self) -> RunBill:
        return RunBill(
            run_id=self.run_id,
            token=None if self.token is None else self.token.to_entry(),
            compute=None if self.compute is None else self.compute.to_entry(),
        )


class CreditsOut(_Model):
    """A user's balance, what is held for runs in flight, what is available, and the budget
    each run holds: what ``credits show`` prints."""

    user_id: str
    balance_micro: int
    reserved_micro: int
    available_micro: int
    balance_from_entries_micro: int = Field(
        description="The balance summed from the account's entries (equal, or the ledger is off)."
    )
    run_reserve_micro: int = Field(description="The least a run holds when it starts.")
    run_max_micro: int = Field(description="The most a run holds (its ceiling).")
    floor_micro: int = Field(description="What a run leaves available.")

    @classmethod
    def from_ledger(cls, ledger: Ledger, user_id: str) -> CreditsOut:
        account = ledger.account(user_id)
        derived = ledger.ledger_store.balances_from_entries(account.account_id)
        budget = ledger.prices.budget
        return cls(
            user_id=user_id,
            balance_micro=account.balance,
            reserved_micro=account.reserved,
            available_micro=account.available,
            balance_from_entries_micro=derived.get(account.account_id, 0),
            run_reserve_micro=budget.run_reserve,
            run_max_micro=budget.run_max,
            floor_micro=budget.floor,
        )


class GrantIn(_Model):
    user_id: str = Field(max_length=128)
    amount_micro: int = Field(gt=0, le=10**15)
    note: str = Field(default="", max_length=500)
    key: str = Field(
        default="",
        max_length=200,
        description="Idempotency key: granting again with it grants once.",
    )


class GrantOut(CreditsOut):
    """A grant: its entry, the amount granted, and the user's credits after it."""

    entry_id: int
    granted_micro: int


class HoldOut(_Model):
    run_id: str
    user_id: str
    held_micro: int
    why: str


class AuditOut(_Model):
    """Every account's balance checked against its entries, and every hold against a live run:
    what ``credits audit`` prints."""

    accounts: int
    mismatched: list[str]
    sum_of_balances_micro: int
    holds_without_live_run: list[HoldOut]

    @classmethod
    def from_ledger(cls, ledger: Ledger, *, now: float) -> AuditOut:
        derived = ledger.ledger_store.balances_from_entries()
        accounts = ledger.ledger_store.accounts()
        return cls(
            accounts=len(accounts),
            mismatched=[
                a.account_id for a in accounts if derived.get(a.account_id, 0) != a.balance
            ],
            sum_of_balances_micro=sum(a.balance for a in accounts),
            holds_without_live_run=[
                HoldOut(
                    run_id=d.run.run_id,
                    user_id=d.run.user_id,
                    held_micro=d.run.hold,
                    why=d.fate.value,
                )
                for d in dead_holds(ledger, now=now)
            ],
        )

    @property
    def clean(self) -> bool:
        return (
            not self.mismatched
            and self.sum_of_balances_micro == 0
            and not (self.holds_without_live_run)
        )


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


class CapabilitiesOut(_Model):
    suspend: bool
    archive: bool
    exec: bool
    regions: list[str]
    warm_start_ms: float
    max_sessions: int = Field(description="Live sessions allowed at once; 0: no limit.")


class PriceOut(_Model):
    """Micro-credits per hour: per CPU, per GiB of memory, and flat."""

    cpu_hour: int
    memory_gib_hour: int
    shape_hour: int


class PricesOut(_Model):
    default: PriceOut
    regions: dict[str, PriceOut]


class CircuitOut(_Model):
    """One circuit of a provider (per region); a provider with none yet shows one closed row."""

    region: str
    state: str = Field(description="closed (serving), open (skipped for now), half_open.")
    open_until: float | None = None
    cooldown_s: float | None = None
    failures: int | None = None
    last_error: str | None = None
    probed_at: float | None = None
    probe_error: str | None = None

    @classmethod
    def from_circuit(cls, c: Circuit) -> CircuitOut:
        return cls(
            region=c.region,
            state=c.state,
            open_until=c.open_until,
            cooldown_s=c.cooldown_s,
            failures=c.failures,
            last_error=c.last_error,
            probed_at=c.probed_at,
            probe_error=c.probe_error,
        )


class ProviderReportOut(_Model):
    """A registered provider: configured here or what to set, what it offers, its list prices
    and its circuits: what ``compute providers`` prints."""

    name: str
    summary: str
    configured: bool
    to_configure: str | None
    regions: list[str]
    capabilities: CapabilitiesOut
    prices: PricesOut
    prices_source: str
    health: list[CircuitOut]


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

    @classmethod
    def from_pause(cls, pause: Pause, cancelled_runs: Sequence[str] = ()) -> PauseOut:
        return cls(
            scope=pause.scope.key,
            mode=pause.mode.value,
            reason=pause.reason,
            actor=pause.actor,
            at=pause.at,
            cancelled_runs=list(cancelled_runs),
        )


class PauseEventOut(_Model):
    """One line of the kill switch's audit trail: who paused or unpaused what, when, why."""

    at: float
    action: Literal["pause", "unpause"]
    scope: str
    mode: str | None
    actor: str
    reason: str

    @classmethod
    def from_event(cls, event: PauseEvent) -> PauseEventOut:
        return cls(
            at=event.at,
            action="unpause" if event.action == "unpause" else "pause",
            scope=event.scope.key,
            mode=None if event.mode is None else event.mode.value,
            actor=event.actor,
            reason=event.reason,
        )


class ErrorDetail(_Model):
    code: str = Field(description="Stable code; see computerouter.wire.errors.ERROR_TABLE.")
    message: str
    retryable: bool
    request_id: str
    details: dict[str, object] = Field(default_factory=dict)


class ErrorBody(_Model):
    """The one shape of every error response."""

    error: ErrorDetail
