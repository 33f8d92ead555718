"""Registered providers for the contract suite, and how to look at their instances from outside.

To add a provider, add a :class:`ProviderHarness` to ``HARNESSES``: how to make one for a test
(in a temporary root), why it cannot run here (or None), and how to look at an instance from
outside the provider (processes, whether it is frozen, what it still holds), so the suite can
check outcomes without trusting the provider's own report.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from computerouter.emulators.daytona import EmulatorServer, EmulatorSettings
from computerouter.emulators.daytona import Timings as DaytonaTimings
from computerouter.emulators.fly_sprites import RunningEmulator, World
from computerouter.emulators.fly_sprites import Timings as SpritesTimings
from computerouter.emulators.fly_sprites import start as start_sprites
from computerouter.providers.base import InstanceSpec, Provider
from computerouter.providers.daytona.provider import DaytonaProvider
from computerouter.providers.fly_sprites.provider import FlySpritesProvider
from computerouter.providers.local import LocalProvider, probe
from computerouter.testing import FakeProvider
from computerouter.testing.served import serving_threads

SpecFactory = Callable[..., InstanceSpec]
"""``make_spec(key=None, **labels)``: an echo-runtime InstanceSpec with a fresh session id."""


@dataclass(frozen=True, kw_only=True)
class ProviderHarness:
    name: str
    unavailable: Callable[[], str | None]
    """Why this provider cannot be tested on this machine, or None."""
    make: Callable[[Path], Provider]
    processes: Callable[[Provider, str], list[int]]
    """Live (non-zombie) processes of an instance, found independently of the provider."""
    frozen: Callable[[Provider, str], bool]
    leftovers: Callable[[Provider, str], list[str]]
    """Everything of an instance still on the machine; empty when it is wholly gone."""
    holdings: Callable[[Provider, str], dict[str, int]]
    """How many of each kind of resource a live instance holds (positive control)."""
    unknown_id: str
    """A well-formed instance id this provider never made."""
    close: Callable[[Provider], None] = lambda provider: None
    """Stop whatever ``make`` started beside the provider (an emulator)."""
    suspend_freezes: bool = True
    """``suspend`` freezes the whole tree in place. False where the vendor has no freeze and
    suspend stops the runtime instead (fly_sprites): the runtime stops answering, the disk
    stays, resume starts it again."""


# -- local ---------------------------------------------------------------------------------


def _local_unavailable() -> str | None:
    gaps = probe().gaps()
    return f"local provider needs root, bubblewrap and cgroups: {', '.join(gaps)}" if gaps else None


def _cgroup_mounts() -> list[Path]:
    with open("/proc/mounts") as fh:
        return [Path(line.split()[1]) for line in fh if line.split()[2] in ("cgroup", "cgroup2")]


def _cgroups_named(instance_id: str) -> list[Path]:
    """Every cgroup directory named after the instance, in every hierarchy (a full walk)."""
    found = []
    for mount in _cgroup_mounts():
        top = mount / "computerouter"
        if top.is_dir():
            found += [Path(d) for d, _, _ in os.walk(top) if os.path.basename(d) == instance_id]
    return found


def _live_pids_in_cgroups(instance_id: str) -> list[int]:
    """Processes whose /proc/<pid>/cgroup names the instance (zombies excluded)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as fh:
                groups = fh.read()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if f"/{instance_id}\n" in groups and state != "Z":
            pids.append(int(entry))
    return sorted(pids)


def _local_frozen(provider: Provider, instance_id: str) -> bool:
    groups = _cgroups_named(instance_id)
    unified = [g for g in groups if (g / "cgroup.events").exists()]
    if unified:
        return "frozen 1" in (unified[0] / "cgroup.events").read_text()
    freezer = [g for g in groups if (g / "freezer.state").exists()]
    return bool(freezer) and freezer[0].joinpath("freezer.state").read_text().strip() == "FROZEN"


