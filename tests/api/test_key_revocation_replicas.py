"""Acceptance (tenancy): a revoked key is refused at once by the server that revoked it, and by
another server on the same store once the key cache's TTL (at most 1 s) has passed."""

from __future__ import annotations

import httpx

from computerouter.api import create_app
from computerouter.secrets.api_keys import MAX_CACHE_TTL_S, ApiKeys
from computerouter.store.api_keys import ApiKeyStore
from computerouter.testing.live_api import Api, LiveServer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def status(url: str, key: str) -> int:
    return httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code


def test_revoked_on_this_server_the_key_is_refused_on_its_next_request(api: Api) -> None:
    assert status(api.url, api.alice) == 200
    [key] = api.keys.list(user_id="alice")
    api.keys.revoke(key.id)
    assert status(api.url, api.alice) == 401
    assert status(api.url, api.bob) == 200


def test_rotated_on_this_server_the_old_key_is_refused_on_its_next_request(api: Api) -> None:
    assert status(api.url, api.alice) == 200
    [key] = api.keys.list(user_id="alice")
    _, new = api.keys.rotate(key.id)
    assert status(api.url, api.alice) == 401
    assert status(api.url, new) == 200


def test_revoked_on_another_server_the_key_is_refused_once_the_ttl_passes(api: Api) -> None:
    clock = FakeClock()
    engine = api.agents.compute.store.engine
    keys = ApiKeys(ApiKeyStore(engine), pepper="test-pepper", clock=clock)
    other = LiveServer(create_app(agents=api.agents, settings=api.settings, keys=keys))
    url = other.start()
    try:
        assert status(url, api.alice) == 200
        [key] = api.keys.list(user_id="alice")
        api.keys.revoke(key.id)  # on the first server
        assert status(api.url, api.alice) == 401
        clock.now += MAX_CACHE_TTL_S
        assert status(url, api.alice) == 401
        assert status(url, api.bob) == 200
    finally:
        other.stop()
