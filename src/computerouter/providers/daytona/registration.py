"""The ``daytona`` provider's registration record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from computerouter.config import Settings
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import DoctorRow, ListPrice, ProviderRegistration

if TYPE_CHECKING:
    from computerouter.providers.daytona.provider import DaytonaProvider

__all__ = ["REGISTRATION", "DaytonaSettings"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DaytonaSettings:
    api_url: str = field(
        default="https://app.daytona.io/api", metadata={"env": ("DAYTONA_API_URL",)}
    )
    """Daytona's API (the emulator's ``/api`` URL in tests and demos)."""
    api_key: str = field(default="", metadata={"secret": True, "env": ("DAYTONA_API_KEY",)})
    target: str = field(default="", metadata={"env": ("DAYTONA_TARGET",)})
    """Default region (Daytona's target); empty: the organisation's default."""
    regions: str = "us,eu"
    """Regions offered to routing, comma-separated."""
    router_id: str = "default"
    """Label value that marks this router's sandboxes; ``list`` reports only those."""
    auto_stop_minutes: int = 60
    """Daytona's own idle stop, a backstop behind the router's idle suspend."""
    auto_archive_minutes: int = 43_200
    """Daytona's own archive of a stopped sandbox, a backstop behind the router's."""


def _build(settings: Settings, own: DaytonaSettings) -> DaytonaProvider:
    from computerouter.providers.daytona.provider import DaytonaProvider
    from computerouter.providers.egress.remote_seam import shared_gateway

    return DaytonaProvider(
        api_url=own.api_url,
        api_key=own.api_key,
        target=own.target,
        router_id=own.router_id,
        regions=tuple(r.strip() for r in own.regions.split(",") if r.strip()),
        auto_stop_minutes=own.auto_stop_minutes,
        auto_archive_minutes=own.auto_archive_minutes,
        gateway=shared_gateway(
            listen=settings.gateway_listen,
            public_url=settings.gateway_public_url,
            log_path=settings.home / "logs" / "remote-gateway.log",
        ),
    )


def _configured(own: DaytonaSettings) -> str:
    if not own.api_key:
        return "set providers.daytona.api_key (or DAYTONA_API_KEY) to use Daytona"
    return ""


def _doctor(settings: Settings, own: DaytonaSettings) -> list[DoctorRow]:
    gap = _configured(own)
    detail = gap or f"{own.api_url} (target {own.target or 'default'})"
    return [DoctorRow(check="daytona", status="missing" if gap else "ok", detail=detail)]


REGISTRATION = ProviderRegistration(
    name="daytona",
    summary="Daytona sandboxes (stop/start in well under a second; archive to object storage)",
    settings_model=DaytonaSettings,
    build=_build,
    configured=_configured,
    capabilities=Capabilities(
        suspend=True,
        archive=True,
        exec=True,
        regions=("us", "eu"),
        warm_start_ms=150.0,
        regional_probe=False,
    ),
    list_price=ListPrice(cpu_hour=50_400, memory_gib_hour=16_200),
    doctor=_doctor,
)
