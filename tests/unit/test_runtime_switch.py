"""A session running another runtime than the caller needs is switched, never used as is."""

from __future__ import annotations

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.session import RunRecord, RunState
from computerouter.domain.states import SessionState
from computerouter.domain.values import LaunchSpec, SessionKey
from computerouter.errors import Conflict
from computerouter.providers.base import Capabilities
from computerouter.store import Store
from computerouter.testing import FakeClock, FakeProvider, FakeRuntime

KEY = SessionKey(user_id="alice", sandbox_id="sb1")


class OtherRuntime(FakeRuntime):
    name = "other"

    def launch_spec(self, *, session_id: str) -> LaunchSpec:
        return LaunchSpec(runtime=self.name, argv=("true",))


def make_router(
    store: Store, provider: FakeProvider, settings: Settings, clock: FakeClock
) -> ComputeRouter:
    return ComputeRouter(
        store=store,
        providers={"fake": provider},
        runtimes={"fake": FakeRuntime(), "other": OtherRuntime()},
        settings=settings,
        clock=clock,
    )


@pytest.fixture
def switching(
    store: Store, provider: FakeProvider, settings: Settings, clock: FakeClock
) -> ComputeRouter:
    return make_router(store, provider, settings, clock)


@pytest.mark.parametrize("start", ["running", "suspended", "archived"])
def test_a_session_is_switched_to_the_runtime_asked_for(
    switching: ComputeRouter, provider: FakeProvider, start: str
) -> None:
    session = switching.ensure_session(KEY, runtime="fake")
    if start == "suspended":
        switching.suspend(session.id)
    elif start == "archived":
        switching.archive(session.id)

    switched = switching.ensure_session(KEY, runtime="other")

    assert switched.id == session.id
    assert switched.runtime == "other"
    assert switched.state is SessionState.RUNNING
    # Restored in place (the workspace goes with it), not created anew.
    assert provider.calls[-2:] == [
        ("restore", session.instance_id),
        ("release_archive", session.instance_id),
    ]
    assert provider.count() == 1
    reasons = [t.reason for t in switching.store.sessions.history(session.id)]
    switched_by_archive = "switch runtime fake -> other" in reasons
    assert switched_by_archive is (start != "archived")


def test_without_a_runtime_named_a_live_session_is_used_as_it_is(
    switching: ComputeRouter, provider: FakeProvider
) -> None:
    session = switching.ensure_session(KEY, runtime="other")
    calls = len(provider.calls)
    again = switching.ensure_session(KEY)
    assert (again.id, again.runtime) == (session.id, "other")
    assert len(provider.calls) == calls


def test_a_session_with_a_run_in_flight_is_not_switched(
    switching: ComputeRouter, provider: FakeProvider, clock: FakeClock
) -> None:
    session = switching.ensure_session(KEY, runtime="fake")
    now = clock.now()
    switching.store.runs.begin(
        RunRecord(
            run_id="run_busy",
            session_id=session.id,
            user_id=KEY.user_id,
            sandbox_id=KEY.sandbox_id,
            agent_id="",
            state=RunState.RUNNING,
            started_at=now,
            heartbeat_at=now,
        )
    )
    with pytest.raises(Conflict, match=r"runs the 'fake' runtime.*run_busy is in flight"):
        switching.ensure_session(KEY, runtime="other")
    kept = switching.get(session.id)
    assert (kept.state, kept.runtime) == (SessionState.RUNNING, "fake")
    assert ("archive", session.instance_id) not in provider.calls


def test_a_provider_that_cannot_archive_says_how_to_fix_it(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    provider = FakeProvider(capabilities=Capabilities(suspend=True, archive=False, exec=False))
    router = make_router(store, provider, settings, clock)
    session = router.ensure_session(KEY, runtime="fake")
    with pytest.raises(Conflict, match=rf"compute sessions destroy {session.id}"):
        router.ensure_session(KEY, runtime="other")
    assert router.get(session.id).state is SessionState.RUNNING


def test_a_crash_after_the_archive_is_finished_by_the_next_caller(
    switching: ComputeRouter,
) -> None:
    """Archived with the old runtime still recorded (the switch died in between)."""
    session = switching.ensure_session(KEY, runtime="fake")
    switching.archive(session.id, reason="switch runtime fake -> other")
    assert switching.get(session.id).runtime == "fake"

    back = switching.ensure_session(KEY, runtime="other")

    assert (back.id, back.runtime, back.state) == (session.id, "other", SessionState.RUNNING)


def test_a_sandbox_needs_its_agents_runtime_or_the_default(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    from computerouter.agents.router import AgentRouter
    from computerouter.domain.agents import AgentAddress, ModelSettings
    from computerouter.store.agents import AgentStore

    compute = make_router(store, FakeProvider(), settings, clock)
    agents = AgentRouter(compute=compute, agents=AgentStore(store.engine))
    agents.create_agent(
        user_id="alice",
        address=AgentAddress(sandbox_id="sb1", slug="support"),
        settings=ModelSettings(backend="hermes"),
        prompt="You are support.",
    )
    agents.create_agent(
        user_id="alice",
        address=AgentAddress(sandbox_id="vendor", slug="claude"),
        settings=ModelSettings(backend="anthropic"),
        prompt="Vendor-run.",
    )
    assert agents.sandbox_runtime("alice", "sb1") == "hermes"
    assert agents.sandbox_runtime("alice", "empty") == settings.default_runtime
    assert agents.sandbox_runtime("alice", "vendor") == settings.default_runtime
    assert agents.sandbox_runtime("bob", "sb1") == settings.default_runtime
