"""Fail-over between two emulated providers: Daytona (the primary: the faster warm start, so
the latency-aware default places it first) and Fly Sprites (the secondary).

Faults are injected into the Daytona emulator's create route; its request log proves which
calls reached it. The router's clock is a :class:`FakeClock`, so cool-downs and Retry-After
pass without waiting.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings, Timings
from computerouter.emulators.daytona.settings import Fault
from computerouter.emulators.fly_sprites import RunningEmulator, World, start
from computerouter.emulators.fly_sprites import Timings as SpritesTimings
from computerouter.emulators.fly_sprites.faults import Fault as SpritesFault
from computerouter.errors import SessionUnavailable
from computerouter.providers.local import probe
from computerouter.providers.registry import ProviderRegistry
from computerouter.runtimes.registry import build_runtimes
from computerouter.store import open_store
from computerouter.testing import FakeClock

pytestmark = pytest.mark.isolation

COOLDOWN_S = 10.0
CREATE = "POST /api/sandbox"


@dataclass(kw_only=True)
class Rig:
    router: ComputeRouter
    clock: FakeClock
    daytona: EmulatorServer
    sprites: RunningEmulator

    def fail_daytona(
        self,
        status: int,
        *,
        count: int = 1_000,
        retry_after_s: float | None = None,
        message: str = "injected fault",
    ) -> None:
        """The next ``count`` create calls to Daytona answer ``status``."""
        fault = Fault(
            route=CREATE, status=status, count=count, retry_after_s=retry_after_s, message=message
        )
        self.daytona.emulator.faults.add(fault)

    def heal_daytona(self) -> None:
        self.daytona.emulator.faults.clear()

    def daytona_creates(self) -> int:
        """Create calls that reached the Daytona emulator."""
        return self.daytona.emulator.requests.count(CREATE)

    def circuit(self, provider: str) -> str:
        found = [c for c in self.router.health.circuits() if c.provider == provider]
        return found[0].state if found else "closed"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"the emulators back sandboxes with local sessions: {', '.join(gaps)}")
    world = World(
        root=tmp_path / "sprites", token="sprites-token", timings=SpritesTimings(speed=10.0)
    )
    sprites = start(world)
    daytona = EmulatorServer(
        root=tmp_path / "daytona", settings=EmulatorSettings(timings=Timings(speed=100.0))
    ).start()
    env = {
        "COMPUTEROUTER_DAYTONA_API_URL": daytona.api_url,
        "COMPUTEROUTER_DAYTONA_API_KEY": "emulator-key",
        "COMPUTEROUTER_FLY_SPRITES_BASE_URL": sprites.url,
        "COMPUTEROUTER_FLY_SPRITES_TOKEN": "sprites-token",
    }
    settings = Settings.load(
        env=env,
        home=tmp_path / "home",
        lifecycle_daemon=False,
        billing=False,
        provider_cooldown_s=COOLDOWN_S,
        provider_cooldown_max_s=8 * COOLDOWN_S,
    )
    settings.home.mkdir(parents=True, exist_ok=True)
    clock = FakeClock()
    router = ComputeRouter(
        store=open_store(settings.effective_database_url),
        # Only the two emulated providers: local (warm start 2 ms) would be placed first.
        providers=ProviderRegistry(settings, names=("daytona", "fly_sprites")),
        runtimes=build_runtimes(settings),
        settings=settings,
        clock=clock,
    )
    try:
        yield Rig(router=router, clock=clock, daytona=daytona, sprites=sprites)
    finally:
        try:
            for session in router.store.sessions.list():
                if session.state not in (SessionState.DESTROYED, SessionState.FAILED):
                    router.destroy(session.id)
            router.store.close()
        finally:
            daytona.stop()
            sprites.stop()


def _new(rig: Rig, name: str) -> str:
    """A new sandbox through the default placement; the provider it landed on."""
    return rig.router.ensure_session(
        SessionKey(user_id="alice", sandbox_id=name), runtime="echo"
    ).provider


def test_the_primary_is_placed_first_when_healthy(rig: Rig) -> None:
    assert _new(rig, "first") == "daytona"
    assert rig.daytona_creates() == 1


def test_a_503_fails_over_to_the_secondary_and_the_history_is_kept(rig: Rig) -> None:
    rig.fail_daytona(503)
    key = SessionKey(user_id="alice", sandbox_id="box")

    with rig.router.open_run(key, run_id="run_1", runtime="echo") as lease:
        session = lease.session
        assert session.provider == "fly_sprites"
        assert session.state is SessionState.RUNNING

    assert rig.daytona_creates() == 1
    assert rig.circuit("daytona") == "open"
    failed = rig.router.store.sessions.list(provider="daytona")
    assert [s.state for s in failed] == [SessionState.FAILED]
    assert "injected fault" in (failed[0].error or "")
    # The success path keeps what fail-over went through in the session's history.
    reasons = [t.reason for t in rig.router.store.sessions.history(session.id)]
    assert any("daytona" in r for r in reasons), reasons


def test_total_failure_carries_the_whole_failover_history(rig: Rig) -> None:
    rig.fail_daytona(503)
    rig.sprites.faults.add(SpritesFault(method="POST", path="/v1/sprites", status=503, count=1_000))

    with pytest.raises(SessionUnavailable) as failed:
        _new(rig, "nowhere")

    history = failed.value.failover_history
    assert [a.provider for a in history] == ["daytona", "fly_sprites"]
    assert all(a.retryable for a in history)


def test_an_open_circuit_skips_the_primary_until_one_probe_closes_it(rig: Rig) -> None:
    rig.fail_daytona(503)
    assert _new(rig, "a") == "fly_sprites"
    assert rig.daytona_creates() == 1

    assert _new(rig, "b") == "fly_sprites"
    assert rig.daytona_creates() == 1, "an open circuit must not call the provider"

    rig.heal_daytona()
    rig.clock.advance(COOLDOWN_S + 1)
    assert _new(rig, "c") == "daytona", "after the cool-down one caller probes the primary"
    assert rig.daytona_creates() == 2
    assert rig.circuit("daytona") == "closed"
    assert _new(rig, "d") == "daytona"


def test_while_another_replica_holds_the_probe_the_primary_is_skipped(rig: Rig) -> None:
    rig.fail_daytona(503)
    assert _new(rig, "a") == "fly_sprites"
    rig.heal_daytona()
    rig.clock.advance(COOLDOWN_S + 1)
    (circuit,) = rig.router.health.circuits()
    assert rig.router.health.store.claim_probe(
        "daytona", circuit.region, owner="another-replica", now=rig.clock.now(), probe_s=60.0
    )

    assert _new(rig, "b") == "fly_sprites"
    assert rig.daytona_creates() == 1, "only the replica holding the probe may try it"

    rig.clock.advance(61.0)  # that replica went quiet: its probe is given to the next caller
    assert _new(rig, "c") == "daytona"
    assert rig.circuit("daytona") == "closed"


def test_retry_after_outlasts_a_shorter_cool_down(rig: Rig) -> None:
    rig.fail_daytona(429, count=1, retry_after_s=30.0)
    assert _new(rig, "a") == "fly_sprites"

    rig.clock.advance(COOLDOWN_S + 5)  # past the cool-down, not past Retry-After
    assert _new(rig, "b") == "fly_sprites"
    assert rig.daytona_creates() == 1

    rig.clock.advance(30.0 - COOLDOWN_S - 5 + 1)  # now past Retry-After
    assert _new(rig, "c") == "daytona"
    assert rig.daytona_creates() == 2


def test_a_dead_primary_sees_one_probe_per_cool_down_not_a_storm(rig: Rig) -> None:
    rig.fail_daytona(503)
    for i in range(20):
        assert _new(rig, f"s{i}") == "fly_sprites"
        rig.clock.advance(COOLDOWN_S / 2)
    # Failures at t=0 (cool-down 10), probes at 10 (→ 20), 30 (→ 40), 70 (→ 80): 95 s of
    # traffic, 20 new sandboxes, 4 create calls.
    assert rig.daytona_creates() == 4
    assert rig.circuit("daytona") == "open"


def test_a_non_retryable_error_stops_at_once(rig: Rig) -> None:
    rig.fail_daytona(400, message="unknown region")

    with pytest.raises(SessionUnavailable) as refused:
        _new(rig, "bad")

    assert refused.value.retryable is False
    assert [a.provider for a in refused.value.failover_history] == ["daytona"]
    assert rig.router.store.sessions.list(provider="fly_sprites") == []
    assert rig.circuit("daytona") == "closed"
