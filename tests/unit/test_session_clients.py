"""Session clients are reused turn after turn, each turn's headers gone when it gives one back."""

from __future__ import annotations

import pytest

from computerouter.domain.values import Endpoint
from computerouter.runtimes.transport import SessionClients

HERMES = Endpoint(kind="http", address="http://127.0.0.1:9/", headers=(("X-Key", "k"),))


def test_a_client_is_reused_with_the_endpoints_headers_only() -> None:
    clients = SessionClients()
    with clients.lease(HERMES) as first:
        first.headers["X-Computerouter-Turn"] = "run_1"
    with clients.lease(HERMES) as second:
        assert second is first
        assert "X-Computerouter-Turn" not in second.headers
        assert second.headers["X-Key"] == "k"
    clients.close()
    assert first.is_closed


def test_turns_at_once_each_have_their_own_client() -> None:
    clients = SessionClients()
    with clients.lease(HERMES) as one, clients.lease(HERMES) as other:
        assert one is not other
    clients.close()


def test_a_turn_that_broke_closes_its_client() -> None:
    clients = SessionClients()
    with pytest.raises(RuntimeError), clients.lease(HERMES) as broken:
        raise RuntimeError("the stream broke")
    assert broken.is_closed
    with clients.lease(HERMES) as fresh:
        assert fresh is not broken
    clients.close()


def test_idle_clients_are_bounded() -> None:
    clients = SessionClients(idle_per_endpoint=1, endpoints=2)
    with clients.lease(HERMES) as one, clients.lease(HERMES) as two:
        pass
    assert two.is_closed != one.is_closed  # one of the two is kept, the other let go
    others = [Endpoint(kind="http", address=f"http://127.0.0.1:{p}/") for p in (10, 11)]
    for endpoint in others:
        with clients.lease(endpoint):
            pass
    assert one.is_closed
    assert two.is_closed
    clients.close()
