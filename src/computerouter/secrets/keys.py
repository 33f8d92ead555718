"""The router's secret: 32 random bytes in ``home/secret.key`` (mode 0600), created on first
use. Per-session keys are derived from it (HMAC-SHA256), so nothing per session is stored and
any control plane sharing the home (or the same secret file) derives the same keys."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

from computerouter.errors import ConfigError

__all__ = ["RouterSecret"]


@dataclass(frozen=True, slots=True)
class RouterSecret:
    key: bytes

    def __repr__(self) -> str:
        return "RouterSecret(<redacted>)"

    @classmethod
    def load_or_create(cls, home: Path) -> RouterSecret:
        path = home / "secret.key"
        try:
            home.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(os.urandom(32))
            key = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read or create the router secret {path}: {exc}") from exc
        if len(key) < 32:
            raise ConfigError(f"the router secret {path} is truncated; remove it to make a new one")
        return cls(key)

    def derive(self, purpose: str, subject: str) -> str:
        """A 48-hex-character key for ``purpose`` (e.g. "runtime-api") and ``subject``."""
        message = f"{purpose}\x00{subject}".encode()
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()[:48]
