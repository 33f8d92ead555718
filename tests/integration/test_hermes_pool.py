"""Acceptance: the warm pool with the real Hermes. Pooled sessions warm up without calling the
model, a new sandbox's first turn runs on a claimed one, and a claimed Hermes carries nothing of
an earlier claim: no file, no environment, no conversation, not the uid."""

from __future__ import annotations

from pathlib import Path

import pytest
from hermes_world import MODEL_KEY, World, destroy_all, make_world

from computerouter.domain.agents import AgentAddress, ModelSettings
from computerouter.domain.events import RunCompleted
from computerouter.domain.values import SessionKey
from computerouter.ledger import MICRO, Ledger
from computerouter.providers.local import LocalProvider, probe
from computerouter.providers.local.metadata import InstancePaths
from computerouter.runtimes.hermes import HermesRuntime
from computerouter.runtimes.transport import client_for
from computerouter.standin import StandinModel

pytestmark = [pytest.mark.slow, pytest.mark.isolation, pytest.mark.timeout(900)]


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"Hermes integration needs root, bubblewrap and cgroups: {', '.join(gaps)}")


def session_view(local: LocalProvider, instance_id: str) -> tuple[set[int], str]:
    """Session uids of the instance's processes and their environments, read from the host."""
    uids: set[int] = set()
    environ = []
    for pid in local.footprint(instance_id).pids:
        status = Path(f"/proc/{pid}/status").read_text()
        uids.add(int(next(x for x in status.splitlines() if x.startswith("Uid:")).split()[1]))
        environ.append(Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"))
    return uids - {0}, "\n".join(environ)


def add_bob(world: World) -> AgentAddress:
    ledger = world.agents.compute.credit_gate
    assert isinstance(ledger, Ledger)
    ledger.grant("bob", 100 * MICRO, note="pool test")
    address = AgentAddress(sandbox_id="sb1", slug="support")
    world.agents.create_agent(
        user_id="bob",
        address=address,
        settings=ModelSettings(compute_provider="local"),
        prompt="You are bob's agent.",
    )
    return address


def test_a_claimed_hermes_carries_nothing_of_an_earlier_claim(tmp_path: Path) -> None:
    with StandinModel(api_key=MODEL_KEY) as model:
        world = make_world(tmp_path, model, warm_pool="local:hermes=2")
        compute = world.agents.compute
        local = compute.providers["local"]
        assert isinstance(local, LocalProvider)
        try:
            report = compute.pool.maintain()
            assert len(report.booted) == 2, report
            assert model.requests == []  # the warm-up never reached the model
            pooled = {p.instance_id for p in local.pooled()}

            run = world.agents.run(user_id="alice", address=world.address, text="hello")
            events = list(run.events())
            assert isinstance(events[-1], RunCompleted), events[-3:]
            alice = compute.store.sessions.find_live(SessionKey(user_id="alice", sandbox_id="sb1"))
            assert alice is not None
            assert alice.instance_id in pooled
            assert compute.store.sessions.history(alice.id)[-1].reason == (
                "created from the warm pool"
            )
            workspace = InstancePaths.of(local.root, alice.instance_id).workspace
            (workspace / "alice-notes.txt").write_text("alice's secret")
            alice_uids, alice_env = session_view(local, alice.instance_id)

            bob_address = add_bob(world)
            bob = compute.ensure_session(SessionKey(user_id="bob", sandbox_id="sb1"))
            assert bob.instance_id in pooled - {alice.instance_id}
            assert bob.endpoint is not None
            hermes = compute.runtime("hermes")
            assert isinstance(hermes, HermesRuntime)
            with client_for(bob.endpoint) as client:
                client.headers.update(hermes.headers(bob.id))
                # No conversation at all: not alice's, not the warm-up's.
                assert client.get("/api/sessions").json()["data"] == []
            bob_workspace = InstancePaths.of(local.root, bob.instance_id).workspace
            assert not (bob_workspace / "alice-notes.txt").exists()
            bob_uids, bob_env = session_view(local, bob.instance_id)
            assert bob_uids
            assert bob_uids.isdisjoint(alice_uids)
            assert alice.id not in bob_env
            assert hermes.api_key(alice.id) in alice_env
            assert hermes.api_key(alice.id) not in bob_env
            assert hermes.api_key(bob.id) in bob_env

            run = world.agents.run(user_id="bob", address=bob_address, text="hi, it is bob")
            events = list(run.events())
            assert isinstance(events[-1], RunCompleted), events[-3:]
            calls = model.requests
            assert calls
            assert "hello" not in str(calls[-1]["messages"])  # alice's turn is not bob's history
        finally:
            destroy_all(world)
            for instance in local.list():
                local.destroy(instance.instance_id)
