"""Web origins a browser page may call the API from (CORS): ``scheme://host[:port]`` or ``*``.

An origin is what a browser sends in its ``Origin`` header: a scheme, a host and a port if not
the scheme's default, nothing else. A path, a query or a trailing ``/`` would never match any
request, so they are refused rather than silently ignored. Scheme and host are kept in lower
case and a default port (80, 443) is left out, as browsers send them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from computerouter.errors import InputError

__all__ = ["ANY_ORIGIN", "parse_origins"]

ANY_ORIGIN = "*"
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(text: str) -> tuple[str, ...]:
    """The origins of a comma-separated list (blank entries skipped), each in lower case."""
    return tuple(_origin(part.strip()) for part in text.split(",") if part.strip())


def _origin(text: str) -> str:
    if text == ANY_ORIGIN:
        return text
    expected = f"expected scheme://host[:port] or *, not {text!r}"
    scheme, _, rest = text.lower().partition("://")
    bad = not rest or rest.endswith(":") or any(c in rest for c in "/?#@ \\")
    if bad or not _SCHEME.fullmatch(scheme):
        raise InputError(expected)
    try:
        url = urlsplit(f"{scheme}://{rest}")
        port = url.port
    except ValueError:
        raise InputError(f"bad host or port in {text!r}") from None
    if not url.hostname or port == 0:
        raise InputError(expected)
    if port is not None and _DEFAULT_PORTS.get(scheme) == port:
        rest = rest.rpartition(":")[0]  # a browser leaves the default port out
    return f"{scheme}://{rest}"
