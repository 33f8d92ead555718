"""Placement decision tables: every policy and combination with pins, regions, prices, caps
and health."""

from __future__ import annotations

from decimal import Decimal

import pytest

from computerouter.domain.agents import ModelSettings
from computerouter.domain.placement import (
    HALF_OPEN,
    OPEN,
    CallerContext,
    Health,
    Offer,
    place,
)
from computerouter.domain.regions import distance_km, nearest
from computerouter.errors import InputError, ProviderUnavailable

NOW = 1000.0


def offer(
    name: str,
    *,
    warm: float,
    price: int,
    regions: tuple[str, ...] = (),
    full: str = "",
    health: dict[str, Health] | None = None,
    unavailable: str = "",
    regional: dict[str, int] | None = None,
) -> Offer:
    prices = {"": Decimal(price)} | {r: Decimal(p) for r, p in (regional or {}).items()}
    return Offer(
        provider=name,
        regions=regions,
        price_per_hour=prices,
        warm_start_ms=warm,
        full=full,
        health=health or {},
        unavailable=unavailable,
    )


FAST_DEAR = offer("fastdear", warm=100, price=40_000, regions=("us", "eu"))
SLOW_CHEAP = offer("slowcheap", warm=1500, price=10_000, regions=("iad", "ams", "syd"))
HOME = offer("home", warm=2, price=20_000)
OFFERS = [SLOW_CHEAP, HOME, FAST_DEAR]


def order(settings: ModelSettings, offers: list[Offer], region: str = "") -> tuple[str, ...]:
    return place(settings, CallerContext(now=NOW, region=region), offers).providers


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (ModelSettings(), ("home", "fastdear", "slowcheap")),
        (ModelSettings(compute_policy="latency-aware"), ("home", "fastdear", "slowcheap")),
        (ModelSettings(compute_policy="cost-aware"), ("slowcheap", "home", "fastdear")),
        (ModelSettings(compute_provider="fastdear"), ("fastdear",)),
        (ModelSettings(compute_region="eu"), ("fastdear",)),
        (ModelSettings(compute_policy="cost-aware", compute_region="ams"), ("slowcheap",)),
        (ModelSettings(compute_provider="slowcheap", compute_region="syd"), ("slowcheap",)),
    ],
)
def test_policy_table(settings: ModelSettings, expected: tuple[str, ...]) -> None:
    assert order(settings, OFFERS) == expected


def test_every_provider_is_kept_or_dropped_with_a_reason() -> None:
    result = place(ModelSettings(compute_region="eu"), CallerContext(now=NOW), OFFERS)
    assert [c.provider for c in result.candidates] == ["fastdear"]
    assert result.candidates[0].region == "eu"
    assert "pinned" in result.candidates[0].reason
    why = {d.provider: d.reason for d in result.dropped}
    assert set(why) == {"slowcheap", "home"}
    assert "does not serve the pinned region eu" in why["slowcheap"]


def test_pin_drops_the_others_and_says_so() -> None:
    result = place(ModelSettings(compute_provider="home"), CallerContext(now=NOW), OFFERS)
    assert result.providers == ("home",)
    assert result.policy == "pinned"
    assert all("pinned provider" in d.reason for d in result.dropped)


def test_pin_to_a_provider_not_offered_is_refused() -> None:
    result = place(ModelSettings(compute_provider="nowhere"), CallerContext(now=NOW), OFFERS)
    assert result.candidates == ()
    with pytest.raises(ProviderUnavailable, match="pinned to provider 'nowhere'"):
        result.require()


def test_pin_to_an_unconfigured_provider_says_what_to_set() -> None:
    missing = offer("vendor", warm=1, price=1, unavailable="not configured: set VENDOR_KEY")
    result = place(ModelSettings(compute_provider="vendor"), CallerContext(now=NOW), [missing])
    assert "set VENDOR_KEY" in result.refusal


def test_unconfigured_providers_are_dropped_from_a_policy() -> None:
    missing = offer("vendor", warm=0, price=1, unavailable="not configured: set VENDOR_KEY")
    result = place(ModelSettings(), CallerContext(now=NOW), [missing, HOME])
    assert result.providers == ("home",)
    assert result.dropped[0].reason == "not configured: set VENDOR_KEY"


def test_region_pin_never_silently_violated() -> None:
    result = place(ModelSettings(compute_region="jnb"), CallerContext(now=NOW), OFFERS)
    assert result.candidates == ()
    assert "pinned to region 'jnb'" in result.refusal
    assert "no usable provider serves it" in result.refusal
    with pytest.raises(ProviderUnavailable, match="jnb"):
        result.require()


def test_region_pin_with_provider_pin_that_does_not_serve_it() -> None:
    settings = ModelSettings(compute_provider="home", compute_region="eu")
    result = place(settings, CallerContext(now=NOW), OFFERS)
    assert "provider 'home' does not serve it" in result.refusal


def test_unknown_pinned_region_is_named_in_the_refusal() -> None:
    result = place(ModelSettings(compute_region="mars-1"), CallerContext(now=NOW), OFFERS)
    assert result.refusal.startswith("unknown region 'mars-1'")


def test_unknown_caller_region_is_one_clear_line() -> None:
    with pytest.raises(InputError, match="unknown region 'atlantis'"):
        place(ModelSettings(), CallerContext(now=NOW, region="atlantis"), OFFERS)


