"""Gates before any provisioning: the kill switch by scope (global, user, provider; drain or
now), per-user caps on runs in flight and live sessions, and refusals that change nothing."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest

from computerouter.compute.reconciler import reconcile
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.gates import Pause, PauseMode, PauseScope, ScopeKind
from computerouter.domain.session import RunState
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import CapReached, InputError, Paused
from computerouter.store import Store, open_store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

ALICE = SessionKey(user_id="alice", sandbox_id="sb1")
BOB = SessionKey(user_id="bob", sandbox_id="sb1")


def make_router(
    store: Store, settings: Settings, clock: FakeClock, providers: dict[str, FakeProvider]
) -> ComputeRouter:
    return ComputeRouter(
        store=store,
        providers=providers,
        runtimes={"fake": FakeRuntime()},
        settings=settings,
        clock=clock,
    )


@pytest.fixture
def two(
    store: Store, settings: Settings, clock: FakeClock
) -> tuple[ComputeRouter, FakeProvider, FakeProvider]:
    first, second = FakeProvider("first"), FakeProvider("second")
    router = make_router(store, settings, clock, {"first": first, "second": second})
    return router, first, second


def pause(
    router: ComputeRouter, kind: ScopeKind, target: str = "", mode: PauseMode = PauseMode.DRAIN
) -> list[str]:
    return router.gates.pause(
        Pause(
            scope=PauseScope(kind=kind, target=target),
            mode=mode,
            reason="incident 42",
            actor="ops",
            at=router.clock.now(),
        )
    )


def run_id() -> str:
    return f"run_{uuid.uuid4().hex[:12]}"


def test_a_global_pause_refuses_every_run_and_provisions_nothing(
    two: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, first, second = two
    pause(router, ScopeKind.GLOBAL)
    for key in (ALICE, BOB):
        with pytest.raises(Paused, match="the platform is paused: incident 42"):
            router.ensure_session(key, provider=["first", "second"])
        with (
            pytest.raises(Paused),
            router.open_run(key, run_id=run_id(), provider=["first", "second"]),
        ):
            pass
    assert first.calls == second.calls == []
    assert router.store.sessions.list() == []
    assert router.gates.store.permits() == []


def test_a_user_pause_refuses_only_that_user(
    two: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, _first, _second = two
    pause(router, ScopeKind.USER, "alice")
    with pytest.raises(Paused, match="user alice is paused"):
        router.ensure_session(ALICE, provider="first")
    assert router.ensure_session(BOB, provider="first").state is SessionState.RUNNING
    assert router.gates.unpause(
        PauseScope(kind=ScopeKind.USER, target="alice"), reason="fixed", actor="ops"
    )
    assert router.ensure_session(ALICE, provider="first").state is SessionState.RUNNING


def test_a_provider_pause_places_new_sessions_elsewhere_and_holds_live_ones(
    two: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, first, _second = two
    on_first = router.ensure_session(BOB, provider="first")
    pause(router, ScopeKind.PROVIDER, "first")
    placed = router.ensure_session(ALICE, provider=["first", "second"])
    assert placed.provider == "second"
    assert [c for c in first.calls if c[0] == "create"] == [("create", on_first.id)]
    with pytest.raises(Paused, match="provider first is paused"):
        router.ensure_session(BOB, provider=["first", "second"])  # its session lives there
    with pytest.raises(Paused):
        router.ensure_session(SessionKey(user_id="carol", sandbox_id="x"), provider="first")


def test_drain_lets_a_run_in_flight_finish(
    two: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, _first, _second = two
    cancelled: list[str] = []
    with router.open_run(
        ALICE, run_id="run_drain", provider="first", on_cancel=cancelled.append
    ) as lease:
        pause(router, ScopeKind.GLOBAL, mode=PauseMode.DRAIN)
        time.sleep(1.2)  # longer than the keepalive's cancel poll
    assert cancelled == []
    assert lease.outcome == RunState.COMPLETED
    assert router.store.runs.get("run_drain").state == RunState.COMPLETED  # type: ignore[union-attr]


def test_now_cancels_runs_in_flight_within_a_second_and_ends_them_at_the_flip(
    two: tuple[ComputeRouter, FakeProvider, FakeProvider],
) -> None:
    router, _first, _second = two
    asked = threading.Event()
    reasons: list[str] = []

    def on_cancel(reason: str) -> None:
        reasons.append(reason)
        asked.set()

    with router.open_run(ALICE, run_id="run_now", provider="first", on_cancel=on_cancel) as lease:
        other = router.open_run(BOB, run_id="run_bob", provider="first")
        other.__enter__()
        flip = router.clock.now()
        cancelled_runs = pause(router, ScopeKind.USER, "alice", mode=PauseMode.NOW)
        assert cancelled_runs == ["run_now"]
        started = time.monotonic()
        assert asked.wait(2.0)
        assert time.monotonic() - started < 1.5
        router.clock.advance(30)  # the run takes a while to wind down
        lease.outcome = RunState.CANCELLED
    assert reasons == ["user alice paused: incident 42"]
    ended = router.store.runs.get("run_now")
    assert ended is not None
    assert ended.state == RunState.CANCELLED
    assert ended.ended_at == flip, "metering stops at the flip"
    assert router.store.runs.get("run_bob").state == RunState.RUNNING  # type: ignore[union-attr]
    other.__exit__(None, None, None)


def test_a_pause_on_one_replica_refuses_on_another_within_a_second(
    settings: Settings, clock: FakeClock
) -> None:
    url = settings.effective_database_url
    store_a, store_b = open_store(url), open_store(url)
    try:
        a = make_router(store_a, settings, clock, {"first": FakeProvider("first")})
        b = make_router(store_b, settings, clock, {"first": FakeProvider("first")})
        assert b.gates.admit("alice", ("first",)) == ("first",)  # B has it cached now
        pause(a, ScopeKind.GLOBAL)
        started = time.monotonic()
        while True:
            try:
                b.gates.admit("alice", ("first",))
            except Paused:
                break
            assert time.monotonic() - started < 1.0, "B still admits a second after the pause"
            time.sleep(0.01)
    finally:
        store_a.close()
        store_b.close()


def test_a_cap_on_runs_in_flight_refuses_before_anything_is_touched(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    provider = FakeProvider("first")
    router = make_router(store, replace(settings, max_runs_per_user=2), clock, {"first": provider})
    held = [
        router.open_run(
            SessionKey(user_id="alice", sandbox_id=f"s{i}"), run_id=f"r{i}", provider="first"
        )
        for i in range(2)
    ]
    for lease in held:
        lease.__enter__()
    creates = len(provider.calls)
    with (
        pytest.raises(CapReached, match="cap of 2 runs in flight"),
        router.open_run(
            SessionKey(user_id="alice", sandbox_id="s9"), run_id="r9", provider="first"
        ),
    ):
        pass
    assert len(provider.calls) == creates
    assert router.store.sessions.find_live(SessionKey(user_id="alice", sandbox_id="s9")) is None
    with router.open_run(BOB, run_id="rb", provider="first"):
        pass  # another user is not affected
    held[0].__exit__(None, None, None)
    with router.open_run(
        SessionKey(user_id="alice", sandbox_id="s9"), run_id="r9", provider="first"
    ):
        pass  # a permit came back
    held[1].__exit__(None, None, None)
    assert router.gates.store.permits() == []


def test_a_cap_on_live_sessions_refuses_a_new_sandbox(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    provider = FakeProvider("first")
    router = make_router(
        store, replace(settings, max_live_sessions_per_user=2), clock, {"first": provider}
    )
    for i in range(2):
        router.ensure_session(SessionKey(user_id="alice", sandbox_id=f"s{i}"), provider="first")
    with pytest.raises(CapReached, match="cap of 2 live sessions"):
        router.ensure_session(SessionKey(user_id="alice", sandbox_id="s2"), provider="first")
    assert len(router.store.sessions.list()) == 2
    assert provider.count() == 2
    # an existing sandbox still works, and destroying one frees a slot
    router.ensure_session(SessionKey(user_id="alice", sandbox_id="s0"), provider="first")
    router.destroy(router.store.sessions.list()[0].id)
    router.ensure_session(SessionKey(user_id="alice", sandbox_id="s2"), provider="first")


def test_permits_of_runs_whose_control_plane_died_are_given_back(
    router: ComputeRouter, clock: FakeClock
) -> None:
    gates = router.gates.store
    gates.reserve_permit(
        run_id="r-dead", user_id="alice", owner="elsewhere:1:1", now=clock.now(), cap=0
    )
    gates.reserve_permit(
        run_id="r-placing", user_id="alice", owner="elsewhere:2:2", now=clock.now(), cap=0
    )
    assert reconcile(router).permits_released == []  # still within their placing window
    clock.advance(2 * max(router.settings.lease_s, router.settings.wait_timeout_s) + 1)
    assert sorted(reconcile(router).permits_released) == ["r-dead", "r-placing"]
    assert gates.permits() == []


@pytest.mark.parametrize(
    ("kind", "target", "reason"),
    [
        (ScopeKind.USER, "", "incident"),
        (ScopeKind.PROVIDER, "../etc", "incident"),
        (ScopeKind.GLOBAL, "x", "incident"),
        (ScopeKind.GLOBAL, "", "   "),
    ],
)
def test_bad_pauses_are_refused(kind: ScopeKind, target: str, reason: str) -> None:
    with pytest.raises(InputError):
        Pause(
            scope=PauseScope(kind=kind, target=target),
            mode=PauseMode.DRAIN,
            reason=reason,
            actor="ops",
            at=0.0,
        )