def _local_paths(provider: Provider, instance_id: str) -> list[Path]:
    assert isinstance(provider, LocalProvider)
    root = provider.root
    found = list((root / "instances").glob(f"{instance_id}*"))
    found += list((root / "archives").glob(f"{instance_id}.*"))
    instance = provider.get(instance_id)
    if instance is not None and instance.endpoint is not None:
        found.append(Path(instance.endpoint.address).parent)
    found += [p for p in provider.footprint(instance_id).paths if p not in found]
    return [p for p in found if os.path.lexists(p)]


def _local_leftovers(provider: Provider, instance_id: str) -> list[str]:
    out = [f"process {pid}" for pid in _live_pids_in_cgroups(instance_id)]
    out += [f"cgroup {g}" for g in _cgroups_named(instance_id)]
    out += [f"path {p}" for p in _local_paths(provider, instance_id)]
    return out


def _local_holdings(provider: Provider, instance_id: str) -> dict[str, int]:
    instance = provider.get(instance_id)
    socket = instance.endpoint.address if instance and instance.endpoint else ""
    return {
        "processes": len(_live_pids_in_cgroups(instance_id)),
        "cgroups": len(_cgroups_named(instance_id)),
        "paths": len(_local_paths(provider, instance_id)),
        "socket": int(bool(socket) and os.path.exists(socket)),
    }


# -- daytona (emulated) -----------------------------------------------------------------------
# The emulator backs each sandbox with a local instance: look at that one from outside.

_EMULATORS: dict[int, EmulatorServer] = {}
_BACKING: dict[str, str] = {}
"""Sandbox id -> its backing local instance id, remembered so a destroyed one can be checked."""


def _daytona_make(tmp: Path) -> Provider:
    settings = EmulatorSettings(timings=DaytonaTimings(speed=100.0))
    server = EmulatorServer(root=tmp / "daytona-emulator", settings=settings).start()
    provider = DaytonaProvider(api_url=server.api_url, api_key=settings.api_key, router_id="ct")
    _EMULATORS[id(provider)] = server
    return provider


def _daytona_close(provider: Provider) -> None:
    server = _EMULATORS.pop(id(provider))
    try:
        assert server.emulator.unimplemented == [], "the SDK called routes the emulator lacks"
    finally:
        server.stop()


def _backing(provider: Provider, instance_id: str) -> tuple[LocalProvider, str]:
    server = _EMULATORS[id(provider)]
    local = server.emulator.sandboxes.local
    found = next((s for s in server.emulator.sandboxes.all() if s.id == instance_id), None)
    if found is not None and found.instance_id:
        _BACKING[instance_id] = found.instance_id
    return local, _BACKING.get(instance_id, "lc-never-made")


def _daytona_processes(provider: Provider, instance_id: str) -> list[int]:
    return _live_pids_in_cgroups(_backing(provider, instance_id)[1])


def _daytona_frozen(provider: Provider, instance_id: str) -> bool:
    return _local_frozen(*_backing(provider, instance_id))


def _daytona_leftovers(provider: Provider, instance_id: str) -> list[str]:
    return _local_leftovers(*_backing(provider, instance_id))


def _daytona_holdings(provider: Provider, instance_id: str) -> dict[str, int]:
    return _local_holdings(*_backing(provider, instance_id))


# -- fly_sprites (emulated; its sprites are local sessions under the emulator's root) --------

_SPRITES_TOKEN = "contract-token"
_emulators: dict[int, RunningEmulator] = {}


def _sprites_make(tmp: Path) -> Provider:
    world = World(root=tmp / "sprites", token=_SPRITES_TOKEN, timings=SpritesTimings(speed=10.0))
    emulator = start_sprites(world)
    provider = FlySpritesProvider(token=_SPRITES_TOKEN, base_url=emulator.url)
    _emulators[id(provider)] = emulator
    return provider


def _sprites_world(provider: Provider) -> World:
    return _emulators[id(provider)].world


def _sprites_backing(provider: Provider, instance_id: str) -> tuple[LocalProvider, str]:
    world = _sprites_world(provider)
    return world.backing, world.backed.get(instance_id, "cr-never-backed")