def test_nearest_region_to_the_caller() -> None:
    result = place(ModelSettings(), CallerContext(now=NOW, region="fra"), OFFERS)
    regions = {c.provider: c.region for c in result.candidates}
    assert regions == {"home": "", "fastdear": "eu", "slowcheap": "ams"}
    result = place(ModelSettings(), CallerContext(now=NOW, region="nrt"), OFFERS)
    assert {c.provider: c.region for c in result.candidates}["slowcheap"] == "syd"
    sydney = next(c for c in result.candidates if c.provider == "slowcheap")
    assert "km from the caller (nrt)" in sydney.reason


def test_without_a_caller_region_the_first_served_region_is_used() -> None:
    result = place(ModelSettings(), CallerContext(now=NOW), OFFERS)
    assert {c.provider: c.region for c in result.candidates}["slowcheap"] == "iad"


def test_distance_table_is_symmetric_and_ordered() -> None:
    assert distance_km("fra", "ams") == distance_km("ams", "fra")
    assert distance_km("fra", "fra") == 0
    assert distance_km("fra", "ams") < distance_km("fra", "iad")  # type: ignore[operator]
    assert distance_km("fra", "nowhere") is None
    assert nearest("lhr", ("nowhere", "iad", "cdg")) == ("cdg", distance_km("lhr", "cdg"))


def test_regional_prices_decide_cost_order() -> None:
    a = offer("a", warm=1, price=10, regions=("us", "eu"), regional={"eu": 50})
    b = offer("b", warm=1, price=30, regions=("eu",))
    cost = ModelSettings(compute_policy="cost-aware")
    assert order(cost, [a, b], region="iad") == ("a", "b")  # a in us at 10
    assert order(cost, [a, b], region="fra") == ("b", "a")  # a in eu at 50


def test_latency_aware_spills_when_capacity_is_hit() -> None:
    full_home = offer("home", warm=2, price=20_000, full="3 of 3 sessions live")
    result = place(ModelSettings(), CallerContext(now=NOW), [SLOW_CHEAP, full_home, FAST_DEAR])
    assert result.providers == ("fastdear", "slowcheap", "home")
    assert "at capacity (3 of 3 sessions live)" in result.candidates[-1].reason


def test_cost_aware_spills_when_capacity_is_hit() -> None:
    full_cheap = offer("slowcheap", warm=1500, price=10_000, full="cap")
    result = place(
        ModelSettings(compute_policy="cost-aware"), CallerContext(now=NOW), [full_cheap, HOME]
    )
    assert result.providers == ("home", "slowcheap")


def test_open_circuit_is_dropped() -> None:
    sick = offer("home", warm=2, price=1, health={"": Health(state=OPEN, open_until=NOW + 30)})
    result = place(ModelSettings(), CallerContext(now=NOW), [sick, FAST_DEAR])
    assert result.providers == ("fastdear",)
    assert "cooling down for 30 s" in result.dropped[0].reason


def test_circuit_is_per_region() -> None:
    sick_us = offer(
        "fastdear",
        warm=100,
        price=1,
        regions=("us", "eu"),
        health={"us": Health(state=OPEN, open_until=NOW + 30)},
    )
    assert order(ModelSettings(), [sick_us], region="fra") == ("fastdear",)
    assert order(ModelSettings(), [sick_us, HOME], region="iad") == ("home",)


def test_cool_down_over_is_tried_in_its_place_as_the_probe() -> None:
    """Behind the healthy ones, a recovered primary would never be probed while they serve."""
    probe = offer("home", warm=2, price=1, health={"": Health(state=OPEN, open_until=NOW - 1)})
    result = place(ModelSettings(), CallerContext(now=NOW), [probe, FAST_DEAR])
    assert result.providers == ("home", "fastdear")
    assert "half-open probe" in result.candidates[0].reason


def test_probe_in_flight_elsewhere_is_dropped() -> None:
    busy = offer("home", warm=2, price=1, health={"": Health(state=HALF_OPEN, probe_until=NOW + 5)})
    assert order(ModelSettings(), [busy, FAST_DEAR]) == ("fastdear",)


def test_never_every_provider_ejected_for_health() -> None:
    a = offer("a", warm=1, price=1, health={"": Health(state=OPEN, open_until=NOW + 60)})
    b = offer("b", warm=9, price=9, health={"": Health(state=OPEN, open_until=NOW + 10)})
    result = place(ModelSettings(), CallerContext(now=NOW), [a, b])
    assert result.providers == ("b",)
    assert "cool-down ends first" in result.candidates[0].reason
    assert [d.provider for d in result.dropped] == ["a"]


def test_pinned_provider_with_open_circuit_is_still_tried() -> None:
    sick = offer("home", warm=2, price=1, health={"": Health(state=OPEN, open_until=NOW + 60)})
    assert order(ModelSettings(compute_provider="home"), [sick, FAST_DEAR]) == ("home",)


def test_region_pin_combined_with_health_and_cost() -> None:
    a = offer(
        "a", warm=1, price=5, regions=("eu",), health={"eu": Health(state=OPEN, open_until=NOW + 9)}
    )
    b = offer("b", warm=1, price=50, regions=("eu", "us"))
    c = offer("c", warm=1, price=20, regions=("eu",))
    d = offer("d", warm=1, price=1, regions=("us",))
    settings = ModelSettings(compute_policy="cost-aware", compute_region="eu")
    result = place(settings, CallerContext(now=NOW, region="iad"), [a, b, c, d])
    assert result.providers == ("c", "b")
    assert all(c.region == "eu" for c in result.candidates)
    assert {x.provider for x in result.dropped} == {"a", "d"}


def test_no_offers_at_all_is_a_refusal() -> None:
    result = place(ModelSettings(), CallerContext(now=NOW), [])
    assert result.refusal == "no provider is available (offered: none)"
