"""Holds with no live run: credit still counted against a user for a run that is over, never
began, or whose process died. The repair pass gives them back; ``credits audit`` reports them.

A hold is *dead* when

- its run ended (its entries are missing: repair bills the run, which frees the hold);
- its run never began (no run row) and the process that took the hold is known dead (same
  host: its pid and start time are gone), or the hold is older than ``stale_after_s`` (an owner
  on another host is trusted that long: beginning a run never takes it);
- its run is in flight but the process running it is known dead (the reconciler ends such runs
  as abandoned; repair then bills them, which frees the hold).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from computerouter.domain.session import RunState
from computerouter.ledger.ledger import Ledger
from computerouter.store.ledger_rows import LedgerRun

__all__ = ["DeadHold", "HoldFate", "dead_holds"]


class HoldFate(StrEnum):
    """Why a hold has no live run."""

    ENDED = "run ended, not billed yet"
    NEVER_BEGAN = "run never began and its process is gone"
    STALE = "run never began and the hold is old"
    OWNER_DEAD = "run in flight, but its process is gone"


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadHold:
    run: LedgerRun
    fate: HoldFate

    @property
    def releasable(self) -> bool:
        """Given back by the repair pass (after it billed the ended runs); a run in flight
        whose process died is ended by the reconciler first, then billed."""
        return self.fate is not HoldFate.OWNER_DEAD


def dead_holds(ledger: Ledger, *, now: float, stale_after_s: float = 900.0) -> list[DeadHold]:
    found: list[DeadHold] = []
    for held in ledger.ledger_store.held_runs():
        run = held.run
        fate: HoldFate | None = None
        if held.run_state is None:
            if ledger.owner_alive(run.owner) is False:
                fate = HoldFate.NEVER_BEGAN
            elif run.created_at < now - stale_after_s:
                fate = HoldFate.STALE
        elif held.run_state in RunState.ENDED:
            fate = HoldFate.ENDED
        elif ledger.owner_alive(held.run_owner) is False:
            fate = HoldFate.OWNER_DEAD
        if fate is not None:
            found.append(DeadHold(run=run, fate=fate))
    return found
