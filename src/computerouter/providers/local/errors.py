"""The one place where OS and subprocess errors become computerouter errors.

Everything the provider does to the machine runs inside :func:`translate`; what escapes is a
:class:`~computerouter.errors.ComputeRouterError` (raised on purpose) or a translated one with
the original as ``__cause__``, never a bare ``OSError``.
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from computerouter.errors import ComputeRouterError, ProviderError

__all__ = ["PROVIDER", "translate"]

PROVIDER = "local"

# Conditions that pass: another try may well succeed.
_TRANSIENT = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ENOMEM,
        errno.ENOSPC,
        errno.EMFILE,
        errno.ENFILE,
        errno.ETIMEDOUT,
    }
)


@contextmanager
def translate(operation: str, instance_id: str = "") -> Iterator[None]:
    where = f"{operation} {instance_id}".strip()
    try:
        yield
    except ComputeRouterError:
        raise
    except OSError as exc:
        target = f" ({exc.filename})" if exc.filename else ""
        reason = exc.strerror or str(exc)
        raise ProviderError(
            f"{where}: {reason}{target}",
            provider=PROVIDER,
            retryable=exc.errno in _TRANSIENT,
        ) from exc
    except subprocess.SubprocessError as exc:
        raise ProviderError(f"{where}: {exc}", provider=PROVIDER, retryable=True) from exc
    except (ValueError, json.JSONDecodeError) as exc:
        raise ProviderError(f"{where}: {exc}", provider=PROVIDER) from exc
