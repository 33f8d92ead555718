"""Secrets: the router's own key, and keys derived from it per session and per purpose."""

from computerouter.secrets.keys import RouterSecret

__all__ = ["RouterSecret"]
