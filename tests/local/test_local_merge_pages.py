"""``merge_pages``: a session's runtime runs with its memory offered to same-page merging, a
fixed address layout and its provider root's hash seed — and without the setting, none of it.
Whether the kernel then merges (KSM running, a host-wide knob) is measured by bench/density.py.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from computerouter.providers.local import LocalProvider, probe
from computerouter.providers.local.merging import merge_seed
from computerouter.runtimes.transport import client_for
from computerouter.testing.specs import echo_spec

pytestmark = pytest.mark.isolation

ADDR_NO_RANDOMIZE = 0x0040000


def _runtime(instance_id: str) -> dict[str, str]:
    """The session's runtime process (the echo server: python), as /proc shows it."""
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cgroup = Path(f"/proc/{pid}/cgroup").read_text()
            if f"/{instance_id}\n" not in cgroup:
                continue
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if len(cmdline) < 2 or cmdline[0].endswith(b"bwrap"):
                continue
            if not cmdline[-2].endswith(b"/server.py"):
                continue
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            ksm = Path(f"/proc/{pid}/ksm_stat").read_text()
            personality = Path(f"/proc/{pid}/personality").read_text().strip()
        except OSError:
            continue
        seeds = [e.decode() for e in environ if e.startswith(b"PYTHONHASHSEED=")]
        return {
            "seed": seeds[0].partition("=")[2] if seeds else "",
            "merge_any": "yes" if "ksm_merge_any: yes" in ksm else "no",
            "fixed_layout": "yes" if int(personality, 16) & ADDR_NO_RANDOMIZE else "no",
        }
    raise AssertionError(f"no runtime process found for {instance_id}")


@pytest.mark.skipif(bool(probe().gaps()), reason="needs root, bubblewrap and cgroups")
@pytest.mark.skipif(not Path("/proc/self/ksm_stat").exists(), reason="this kernel has no KSM")
def test_merge_pages_runs_the_runtime_mergeable_with_one_layout_and_seed(tmp_path: Path) -> None:
    plain = LocalProvider(root=tmp_path / "plain")
    merging = LocalProvider(root=tmp_path / "merging", merge_pages=True)
    seen: dict[str, list[dict[str, str]]] = {"plain": [], "merging": []}
    for name, provider in (("plain", plain), ("merging", merging)):
        for _ in range(2):
            instance = provider.create(echo_spec())
            try:
                assert instance.endpoint is not None
                with client_for(instance.endpoint, timeout_s=10) as client:
                    assert client.get("/health").status_code == 200
                seen[name].append(_runtime(instance.instance_id))
                # Suspended and resumed, it is still the same process, still mergeable.
                provider.suspend(instance.instance_id)
                provider.resume(instance.instance_id)
                assert _runtime(instance.instance_id) == seen[name][-1]
            finally:
                provider.destroy(instance.instance_id)

    seed = merge_seed(tmp_path / "merging")
    assert seen["merging"] == [{"seed": seed, "merge_any": "yes", "fixed_layout": "yes"}] * 2
    assert seen["plain"] == [{"seed": "", "merge_any": "no", "fixed_layout": "no"}] * 2


def test_a_provider_root_keeps_one_seed_whoever_makes_it_first(tmp_path: Path) -> None:
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(merge_seed(tmp_path / "root")))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1
    assert int(found[0]) > 0
    assert merge_seed(tmp_path / "root") == found[0]
    assert merge_seed(tmp_path / "other") != found[0]  # another root, its own seed
    assert not [p for p in (tmp_path / "root").iterdir() if p.name.endswith(".part")]
