"""Which providers a run may use, in order: pin or policy first, then what this build offers.

The table of the seed: a pinned ``compute_provider`` is used alone; ``latency-aware`` (the
default) favours warm-start capacity; ``cost-aware`` favours the cheapest per hour. Providers
the build does not offer are dropped from a policy's order, but a pin to one is refused, so an
operator sees at once that the agent cannot run where it asks to.
"""

from __future__ import annotations

from collections.abc import Collection

from computerouter.domain.agents import ModelSettings
from computerouter.errors import ProviderUnavailable

__all__ = ["POLICY_ORDER", "candidates"]

POLICY_ORDER: dict[str, tuple[str, ...]] = {
    "latency-aware": ("daytona", "local", "fly_sprites"),
    "cost-aware": ("fly_sprites", "local", "daytona"),
}


def candidates(settings: ModelSettings, available: Collection[str]) -> list[str]:
    if settings.compute_provider is not None:
        if settings.compute_provider not in available:
            raise ProviderUnavailable(
                f"this agent is pinned to it, but this ComputeRouter does not offer it "
                f"(available: {', '.join(sorted(available))})",
                provider=settings.compute_provider,
            )
        return [settings.compute_provider]
    order = [p for p in POLICY_ORDER[settings.effective_policy] if p in available]
    if not order:
        raise ProviderUnavailable("no provider is available", provider="any")
    return order
