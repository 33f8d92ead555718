"""The warm pool on ``local``: real sessions booted ahead, frozen, claimed once, tenant-clean.

Each test runs a real router (SQLite) over a real local provider with the echo runtime, so a
pooled instance is a real isolated process tree with its own uid, cgroups and workspace.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from computerouter.compute.factory import open_router
from computerouter.compute.lifecycle import lifecycle_pass
from computerouter.compute.router import ComputeRouter
from computerouter.config import Settings
from computerouter.domain.instances import InstanceState
from computerouter.domain.values import Labels, SessionKey
from computerouter.errors import ConfigError
from computerouter.providers.base import InstanceSpec, WarmPool
from computerouter.providers.local import LocalProvider, probe
from computerouter.runtimes.transport import client_for

pytestmark = pytest.mark.isolation


@pytest.fixture(autouse=True)
def _needs_isolation() -> None:
    gaps = probe().gaps()
    if gaps:
        pytest.skip(f"warm pool tests need root, bubblewrap and cgroups: {', '.join(gaps)}")


def make_router(home: Path, **overrides: object) -> ComputeRouter:
    settings = Settings.load(
        env={},
        home=home,
        default_runtime="echo",
        billing=False,
        lifecycle_daemon=False,
        **overrides,
    )
    return open_router(settings)


@pytest.fixture
def router(tmp_path: Path) -> Iterator[ComputeRouter]:
    router = make_router(tmp_path / "home", warm_pool="local:echo=2")
    try:
        yield router
    finally:
        for session in router.store.sessions.list():
            if session.state.value not in ("destroyed", "failed"):
                router.destroy(session.id)
        local = local_of(router)
        for instance in local.list():
            local.destroy(instance.instance_id)
        router.store.close()


def local_of(router: ComputeRouter) -> LocalProvider:
    provider = router.providers["local"]
    assert isinstance(provider, LocalProvider)
    return provider


def host_view(local: LocalProvider, instance_id: str) -> tuple[set[int], str]:
    """The session uids of the instance's processes (not root's sandbox supervisor) and
    everything in their environments, read from the host (outside the sandbox)."""
    uids: set[int] = set()
    environ = []
    for pid in local.footprint(instance_id).pids:
        status = Path(f"/proc/{pid}/status").read_text()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        uids.add(int(uid_line.split()[1]))
        environ.append(Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace"))
    return uids - {0}, "\n".join(environ)


def test_the_pool_fills_frozen_and_the_reconciler_leaves_it_alone(router: ComputeRouter) -> None:
    local = local_of(router)
    assert isinstance(local, WarmPool)
    report = router.pool.maintain()
    assert len(report.booted) == 2, report
    pooled = local.pooled()
    assert len(pooled) == 2
    assert all(p.ready for p in pooled)
    listed = {i.instance_id: i for i in local.list()}
    for p in pooled:
        # Frozen while they wait: no CPU.
        assert listed[p.instance_id].state is InstanceState.SUSPENDED
        assert listed[p.instance_id].pooled
    cpu_before = {p.instance_id: local.usage(p.instance_id).cpu_seconds for p in pooled}
    time.sleep(0.3)
    assert {p.instance_id: local.usage(p.instance_id).cpu_seconds for p in pooled} == cpu_before

    passed = lifecycle_pass(router)
    assert not passed.reconciled.orphans_destroyed
    assert not passed.pooled.booted
    assert not passed.errors
    assert {p.instance_id for p in local.pooled()} == {p.instance_id for p in pooled}
    [status] = router.pool.status()
    assert (status.provider, status.runtime, status.size, status.ready) == ("local", "echo", 2, 2)


def test_a_claimed_instance_carries_nothing_of_an_earlier_claim(router: ComputeRouter) -> None:
    local = local_of(router)
    router.pool.maintain()
    pooled_ids = {p.instance_id for p in local.pooled()}

    first = router.ensure_session(SessionKey(user_id="alice", sandbox_id="sb1"))
    assert first.instance_id in pooled_ids
    assert router.store.sessions.history(first.id)[-1].reason == "created from the warm pool"
    assert first.endpoint is not None
    with client_for(first.endpoint) as client:
        assert client.get("/health").status_code == 200
        client.put("/v1/workspace/alice-secret.txt", content=b"alice's data")
    first_uids, first_env = host_view(local, first.instance_id)
    assert first.id in first_env

    second = router.ensure_session(SessionKey(user_id="bob", sandbox_id="sb1"))
    assert second.instance_id in pooled_ids - {first.instance_id}
    assert second.endpoint is not None
    with client_for(second.endpoint) as client:
        assert client.get("/v1/workspace/alice-secret.txt").status_code == 404
    second_uids, second_env = host_view(local, second.instance_id)
    assert second_uids
    assert first_uids
    assert second_uids.isdisjoint(first_uids)
    assert first.id not in second_env
    assert f"ECHO_SESSION_ID={second.id}" in second_env
    instance = local.get(second.instance_id)
    assert instance is not None
    assert not instance.pooled
    assert instance.labels == Labels(session_id=second.id, user_id="bob", sandbox_id="sb1")
    assert local.usage(second.instance_id).cpu_seconds < 0.5  # counted from the claim

    # Nothing is claimed twice: alice's instance left the pool for good.
    again = InstanceSpec(
        idempotency_key=first.id,
        labels=first.labels,
        resources=first.resources,
        launch=router.runtime("echo").launch_spec(session_id=first.id),
    )
    assert local.claim(first.instance_id, again) is None
    assert not local.pooled()

    # The pool is empty: the next sandbox boots cold, and the pass refills.
    third = router.ensure_session(SessionKey(user_id="carol", sandbox_id="sb1"))
    assert third.instance_id not in pooled_ids
    assert router.store.sessions.history(third.id)[-1].reason == "created"
    assert len(router.pool.maintain().booted) == 2


def test_an_idle_pool_shrinks_and_a_changed_launch_is_not_claimed(tmp_path: Path) -> None:
    router = make_router(tmp_path / "home", warm_pool="local:echo=1", warm_pool_idle_s=0.5)
    local = local_of(router)
    try:
        assert len(router.pool.maintain().booted) == 1
        [pooled] = local.pooled()
        other = InstanceSpec(
            idempotency_key=pooled.session_id,
            labels=Labels(session_id=pooled.session_id, user_id="u", sandbox_id="s"),
            resources=pooled.resources,
            launch=router.runtime("echo").launch_spec(session_id="ses_someone_else"),
        )
        assert local.claim(pooled.instance_id, other) is None
        assert [p.instance_id for p in local.pooled()] == [pooled.instance_id]
        time.sleep(0.6)
        report = router.pool.maintain()
        assert report.discarded == [f"local:{pooled.instance_id}"]
        assert not local.pooled()
        assert not router.pool.holds_any()
        assert local.footprint(pooled.instance_id).empty

        # A pool taken out of the setting is emptied by the next pass.
        router.store.close()
        router = make_router(tmp_path / "home", warm_pool="local:echo=1")
        assert len(router.pool.maintain().booted) == 1
        [left] = local.pooled()
        router.store.close()
        router = make_router(tmp_path / "home")
        assert router.pool.holds_any()
        assert router.pool.maintain().discarded == [f"local:{left.instance_id}"]
        assert not router.pool.holds_any()
    finally:
        router.store.close()


def test_a_bad_warm_pool_setting_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="setting warm_pool: warm pool entry 'local:echo'"):
        Settings.load(env={}, home=tmp_path, warm_pool="local:echo")


def test_a_bad_restore_pool_setting_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="setting restore_pool: warm pool entry 'local'"):
        Settings.load(env={}, home=tmp_path, restore_pool="local")
