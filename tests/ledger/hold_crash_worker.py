"""A run's process that dies for real (SIGKILL) after holding credit, before its run began
(as ``computerouter run`` does when killed while its session is being created).

    python hold_crash_worker.py HOME USER RUN_ID

The hold is taken through the production wiring (``open_router``: the ledger records which
process holds it).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from computerouter.compute.factory import open_router
from computerouter.config import Settings


def main() -> None:
    home, user, run_id = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    router = open_router(Settings.load(env={}, home=home))
    gate = router.credit_gate
    assert gate is not None
    gate.reserve(user_id=user, sandbox_id="sb", agent_id="bot", run_id=run_id)
    print(f"holding credit for {run_id}; dying", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    main()
