"""The one error tree of computerouter.

Every error the product raises on purpose is a :class:`ComputeRouterError`. Each carries a
stable ``code`` (what the API returns and the SDK maps back), a one-line message fit for an
operator, and typed attributes instead of text to parse::

    ComputeRouterError
    ├── ConfigError                  bad settings: database URL, data directory, price file
    │   └── SecretKeyMissing         a secret is wrapped by a key-encryption key that is not
    │                                configured (carries key_id)
    ├── InputError                   bad input from a caller (ids, names, durations)
    ├── Unauthorized                 no API key, or one that is unknown or revoked
    ├── Forbidden                    the key may not do this (an admin-only operation)
    ├── RateLimited                  the key sent too many requests (carries retry_after_s)
    ├── NotFound
    │   ├── SessionNotFound          no session with that id
    │   └── RunNotFound              no run with that id
    ├── Conflict
    │   ├── InvalidTransition        the lifecycle table forbids current -> target
    │   ├── StaleState               a compare-and-set lost: someone else changed the row first
    │   ├── SessionDataKept          a sandbox's last session failed and its memory is kept:
    │                                recover or destroy it before the sandbox starts over
    │   └── LogsArchived             an instance's logs are packed in its archive (carries
    │                                instance_id, location, session_id when known)
    ├── StoreError                   the database failed or is unreachable
    ├── ProviderError                a provider call failed (carries provider, retryable,
    │   │                            retry_after_s when the vendor said when to try again)
    │   ├── ProviderUnavailable      the provider cannot serve now (degraded, paused, missing)
    │   ├── InstanceNotFound         the provider has no such instance
    │   └── IsolationUnavailable     the machine cannot isolate sessions as required
    ├── RuntimeFailure               the runtime in a session did not start or answer
    ├── SecretUnreadable             a stored secret does not decrypt: the wrong key-encryption
    │                                key for its id, or a changed row (carries owner, name,
    │                                key_id, reason)
    ├── Paused                       a kill switch (global, user or provider) refuses the run
    │                                (carries scope, reason)
    ├── CapReached                   a per-user cap is reached (carries user_id, what, cap)
    ├── InsufficientCredit           the user's balance cannot cover a run's reservation
                                     (carries user_id, available, required in micro-credits)
    └── SessionUnavailable           ensure_session could not produce a usable session
                                     (carries failover_history)

Foreign exceptions are translated at the boundary where they enter (a provider package, the
store) and re-raised ``from`` the original, so the cause stays on the traceback for logs while
the operator sees one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CapReached",
    "ComputeRouterError",
    "ConfigError",
    "Conflict",
    "FailoverAttempt",
    "Forbidden",
    "InputError",
    "InstanceNotFound",
    "InsufficientCredit",
    "InvalidTransition",
    "IsolationUnavailable",
    "LogsArchived",
    "NotFound",
    "Paused",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "RunNotFound",
    "RuntimeFailure",
    "SecretKeyMissing",
    "SecretUnreadable",
    "SessionDataKept",
    "SessionNotFound",
    "SessionUnavailable",
    "StaleState",
    "StoreError",
    "Unauthorized",
]


class ComputeRouterError(Exception):
    """Base of every error computerouter raises on purpose."""

    code: str = "computerouter_error"
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ComputeRouterError):
    code = "config_error"


class SecretKeyMissing(ConfigError):
    """A secret is wrapped by a key-encryption key this control plane does not have."""

    code = "secret_key_missing"

    def __init__(self, message: str, *, key_id: str) -> None:
        super().__init__(message)
        self.key_id = key_id


class InputError(ComputeRouterError):
    code = "invalid_input"


class NotFound(ComputeRouterError):
    code = "not_found"


class SessionNotFound(NotFound):
    code = "session_not_found"

    def __init__(self, session_id: str) -> None:
        super().__init__(f"no compute session with id {session_id!r}")
        self.session_id = session_id


class RunNotFound(NotFound):
    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class Unauthorized(ComputeRouterError):
    """The request carries no API key, or one that is unknown, malformed or revoked."""

    code = "unauthorized"


class Forbidden(ComputeRouterError):
    """The key is valid but may not do this (an admin-only operation). Never used for another
    tenant's resource: that is a :class:`NotFound`, so its existence is not confirmed."""

    code = "forbidden"


class RateLimited(ComputeRouterError):
    code = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Conflict(ComputeRouterError):
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, *, session_id: str, current: str, target: str) -> None:
        super().__init__(f"session {session_id} is {current}; it cannot become {target}")
        self.session_id = session_id
        self.current = current
        self.target = target


