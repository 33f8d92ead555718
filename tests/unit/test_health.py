"""Provider health shared through the store: one circuit per provider (and region) that every
replica sees; a growing cool-down; one half-open probe across replicas; Retry-After honoured;
calls to a dead provider bounded; never every candidate ejected at once."""

from __future__ import annotations

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
from computerouter.errors import ProviderUnavailable, SessionUnavailable
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

PAIR = ["primary", "secondary"]


def replica(
    store: Store, settings: Settings, clock: FakeClock, owner: str
) -> tuple[ComputeRouter, FakeProvider, FakeProvider]:
    primary, secondary = FakeProvider("primary"), FakeProvider("secondary")
    router = ComputeRouter(
        store=store,
        providers={"primary": primary, "secondary": secondary},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
        owner=owner,
    )
    return router, primary, secondary


def down(provider: FakeProvider, *, retry_after_s: float | None = None) -> None:
    provider.fail_next["create"] = ProviderUnavailable(
        "503 from the vendor", provider=provider.name, retryable=True, retry_after_s=retry_after_s
    )


def creates(provider: FakeProvider) -> int:
    return sum(1 for call in provider.calls if call[0] == "create")


def key(i: int) -> SessionKey:
    return SessionKey(user_id=f"user{i}", sandbox_id="sb")


def test_a_failure_seen_by_one_replica_opens_the_circuit_for_all(
    settings: Settings, clock: FakeClock
) -> None:
    url = settings.effective_database_url
    store_a, store_b = open_store(url), open_store(url)
    try:
        a, a_primary, _ = replica(store_a, settings, clock, "replica-a:1:1")
        b, b_primary, b_secondary = replica(store_b, settings, clock, "replica-b:2:2")
        down(a_primary)
        assert a.ensure_session(key(1), provider=PAIR).provider == "secondary"
        made = b.ensure_session(key(2), provider=PAIR)
        assert made.provider == "secondary"
        assert creates(b_primary) == 0, "B skipped the provider A saw fail"
        assert creates(b_secondary) == 1
        [circuit] = b.health.circuits()
        assert (circuit.provider, circuit.state) == ("primary", "open")
        assert "503 from the vendor" in (circuit.last_error or "")
    finally:
        store_a.close()
        store_b.close()


def test_one_probe_across_replicas_and_a_failed_probe_doubles_the_cool_down(
    settings: Settings, clock: FakeClock
) -> None:
    url = settings.effective_database_url
    store_a, store_b = open_store(url), open_store(url)
    try:
        a, a_primary, _ = replica(store_a, settings, clock, "replica-a:1:1")
        b, _, _ = replica(store_b, settings, clock, "replica-b:2:2")
        down(a_primary)
        a.ensure_session(key(1), provider=PAIR)
        clock.advance(settings.provider_cooldown_s + 1)
        now = clock.now()
        assert a.health.available("primary", now=now) is True  # A holds the probe
        assert b.health.available("primary", now=now) is False  # B must wait for it
        assert a.health.available("primary", now=now) is True
        circuit = a.health.failed("primary", now=now, error="probe failed")
        assert circuit.cooldown_s == 2 * settings.provider_cooldown_s
        assert circuit.open_until == now + 2 * settings.provider_cooldown_s
        clock.advance(circuit.cooldown_s + 1)
        assert b.health.available("primary", now=clock.now()) is True  # B's turn to probe
        b.health.succeeded("primary")
        assert a.health.circuits() == []
        assert a.health.available("primary", now=clock.now()) is True
    finally:
        store_a.close()
        store_b.close()


def test_the_cool_down_grows_no_further_than_its_maximum(
    router: ComputeRouter, clock: FakeClock
) -> None:
    settings = router.settings
    cooldown = 0.0
    for _ in range(12):
        assert router.health.available("fake", now=clock.now())
        circuit = router.health.failed("fake", now=clock.now())
        cooldown = circuit.cooldown_s
        clock.advance(cooldown + 1)
    assert cooldown == settings.provider_cooldown_max_s


def test_retry_after_is_honoured(store: Store, settings: Settings, clock: FakeClock) -> None:
    router, primary, _ = replica(store, settings, clock, "replica-a:1:1")
    down(primary, retry_after_s=10 * settings.provider_cooldown_s)
    router.ensure_session(key(1), provider=PAIR)
    clock.advance(settings.provider_cooldown_s + 1)  # past the cool-down, not the Retry-After
    assert router.ensure_session(key(2), provider=PAIR).provider == "secondary"
    assert creates(primary) == 1
    clock.advance(10 * settings.provider_cooldown_s)
    assert router.ensure_session(key(3), provider=PAIR).provider == "primary"


def test_calls_to_a_dead_provider_stay_bounded(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, primary, secondary = replica(store, settings, clock, "replica-a:1:1")
    for i in range(200):  # ten minutes of traffic, one request every three seconds
        down(primary)
        made = router.ensure_session(key(i), provider=PAIR)
        assert made.provider == "secondary"
        clock.advance(3)
    # one call, then one probe per cool-down: 60 s, 120 s, 240 s, ... within 600 s
    assert creates(primary) <= 4
    assert creates(secondary) == 200


def test_never_every_candidate_is_ejected(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, primary, secondary = replica(store, settings, clock, "replica-a:1:1")
    down(primary)
    down(secondary)
    with pytest.raises(SessionUnavailable):
        router.ensure_session(key(1), provider=PAIR)
    clock.advance(5)
    router.health.failed("secondary", now=clock.now())  # secondary stays open for longer
    made = router.ensure_session(key(2), provider=PAIR)
    assert made.provider == "primary", "the one whose cool-down ends first is tried anyway"
