"""Active health probes in the lifecycle pass: a circuit closes (or opens) without a user's
request paying for it; one replica probes; a provider without the probe is left alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from computerouter.compute.lifecycle import lifecycle_pass
from computerouter.compute.probes import probe_once, probe_targets
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.values import SessionKey
from computerouter.errors import ConfigError, ProviderError, ProviderUnavailable
from computerouter.providers.base import Capabilities, HealthProbe
from computerouter.store import Store, open_store
from computerouter.store.health import Circuit
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime, ProbedFakeProvider

PAIR = ["primary", "plain"]


def replica(
    store: Store, settings: Settings, clock: FakeClock, owner: str = "replica-a:1:1"
) -> tuple[ComputeRouter, ProbedFakeProvider, FakeProvider]:
    primary, plain = ProbedFakeProvider("primary"), FakeProvider("plain")
    router = ComputeRouter(
        store=store,
        providers={"primary": primary, "plain": plain},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
        owner=owner,
    )
    return router, primary, plain


def outage(retry_after_s: float | None = None) -> ProviderError:
    return ProviderUnavailable(
        "503 from the vendor", provider="primary", retryable=True, retry_after_s=retry_after_s
    )


def circuit(router: ComputeRouter, provider: str = "primary") -> Circuit:
    found = router.health.store.get(provider, "")
    assert found is not None
    return found


def creates(provider: FakeProvider) -> int:
    return sum(1 for call in provider.calls if call[0] == "create")


def test_a_probe_closes_an_open_circuit_after_its_cool_down_without_a_user_request(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, primary, _ = replica(store, settings, clock)
    router.health.failed("primary", now=clock.now(), retry_after_s=None, error="503")
    assert lifecycle_pass(router).probed.circuits_closed == []
    assert primary.probes() == 0, "no probe while the circuit cools down"
    clock.advance(settings.provider_cooldown_s + 1)
    report = lifecycle_pass(router)
    assert report.probed.circuits_closed == ["primary"]
    assert "circuits closed (probe) 1" in report.summary()
    assert primary.probes() == 1
    assert creates(primary) == 0, "no user's create paid for it"
    closed = circuit(router)
    assert (closed.state, closed.probed_at, closed.probe_error) == ("closed", clock.now(), None)
    assert router.health.available("primary", now=clock.now())
    made = router.ensure_session(SessionKey(user_id="u", sandbox_id="s"), provider=PAIR)
    assert made.provider == "primary"


def test_a_failing_probe_reopens_the_circuit_for_twice_as_long_honouring_retry_after(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, primary, _ = replica(store, settings, clock)
    base = settings.provider_cooldown_s
    router.health.failed("primary", now=clock.now(), retry_after_s=None, error="503")
    primary.down = outage()
    clock.advance(base + 1)
    assert probe_once(router).circuits_reopened == ["primary"]
    reopened = circuit(router)
    assert reopened.state == "open"
    assert reopened.cooldown_s == 2 * base
    assert reopened.open_until == clock.now() + 2 * base
    assert reopened.probe_error is not None
    assert "503 from the vendor" in reopened.probe_error
    assert not router.health.available("primary", now=clock.now())

    primary.down = outage(retry_after_s=50 * base)
    clock.advance(2 * base + 1)
    assert probe_once(router).circuits_reopened == ["primary"]
    assert circuit(router).cooldown_s == 4 * base
    assert circuit(router).open_until == clock.now() + 50 * base, "Retry-After is longer"
    assert primary.probes() == 2


def test_a_closed_circuit_is_probed_every_interval_and_a_failure_opens_it_before_users_meet_it(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, primary, plain = replica(store, settings, clock)
    interval = settings.provider_probe_interval_s
    assert probe_once(router).circuits_opened == []
    assert probe_once(router).circuits_opened == []
    assert primary.probes() == 1, "at most one probe per interval"
    clock.advance(interval)
    primary.down = outage()
    assert probe_once(router).circuits_opened == ["primary"]
    assert primary.probes() == 2
    assert circuit(router).cooldown_s == settings.provider_cooldown_s
    made = router.ensure_session(SessionKey(user_id="u", sandbox_id="s"), provider=PAIR)
    assert made.provider == "plain"
    assert creates(primary) == 0, "the user's request went straight to the healthy provider"
    assert creates(plain) == 1


def test_two_replicas_on_one_store_probe_once(
    settings: Settings, clock: FakeClock, store: Store
) -> None:
    other_store = open_store(settings.effective_database_url)
    try:
        a, a_primary, _ = replica(store, settings, clock, "replica-a:1:1")
        b, b_primary, _ = replica(other_store, settings, clock, "replica-b:2:2")
        a.health.failed("primary", now=clock.now(), retry_after_s=None, error="503")
        clock.advance(settings.provider_cooldown_s + 1)
        seen: list[tuple[bool, list[str]]] = []

        def b_meanwhile() -> None:  # while A's probe is in flight
            seen.append((b.health.available("primary", now=clock.now()), probe_once(b).errors))

        a_primary.before_probe = b_meanwhile
        assert probe_once(a).circuits_closed == ["primary"]
        assert seen[-1] == (False, []), "B neither tried a user's call nor probed"
        assert a_primary.probes() == 1
        assert b_primary.probes() == 0
        assert probe_once(b).circuits_closed == []
        assert b_primary.probes() == 0, "B waits the interval A's probe started"
        assert circuit(b).state == "closed"
    finally:
        other_store.close()


def test_a_provider_without_the_probe_is_never_probed(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, _, plain = replica(store, settings, clock)
    assert not isinstance(plain, HealthProbe)
    router.health.failed("plain", now=clock.now(), retry_after_s=None, error="503")
    clock.advance(settings.provider_cooldown_s + 1)
    assert probe_targets(router) == [("primary", "")]
    report = lifecycle_pass(router)
    assert not report.probed.circuits_closed
    assert not report.probed.errors
    left = circuit(router, "plain")
    assert (left.state, left.probed_at) == ("open", None), "left for a user's call to probe"
    assert not any(call[0] == "probe" for call in plain.calls)


def test_probes_are_off_at_an_interval_of_zero(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    router, primary, _ = replica(store, replace(settings, provider_probe_interval_s=0.0), clock)
    router.health.failed("primary", now=clock.now(), retry_after_s=None, error="503")
    clock.advance(settings.provider_cooldown_s + 1)
    lifecycle_pass(router)
    assert primary.probes() == 0
    assert circuit(router).state == "open"


def test_a_probe_that_raises_a_bug_counts_as_a_failure_and_is_reported(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    class Broken(ProbedFakeProvider):
        def probe(self, region: str) -> None:
            raise RuntimeError("the SDK changed")

    router, _, _ = replica(store, settings, clock)
    router.providers = {"primary": Broken("primary")}
    report = lifecycle_pass(router)
    assert report.probed.circuits_opened == ["primary"]
    assert report.errors == ["primary: probe raised RuntimeError: the SDK changed"]
    assert circuit(router).state == "open"


@pytest.mark.parametrize("raw", ["-5", "soon", "nan"])
def test_a_bad_probe_interval_is_one_clear_line(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.load(env={"COMPUTEROUTER_PROVIDER_PROBE_INTERVAL_S": raw}, home=tmp_path)
    message = str(caught.value)
    assert "provider_probe_interval_s" in message
    assert "\n" not in message


@pytest.mark.parametrize("regional", [True, False])
def test_regions_behind_one_api_are_probed_with_one_call_per_pass(
    store: Store, settings: Settings, clock: FakeClock, regional: bool
) -> None:
    caps = Capabilities(
        suspend=True, archive=True, exec=False, regions=("eu", "us"), regional_probe=regional
    )
    vendor = ProbedFakeProvider("vendor", capabilities=caps)
    router = ComputeRouter(
        store=store,
        providers={"vendor": vendor},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )

    assert probe_once(router).circuits_opened == []
    assert vendor.probes() == (2 if regional else 1)

    clock.advance(settings.provider_probe_interval_s)
    vendor.down = ProviderUnavailable("503 from the vendor", provider="vendor", retryable=True)
    assert probe_once(router).circuits_opened == ["vendor/eu", "vendor/us"], "one answer, both"
    assert vendor.probes() == (4 if regional else 2)
    for region in ("eu", "us"):
        assert not router.health.available("vendor", now=clock.now(), region=region)
