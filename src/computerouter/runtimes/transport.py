"""HTTP clients for session endpoints: unix sockets for local sessions, URLs for remote ones."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from computerouter.domain.values import Endpoint

__all__ = ["SessionClients", "client_for"]

_Key = tuple[str, str, tuple[tuple[str, str], ...], float]


def client_for(endpoint: Endpoint, *, timeout_s: float = 30.0) -> httpx.Client:
    """A keep-alive client whose relative URLs go to the session's runtime."""
    headers = dict(endpoint.headers)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
    if endpoint.kind == "unix":
        # No TLS over a unix socket: skipping the SSL contexts saves ~20 ms per client.
        return httpx.Client(
            transport=httpx.HTTPTransport(uds=endpoint.address, verify=False),
            base_url="http://session",
            headers=headers,
            timeout=timeout,
            verify=False,
        )
    return httpx.Client(base_url=endpoint.address, headers=headers, timeout=timeout)


class SessionClients:
    """Keep-alive clients for session endpoints, kept from one turn to the next.

    A new client per turn cost about half a millisecond and a fresh connection to the runtime.
    Each turn leases a client of its own (:meth:`lease`), sets what headers it needs, and gives
    it back with the endpoint's headers restored; a turn that broke closes its client instead,
    so no half-read connection is handed on. At most ``idle_per_endpoint`` idle clients are
    kept per endpoint and ``endpoints`` endpoints (the least recently used are let go).
    """

    def __init__(self, *, idle_per_endpoint: int = 8, endpoints: int = 256) -> None:
        self._idle_per_endpoint = idle_per_endpoint
        self._endpoints = endpoints
        self._idle: OrderedDict[_Key, list[httpx.Client]] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def lease(self, endpoint: Endpoint, *, timeout_s: float = 30.0) -> Iterator[httpx.Client]:
        key = (endpoint.kind, endpoint.address, endpoint.headers, timeout_s)
        with self._lock:
            idle = self._idle.get(key)
            client = idle.pop() if idle else None
        if client is None:
            client = client_for(endpoint, timeout_s=timeout_s)
        try:
            yield client
        except BaseException:
            client.close()
            raise
        client.headers = httpx.Headers(dict(endpoint.headers))
        dropped: list[httpx.Client] = []
        with self._lock:
            idle = self._idle.setdefault(key, [])
            self._idle.move_to_end(key)
            if len(idle) < self._idle_per_endpoint:
                idle.append(client)
            else:
                dropped.append(client)
            while len(self._idle) > self._endpoints:
                _, gone = self._idle.popitem(last=False)
                dropped.extend(gone)
        for extra in dropped:
            extra.close()

    def close(self) -> None:
        with self._lock:
            kept, self._idle = list(self._idle.values()), OrderedDict()
        for clients in kept:
            for client in clients:
                client.close()
