"""Response bodies of the operator views: spend over time and a provider's list prices (what
the dashboard draws; the kill switches' audit trail and circuits are in :mod:`.models`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from computerouter.ledger.prices import ComputePrice
from computerouter.ledger.reports import SpendPoint

__all__ = [
    "ComputePriceOut",
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


class ComputePriceOut(_Model):
    """List price, micro-credits per hour."""

    cpu_hour: int
    memory_gib_hour: int
    shape_hour: int

    @classmethod
    def from_price(cls, p: ComputePrice) -> ComputePriceOut:
        return cls(cpu_hour=p.cpu_hour, memory_gib_hour=p.memory_gib_hour, shape_hour=p.shape_hour)
