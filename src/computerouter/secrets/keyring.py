"""Key-encryption keys (KEKs): the seam, and the keyring read from the environment or a file.

A :class:`KeyProvider` wraps a data key under its current KEK and unwraps one under any KEK it
knows, by id. Knowing several ids is what makes rotation work without downtime: readers open
rows wrapped by the old KEK and by the new one while ``rotate-kek`` moves them over. A KMS or
an HSM plugs in behind the same two calls.

:class:`LocalKeyring` holds its KEKs in memory. They come from ``COMPUTEROUTER_SECRETS_KEK``
(setting ``secrets_kek``) or, when that is empty, from the key file (setting
``secrets_kek_file``, default ``home/secrets.kek``), which must be readable by its owner only.
Both spell keys the same way: entries ``ID:KEY`` separated by commas or new lines, ``KEY`` being
32 bytes in URL-safe base64; lines starting with ``#`` are comments. The first entry is the
current KEK, the one new and rotated data keys are wrapped under.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from computerouter.domain.ids import is_valid_key_part
from computerouter.errors import ConfigError, SecretKeyMissing, SecretUnreadable

__all__ = [
    "KEK_ENV",
    "KeyProvider",
    "LocalKeyring",
    "WrappedKey",
    "format_keys",
    "new_kek",
    "parse_keys",
    "write_key_file",
]

KEK_ENV = "COMPUTEROUTER_SECRETS_KEK"
_NONCE_BYTES = 12
_KEY_BYTES = 32
_WRAP_AAD = b"computerouter/dek-wrap/v1\x00"


@dataclass(frozen=True, kw_only=True, slots=True)
class WrappedKey:
    key_id: str
    blob: bytes


class KeyProvider(Protocol):
    """Wraps and unwraps data keys under key-encryption keys named by id.

    ``wrap`` uses the current KEK and says which one it used. ``unwrap`` takes the id the data
    key was wrapped under; it raises :class:`SecretKeyMissing` for an id it does not know and
    :class:`SecretUnreadable` (reason ``wrong_key``) when that KEK does not open the blob.
    """

    @property
    def current_key_id(self) -> str: ...

    def key_ids(self) -> frozenset[str]: ...

    def wrap(self, dek: bytes) -> WrappedKey: ...

    def unwrap(self, key_id: str, blob: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class _Kek:
    key_id: str
    key: bytes

    def __repr__(self) -> str:
        return f"_Kek({self.key_id!r}, <redacted>)"


def _aad(key_id: str) -> bytes:
    return _WRAP_AAD + key_id.encode()


class LocalKeyring:
    """KEKs held in memory, the first one current (see the module docstring)."""

    def __init__(self, keys: Sequence[tuple[str, bytes]], *, source: str = "") -> None:
        self._keys = tuple(_Kek(key_id, key) for key_id, key in keys)
        self._by_id = {k.key_id: k for k in self._keys}
        self.source = source
        if len(self._by_id) != len(self._keys):
            raise ConfigError(f"the key-encryption keys in {source or 'use'} repeat an id")

    def __repr__(self) -> str:
        return f"LocalKeyring(ids={[k.key_id for k in self._keys]!r}, <keys redacted>)"

    @classmethod
    def load(cls, *, value: str, key_file: Path) -> LocalKeyring:
        """From ``value`` (the environment's setting) if not empty, else the key file if it
        exists, else an empty keyring (which can read nothing and refuses to wrap)."""
        if value.strip():
            return cls(parse_keys(value, source=KEK_ENV), source=KEK_ENV)
        text = _read_key_file(key_file)
        if text is None:
            return cls((), source=str(key_file))
        return cls(parse_keys(text, source=str(key_file)), source=str(key_file))

    @property
    def current_key_id(self) -> str:
        if not self._keys:
            raise ConfigError(
                f"no key-encryption key is configured: set {KEK_ENV} or make one with "
                "'computerouter secrets new-kek'"
            )
        return self._keys[0].key_id

    def key_ids(self) -> frozenset[str]:
        return frozenset(self._by_id)

    def ordered_ids(self) -> tuple[str, ...]:
        return tuple(k.key_id for k in self._keys)

    def entries(self) -> list[tuple[str, bytes]]:
        """The keys themselves, for rewriting the key file; never print them."""
        return [(k.key_id, k.key) for k in self._keys]

    def wrap(self, dek: bytes) -> WrappedKey:
        key_id = self.current_key_id
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._by_id[key_id].key).encrypt(nonce, dek, _aad(key_id))
        return WrappedKey(key_id=key_id, blob=nonce + sealed)

    def unwrap(self, key_id: str, blob: bytes) -> bytes:
        kek = self._by_id.get(key_id)
        if kek is None:
            raise SecretKeyMissing(
                f"the key-encryption key {key_id!r} is not configured "
                f"(known: {', '.join(sorted(self._by_id)) or 'none'}); add it to {KEK_ENV} "
                "or the key file",
                key_id=key_id,
            )
        try:
            return AESGCM(kek.key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(key_id))
        except (InvalidTag, ValueError) as exc:
            raise SecretUnreadable(
                f"the key-encryption key {key_id!r} does not open this data key",
                key_id=key_id,
                reason="wrong_key",
            ) from exc


def new_kek(key_id: str) -> tuple[str, bytes]:
    _check_key_id(key_id, source="the new key")
    return key_id, os.urandom(_KEY_BYTES)


def format_keys(keys: Sequence[tuple[str, bytes]]) -> str:
    """The key file's text for ``keys`` (first one current)."""
    lines = ["# computerouter key-encryption keys: ID:KEY, the first one current"]
    lines += [f"{key_id}:{base64.urlsafe_b64encode(key).decode()}" for key_id, key in keys]
    return "\n".join(lines) + "\n"


def parse_keys(text: str, *, source: str) -> list[tuple[str, bytes]]:
    """``ID:KEY`` entries (see the module docstring); one line naming the source otherwise.
    Nothing of a key is ever put in a message."""
    keys: list[tuple[str, bytes]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith("#"):
            continue
        for raw_entry in line.split(","):
            entry = raw_entry.strip()
            if not entry:
                continue
            key_id, colon, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not colon:
                raise ConfigError(
                    f"key-encryption key entry {len(keys) + 1} in {source} (line {number}) "
                    "is not ID:KEY"
                )
            _check_key_id(key_id, source=source)
            try:
                key = base64.urlsafe_b64decode(encoded.strip().encode("ascii"))
            except (binascii.Error, UnicodeEncodeError, ValueError):
                key = b""
            if len(key) != _KEY_BYTES:
                raise ConfigError(
                    f"the key-encryption key {key_id!r} in {source} is not "
                    f"{_KEY_BYTES} bytes of URL-safe base64"
                )
            keys.append((key_id, key))
    return keys


def _check_key_id(key_id: str, *, source: str) -> None:
    if not is_valid_key_part(key_id) or len(key_id) > 64:
        raise ConfigError(
            f"key-encryption key id {key_id[:70]!r} in {source} is not valid: use 1-64 of "
            "letters, digits, '.', '_', '-'"
        )


def _read_key_file(path: Path) -> str | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"the key file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"the key file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the key file {path}: {exc}") from exc


def write_key_file(path: Path, keys: Sequence[tuple[str, bytes]]) -> None:
    """Replace the key file with ``keys``, atomically, readable by its owner only."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(format_keys(keys))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise ConfigError(f"cannot write the key file {path}: {exc.strerror}") from exc
