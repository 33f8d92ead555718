"""A ``rotate-kek`` that dies for real (SIGKILL) inside the transaction of one row.

    python rotation_crash_worker.py DATABASE_URL KEY_FILE N

The process is killed right after the N-th row's re-wrap UPDATE is sent and before its
transaction commits: rows 1..N-1 are moved, row N's change is lost with the process.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from computerouter.secrets import LocalKeyring, SecretVault
from computerouter.store import open_store
from computerouter.store.secrets import SecretStore


def main() -> None:
    url, key_file, n = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    store = open_store(url)
    updates = 0

    @sa.event.listens_for(store.engine, "after_cursor_execute")
    def _maybe_die(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal updates
        if statement.lstrip().upper().startswith("UPDATE SECRETS"):
            updates += 1
            if updates == n:
                print(f"sent update {n}; dying before its commit", flush=True)
                os.kill(os.getpid(), signal.SIGKILL)

    keys = LocalKeyring.load(value="", key_file=key_file)
    SecretVault(SecretStore(store.engine), keys).rotate_kek()
    print("not killed?!", flush=True)


if __name__ == "__main__":
    main()
