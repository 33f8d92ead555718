"""The placement decision on the wire: what ``route explain`` prints as JSON, what
``GET /v1/sandboxes/{sandbox_id}/agents/{slug}/route`` answers and the MCP tool returns."""

from __future__ import annotations

from decimal import Decimal

from computerouter.domain.placement import Placement

__all__ = ["placement_dict"]


def _price_json(micro_per_hour: Decimal | None) -> str | None:
    return None if micro_per_hour is None else f"{micro_per_hour.normalize():f}"


def placement_dict(result: Placement) -> dict[str, object]:
    rows: list[dict[str, object]] = [
        {
            "provider": c.provider,
            "region": c.region,
            "kept": True,
            "rank": i + 1,
            "price_micro_per_hour": _price_json(c.price_per_hour),
            "warm_start_ms": c.warm_start_ms,
            "health": c.health,
            "reason": c.reason,
        }
        for i, c in enumerate(result.candidates)
    ]
    rows += [
        {
            "provider": d.provider,
            "region": d.region,
            "kept": False,
            "rank": None,
            "price_micro_per_hour": _price_json(d.price_per_hour),
            "warm_start_ms": d.warm_start_ms,
            "health": d.health,
            "reason": d.reason,
        }
        for d in result.dropped
    ]
    return {
        "policy": result.policy,
        "caller_region": result.caller_region or None,
        "pinned_region": result.pinned_region or None,
        "candidates": [c.provider for c in result.candidates],
        "refusal": result.refusal or None,
        "providers": rows,
    }
