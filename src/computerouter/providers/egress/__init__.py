"""Host-side egress relays: the only way out of a session that has no network.

:mod:`computerouter.providers.egress.relay` is a standard-library script a provider runs on the
host, next to a session: it listens on a unix socket inside the session's socket directory and
forwards HTTP requests to one upstream (the model endpoint), adding credentials on the way, so
they never enter the session. It is where per-turn credentials and allowlists will live.
"""

from importlib import resources

__all__ = ["relay_source"]


def relay_source() -> bytes:
    return resources.files("computerouter.providers.egress").joinpath("relay.py").read_bytes()
