"""Envelope encryption of one secret: AES-256-GCM under a fresh data key (DEK), the DEK
wrapped by a key-encryption key from a :class:`~computerouter.secrets.keyring.KeyProvider`.

The value's associated data binds it to its owner and name, so a sealed value copied to another
row does not decrypt. The wrap is bound to the KEK id only, which lets a wrong KEK (the wrap
fails) be told apart from a changed or moved value (the wrap opens, the value does not).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from computerouter.domain.secrets import SealedSecret
from computerouter.errors import SecretUnreadable
from computerouter.secrets.keyring import KeyProvider

__all__ = ["open_sealed", "rewrap", "seal"]

_NONCE_BYTES = 12
_VALUE_AAD = b"computerouter/secret/v1\x00"


def _aad(owner: str, name: str) -> bytes:
    # Neither part may hold a NUL (both are checked ids), so the join is unambiguous.
    return _VALUE_AAD + owner.encode() + b"\x00" + name.encode()


def _label(owner: str, name: str) -> str:
    return f"{owner}/{name}"


def seal(keys: KeyProvider, owner: str, name: str, value: bytes) -> SealedSecret:
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(_NONCE_BYTES)
    ciphertext = AESGCM(dek).encrypt(nonce, value, _aad(owner, name))
    wrapped = keys.wrap(dek)
    return SealedSecret(
        kek_id=wrapped.key_id, wrapped_dek=wrapped.blob, nonce=nonce, ciphertext=ciphertext
    )


def _unwrap(keys: KeyProvider, owner: str, name: str, sealed: SealedSecret) -> bytes:
    try:
        return keys.unwrap(sealed.kek_id, sealed.wrapped_dek)
    except SecretUnreadable as exc:
        raise SecretUnreadable(
            f"secret {_label(owner, name)} does not open with key-encryption key "
            f"{sealed.kek_id!r}: that is not the key it was wrapped with, or its stored data "
            "key was changed",
            owner=owner,
            name=name,
            key_id=sealed.kek_id,
            reason="wrong_key",
        ) from exc


def open_sealed(keys: KeyProvider, owner: str, name: str, sealed: SealedSecret) -> bytes:
    """The plaintext; :class:`SecretKeyMissing` or :class:`SecretUnreadable` otherwise."""
    dek = _unwrap(keys, owner, name, sealed)
    try:
        return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, _aad(owner, name))
    except (InvalidTag, ValueError) as exc:
        raise SecretUnreadable(
            f"secret {_label(owner, name)} was tampered with: its stored value does not "
            "authenticate (changed, or copied from another secret)",
            owner=owner,
            name=name,
            key_id=sealed.kek_id,
            reason="tampered",
        ) from exc


def rewrap(keys: KeyProvider, owner: str, name: str, sealed: SealedSecret) -> SealedSecret:
    """The same value and DEK, the DEK wrapped under the current KEK. The value is opened
    first, so a row that would not decrypt is never carried over to the new KEK."""
    open_sealed(keys, owner, name, sealed)
    dek = _unwrap(keys, owner, name, sealed)
    wrapped = keys.wrap(dek)
    return SealedSecret(
        kek_id=wrapped.key_id,
        wrapped_dek=wrapped.blob,
        nonce=sealed.nonce,
        ciphertext=sealed.ciphertext,
    )
