"""The ``local`` provider's registration record."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from computerouter.config import Settings
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import DoctorRow, ListPrice, ProviderRegistration

if TYPE_CHECKING:
    from computerouter.providers.local.provider import LocalProvider

__all__ = ["REGISTRATION", "LocalSettings"]


@dataclass(frozen=True, kw_only=True, slots=True)
class LocalSettings:
    uid_base: int = 2_000_000
    """First host uid handed to local sessions (each live session gets its own)."""
    uid_count: int = 100_000
    """Size of the local uid range."""
    allow_unisolated: bool = False
    """Run local sessions without namespaces/cgroups when the machine lacks them. Unsafe."""
    uid_registry: str = "/var/lib/computerouter/session-uids"
    """The machine's record of which session uid is whose: every home on the machine must
    name the same one, so no two live sessions anywhere share a uid."""
    swap_frozen: bool = False
    """On suspend, push the frozen session's memory out to the host's swap (best with
    compressed swap, e.g. zram): many more suspended sessions per GiB, a resume faulting back
    what the next turn touches. Needs swap configured on the host (see ``doctor``)."""
    merge_pages: bool = False
    """Run sessions so that the kernel's same-page merging (KSM) can share their identical
    memory: many more suspended sessions per GiB. Shares pages between sessions (a known
    timing side channel) and fixes their address layout, so only where tenants on one host
    trust each other; needs KSM running on the host (see ``doctor``)."""


def _build(settings: Settings, own: LocalSettings) -> LocalProvider:
    from computerouter.providers.local.provider import LocalProvider

    return LocalProvider(
        root=settings.home / "local",
        uid_base=own.uid_base,
        uid_count=own.uid_count,
        allow_unisolated=own.allow_unisolated,
        uid_registry=Path(own.uid_registry),
        swap_frozen=own.swap_frozen,
        merge_pages=own.merge_pages,
    )


def _doctor(settings: Settings, own: LocalSettings) -> list[DoctorRow]:
    from computerouter.providers.local.host import probe, swap_configured

    rows = [DoctorRow(check=c, status=s, detail=d) for c, s, d in probe().rows()]
    if own.swap_frozen:
        swap = swap_configured()
        rows.append(
            DoctorRow(
                check="swap for frozen sessions",
                status="ok" if swap else "warn",
                detail="suspended sessions are squeezed into swap"
                if swap
                else "swap_frozen is on but the host has no swap: suspended sessions stay "
                "resident (configure zram or a swap file)",
            )
        )
    if own.merge_pages:
        rows.append(_merge_row())
    return rows


def _merge_row() -> DoctorRow:
    from computerouter.providers.local.merging import KSM_RUN, ksm_running

    running = ksm_running()
    if running:
        return DoctorRow(
            check="same-page merging",
            status="ok",
            detail="sessions' identical pages are shared (KSM runs)",
        )
    return DoctorRow(
        check="same-page merging",
        status="warn",
        detail="merge_pages is on but this kernel has no KSM: sessions' pages stay their own"
        if running is None
        else f"merge_pages is on but KSM does not run: echo 1 > {KSM_RUN} (as root)",
    )


REGISTRATION = ProviderRegistration(
    name="local",
    summary="isolated process trees on this machine (bubblewrap, cgroups, unix sockets)",
    settings_model=LocalSettings,
    build=_build,
    configured=lambda own: "",
    capabilities=Capabilities(suspend=True, archive=True, exec=True, warm_start_ms=2.0),
    list_price=ListPrice(cpu_hour=10_000, memory_gib_hour=1_000),
    doctor=_doctor,
)
