"""Usage reports: what runs, sandboxes, agents and users cost, from the entries alone."""

from __future__ import annotations

from dataclasses import dataclass

from computerouter.ledger.ledger import Ledger
from computerouter.store.ledger_queries import EntryFilter
from computerouter.store.ledger_rows import EntryKind

__all__ = ["SpendPoint", "UsageLine", "spend_series", "usage_lines"]


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageLine:
    """One (user, sandbox, agent); ``agent_id`` is empty on a sandbox's idle line."""

    user_id: str
    sandbox_id: str
    agent_id: str
    runs: int = 0
    token: int = 0
    compute: int = 0
    idle: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    busy_ms: int = 0
    idle_ms: int = 0

    @property
    def total(self) -> int:
        return self.token + self.compute + self.idle


def usage_lines(
    ledger: Ledger,
    *,
    user_id: str | None = None,
    sandbox_id: str | None = None,
    agent_id: str | None = None,
    since: float | None = None,
) -> list[UsageLine]:
    """Cost per (user, sandbox, agent), run entries and idle entries, oldest key first.

    Filtering by agent leaves out idle time: it belongs to the sandbox, not to any agent.
    """
    totals = ledger.ledger_store.totals(
        EntryFilter(
            user_id=user_id,
            sandbox_id=sandbox_id,
            agent_id=agent_id,
            since=since,
            kinds=(EntryKind.TOKEN, EntryKind.COMPUTE, EntryKind.IDLE),
        )
    )
    lines: dict[tuple[str, str, str], dict[str, int]] = {}
    for t in totals:
        line = lines.setdefault((t.user_id, t.sandbox_id, t.agent_id), {})
        if t.kind is EntryKind.TOKEN:
            line["token"] = t.amount
            line["input_tokens"] = t.input_tokens
            line["output_tokens"] = t.output_tokens
        elif t.kind is EntryKind.COMPUTE:
            line["compute"] = t.amount
            line["busy_ms"] = t.quantity_ms
            line["runs"] = max(line.get("runs", 0), t.runs)
        else:
            line["idle"] = t.amount
            line["idle_ms"] = t.quantity_ms
        if t.kind is EntryKind.TOKEN:
            line["runs"] = max(line.get("runs", 0), t.runs)
    return [
        UsageLine(user_id=u, sandbox_id=s, agent_id=a, **values)
        for (u, s, a), values in sorted(lines.items())
    ]


@dataclass(frozen=True, kw_only=True, slots=True)
class SpendPoint:
    """What one (user, sandbox, agent) spent in one time bucket starting at ``start``."""

    start: float
    user_id: str
    sandbox_id: str
    agent_id: str
    token: int = 0
    compute: int = 0
    idle: int = 0


def spend_series(
    ledger: Ledger,
    *,
    bucket_s: float,
    user_id: str | None = None,
    since: float | None = None,
) -> list[SpendPoint]:
    """Spend over time: token, compute and idle per (user, sandbox, agent) per bucket of
    ``bucket_s`` seconds (aligned to the epoch), oldest bucket first."""
    entries = ledger.ledger_store.entries(
        EntryFilter(
            user_id=user_id,
            since=since,
            kinds=(EntryKind.TOKEN, EntryKind.COMPUTE, EntryKind.IDLE),
        )
    )
    sums: dict[tuple[float, str, str, str], dict[str, int]] = {}
    for e in entries:
        start = (e.at // bucket_s) * bucket_s
        line = sums.setdefault((start, e.user_id, e.sandbox_id, e.agent_id), {})
        kind = str(e.kind.value)
        line[kind] = line.get(kind, 0) + e.amount
    return [
        SpendPoint(start=start, user_id=u, sandbox_id=s, agent_id=a, **values)
        for (start, u, s, a), values in sorted(sums.items())
    ]
