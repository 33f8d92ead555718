"""Max-runtime ceilings, on the injected clock.

- Per run: a turn still going at its ``max_run_s`` is stopped (``run.failed`` code ``ceiling``)
  within a second of it, and recorded and billed up to the ceiling, not beyond. The agent's
  ceiling wins, then its sandbox's, then the default setting.
- Per session: a session up for its ``max_uptime_s`` is suspended by the lifecycle pass even
  with a run in flight (the run is cancelled first, and billed up to the cancel), or with a
  run row whose owner never answers (ended by a later pass, billed up to the first cancel).
- Bad ceilings (0, negative, not a number) are refused with one line.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from computerouter.agents.ceiling import CEILING
from computerouter.agents.router import AgentRouter, AgentRun
from computerouter.compute.ceilings import UPTIME_FORCE_AFTER_S, UPTIME_GRACE_S, run_ceiling_s
from computerouter.compute.lifecycle import lifecycle_pass
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.ceilings import check_ceiling
from computerouter.domain.events import AgentEvent, RunCancelled, RunCompleted, RunFailed
from computerouter.domain.session import RunRecord, RunState, SandboxSettings
from computerouter.domain.states import SessionState
from computerouter.domain.values import SessionKey
from computerouter.errors import ConfigError, InputError
from computerouter.ledger import MICRO, Ledger, default_prices
from computerouter.providers.base import Capabilities
from computerouter.store import Store
from computerouter.store.agents import AgentStore
from computerouter.testing import FakeAgentRuntime, FakeClock, FakeProvider

ADDR = AgentAddress(sandbox_id="sb1", slug="worker")
KEY = SessionKey(user_id="alice", sandbox_id="sb1")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.load(
        env={},
        home=tmp_path,
        default_provider="local",
        wait_timeout_s=20.0,
        max_run_s=600.0,
        max_uptime_s=3600.0,
    )


@pytest.fixture
def runtime() -> FakeAgentRuntime:
    return FakeAgentRuntime()


@pytest.fixture
def ledger(store: Store, clock: FakeClock) -> Ledger:
    ledger = Ledger(store=store, prices=default_prices(), clock=clock)
    ledger.grant("alice", 100 * MICRO)
    return ledger


@pytest.fixture
def agents(
    store: Store, settings: Settings, clock: FakeClock, runtime: FakeAgentRuntime, ledger: Ledger
) -> AgentRouter:
    compute = ComputeRouter(
        store=store,
        providers={"local": FakeProvider("local")},
        runtimes={"hermes": runtime},
        settings=settings,
        clock=clock,
        credit_gate=ledger,
    )
    router = AgentRouter(compute=compute, agents=AgentStore(store.engine))
    router.create_agent(
        user_id="alice", address=ADDR, settings=ModelSettings(max_run_s=5.0), prompt="Work."
    )
    return router


class Running:
    """A run iterated on its own thread, as a caller streaming it would."""

    def __init__(self, run: AgentRun) -> None:
        self.run = run
        self.events: list[AgentEvent] = []
        self._thread = threading.Thread(target=lambda: self.events.extend(run.events()))
        self._thread.start()

    def wait_started(self, agents: AgentRouter, runtime: FakeAgentRuntime) -> RunRecord:
        for _ in range(200):  # the turn exists once the runtime was asked for it
            record = agents.compute.store.runs.get(self.run.run_id)
            if record is not None and runtime.turns:
                return record
            time.sleep(0.02)
        raise AssertionError("the run did not start")

    def join(self) -> list[AgentEvent]:
        self._thread.join(timeout=15)
        assert not self._thread.is_alive(), "the run did not end"
        return self.events


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for item in started:  # nothing keeps running after a failed test
        item.run.cancel()
        item.join()


def hang(agents: AgentRouter, running: list[Running], address: AgentAddress = ADDR) -> Running:
    item = Running(agents.run(user_id="alice", address=address, text="HANG until stopped"))
    running.append(item)
    return item


# -- per run ----------------------------------------------------------------------------------


def test_a_run_is_stopped_within_a_second_of_its_ceiling_and_billed_up_to_it(
    agents: AgentRouter,
    runtime: FakeAgentRuntime,
    clock: FakeClock,
    ledger: Ledger,
    running: list[Running],
) -> None:
    item = hang(agents, running)
    record = item.wait_started(agents, runtime)
    clock.advance(4.5)
    time.sleep(0.5)  # several turns of the watch: it must not stop the run early
    assert not runtime.turns[0].cancelled
    clock.advance(0.5 + 0.9)  # past the ceiling, by less than a second
    events = item.join()
    last = events[-1]
    assert isinstance(last, RunFailed), events
    assert last.code == CEILING
    assert "ceiling" in last.error
    assert "5 s" in last.error
    assert runtime.turns[0].cancelled
    ended = agents.compute.store.runs.get(record.run_id)
    assert ended is not None
    assert ended.state == RunState.FAILED
    assert ended.ended_at == record.started_at + 5.0  # recorded up to the ceiling
    bill = ledger.run_bill(record.run_id)
    assert bill.compute is not None
    assert bill.compute.quantity_ms == 5_000  # billed up to the ceiling, not the 5.9 s
    assert ledger.account("alice").reserved == 0


def test_a_run_within_its_ceiling_completes(
    agents: AgentRouter, clock: FakeClock, ledger: Ledger
) -> None:
    events = list(agents.run(user_id="alice", address=ADDR, text="quick one").events())
    assert isinstance(events[-1], RunCompleted)


def test_the_agents_ceiling_wins_then_the_sandboxs_then_the_default(
    agents: AgentRouter,
) -> None:
    compute = agents.compute
    assert run_ceiling_s(compute, KEY, None) == 600.0  # the default setting
    compute.store.sandboxes.put(SandboxSettings(user_id="alice", sandbox_id="sb1", max_run_s=60))
    assert run_ceiling_s(compute, KEY, None) == 60.0
    assert run_ceiling_s(compute, KEY, 5.0) == 5.0
    other = SessionKey(user_id="alice", sandbox_id="sb2")
    assert run_ceiling_s(compute, other, None) == 600.0  # another sandbox keeps the default


def test_a_sandbox_ceiling_stops_an_agent_without_its_own(
    agents: AgentRouter,
    runtime: FakeAgentRuntime,
    clock: FakeClock,
    running: list[Running],
) -> None:
    compute = agents.compute
    compute.store.sandboxes.put(SandboxSettings(user_id="alice", sandbox_id="sb1", max_run_s=30))
    address = AgentAddress(sandbox_id="sb1", slug="unbounded")
    agents.create_agent(user_id="alice", address=address, settings=ModelSettings(), prompt="W.")
    item = hang(agents, running, address)
    record = item.wait_started(agents, runtime)
    clock.advance(30.5)
    last = item.join()[-1]
    assert isinstance(last, RunFailed)
    assert last.code == CEILING
    assert "30 s" in last.error
    ended = compute.store.runs.get(record.run_id)
    assert ended is not None
    assert ended.ended_at == record.started_at + 30.0


def test_a_cancel_before_the_ceiling_is_still_a_cancel(
    agents: AgentRouter, runtime: FakeAgentRuntime, running: list[Running]
) -> None:
    item = hang(agents, running)
    item.wait_started(agents, runtime)
    item.run.cancel("changed my mind")
    last = item.join()[-1]
    assert isinstance(last, RunCancelled)
    assert last.reason == "changed my mind"


# -- per session ------------------------------------------------------------------------------


def test_a_session_is_suspended_at_its_max_uptime(agents: AgentRouter, clock: FakeClock) -> None:
    compute = agents.compute
    compute.store.sandboxes.put(
        SandboxSettings(user_id="alice", sandbox_id="sb1", max_uptime_s=300, idle_suspend_s=10**6)
    )
    session = compute.ensure_session(KEY, provider="local", runtime="hermes")
    clock.advance(299)
    compute.store.sessions.touch(session.id, now=clock.now())  # active: never idle
    report = lifecycle_pass(compute)
    assert compute.get(session.id).state is SessionState.RUNNING
    assert report.reaped.uptime_suspended == []
    clock.advance(1)
    report = lifecycle_pass(compute)
    assert report.reaped.uptime_suspended == [session.id]
    assert compute.get(session.id).state is SessionState.SUSPENDED
    assert compute.store.sessions.history(session.id)[-1].reason == "max uptime"
    assert "suspended (max uptime) 1" in report.summary()
    # Uptime counts from the resume: the next pass leaves the resumed session alone.
    compute.resume(session.id)
    lifecycle_pass(compute)
    assert compute.get(session.id).state is SessionState.RUNNING


def test_a_busy_session_is_suspended_at_its_max_uptime_its_run_cancelled(
    agents: AgentRouter,
    runtime: FakeAgentRuntime,
    clock: FakeClock,
    ledger: Ledger,
    running: list[Running],
) -> None:
    compute = agents.compute
    agents.update_agent(agents.resolve("alice", ADDR), settings=ModelSettings(max_run_s=10**5))
    item = hang(agents, running)
    record = item.wait_started(agents, runtime)
    clock.advance(3600)  # the default max_uptime_s
    compute.keepalive.beat()  # the run's control plane is alive (its heartbeat is fresh)
    at = clock.now()
    report = lifecycle_pass(compute)
    assert report.reaped.uptime_suspended == [record.session_id]
    assert compute.get(record.session_id).state is SessionState.SUSPENDED
    last = item.join()[-1]
    assert isinstance(last, RunCancelled), item.events
    assert "maximum uptime of 3600 s" in last.reason
    ended = compute.store.runs.get(record.run_id)
    assert ended is not None
    assert ended.state == RunState.CANCELLED
    assert ended.ended_at == at  # billed up to the cancel, not the grace after it
    bill = ledger.run_bill(record.run_id)
    assert bill.compute is not None
    assert bill.compute.quantity_ms == round((at - record.started_at) * 1000)


def test_a_pass_on_another_replica_cancels_the_run_and_suspends(
    agents: AgentRouter,
    runtime: FakeAgentRuntime,
    clock: FakeClock,
    running: list[Running],
) -> None:
    """Replica B's lifecycle pass asks, through the store, replica A's run to cancel; A's
    keepalive hears it and ends the run; B suspends the session."""
    replica_a = agents.compute
    replica_b = ComputeRouter(
        store=replica_a.store,
        providers=replica_a.providers,
        runtimes=replica_a.runtimes,
        settings=replica_a.settings,
        clock=clock,
        owner="replica-b",
    )
    agents.update_agent(agents.resolve("alice", ADDR), settings=ModelSettings(max_run_s=10**5))
    item = hang(agents, running)
    record = item.wait_started(agents, runtime)
    clock.advance(3600)
    replica_a.keepalive.beat()
    report = lifecycle_pass(replica_b)
    assert report.reaped.uptime_suspended == [record.session_id]
    last = item.join()[-1]
    assert isinstance(last, RunCancelled), item.events
    assert "maximum uptime" in last.reason
    assert replica_a.get(record.session_id).state is SessionState.SUSPENDED


def ghost_run(compute: ComputeRouter, session_id: str, sandbox_id: str, now: float) -> str:
    """A run row in flight that no control plane answers for (its heartbeat fresh, so the
    reconciler leaves it alone)."""
    run_id = f"run_ghost_{sandbox_id}"
    compute.store.runs.begin(
        RunRecord(
            run_id=run_id,
            session_id=session_id,
            user_id="alice",
            sandbox_id=sandbox_id,
            agent_id="",
            state=RunState.RUNNING,
            owner=compute.owner,
            started_at=now,
            heartbeat_at=now,
        )
    )
    return run_id


def test_busy_looking_sessions_are_suspended_at_their_max_uptime(
    agents: AgentRouter, clock: FakeClock
) -> None:
    compute = agents.compute
    other = SessionKey(user_id="alice", sandbox_id="sb2")
    first = compute.ensure_session(KEY, provider="local", runtime="hermes")
    second = compute.ensure_session(other, provider="local", runtime="hermes")
    clock.advance(3600)
    now = clock.now()
    ghosts = [ghost_run(compute, first.id, "sb1", now), ghost_run(compute, second.id, "sb2", now)]
    report = lifecycle_pass(compute)
    # One short wait for both (on the injected clock, which the wait moves), not one each;
    # then they are left to their owners for a while: nothing is frozen under a stopping run.
    assert clock.now() - now == pytest.approx(UPTIME_GRACE_S, abs=0.15)
    assert report.reaped.uptime_suspended == []
    assert compute.get(first.id).state is SessionState.RUNNING
    clock.advance(UPTIME_FORCE_AFTER_S)
    report = lifecycle_pass(compute)
    assert sorted(report.reaped.uptime_suspended) == sorted([first.id, second.id])
    for session in (first, second):
        assert compute.get(session.id).state is SessionState.SUSPENDED
    for run_id in ghosts:
        ghost = compute.store.runs.get(run_id)
        assert ghost is not None
        assert ghost.state == RunState.CANCELLED
        assert ghost.ended_at == now  # ended, and billed, at the first request
    assert compute.store.runs.all_in_flight() == []


def test_a_session_that_cannot_suspend_is_archived_at_its_max_uptime(
    store: Store, settings: Settings, clock: FakeClock
) -> None:
    provider = FakeProvider(
        "local", capabilities=Capabilities(suspend=False, archive=True, exec=False)
    )
    compute = ComputeRouter(
        store=store,
        providers={"local": provider},
        runtimes={"hermes": FakeAgentRuntime()},
        settings=replace(settings, idle_suspend_s=10**6, archive_after_s=10**7),
        clock=clock,
    )
    session = compute.ensure_session(KEY, provider="local", runtime="hermes")
    clock.advance(3600)
    report = lifecycle_pass(compute)
    assert report.reaped.uptime_suspended == [session.id]
    assert compute.get(session.id).state is SessionState.ARCHIVED


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -1, 0.0, -0.5, math.nan, math.inf, "abc", "", True, None])
def test_a_bad_ceiling_is_refused(value: object) -> None:
    with pytest.raises(InputError, match="max_run_s"):
        check_ceiling(value, what="max_run_s")


@pytest.mark.parametrize("value", [0, -3, math.nan, math.inf])
def test_an_agent_with_a_bad_ceiling_is_refused(agents: AgentRouter, value: float) -> None:
    before = agents.agents.list("alice")
    with pytest.raises(InputError, match="run ceiling"):
        agents.update_agent(before[0], settings=replace(before[0].settings, max_run_s=value))
    assert agents.agents.list("alice") == before


@pytest.mark.parametrize("name", ["max_run_s", "max_uptime_s"])
@pytest.mark.parametrize("value", ["0", "-1", "abc"])
def test_a_bad_default_ceiling_is_one_line(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.load(env={f"COMPUTEROUTER_{name.upper()}": value}, home=tmp_path)
