"""Host-side egress relays: the only way out of a session that has no network.

:mod:`computerouter.providers.egress.relay` is a standard-library script a provider runs on the
host, next to a session: it listens on a unix socket inside the session's socket directory and
forwards HTTP requests to one upstream (the model endpoint), adding credentials on the way, so
they never enter the session. The same script, started as a gateway route, is the session's
general way out: an HTTP forward proxy to what the allowlist names
(:mod:`computerouter.domain.gateway`), logging every refusal.
"""

from importlib import resources

__all__ = ["relay_source"]


def relay_source() -> bytes:
    return resources.files("computerouter.providers.egress").joinpath("relay.py").read_bytes()
