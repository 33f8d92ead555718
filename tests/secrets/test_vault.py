"""Secrets at rest: envelope encryption round trip, binding to owner and name, a wrong or
missing KEK, tampering, and KEK rotation (including a rotation that dies half-way)."""

from __future__ import annotations

import logging
import os

import pytest
import sqlalchemy as sa

from computerouter.domain.secrets import OPERATOR, owner_for
from computerouter.errors import (
    ConfigError,
    InputError,
    NotFound,
    SecretKeyMissing,
    SecretUnreadable,
)
from computerouter.secrets import LocalKeyring, SecretVault
from computerouter.secrets.keyring import WrappedKey
from computerouter.store import Store
from computerouter.store.secrets import SecretStore, secrets

VALUE = "sk-live-0123456789abcdef-the-model-key"
OLD = ("kek-old", os.urandom(32))
NEW = ("kek-new", os.urandom(32))


def vault(store: Store, *keys: tuple[str, bytes]) -> SecretVault:
    return SecretVault(SecretStore(store.engine), LocalKeyring(keys))


def raw_rows(store: Store) -> list[sa.RowMapping]:
    with store.engine.connect() as conn:
        return list(conn.execute(secrets.select()).mappings())


def test_a_secret_round_trips_and_is_stored_only_encrypted(store: Store) -> None:
    v = vault(store, OLD)
    v.set(OPERATOR, "model_api_key", VALUE)
    v.set(owner_for("alice"), "model_api_key", "alice-own-key")
    assert v.get(OPERATOR, "model_api_key").reveal() == VALUE
    assert v.get(owner_for("alice"), "model_api_key").reveal() == "alice-own-key"
    row = raw_rows(store)[0]
    assert VALUE.encode() not in b"".join(bytes(row[c]) for c in ("wrapped_dek", "ciphertext"))
    assert VALUE not in repr(v.get(OPERATOR, "model_api_key"))
    assert VALUE not in str(v.get(OPERATOR, "model_api_key"))
    assert [(r.owner, r.name, r.kek_id) for r in v.list()] == [
        ("operator", "model_api_key", "kek-old"),
        ("user:alice", "model_api_key", "kek-old"),
    ]


def test_each_secret_has_its_own_data_key_and_a_set_replaces_the_value(store: Store) -> None:
    v = vault(store, OLD)
    first = v.set(OPERATOR, "a", VALUE)
    second = v.set(OPERATOR, "b", VALUE)
    assert first.sealed.wrapped_dek != second.sealed.wrapped_dek
    assert first.sealed.ciphertext != second.sealed.ciphertext
    again = v.set(OPERATOR, "a", "replaced")
    assert again.created_at == first.created_at
    assert v.get(OPERATOR, "a").reveal() == "replaced"


def test_a_row_copied_to_another_owner_or_name_does_not_decrypt(store: Store) -> None:
    v = vault(store, OLD)
    v.set(owner_for("alice"), "token", VALUE)
    v.set(owner_for("bob"), "token", "bob-token")
    alice = raw_rows(store)[0]
    with store.engine.begin() as conn:
        conn.execute(
            secrets.update()
            .where(secrets.c.owner == "user:bob")
            .values(
                wrapped_dek=alice["wrapped_dek"],
                nonce=alice["nonce"],
                ciphertext=alice["ciphertext"],
            )
        )
    with pytest.raises(SecretUnreadable) as caught:
        v.get(owner_for("bob"), "token")
    assert caught.value.reason == "tampered"
    assert "user:bob/token" in str(caught.value)


def test_a_wrong_kek_under_the_same_id_is_a_clear_error_not_garbage(store: Store) -> None:
    vault(store, OLD).set(OPERATOR, "model_api_key", VALUE)
    impostor = vault(store, ("kek-old", os.urandom(32)))
    with pytest.raises(SecretUnreadable) as caught:
        impostor.get(OPERATOR, "model_api_key")
    assert caught.value.reason == "wrong_key"
    assert caught.value.key_id == "kek-old"
    assert "'kek-old'" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_kek_names_the_key_id(store: Store) -> None:
    vault(store, OLD).set(OPERATOR, "model_api_key", VALUE)
    with pytest.raises(SecretKeyMissing) as caught:
        vault(store, NEW).get(OPERATOR, "model_api_key")
    assert caught.value.key_id == "kek-old"
    assert "'kek-old'" in str(caught.value)
    with pytest.raises(ConfigError, match="no key-encryption key is configured"):
        vault(store).set(OPERATOR, "x", VALUE)


@pytest.mark.parametrize("column", ["ciphertext", "nonce", "wrapped_dek"])
def test_a_tampered_row_is_a_clear_error(store: Store, column: str) -> None:
    v = vault(store, OLD)
    v.set(OPERATOR, "model_api_key", VALUE)
    stored = bytearray(raw_rows(store)[0][column])
    stored[-1] ^= 0x01
    with store.engine.begin() as conn:
        conn.execute(secrets.update().values({column: bytes(stored)}))
    with pytest.raises(SecretUnreadable) as caught:
        v.get(OPERATOR, "model_api_key")
    assert caught.value.reason == ("wrong_key" if column == "wrapped_dek" else "tampered")
    assert "operator/model_api_key" in str(caught.value)