class StaleState(Conflict):
    code = "stale_state"
    retryable = True

    def __init__(self, *, session_id: str, expected: str) -> None:
        super().__init__(f"session {session_id} is no longer {expected}; it was changed meanwhile")
        self.session_id = session_id
        self.expected = expected


class SessionDataKept(Conflict):
    """A sandbox's last session failed, and its provider still keeps its workspace (the agent's
    memory) as an archive. A run does not silently start the sandbox over: an operator recovers
    the session (it restores on the next run) or destroys it (the next run starts fresh)."""

    code = "session_data_kept"

    def __init__(self, *, session_id: str, key: str, error: str = "") -> None:
        self.session_id = session_id
        why = f" ({error})" if error else ""
        super().__init__(
            f"the last session of {key}, {session_id}, failed{why}; its workspace is kept as "
            f"an archive: `compute sessions recover {session_id}` brings it back, "
            f"`compute sessions destroy {session_id}` discards it so the next run starts over"
        )


class LogsArchived(Conflict):
    """The instance is archived: its runtime's logs went into the archive with its workspace."""

    code = "logs_archived"

    def __init__(self, *, instance_id: str, location: str, session_id: str = "") -> None:
        if session_id:
            message = (
                f"session {session_id} is archived: its logs are in its archive, {location}; "
                f"they are back here once it resumes"
            )
        else:
            message = f"{instance_id} is archived: its logs are in its archive, {location}"
        super().__init__(message)
        self.instance_id = instance_id
        self.location = location
        self.session_id = session_id


class StoreError(ComputeRouterError):
    code = "store_error"
    retryable = True


class ProviderError(ComputeRouterError):
    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"


class InstanceNotFound(ProviderError):
    code = "instance_not_found"

    def __init__(self, *, provider: str, instance_id: str) -> None:
        super().__init__(f"no instance {instance_id!r}", provider=provider)
        self.instance_id = instance_id


class IsolationUnavailable(ProviderError):
    code = "isolation_unavailable"


class RuntimeFailure(ComputeRouterError):
    code = "runtime_failure"
    retryable = True


def _credits(micro: int) -> str:
    """Integer micro-credits as an exact decimal ("12.5"); no floats touch money."""
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), 1_000_000)
    return f"{sign}{whole}.{frac:06d}".rstrip("0").rstrip(".")


class SecretUnreadable(ComputeRouterError):
    """A stored secret does not decrypt. ``reason`` is ``wrong_key`` (the key-encryption key
    under that id is not the one that wrapped it) or ``tampered`` (the row was changed or
    copied from another owner or name)."""

    code = "secret_unreadable"

    def __init__(
        self, message: str, *, owner: str = "", name: str = "", key_id: str = "", reason: str
    ) -> None:
        super().__init__(message)
        self.owner = owner
        self.name = name
        self.key_id = key_id
        self.reason = reason


class Paused(ComputeRouterError):
    """A kill switch is on: the platform, this user, or every candidate provider is paused."""

    code = "paused"

    def __init__(self, *, scope: str, reason: str) -> None:
        super().__init__(f"{scope} is paused: {reason}")
        self.scope = scope
        self.reason = reason


class CapReached(ComputeRouterError):
    """A hard per-user limit (live sessions, runs in flight) is reached; nothing was started."""

    code = "cap_reached"

    def __init__(self, *, user_id: str, what: str, cap: int) -> None:
        super().__init__(
            f"user {user_id} has reached the cap of {cap} {what}; try again when one ends"
        )
        self.user_id = user_id
        self.what = what
        self.cap = cap


class InsufficientCredit(ComputeRouterError):
    """Refused up front: no session was touched and nothing was charged."""

    code = "insufficient_credit"

    def __init__(self, *, user_id: str, available: int, required: int) -> None:
        super().__init__(
            f"user {user_id} has {_credits(available)} credits available; "
            f"a run needs {_credits(required)} (grant more with: computerouter credits grant)"
        )
        self.user_id = user_id
        self.available = available
        self.required = required


@dataclass(frozen=True, kw_only=True, slots=True)
class FailoverAttempt:
    """One provider tried by ensure_session, and why it did not serve."""

    provider: str
    error_code: str
    message: str
    retryable: bool = True
    """Whether the error was one another try (here or on another provider) may get past."""


class SessionUnavailable(ComputeRouterError):
    """``retryable`` is False when the cause was one no other provider or later try would get
    past (bad input, isolation missing): fail-over stops there."""

    code = "session_unavailable"
    retryable = True

    def __init__(
        self,
        message: str,
        *,
        failover_history: Sequence[FailoverAttempt] = (),
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.failover_history = tuple(failover_history)
        self.retryable = retryable