def _sprites_leftovers(provider: Provider, instance_id: str) -> list[str]:
    local, backing_id = _sprites_backing(provider, instance_id)
    out = _local_leftovers(local, backing_id)
    if instance_id in _sprites_world(provider).sprites:
        out.append(f"sprite {instance_id}")
    return out


def _sprites_holdings(provider: Provider, instance_id: str) -> dict[str, int]:
    local, backing_id = _sprites_backing(provider, instance_id)
    return {
        "processes": len(_live_pids_in_cgroups(backing_id)),
        "sprite": int(instance_id in _sprites_world(provider).sprites),
        "paths": len(_local_paths(local, backing_id)),
    }


# -- fake (in memory, serve=True) ----------------------------------------------------------------
# An in-memory provider has no machine to look at: its table is the machine. "Processes" are
# the threads serving an instance (found by name among the live threads, not through the
# fake), "frozen" is its served runtime holding requests, and what it still holds is its
# record in the table (an archived record is the archive), those threads and its open port
# (probed by connecting).

_PORTS: dict[str, int] = {}
"""Instance id -> the last port it served on, remembered so a destroyed one can be probed."""


def _fake(provider: Provider) -> FakeProvider:
    assert isinstance(provider, FakeProvider)
    return provider


def _fake_open_ports(provider: Provider, instance_id: str) -> list[int]:
    served = _fake(provider).served(instance_id)
    if served is not None:
        _PORTS[instance_id] = served.port
    port = _PORTS.get(instance_id)
    if port is None:
        return []
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
    except OSError:
        return []
    return [port]


def _fake_frozen(provider: Provider, instance_id: str) -> bool:
    served = _fake(provider).served(instance_id)
    return served is not None and served.frozen


def _fake_leftovers(provider: Provider, instance_id: str) -> list[str]:
    out = [f"record {instance_id}"] if provider.get(instance_id) is not None else []
    out += [f"thread {tid}" for tid in serving_threads(instance_id)]
    out += [f"port {port}" for port in _fake_open_ports(provider, instance_id)]
    return out


def _fake_holdings(provider: Provider, instance_id: str) -> dict[str, int]:
    return {
        "record": int(provider.get(instance_id) is not None),
        "threads": len(serving_threads(instance_id)),
        "port": len(_fake_open_ports(provider, instance_id)),
    }


HARNESSES: dict[str, ProviderHarness] = {
    "fake": ProviderHarness(
        name="fake",
        unavailable=lambda: None,
        make=lambda tmp: FakeProvider(serve=True),
        processes=lambda p, i: serving_threads(i),
        frozen=_fake_frozen,
        leftovers=_fake_leftovers,
        holdings=_fake_holdings,
        unknown_id="fk-never-made",
        close=lambda p: _fake(p).close(),
    ),
    "local": ProviderHarness(
        name="local",
        unavailable=_local_unavailable,
        make=lambda tmp: LocalProvider(root=tmp / "local"),
        processes=lambda p, i: _live_pids_in_cgroups(i),
        frozen=_local_frozen,
        leftovers=_local_leftovers,
        holdings=_local_holdings,
        unknown_id="lc-never-made",
    ),
    "daytona": ProviderHarness(
        name="daytona",
        unavailable=_local_unavailable,
        make=_daytona_make,
        processes=_daytona_processes,
        frozen=_daytona_frozen,
        leftovers=_daytona_leftovers,
        holdings=_daytona_holdings,
        unknown_id="00000000-0000-4000-8000-000000000000",
        close=_daytona_close,
    ),
    "fly_sprites": ProviderHarness(
        name="fly_sprites",
        unavailable=_local_unavailable,
        make=_sprites_make,
        processes=lambda p, i: _live_pids_in_cgroups(_sprites_backing(p, i)[1]),
        frozen=lambda p, i: _local_frozen(*_sprites_backing(p, i)),
        leftovers=_sprites_leftovers,
        holdings=_sprites_holdings,
        unknown_id="cr-never-made",
        close=lambda p: _emulators.pop(id(p)).stop(),
        suspend_freezes=False,
    ),
}
