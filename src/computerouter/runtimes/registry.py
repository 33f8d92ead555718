"""Which runtimes can run in sessions, built from settings."""

from __future__ import annotations

from computerouter.config import Settings
from computerouter.domain.gateway import parse_allowlist
from computerouter.domain.run_tokens import MCP_HOST, OPERATOR
from computerouter.runtimes.base import Runtime
from computerouter.runtimes.echo import EchoRuntime
from computerouter.runtimes.hermes import HermesImage, HermesRuntime, ModelEndpoint
from computerouter.secrets import RouterSecret

__all__ = ["build_runtimes"]


def build_runtimes(settings: Settings) -> dict[str, Runtime]:
    image = HermesImage(images_dir=settings.images_path)
    model = ModelEndpoint(
        base_url=settings.effective_model_base_url,
        model=settings.model_name,
        api_key=settings.model_api_key,
    )
    secret = RouterSecret.load_or_create(settings.home)
    allow = parse_allowlist(settings.egress_allow, operator=True)

    def hermes(name: str, audience: str) -> HermesRuntime:
        return HermesRuntime(
            name=name,
            mcp_audience=audience,
            image=image,
            model=model,
            secret=secret,
            turn_timeout_s=settings.turn_timeout_s,
            metered=settings.billing,
            egress_allow=allow,
        )

    return {
        "echo": EchoRuntime(turn_timeout_s=settings.turn_timeout_s),
        "hermes": hermes("hermes", MCP_HOST),
        "concierge": hermes("concierge", OPERATOR),
    }
