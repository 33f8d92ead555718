"""Usage and credits: ``/v1/usage``, ``/v1/usage/series`` (spend over time),
``/v1/usage/runs/{run_id}``, ``/v1/credits``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from computerouter.api.deps import ActingUser, Admin, Caller, Parts, Server, visible
from computerouter.domain.api_keys import Principal
from computerouter.errors import Forbidden, InputError, RunNotFound
from computerouter.ledger import Ledger, usage_lines
from computerouter.ledger.reports import spend_series
from computerouter.wire.models import (
    AuditOut,
    CreditsOut,
    GrantIn,
    GrantOut,
    RunBillOut,
    UsageLineOut,
    UsageOut,
)
from computerouter.wire.reports import SpendPointOut, SpendSeriesOut

__all__ = ["router"]

router = APIRouter(tags=["usage"])


def _ledger(parts: Parts) -> Ledger:
    if parts.ledger is None:
        raise InputError("billing is off on this server (COMPUTEROUTER_BILLING=false)")
    return parts.ledger


AllUsers = Annotated[
    bool, Query(description="Admin keys only: every user's, not just the acting user's.")
]


def _whose(caller: Principal, user: str, all_users: bool) -> str | None:
    if not all_users:
        return user
    if not caller.admin:
        raise Forbidden("only an admin key may read every user's usage (all_users)")
    return None


@router.get("/v1/usage")
def usage(
    caller: Caller,
    user: ActingUser,
    parts: Server,
    sandbox_id: str | None = None,
    agent_id: str | None = None,
    since: float | None = None,
    all_users: AllUsers = False,
) -> UsageOut:
    """Cost per (sandbox, agent) of the acting user (or every user): token, compute and idle."""
    lines = usage_lines(
        _ledger(parts),
        user_id=_whose(caller, user, all_users),
        sandbox_id=sandbox_id,
        agent_id=agent_id,
        since=since,
    )
    return UsageOut(
        lines=[UsageLineOut.from_line(x) for x in lines], total_micro=sum(x.total for x in lines)
    )


@router.get("/v1/usage/series")
def usage_series(
    caller: Caller,
    user: ActingUser,
    parts: Server,
    bucket_s: Annotated[float, Query(ge=1, le=86_400 * 31)] = 60,
    since: Annotated[float | None, Query(ge=0, le=1e11)] = None,
    all_users: AllUsers = False,
) -> SpendSeriesOut:
    """Spend over time of the acting user (or every user): token, compute and idle per
    (user, sandbox, agent) per bucket of ``bucket_s`` seconds."""
    whose = _whose(caller, user, all_users)
    points = spend_series(_ledger(parts), bucket_s=bucket_s, user_id=whose, since=since)
    return SpendSeriesOut(bucket_s=bucket_s, points=[SpendPointOut.from_point(p) for p in points])


@router.get("/v1/usage/runs/{run_id}")
def run_usage(run_id: str, caller: Caller, parts: Server) -> RunBillOut:
    """A run's two entries: token cost and compute cost."""
    bill = _ledger(parts).run_bill(run_id)
    first = bill.token or bill.compute
    if first is None or not visible(caller, first.user_id):
        raise RunNotFound(run_id)
    return RunBillOut.from_bill(bill)


@router.get("/v1/credits")
def credits(user: ActingUser, parts: Server) -> CreditsOut:
    """The acting user's balance, credit held for runs in flight, and what is available."""
    return CreditsOut.from_ledger(_ledger(parts), user)


@router.post("/v1/credits/grants", status_code=201)
def grant(body: GrantIn, admin: Admin, parts: Server) -> GrantOut:
    """Admin: credit a user's account (once per ``key``, when one is given)."""
    ledger = _ledger(parts)
    note = body.note or f"granted by {admin.key_id}"
    entry = ledger.grant(body.user_id, body.amount_micro, key=body.key, note=note)
    after = CreditsOut.from_ledger(ledger, body.user_id)
    return GrantOut(**after.model_dump(), entry_id=entry.id, granted_micro=entry.amount)


@router.get("/v1/admin/credits/audit")
def audit(_admin: Admin, parts: Server) -> AuditOut:
    """Admin: every account's balance against the sum of its entries (and the balances summed:
    zero), and every credit hold against a live run."""
    ledger = _ledger(parts)
    return AuditOut.from_ledger(ledger, now=ledger.clock.now())
