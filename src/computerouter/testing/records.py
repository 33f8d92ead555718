"""Session records for tests that write the store directly (crashed owners, odd states)."""

from __future__ import annotations

from typing import Any

from computerouter.domain.ids import new_session_id
from computerouter.domain.session import SessionRecord
from computerouter.domain.states import SessionState
from computerouter.domain.values import Resources

__all__ = ["session_record"]


def session_record(*, at: float, **fields: Any) -> SessionRecord:
    """A ``provisioning`` record created at ``at``; ``fields`` override any attribute."""
    values: dict[str, Any] = {
        "id": new_session_id(),
        "user_id": "u",
        "sandbox_id": "s",
        "provider": "fake",
        "runtime": "fake",
        "state": SessionState.PROVISIONING,
        "version": 1,
        "resources": Resources(),
        "created_at": at,
        "updated_at": at,
        "state_changed_at": at,
        "last_active_at": at,
    }
    values.update(fields)
    return SessionRecord(**values)
