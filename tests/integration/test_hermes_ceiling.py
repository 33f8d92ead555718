"""Acceptance, with real Hermes in real local sessions:

- a run past its ceiling is stopped at it (``run.failed`` code ``ceiling``) and billed up to
  it, and the session takes the next run;
- a session past its maximum uptime is suspended by the lifecycle pass while a run is in
  flight on it: the run is cancelled (``run.cancelled`` naming the ceiling), billed up to the
  cancel, and the next run resumes the session.

The model stand-in answers ``SLOW`` only after 20 s, so the ceilings alone end the turns.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from hermes_world import MODEL_KEY, destroy_all, make_world

from computerouter.agents.ceiling import CEILING
from computerouter.compute.lifecycle import lifecycle_pass
from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import AgentEvent, RunCancelled, RunCompleted, RunFailed
from computerouter.domain.session import RunState, SandboxSettings
from computerouter.domain.states import SessionState
from computerouter.ledger import Ledger
from computerouter.providers.local import probe
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]

CEILING_S = 4.0


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")


def test_a_hermes_run_past_its_ceiling_is_stopped_and_billed_up_to_it(tmp_path: Path) -> None:
    with StandinModel(api_key=MODEL_KEY, slow_seconds=20.0) as model:
        world = make_world(tmp_path / "home", model)
        try:
            agents = world.agents
            address = AgentAddress(sandbox_id="sb1", slug="bounded")
            agents.create_agent(
                user_id="alice",
                address=address,
                settings=ModelSettings(compute_provider="local", max_run_s=CEILING_S),
                prompt="You are an agent with a short ceiling.",
            )
            run = agents.run(user_id="alice", address=address, text="SLOW hello")
            events = list(run.events())
            last = events[-1]
            assert isinstance(last, RunFailed), events
            assert last.code == CEILING
            record = agents.compute.store.runs.get(run.run_id)
            assert record is not None
            assert record.ended_at == record.started_at + CEILING_S
            ledger = agents.compute.credit_gate
            assert isinstance(ledger, Ledger)
            bill = ledger.run_bill(run.run_id)
            assert bill.compute is not None
            assert abs(bill.compute.quantity_ms - CEILING_S * 1000) <= 1
            assert ledger.account("alice").reserved == 0
            after = list(agents.run(user_id="alice", address=world.address, text="hi").events())
            assert isinstance(after[-1], RunCompleted), after
        finally:
            destroy_all(world)


def test_a_busy_hermes_session_is_suspended_at_its_max_uptime(tmp_path: Path) -> None:
    with StandinModel(api_key=MODEL_KEY, slow_seconds=20.0) as model:
        world = make_world(tmp_path / "home", model)
        try:
            agents = world.agents
            compute = agents.compute
            compute.store.sandboxes.put(
                SandboxSettings(user_id="alice", sandbox_id="sb1", max_uptime_s=3.0)
            )
            run = agents.run(user_id="alice", address=world.address, text="SLOW hello")
            events: list[AgentEvent] = []
            streaming = threading.Thread(target=lambda: events.extend(run.events()))
            streaming.start()
            record = None
            for _ in range(600):  # until the turn is in flight and the session up 3 s
                record = compute.store.runs.get(run.run_id)
                if record is not None:
                    session = compute.get(record.session_id)
                    if time.time() >= session.state_changed_at + 3.0:
                        break
                time.sleep(0.1)
            assert record is not None
            # The first pass asks the run to stop; Hermes may take a few seconds to, and the
            # session is suspended by the pass that finds the run ended.
            for _ in range(30):
                report = lifecycle_pass(compute)
                if report.reaped.uptime_suspended:
                    break
                time.sleep(1.0)
            assert report.reaped.uptime_suspended == [record.session_id], report.summary()
            streaming.join(timeout=60)
            assert not streaming.is_alive()
            last = events[-1]
            assert isinstance(last, RunCancelled), events
            assert "maximum uptime" in last.reason
            assert compute.get(record.session_id).state is SessionState.SUSPENDED
            ended = compute.store.runs.get(run.run_id)
            assert ended is not None
            assert ended.state == RunState.CANCELLED
            ledger = compute.credit_gate
            assert isinstance(ledger, Ledger)
            assert ledger.run_bill(run.run_id).compute is not None
            assert ledger.account("alice").reserved == 0
            compute.store.sandboxes.put(SandboxSettings(user_id="alice", sandbox_id="sb1"))
            after = list(agents.run(user_id="alice", address=world.address, text="hi").events())
            assert isinstance(after[-1], RunCompleted), after
            assert after[0].how == "resumed"  # type: ignore[attr-defined]
        finally:
            destroy_all(world)
