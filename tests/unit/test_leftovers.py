"""The suite's leftover sweep finds processes its tests started and did not stop."""

from __future__ import annotations

import os
import subprocess
import sys

from computerouter.testing.leftovers import descendants


def test_descendants_include_children_and_grandchildren() -> None:
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess,sys,time; subprocess.Popen(['sleep','30']); "
            "print('up', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "up"
        found = descendants(os.getpid())
        assert child.pid in found
        grandchildren = descendants(child.pid)
        assert len(grandchildren) == 1
        assert grandchildren[0] in found
    finally:
        for pid in descendants(child.pid):
            os.kill(pid, 9)
        child.kill()
        child.wait()
    assert child.pid not in descendants(os.getpid())
