"""The ledger's rows as frozen values: entries, accounts, per-run records, usage, session meters.

Accounts are named ``user:<user_id>`` for the people who pay and ``platform:<what>`` for the
other side of every entry: ``platform:grants`` (credits issued), ``platform:tokens`` and
``platform:compute`` (what was earned). A user's balance is credits minus debits of its
account; the balances of all accounts always sum to zero. The platform accounts' rows are made
by the migration; a user's on first use.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.engine import RowMapping

__all__ = [
    "PLATFORM_ACCOUNTS",
    "PLATFORM_COMPUTE",
    "PLATFORM_GRANTS",
    "PLATFORM_TOKENS",
    "AccountBalance",
    "EntryKind",
    "HoldState",
    "LedgerEntry",
    "LedgerRun",
    "MeterRow",
    "NewEntry",
    "UsageRow",
    "entry_values",
    "is_cached",
    "to_entry",
    "to_ledger_run",
    "user_account",
]

PLATFORM_GRANTS = "platform:grants"
PLATFORM_TOKENS = "platform:tokens"
PLATFORM_COMPUTE = "platform:compute"


PLATFORM_ACCOUNTS = (PLATFORM_GRANTS, PLATFORM_TOKENS, PLATFORM_COMPUTE)


def user_account(user_id: str) -> str:
    return f"user:{user_id}"


def is_cached(account_id: str) -> bool:
    """User accounts keep their balance in their row, moved with every entry in the same
    transaction, because a hold must check it atomically. Platform accounts do not: every run
    writes to them, and one cached total would make every writer queue on one row; their
    balance is the sum of their entries, computed when asked."""
    return account_id.startswith("user:")


class EntryKind(enum.StrEnum):
    """What an entry is for."""

    GRANT = "grant"
    """Credits given to a user (debit ``platform:grants``, credit the user)."""
    TOKEN = "token"
    """A run's token cost: its reported usage * the model's price. One per run."""
    COMPUTE = "compute"
    """A run's compute cost: its busy running time * the session's price. One per run."""
    IDLE = "idle"
    """A session's running time with no run in flight (the idle tail before suspend), billed to
    its sandbox with no ``run_id``."""


class HoldState(enum.StrEnum):
    NONE = "none"
    """No credit was held for the run (no credit gate, or metered before the gate saw it)."""
    HELD = "held"
    """The run's reservation is counted in its account's ``reserved``."""
    RELEASED = "released"
    """Settled or given back; no longer counted."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NewEntry:
    """One double-entry line: ``amount`` moves from ``debit_account`` to ``credit_account``."""

    key: str
    """Idempotency key: writing the same key twice writes once."""
    kind: EntryKind
    debit_account: str
    credit_account: str
    amount: int
    user_id: str
    at: float
    sandbox_id: str = ""
    agent_id: str = ""
    run_id: str | None = None
    session_id: str | None = None
    provider: str = ""
    region: str = ""
    model: str = ""
    quantity_ms: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    rate_per_ms: int = 0
    """Compute price, micro-credits per ms * ``RATE_DENOMINATOR`` (see ledger.prices)."""
    input_per_mtok: int = 0
    output_per_mtok: int = 0
    cpu_ms: int | None = None
    """CPU time the provider measured (cgroup, on ``local``), for the record; not billed."""
    note: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerEntry(NewEntry):
    id: int


_ENTRY_FIELDS = tuple(f.name for f in fields(NewEntry))


def entry_values(entry: NewEntry) -> dict[str, Any]:
    """The entry's columns, as an insert takes them (``dataclasses.asdict`` would deep-copy
    every field: many times slower, on the hottest path, for fields all flat)."""
    values = {name: getattr(entry, name) for name in _ENTRY_FIELDS}
    values["kind"] = entry.kind.value
    return values


def to_entry(row: RowMapping) -> LedgerEntry:
    return LedgerEntry(
        id=row["id"],
        key=row["key"],
        kind=EntryKind(row["kind"]),
        debit_account=row["debit_account"],
        credit_account=row["credit_account"],
        amount=row["amount"],
        user_id=row["user_id"],
        at=row["at"],
        sandbox_id=row["sandbox_id"],
        agent_id=row["agent_id"],
        run_id=row["run_id"],
        session_id=row["session_id"],
        provider=row["provider"],
        region=row["region"],
        model=row["model"],
        quantity_ms=row["quantity_ms"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        rate_per_ms=row["rate_per_ms"],
        input_per_mtok=row["input_per_mtok"],
        output_per_mtok=row["output_per_mtok"],
        cpu_ms=row["cpu_ms"],
        note=row["note"],
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountBalance:
    account_id: str
    user_id: str | None
    balance: int
    """Credits minus debits of the account, in micro-credits."""
    reserved: int
    """Held for runs in flight."""

    @property
    def available(self) -> int:
        return self.balance - self.reserved


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerRun:
    """The ledger's side of one run: its credit hold and its busy time metered so far."""

    run_id: str
    user_id: str
    sandbox_id: str
    agent_id: str
    session_id: str | None
    hold: int
    """What is still held: the reservation, less the run's charges posted so far."""
    hold_state: HoldState
    busy_ms: int
    cpu_ms: int | None
    created_at: float
    owner: str | None = None
    """The process that holds the run's credit (``host:pid:start``); ``None`` for rows made
    before it was recorded, or by metering alone."""
    ceiling: int | None = None
    """What the run held when it began: the most its two entries may add up to (``None``: no
    hold, no ceiling)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageRow:
    run_id: str
    model: str
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, kw_only=True, slots=True)
class MeterRow:
    """How far a session's running time has been attributed, and the money carried forward."""

    session_id: str
    metered_to_ms: int
    running_ms: int
    idle_ms: int
    carry: int


def to_ledger_run(row: RowMapping) -> LedgerRun:
    return LedgerRun(
        run_id=row["run_id"],
        user_id=row["user_id"],
        sandbox_id=row["sandbox_id"],
        agent_id=row["agent_id"],
        session_id=row["session_id"],
        hold=row["hold"],
        hold_state=HoldState(row["hold_state"]),
        busy_ms=row["busy_ms"],
        cpu_ms=row["cpu_ms"],
        created_at=row["created_at"],
        owner=row["owner"],
        ceiling=row["ceiling"],
    )
