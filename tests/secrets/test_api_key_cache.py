"""A verified API key is remembered for at most a second: revoked here, it is refused at once;
revoked by another process on the same store, it is refused once the TTL has passed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from computerouter.domain.api_keys import ApiKeyRecord
from computerouter.errors import InputError, Unauthorized
from computerouter.secrets.api_keys import MAX_CACHE_TTL_S, ApiKeys
from computerouter.store import open_store
from computerouter.store.api_keys import ApiKeyStore


class CountingStore(ApiKeyStore):
    """The real store, counting its reads of one key."""

    reads = 0

    def get(self, key_id: str) -> ApiKeyRecord | None:
        self.reads += 1
        return super().get(key_id)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    store = open_store(f"sqlite:///{tmp_path}/db.sqlite")
    yield store.engine
    store.close()


@pytest.fixture
def store(engine: Engine) -> CountingStore:
    return CountingStore(engine)


def test_a_verified_key_is_not_read_again_within_the_ttl(store: CountingStore) -> None:
    clock = FakeClock()
    keys = ApiKeys(store, pepper="p", clock=clock)
    record, secret = keys.create("alice")
    assert keys.authenticate(secret).key_id == record.id
    assert keys.authenticate(secret).user_id == "alice"
    assert store.reads == 1
    clock.now += MAX_CACHE_TTL_S
    assert keys.authenticate(secret).key_id == record.id
    assert store.reads == 2


def test_revoked_here_is_refused_at_once(store: CountingStore) -> None:
    keys = ApiKeys(store, pepper="p", clock=FakeClock())
    record, secret = keys.create("alice")
    keys.authenticate(secret)
    keys.revoke(record.id)
    assert keys.cached(secret) is None
    with pytest.raises(Unauthorized, match="revoked"):
        keys.authenticate(secret)


def test_rotated_here_the_old_key_is_refused_at_once(store: CountingStore) -> None:
    keys = ApiKeys(store, pepper="p", clock=FakeClock())
    record, old = keys.create("alice")
    keys.authenticate(old)
    _, new = keys.rotate(record.id)
    with pytest.raises(Unauthorized, match="revoked"):
        keys.authenticate(old)
    assert keys.authenticate(new).user_id == "alice"


def test_revoked_elsewhere_is_refused_once_the_ttl_has_passed(
    engine: Engine, store: CountingStore
) -> None:
    clock = FakeClock()
    here = ApiKeys(store, pepper="p", clock=clock)
    elsewhere = ApiKeys(ApiKeyStore(engine), pepper="p")
    record, secret = here.create("alice")
    here.authenticate(secret)
    elsewhere.revoke(record.id)
    clock.now += MAX_CACHE_TTL_S
    with pytest.raises(Unauthorized, match="revoked"):
        here.authenticate(secret)


def test_refusals_are_not_remembered(store: CountingStore) -> None:
    keys = ApiKeys(store, pepper="p", clock=FakeClock())
    record, secret = keys.create("alice")
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(Unauthorized, match="not valid"):
            keys.authenticate(wrong)
    assert store.reads == 2
    assert keys.cached(wrong) is None
    assert keys.authenticate(secret).key_id == record.id


def test_no_cache_with_a_zero_ttl(store: CountingStore) -> None:
    keys = ApiKeys(store, pepper="p", cache_ttl_s=0)
    _, secret = keys.create("alice")
    keys.authenticate(secret)
    keys.authenticate(secret)
    assert store.reads == 2


@pytest.mark.parametrize("ttl", [-1.0, MAX_CACHE_TTL_S + 0.5])
def test_a_ttl_outside_zero_to_one_second_is_refused(store: CountingStore, ttl: float) -> None:
    with pytest.raises(InputError, match="TTL"):
        ApiKeys(store, cache_ttl_s=ttl)
