"""A control plane that dies for real (SIGKILL) in the middle of a settle batch.

    COMPUTEROUTER_FAILPOINT=<point> python settle_batch_crash_worker.py DATABASE_URL RUN_ID...

It queues every run on a settle batcher at once (so they are one batch) and waits; the
failpoint (:data:`computerouter.ledger.ledger.FAILPOINT_BEFORE_COMMIT` or ``..._AFTER_COMMIT``)
kills it with the batch's rows written but not committed, or committed but not yet handed to
the callers.
"""

from __future__ import annotations

import sys

from computerouter.ledger import Ledger, SettleBatcher, default_prices
from computerouter.store import open_store


def main() -> None:
    url, run_ids = sys.argv[1], sys.argv[2:]
    ledger = Ledger(store=open_store(url), prices=default_prices())
    with SettleBatcher(ledger) as batcher:
        print(f"settling {len(run_ids)} runs in one batch", flush=True)
        for outcome in batcher.submit_many([(run_id, 0.5) for run_id in run_ids]):
            outcome.result()
    print("not killed?!", flush=True)


if __name__ == "__main__":
    main()
