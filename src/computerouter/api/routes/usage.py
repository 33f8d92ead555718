"""Usage and credits: ``/v1/usage``, ``/v1/usage/runs/{run_id}``, ``/v1/credits``."""

from __future__ import annotations

from fastapi import APIRouter

from computerouter.api.deps import ActingUser, Admin, Caller, Parts, Server, visible
from computerouter.errors import InputError, RunNotFound
from computerouter.ledger import Ledger, usage_lines
from computerouter.wire.models import (
    AuditOut,
    CreditsOut,
    GrantIn,
    GrantOut,
    RunBillOut,
    UsageLineOut,
    UsageOut,
)

__all__ = ["router"]

router = APIRouter(tags=["usage"])


def _ledger(parts: Parts) -> Ledger:
    if parts.ledger is None:
        raise InputError("billing is off on this server (COMPUTEROUTER_BILLING=false)")
    return parts.ledger


@router.get("/v1/usage")
def usage(
    user: ActingUser,
    parts: Server,
    sandbox_id: str | None = None,
    agent_id: str | None = None,
    since: float | None = None,
) -> UsageOut:
    """Cost per (sandbox, agent) of the acting user: token, compute and idle."""
    lines = usage_lines(
        _ledger(parts), user_id=user, sandbox_id=sandbox_id, agent_id=agent_id, since=since
    )
    return UsageOut(
        lines=[UsageLineOut.from_line(x) for x in lines], total_micro=sum(x.total for x in lines)
    )


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
