"""Same-page merging of sessions' memory (``merge_pages``): many more suspended sessions per GiB.

A frozen session is mostly interpreter and runtime heaps that every session of that runtime
built the same way. The kernel's same-page merging (KSM) can keep one copy of each identical
page — but only pages that *are* identical, and two Python processes' heaps differ in every
pointer (address-space randomisation) and in every hash (hash randomisation). So a session
started with ``merge_pages`` runs its runtime with:

- ``PR_SET_MEMORY_MERGE``: all its memory is offered to KSM (kept across ``exec`` and by
  children);
- ``ADDR_NO_RANDOMIZE``: the same layout in every session;
- ``PYTHONHASHSEED``: one seed per provider root, the same for all its sessions.

Measured on this host: four processes importing the same packages keep a third of their
memory their own with all three (83% with merging alone); a frozen Hermes session's relays
share about half their pages, Hermes itself about a quarter (its threads allocate in no fixed
order, so its heaps part ways early). ``bench/density.py`` has the figures per session.

The trade-off, which is why it is off by default: merged pages are shared between sessions, so
a session can learn whether another holds a page identical to one of its own (writes to a
merged page are slower: a copy), the deduplication side channel; and a session's addresses are
predictable. Turn it on where the tenants on one host trust each other or density matters
more. The kernel's KSM must also run (``/sys/kernel/mm/ksm/run`` = 1, a host-wide knob the
operator sets; ``doctor`` says when it does not).

The merger is a few lines of standard-library Python run as the session's uid just before the
runtime (inside the session, under its seccomp filter) and before each of its host-side egress
relays: it sets the three, then ``exec``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["KSM_RUN", "MERGER", "ksm_running", "merge_seed", "merged"]

KSM_RUN = Path("/sys/kernel/mm/ksm/run")
_SEED_FILE = "merge-seed"

MERGER = b'''"""Offer the session's memory to same-page merging, then exec what follows "--"."""
import ctypes, os, sys

def main():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.personality.argtypes = [ctypes.c_ulong]
    if libc.prctl(67, 1, 0, 0, 0) != 0:  # PR_SET_MEMORY_MERGE
        sys.exit("merge_pages: the kernel refused: " + os.strerror(ctypes.get_errno()))
    current = libc.personality(0xFFFFFFFF)
    if current == -1 or libc.personality(current | 0x0040000) == -1:  # ADDR_NO_RANDOMIZE
        sys.exit("merge_pages: personality failed: " + os.strerror(ctypes.get_errno()))
    os.environ["PYTHONHASHSEED"] = sys.argv[1]
    argv = sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:]
    os.execvp(argv[0], argv)

main()
'''


def merge_seed(root: Path) -> str:
    """The hash seed every session under ``root`` shares (made once, kept in ``root``)."""
    path = root / _SEED_FILE
    with contextlib.suppress(FileNotFoundError):
        return str(int(path.read_text().strip()))
    root.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{_SEED_FILE}.{secrets.token_hex(8)}.part")
    part.write_text(str(secrets.randbelow(2**32 - 1) + 1))
    with contextlib.suppress(FileExistsError):
        os.link(part, path)  # the first writer wins; every later one reads its seed
    part.unlink()
    return str(int(path.read_text().strip()))


def merged(python: str, seed: str, argv: tuple[str, ...]) -> tuple[str, ...]:
    """``argv`` run by the merger (``python`` runs it) with ``seed`` ('': ``argv`` as it is)."""
    if not seed:
        return argv
    return (python, "-I", "-S", "-c", MERGER.decode(), seed, "--", *argv)


def ksm_running() -> bool | None:
    """Whether the kernel's same-page merging runs (None: this kernel has none)."""
    try:
        return KSM_RUN.read_text().strip() == "1"
    except OSError:
        return None