def test_kek_rotation_keeps_every_secret_readable_then_the_old_kek_retires(
    store: Store,
) -> None:
    before = vault(store, OLD)
    values = {f"s{i}": f"value-{i}" for i in range(5)}
    for name, value in values.items():
        before.set(OPERATOR, name, value)
    during = vault(store, NEW, OLD)  # the new KEK is current; the old one still opens
    during.set(OPERATOR, "fresh", "made-during-rotation")
    assert during.get(OPERATOR, "s0").reveal() == "value-0"
    report = during.rotate_kek()
    assert (report.key_id, report.rewrapped, report.already_current) == ("kek-new", 5, 1)
    assert during.usage() == {"kek-new": 6}
    retired = vault(store, NEW)
    for name, value in values.items():
        assert retired.get(OPERATOR, name).reveal() == value
    assert retired.get(OPERATOR, "fresh").reveal() == "made-during-rotation"
    again = retired.rotate_kek()
    assert (again.rewrapped, again.already_current) == (0, 6)


class CrashingKeyring:
    """A keyring that dies (as a process would) after ``wraps`` wraps."""

    def __init__(self, inner: LocalKeyring, *, wraps: int) -> None:
        self._inner = inner
        self._left = wraps

    @property
    def current_key_id(self) -> str:
        return self._inner.current_key_id

    def key_ids(self) -> frozenset[str]:
        return self._inner.key_ids()

    def wrap(self, dek: bytes) -> WrappedKey:
        if self._left == 0:
            raise KeyboardInterrupt("the rotation died here")
        self._left -= 1
        return self._inner.wrap(dek)

    def unwrap(self, key_id: str, blob: bytes) -> bytes:
        return self._inner.unwrap(key_id, blob)


def test_a_rotation_that_dies_half_way_leaves_all_readable_and_resumes(store: Store) -> None:
    vault(store, OLD).set(OPERATOR, "a", "va")
    for name in ("b", "c", "d"):
        vault(store, OLD).set(owner_for("alice"), name, f"v{name}")
    keyring = LocalKeyring([NEW, OLD])
    crashing = SecretVault(SecretStore(store.engine), CrashingKeyring(keyring, wraps=2))
    with pytest.raises(KeyboardInterrupt):
        crashing.rotate_kek()
    assert vault(store, NEW, OLD).usage() == {"kek-new": 2, "kek-old": 2}
    reader = SecretVault(SecretStore(store.engine), keyring)
    assert reader.get(OPERATOR, "a").reveal() == "va"
    assert [reader.get(owner_for("alice"), n).reveal() for n in "bcd"] == ["vb", "vc", "vd"]
    report = reader.rotate_kek()
    assert (report.rewrapped, report.already_current) == (2, 2)
    assert vault(store, NEW).get(owner_for("alice"), "d").reveal() == "vd"


def test_rotation_without_a_kek_some_secret_needs_changes_nothing(store: Store) -> None:
    vault(store, OLD).set(OPERATOR, "a", VALUE)
    before = raw_rows(store)
    with pytest.raises(SecretKeyMissing, match="'kek-old'"):
        vault(store, NEW).rotate_kek()
    assert raw_rows(store) == before


def test_bad_names_values_and_unknown_secrets_are_one_line_errors(store: Store) -> None:
    v = vault(store, OLD)
    with pytest.raises(InputError, match="secret name"):
        v.set(OPERATOR, "bad name", VALUE)
    with pytest.raises(InputError, match="empty"):
        v.set(OPERATOR, "a", "")
    with pytest.raises(InputError, match="longer than"):
        v.set(OPERATOR, "a", "x" * (64 * 1024 + 1))
    with pytest.raises(InputError, match="user id"):
        owner_for("bad user")
    with pytest.raises(NotFound):
        v.get(OPERATOR, "nope")
    with pytest.raises(NotFound):
        v.delete(OPERATOR, "nope")
    assert raw_rows(store) == []


def test_delete_removes_the_secret(store: Store) -> None:
    v = vault(store, OLD)
    v.set(OPERATOR, "a", VALUE)
    v.delete(OPERATOR, "a")
    assert v.find(OPERATOR, "a") is None
    assert v.list() == []


def test_no_value_or_key_reaches_the_logs(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    keyring = LocalKeyring([NEW, OLD])
    v = SecretVault(SecretStore(store.engine), keyring)
    v.set(OPERATOR, "a", VALUE)
    v.get(OPERATOR, "a")
    v.rotate_kek()
    text = caplog.text + repr(keyring) + repr(v.list())
    assert VALUE not in text
    assert NEW[1].hex() not in text
    assert repr(NEW[1]) not in text


def test_readers_never_fail_while_a_rotation_runs(store: Store) -> None:
    import threading

    before = vault(store, OLD)
    for i in range(20):
        before.set(OPERATOR, f"s{i}", f"value-{i}")
    reader = vault(store, NEW, OLD)
    failures: list[BaseException] = []
    reads = 0
    done = threading.Event()

    def read_all() -> None:
        nonlocal reads
        while not done.is_set() or reads == 0:
            for i in range(20):
                try:
                    assert reader.get(OPERATOR, f"s{i}").reveal() == f"value-{i}"
                except BaseException as exc:  # any failure is the test's finding
                    failures.append(exc)
                reads += 1

    thread = threading.Thread(target=read_all)
    thread.start()
    try:
        report = vault(store, NEW, OLD).rotate_kek()
    finally:
        done.set()
        thread.join(timeout=60)
    assert report.rewrapped == 20
    assert failures == []
    assert reads >= 20


def test_the_public_names_are_pinned() -> None:
    import computerouter.secrets

    assert computerouter.secrets.__all__ == [
        "KeyProvider",
        "LocalKeyring",
        "RotationReport",
        "RouterSecret",
        "SecretVault",
    ]
