"""Creating a session: insert the ``provisioning`` row, provision it, fail over down the list.

``ensure_session`` comes here when a key has no live session. The insert is the single-flight
point (one ``provisioning`` row per key, enforced in the store); the provider's create takes
the session id as its idempotency key; a provider that fails is marked in its circuit and the
next candidate is tried, with what each attempt said kept in ``failover_history``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from computerouter.domain.ids import new_session_id
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Resources, SessionKey
from computerouter.errors import (
    ComputeRouterError,
    FailoverAttempt,
    ProviderError,
    SessionUnavailable,
)
from computerouter.faults import failpoint
from computerouter.providers.base import PooledInstance
from computerouter.store import Transition

if TYPE_CHECKING:
    from computerouter.compute.router import ComputeRouter

__all__ = ["create_with_failover"]

S = SessionState


def create_with_failover(
    router: ComputeRouter,
    key: SessionKey,
    providers: tuple[tuple[str, str], ...],
    runtime_name: str,
    resources: Resources,
    agent_id: str,
    run_id: str,
) -> SessionRecord | None:
    """Create on the first ``(provider, region)`` that can; ``None`` if another caller got
    the key first.

    Candidates whose circuit is open are skipped; if every one is, the one whose cool-down
    ends first is tried anyway (never every provider ejected at once).
    """
    history: list[FailoverAttempt] = []
    skipped: list[tuple[str, str]] = []
    for name, region in providers:
        if not router.health.available(name, now=router.clock.now(), region=region):
            skipped.append((name, region))
            history.append(
                FailoverAttempt(provider=name, error_code="cooling_down", message="failed recently")
            )
            continue
        done, made = _attempt(
            router, key, name, runtime_name, resources, region, agent_id, run_id, history
        )
        if done:
            return made
    if skipped and len(skipped) == len(providers):
        reopens = {(c.provider, c.region): c.open_until for c in router.health.circuits()}
        name, region = min(skipped, key=lambda p: reopens.get(p, 0.0))
        done, made = _attempt(
            router, key, name, runtime_name, resources, region, agent_id, run_id, history
        )
        if done:
            return made
    tried = ", ".join(f"{a.provider} ({a.message})" for a in history)
    raise SessionUnavailable(
        f"no provider could create a session for {key}: {tried}", failover_history=history
    )


def _attempt(
    router: ComputeRouter,
    key: SessionKey,
    name: str,
    runtime_name: str,
    resources: Resources,
    region: str,
    agent_id: str,
    run_id: str,
    history: list[FailoverAttempt],
) -> tuple[bool, SessionRecord | None]:
    """One create on ``name``: ``(True, session)``, ``(True, None)`` when another caller
    took the key first, or ``(False, None)`` when it failed and fail-over goes on."""
    # A pooled instance was booted for a session id: the new session takes that id, so the
    # runtime in it was started exactly as a create for this session would start it.
    pooled = router.pool.take(name, runtime_name, resources, region)
    session_id = pooled.session_id if pooled is not None else new_session_id()
    created = _insert(
        router, key, name, runtime_name, resources, region, agent_id, run_id, session_id
    )
    if created is None:
        return True, None
    failpoint("create.inserted")
    try:
        session = _provision(router, created, history, pooled)
    except SessionUnavailable as exc:
        history.extend(exc.failover_history)
        if not exc.retryable:
            # Bad input, isolation missing, ...: another provider would not help, and
            # this one is not unhealthy for it.
            raise SessionUnavailable(
                str(exc), failover_history=history, retryable=False
            ) from exc.__cause__
        cause = exc.__cause__
        router.health.failed(
            name,
            now=router.clock.now(),
            region=region,
            retry_after_s=cause.retry_after_s if isinstance(cause, ProviderError) else None,
            error=str(cause or exc),
        )
        return False, None
    router.health.succeeded(name, region=region)
    return True, session


def _insert(
    router: ComputeRouter,
    key: SessionKey,
    provider_name: str,
    runtime_name: str,
    resources: Resources,
    region: str,
    agent_id: str,
    run_id: str,
    session_id: str,
) -> SessionRecord | None:
    now = router.clock.now()
    record = SessionRecord(
        id=session_id,
        user_id=key.user_id,
        sandbox_id=key.sandbox_id,
        provider=provider_name,
        runtime=runtime_name,
        region=region,
        state=S.PROVISIONING,
        version=1,
        resources=resources,
        agent_id=agent_id,
        run_id=run_id,
        owner=router.owner,
        lease_expires_at=now + router.settings.lease_s,
        created_at=now,
        updated_at=now,
        state_changed_at=now,
        last_active_at=now,
    )
    inserted = router.store.sessions.insert_provisioning(
        record, max_live_per_user=router.settings.max_live_sessions_per_user
    )
    return record if inserted else None


def _provision(
    router: ComputeRouter,
    record: SessionRecord,
    history: list[FailoverAttempt],
    pooled: PooledInstance | None = None,
) -> SessionRecord:
    provider = router.provider(record.provider)
    try:
        with router.keepalive.lease(record.id):
            spec = router.instance_spec(record)
            instance = None
            if pooled is not None:
                instance = router.pool.claim(record.provider, pooled, spec)
                failpoint("create.claimed")
            claimed = instance is not None
            if instance is None:
                instance = provider.create(spec)
    except ComputeRouterError as exc:
        router._fail(record, S.PROVISIONING, exc)
        raise SessionUnavailable(
            f"could not create a session for {record.key}: {exc}",
            failover_history=[
                FailoverAttempt(
                    provider=record.provider,
                    error_code=exc.code,
                    message=str(exc),
                    retryable=exc.retryable,
                )
            ],
            retryable=exc.retryable,
        ) from exc
    return router._settle(
        record,
        S.PROVISIONING,
        S.RUNNING,
        Transition(
            instance_id=instance.instance_id,
            endpoint=instance.endpoint,
            release_lease=True,
            touch=True,
            reason=_created(history, pooled=claimed),
        ),
    )


def _created(history: list[FailoverAttempt], *, pooled: bool = False) -> str:
    """The ``created`` transition's reason; after a fail-over it keeps what each provider
    tried before said (the session's history is where a success keeps ``failover_history``)."""
    if not history:
        return "created from the warm pool" if pooled else "created"
    tried = "; ".join(f"{a.provider}: {a.error_code}: {a.message}" for a in history)
    return f"created after failing over ({tried})"[:1000]
