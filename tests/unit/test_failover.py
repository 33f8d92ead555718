from __future__ import annotations

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import ProviderUnavailable, SessionUnavailable
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

KEY = SessionKey(user_id="alice", sandbox_id="sb1")


@pytest.fixture
def pair(
    store: Store, settings: Settings, clock: FakeClock
) -> tuple[ComputeRouter, FakeProvider, FakeProvider]:
    primary, secondary = FakeProvider("primary"), FakeProvider("secondary")
    router = ComputeRouter(
        store=store,
        providers={"primary": primary, "secondary": secondary},
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )
    return router, primary, secondary


def down(provider: FakeProvider) -> None:
    provider.fail_next["create"] = ProviderUnavailable(
        "degraded", provider=provider.name, retryable=True
    )


def test_unhealthy_primary_fails_over_to_the_secondary(
    pair: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, primary, secondary = pair
    down(primary)
    session = router.ensure_session(KEY, provider=["primary", "secondary"])
    assert session.provider == "secondary"
    assert session.state is SessionState.RUNNING
    assert (primary.count(), secondary.count()) == (0, 1)
    failed = [s for s in router.store.sessions.list() if s.state is SessionState.FAILED]
    assert [s.provider for s in failed] == ["primary"]


def test_a_failed_primary_cools_down_then_is_tried_again(
    pair: tuple[ComputeRouter, FakeProvider, FakeProvider], clock: FakeClock
) -> None:
    router, primary, _secondary = pair
    down(primary)
    first = router.ensure_session(KEY, provider=["primary", "secondary"])
    router.destroy(first.id)
    # within the cool-down the primary is skipped without being asked
    second = router.ensure_session(KEY, provider=["primary", "secondary"])
    assert second.provider == "secondary"
    assert len([c for c in primary.calls if c[0] == "create"]) == 1
    router.destroy(second.id)
    clock.advance(router.settings.provider_cooldown_s + 1)
    third = router.ensure_session(KEY, provider=["primary", "secondary"])
    assert third.provider == "primary"


def test_a_live_session_is_sticky(
    pair: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, _primary, _secondary = pair
    on_secondary = router.ensure_session(KEY, provider="secondary")
    again = router.ensure_session(KEY, provider=["primary", "secondary"])
    assert again.id == on_secondary.id
    assert again.provider == "secondary"


def test_all_down_reports_the_whole_failover_history(
    pair: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, primary, secondary = pair
    down(primary)
    down(secondary)
    with pytest.raises(SessionUnavailable) as info:
        router.ensure_session(KEY, provider=["primary", "secondary"])
    assert [a.provider for a in info.value.failover_history] == ["primary", "secondary"]
    assert all(a.error_code == "provider_unavailable" for a in info.value.failover_history)
    assert router.store.sessions.find_live(KEY) is None
