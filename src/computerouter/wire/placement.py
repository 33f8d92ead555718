"""The placement decision on the wire: what ``route explain`` prints (embedded or against a
server), what ``GET /v1/sandboxes/{sandbox_id}/agents/{slug}/route`` answers and the MCP tool
returns."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from computerouter.domain.placement import Placement

__all__ = ["PlacementOut", "PlacementRowOut", "placement_out"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlacementRowOut(_Model):
    """One provider of the decision: kept (``rank`` in fail-over order) or dropped, and why."""

    provider: str
    region: str
    kept: bool
    rank: int | None
    price_micro_per_hour: str | None
    warm_start_ms: float
    health: str
    reason: str

    @property
    def price_per_hour(self) -> Decimal | None:
        return None if self.price_micro_per_hour is None else Decimal(self.price_micro_per_hour)


class PlacementOut(_Model):
    agent: str
    policy: str
    caller_region: str | None
    pinned_region: str | None
    candidates: list[str]
    refusal: str | None
    providers: list[PlacementRowOut]


def _price_json(micro_per_hour: Decimal | None) -> str | None:
    return None if micro_per_hour is None else f"{micro_per_hour.normalize():f}"


def placement_out(agent: str, result: Placement) -> PlacementOut:
    rows = [
        PlacementRowOut(
            provider=c.provider,
            region=c.region,
            kept=True,
            rank=i + 1,
            price_micro_per_hour=_price_json(c.price_per_hour),
            warm_start_ms=c.warm_start_ms,
            health=c.health,
            reason=c.reason,
        )
        for i, c in enumerate(result.candidates)
    ]
    rows += [
        PlacementRowOut(
            provider=d.provider,
            region=d.region,
            kept=False,
            rank=None,
            price_micro_per_hour=_price_json(d.price_per_hour),
            warm_start_ms=d.warm_start_ms,
            health=d.health,
            reason=d.reason,
        )
        for d in result.dropped
    ]
    return PlacementOut(
        agent=agent,
        policy=result.policy,
        caller_region=result.caller_region or None,
        pinned_region=result.pinned_region or None,
        candidates=[c.provider for c in result.candidates],
        refusal=result.refusal or None,
        providers=rows,
    )
