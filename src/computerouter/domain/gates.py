"""The kill switch's vocabulary: pause scopes and how a pause treats runs already in flight.

Pure values; the store keeps pauses (and an audit trail), ``compute.gates`` enforces them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from computerouter.errors import InputError

__all__ = ["Pause", "PauseMode", "PauseScope", "ScopeKind"]

_TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$")
MAX_REASON_CHARS = 500


class ScopeKind(enum.StrEnum):
    GLOBAL = "global"
    """The whole platform."""
    USER = "user"
    """One user's runs, on every provider."""
    PROVIDER = "provider"
    """One provider: nothing new is placed there; sessions living there take no runs."""


class PauseMode(enum.StrEnum):
    DRAIN = "drain"
    """New runs stop at once; runs in flight finish."""
    NOW = "now"
    """New runs stop at once and runs in flight are cancelled (``run.cancelled``, the reason)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class PauseScope:
    kind: ScopeKind
    target: str = ""

    def __post_init__(self) -> None:
        if self.kind is ScopeKind.GLOBAL:
            if self.target:
                raise InputError("a global pause names no user or provider")
        elif not _TARGET.match(self.target):
            raise InputError(f"a {self.kind.value} pause needs a valid {self.kind.value} name")

    @property
    def key(self) -> str:
        """``global``, ``user:U`` or ``provider:P``: the stored form."""
        return self.kind.value if self.kind is ScopeKind.GLOBAL else f"{self.kind}:{self.target}"

    @classmethod
    def parse(cls, key: str) -> PauseScope:
        kind, _, target = key.partition(":")
        try:
            return cls(kind=ScopeKind(kind), target=target)
        except ValueError:
            raise InputError(f"unknown pause scope {key!r}") from None

    def __str__(self) -> str:
        return "the platform" if self.kind is ScopeKind.GLOBAL else f"{self.kind} {self.target}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Pause:
    scope: PauseScope
    mode: PauseMode
    reason: str
    actor: str
    at: float

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise InputError("a pause needs a reason (--reason TEXT): it goes in the audit trail")
        if len(self.reason) > MAX_REASON_CHARS:
            raise InputError(f"the reason is over {MAX_REASON_CHARS} characters")
