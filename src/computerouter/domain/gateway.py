"""The egress gateway's allowlist: which ``host:port`` a session's processes may reach.

A session's general way out is the gateway route (an HTTP forward proxy on the host side, see
:mod:`computerouter.providers.egress.relay`); it refuses every destination no rule names. A
rule is ``HOST:PORT``:

- ``HOST``: a DNS name (``api.example.com``), a suffix wildcard (``*.example.com``, which
  does not match ``example.com`` itself), ``*`` (any name), an IP address (``10.1.2.3``,
  ``[::1]``) or a network (``10.0.0.0/8``, ``[fd00::]/8``);
- ``PORT``: a port, a range ``8000-8099`` or ``*``.

The gateway resolves a name on the host side and connects to the address it checked (so a
name that re-resolves to another address between check and connect cannot get through). An
address in a refused range — cloud metadata and link-local (169.254.0.0/16, fe80::/10),
private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10), loopback, unspecified,
multicast — is refused even when its name is allowed, unless a rule *given by the operator*
names that address or a network holding it (``operator=True``): names never unlock them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from computerouter.errors import InputError

__all__ = ["AllowRule", "parse_allowlist", "parse_gateway_address"]

_NAME = re.compile(r"(\*|(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_-]{1,63})")
_MAX_RULES = 256


@dataclass(frozen=True, kw_only=True, slots=True)
class AllowRule:
    """One ``host:port`` pattern of an allowlist."""

    host: str
    """A lower-case name, ``*.suffix``, ``*``, or '' when :attr:`network` is set."""
    network: str = ""
    """An IP network (an address is a /32 or /128) instead of a name."""
    low: int = 1
    high: int = 65_535
    operator: bool = False
    """Given by the operator: a network rule may then name refused ranges."""

    def as_json(self) -> dict[str, object]:
        return {
            "host": self.host,
            "network": self.network,
            "low": self.low,
            "high": self.high,
            "operator": self.operator,
        }

    def __str__(self) -> str:
        where = self.host or self.network
        port = "*" if (self.low, self.high) == (1, 65_535) else str(self.low)
        if self.high != self.low and port != "*":
            port = f"{self.low}-{self.high}"
        return f"{where}:{port}"


def _ports(text: str, *, rule: str) -> tuple[int, int]:
    if text == "*":
        return 1, 65_535
    low_text, _, high_text = text.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text else low
    except ValueError:
        raise InputError(f"egress rule {rule!r}: the port must be N, N-M or *") from None
    if not 1 <= low <= high <= 65_535:
        raise InputError(f"egress rule {rule!r}: ports run 1-65535, low to high")
    return low, high


def _rule(text: str, *, operator: bool) -> AllowRule:
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise InputError(f"egress rule {text!r} must be HOST:PORT (PORT may be N, N-M or *)")
    low, high = _ports(port, rule=text)
    bare = host
    if host.startswith("["):
        close = host.find("]")
        if close < 0:
            raise InputError(f"egress rule {text!r}: an IPv6 address goes in [brackets]")
        bare = host[1:close] + host[close + 1 :]
    try:
        network = ipaddress.ip_network(bare, strict=False)
    except ValueError:
        network = None
    if network is not None:
        return AllowRule(host="", network=str(network), low=low, high=high, operator=operator)
    name = host.lower().rstrip(".")
    if not _NAME.fullmatch(name) or len(name) > 253:
        raise InputError(f"egress rule {text!r}: {host!r} is not a host name, address or network")
    return AllowRule(host=name, low=low, high=high, operator=operator)


def parse_allowlist(text: str, *, operator: bool) -> tuple[AllowRule, ...]:
    """Rules from ``text`` (separated by commas or white space), or one line naming the bad
    one. ``operator``: the operator's own (see :attr:`AllowRule.operator`)."""
    pieces = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    if len(pieces) > _MAX_RULES:
        raise InputError(f"an egress allowlist has at most {_MAX_RULES} rules, not {len(pieces)}")
    return tuple(_rule(p, operator=operator) for p in pieces)


def parse_gateway_address(text: str) -> tuple[str, int, bool]:
    """``[http(s)://]HOST:PORT`` of the router's remote gateway as (host, port, tls); a port
    left out is 443 with https, else 0 (any free one)."""
    url = urlsplit(text if "://" in text else f"http://{text}")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise InputError(f"expected [http(s)://]HOST:PORT, not {text!r}")
    try:
        port = url.port
    except ValueError:
        raise InputError(f"bad port in {text!r}") from None
    tls = url.scheme == "https"
    return url.hostname, port if port is not None else (443 if tls else 0), tls
