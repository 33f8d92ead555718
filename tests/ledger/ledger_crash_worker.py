"""A control plane that dies for real (SIGKILL) between a run's two ledger writes.

    python ledger_crash_worker.py DATABASE_URL RUN_ID

It runs the real end-of-run step; the fault hook kills the process right after the first
entry (token cost) is committed, before the second (compute cost) is written.
"""

from __future__ import annotations

import os
import signal
import sys

from computerouter.ledger import Ledger, LedgerEntry, default_prices
from computerouter.store import open_store


def die(entry: LedgerEntry) -> None:
    print(f"wrote {entry.kind.value} entry {entry.id}; dying", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    url, run_id = sys.argv[1], sys.argv[2]
    ledger = Ledger(store=open_store(url), prices=default_prices(), after_entry=die)
    ledger.settle_run(run_id)
    print("not killed?!", flush=True)


if __name__ == "__main__":
    main()
