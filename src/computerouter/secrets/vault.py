"""The secret vault: set, read, list, delete and rotate the operator's and users' secrets.

Values are sealed by :mod:`~computerouter.secrets.envelope` before they reach the store and
opened only by :meth:`SecretVault.get`, which hands back a :class:`SecretValue` whose ``repr``
hides it. Nothing here logs or formats a value.

KEK rotation without downtime: add a new KEK first in the keyring (it becomes current and new
secrets are wrapped under it, while every reader still knows the old one), run
:meth:`SecretVault.rotate_kek`, which re-wraps each data key under the current KEK one row at a
time, then retire the old KEK once :meth:`SecretVault.usage` shows nothing wrapped by it. Each
row moves in its own compare-and-set, so a rotation that dies half-way leaves every secret
readable, and running it again finishes the rest (rows already moved are skipped).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from computerouter.domain.secrets import (
    SECRET_VALUE_MAX_BYTES,
    SecretRecord,
    SecretValue,
    check_secret_name,
)
from computerouter.errors import InputError, NotFound, SecretKeyMissing
from computerouter.secrets.envelope import open_sealed, rewrap, seal
from computerouter.secrets.keyring import KeyProvider
from computerouter.store.secrets import SecretStore

__all__ = ["RotationReport", "SecretVault"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RotationReport:
    key_id: str
    """The KEK every data key is now wrapped under."""
    rewrapped: int
    already_current: int
    changed_meanwhile: int
    """Rows set or deleted while the rotation ran (a set one is already under ``key_id``)."""


class SecretVault:
    def __init__(
        self, store: SecretStore, keys: KeyProvider, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._keys = keys
        self._clock = clock

    def set(self, owner: str, name: str, value: str) -> SecretRecord:
        check_secret_name(name)
        data = value.encode("utf-8")
        if not data:
            raise InputError(f"the value of secret {name!r} is empty")
        if len(data) > SECRET_VALUE_MAX_BYTES:
            raise InputError(
                f"the value of secret {name!r} is longer than {SECRET_VALUE_MAX_BYTES} bytes"
            )
        sealed = seal(self._keys, owner, name, data)
        return self._store.put(owner, name, sealed, now=self._clock())

    def get(self, owner: str, name: str) -> SecretValue:
        record = self._record(owner, name)
        data = open_sealed(self._keys, owner, name, record.sealed)
        return SecretValue(data.decode("utf-8"))

    def find(self, owner: str, name: str) -> SecretValue | None:
        """Like :meth:`get`, but ``None`` when there is no such secret."""
        if self._store.get(owner, name) is None:
            return None
        return self.get(owner, name)

    def list(self, *, owner: str | None = None) -> list[SecretRecord]:
        return self._store.list(owner=owner)

    def delete(self, owner: str, name: str) -> None:
        if not self._store.delete(owner, name):
            raise NotFound(f"no secret {name!r} for {owner}")

    def usage(self) -> dict[str, int]:
        """How many secrets each KEK id wraps."""
        return self._store.kek_ids()

    def rotate_kek(self) -> RotationReport:
        """Re-wrap every data key under the current KEK (see the module docstring).

        Refused, changing nothing, when a secret is wrapped by a KEK that is not configured.
        Every secret is opened on the way, so a KEK that is wrong for its id, or a tampered row,
        stops the rotation with one line naming it.
        """
        current = self._keys.current_key_id
        missing = sorted(set(self.usage()) - self._keys.key_ids())
        if missing:
            raise SecretKeyMissing(
                f"cannot rotate: secrets are wrapped by key-encryption key {missing[0]!r}, "
                "which is not configured; add it back, then rotate",
                key_id=missing[0],
            )
        rewrapped = current_already = changed = 0
        for record in self._store.list():
            if record.kek_id == current:
                # Still opened: a wrong KEK under the current id shows here, not at a read.
                open_sealed(self._keys, record.owner, record.name, record.sealed)
                current_already += 1
                continue
            moved = rewrap(self._keys, record.owner, record.name, record.sealed)
            if self._store.rewrap(
                record, kek_id=moved.kek_id, wrapped_dek=moved.wrapped_dek, now=self._clock()
            ):
                rewrapped += 1
            else:
                changed += 1
        return RotationReport(
            key_id=current,
            rewrapped=rewrapped,
            already_current=current_already,
            changed_meanwhile=changed,
        )

    def _record(self, owner: str, name: str) -> SecretRecord:
        record = self._store.get(owner, name)
        if record is None:
            raise NotFound(f"no secret {name!r} for {owner}")
        return record
