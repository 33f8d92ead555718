"""The ``fly_sprites`` provider's registration record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from computerouter.config import Settings
from computerouter.providers.base import Capabilities
from computerouter.providers.registration import ListPrice, ProviderRegistration

if TYPE_CHECKING:
    from computerouter.providers.fly_sprites.provider import FlySpritesProvider

__all__ = ["REGISTRATION", "FlySpritesSettings"]

# Kept here as well as in the provider so reading the registry never imports the SDK.
_REGIONS = ("ord", "iad", "sjc", "lhr", "fra", "ams", "nrt", "syd")


@dataclass(frozen=True, kw_only=True, slots=True)
class FlySpritesSettings:
    token: str = field(default="", metadata={"secret": True, "env": ("SPRITES_TOKEN",)})
    """API token of the Sprites organisation."""
    base_url: str = "https://api.sprites.dev"
    """The Sprites API (the SDK reads no variable for it; an emulator's URL in tests)."""
    region: str = ""
    """Region for new sprites when the session names none; empty: the vendor's default."""
    url_auth: str = "public"
    """Who may call a sprite's URL. ``public``: anyone reaching it, and the runtime checks its
    callers itself (Hermes's per-session key in ``Authorization``). ``sprite``: the vendor
    checks the organisation token as bearer, which leaves ``Authorization`` to the vendor
    (only for runtimes that need none of their own, such as ``echo``)."""

    def __post_init__(self) -> None:
        if self.url_auth not in ("public", "sprite"):
            raise ValueError(f"url_auth must be 'public' or 'sprite', not {self.url_auth!r}")
        if self.region and self.region not in _REGIONS:
            raise ValueError(f"unknown region {self.region!r} (known: {', '.join(_REGIONS)})")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} must be an http(s) URL")


def _build(settings: Settings, own: FlySpritesSettings) -> FlySpritesProvider:
    from computerouter.providers.egress.remote_seam import shared_gateway
    from computerouter.providers.fly_sprites.provider import FlySpritesProvider

    return FlySpritesProvider(
        token=own.token,
        base_url=own.base_url,
        region=own.region,
        url_auth=own.url_auth,
        gateway=shared_gateway(
            listen=settings.gateway_listen,
            public_url=settings.gateway_public_url,
            log_path=settings.home / "logs" / "remote-gateway.log",
        ),
    )


def _configured(own: FlySpritesSettings) -> str:
    return "" if own.token else "set providers.fly_sprites.token or SPRITES_TOKEN"


REGISTRATION = ProviderRegistration(
    name="fly_sprites",
    summary="Fly.io Sprites: persistent microVMs that hibernate when idle (sprites-py SDK)",
    settings_model=FlySpritesSettings,
    build=_build,
    configured=_configured,
    capabilities=Capabilities(
        suspend=True,
        archive=True,
        exec=True,
        regions=_REGIONS,
        warm_start_ms=300.0,
        regional_probe=False,
    ),
    list_price=ListPrice(cpu_hour=70_000, memory_gib_hour=43_750),
)
