"""Response bodies of the operator views: spend over time, the kill switches' audit trail,
and a provider's circuits and list prices (what the dashboard draws)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from computerouter.ledger.prices import ComputePrice
from computerouter.ledger.reports import SpendPoint
from computerouter.store.gates import PauseEvent
from computerouter.store.health import Circuit

__all__ = [
    "CircuitOut",
    "ComputePriceOut",
    "PauseEventOut",
    "SpendPointOut",
    "SpendSeriesOut",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SpendPointOut(_Model):
    start: float = Field(description="The bucket's start (epoch seconds).")
    user_id: str
    sandbox_id: str
    agent_id: str = Field(description="Empty on a sandbox's idle spend.")
    token_micro: int
    compute_micro: int
    idle_micro: int

    @classmethod
    def from_point(cls, p: SpendPoint) -> SpendPointOut:
        return cls(
            start=p.start,
            user_id=p.user_id,
            sandbox_id=p.sandbox_id,
            agent_id=p.agent_id,
            token_micro=p.token,
            compute_micro=p.compute,
            idle_micro=p.idle,
        )


class SpendSeriesOut(_Model):
    bucket_s: float
    points: list[SpendPointOut]


class PauseEventOut(_Model):
    at: float
    action: str = Field(description="`pause` or `unpause`.")
    scope: str
    mode: str | None
    actor: str
    reason: str

    @classmethod
    def from_event(cls, e: PauseEvent) -> PauseEventOut:
        return cls(
            at=e.at,
            action=e.action,
            scope=e.scope.key,
            mode=None if e.mode is None else e.mode.value,
            actor=e.actor,
            reason=e.reason,
        )


class CircuitOut(_Model):
    region: str
    state: str = Field(description="`closed`, `open` or `half_open`.")
    failures: int
    open_until: float
    last_error: str | None

    @classmethod
    def from_circuit(cls, c: Circuit) -> CircuitOut:
        return cls(
            region=c.region,
            state=c.state,
            failures=c.failures,
            open_until=c.open_until,
            last_error=c.last_error,
        )


class ComputePriceOut(_Model):
    """List price, micro-credits per hour."""

    cpu_hour: int
    memory_gib_hour: int
    shape_hour: int

    @classmethod
    def from_price(cls, p: ComputePrice) -> ComputePriceOut:
        return cls(cpu_hour=p.cpu_hour, memory_gib_hour=p.memory_gib_hour, shape_hour=p.shape_hour)
