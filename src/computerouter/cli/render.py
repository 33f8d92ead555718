"""Turning records into tables, panels and JSON for operators and scripts."""

from __future__ import annotations

import json
import re
from typing import Any

from rich.console import Console
from rich.table import Table

from computerouter.domain.ceilings import check_ceiling
from computerouter.domain.limits import check_duration
from computerouter.domain.session import SessionRecord
from computerouter.errors import InputError
from computerouter.store import TransitionRow

__all__ = [
    "PIPE_WIDTH",
    "console",
    "err_console",
    "format_duration",
    "parse_ceiling",
    "parse_duration",
    "print_json",
    "session_dict",
    "session_table",
]

PIPE_WIDTH = 100_000
"""Width of output that is not a terminal: a table needs no more than its cells take."""


def _console(*, stderr: bool = False) -> Console:
    """A terminal gets tables fitted to its width; anything else (a pipe, a file) gets as wide
    as the cells are, because Rich would otherwise fit it to 80 columns and cut ids with "…"."""
    fitted = Console(stderr=stderr)
    return fitted if fitted.is_terminal else Console(stderr=stderr, width=PIPE_WIDTH)


console = _console()
err_console = _console(stderr=True)

_STATE_STYLE = {
    "running": "green",
    "suspended": "cyan",
    "archived": "blue",
    "failed": "red",
    "destroyed": "dim",
}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """``"90"``, ``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` → seconds."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise InputError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return check_duration(seconds, what=f"the duration {text.strip()!r}")


def parse_ceiling(text: str, *, what: str) -> float:
    """A ceiling flag (``--max-run``, ``--max-uptime``): a duration more than zero."""
    match = _DURATION.fullmatch(text)
    if not match:
        raise InputError(
            f"{what} must be a duration more than zero (e.g. 90, 90s, 15m, 2h), not {text!r}"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    return check_ceiling(seconds, what=what, typed=text.strip())


def format_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    if seconds < 86400:
        return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"
    return f"{seconds // 86400:.0f}d{(seconds % 86400) // 3600:02.0f}h"


def session_dict(record: SessionRecord, now: float) -> dict[str, Any]:
    return {
        "id": record.id,
        "user_id": record.user_id,
        "sandbox_id": record.sandbox_id,
        "provider": record.provider,
        "region": record.region,
        "runtime": record.runtime,
        "state": record.state.value,
        "instance_id": record.instance_id,
        "endpoint": None if record.endpoint is None else str(record.endpoint),
        "resources": {
            "cpus": record.resources.cpus,
            "memory_mb": record.resources.memory_mb,
            "pids": record.resources.pids,
        },
        "agent_id": record.agent_id,
        "run_id": record.run_id,
        "created_at": record.created_at,
        "last_active_at": record.last_active_at,
        "state_changed_at": record.state_changed_at,
        "idle_s": round(record.idle_for(now), 3),
        "uptime_s": round(record.uptime(now), 3),
        "error": record.error,
    }


def styled_state(state: str) -> str:
    style = _STATE_STYLE.get(state, "yellow")
    return f"[{style}]{state}[/{style}]"


def session_table(records: list[SessionRecord], now: float) -> Table:
    table = Table(title="compute sessions", title_justify="left")
    for column in ("session", "user", "sandbox", "provider", "state", "idle", "uptime"):
        # In a narrow terminal ids fold onto more lines rather than lose characters.
        table.add_column(column, no_wrap=column in ("session", "state"), overflow="fold")
    for r in records:
        table.add_row(
            r.id,
            r.user_id,
            r.sandbox_id,
            r.provider,
            styled_state(r.state.value),
            format_duration(r.idle_for(now)),
            format_duration(r.uptime(now)),
        )
    return table


def detail_table(record: SessionRecord, history: list[TransitionRow], now: float) -> Table:
    table = Table(show_header=False, title=f"session {record.id}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    data = session_dict(record, now)
    data["state"] = styled_state(record.state.value)
    data["idle_s"] = format_duration(record.idle_for(now))
    data["uptime_s"] = format_duration(record.uptime(now))
    res = record.resources
    data["resources"] = f"{res.cpus:g} cpu, {res.memory_mb} MiB, {res.pids} pids"
    for key in ("created_at", "last_active_at", "state_changed_at"):
        data.pop(key)
    for key, value in data.items():
        if value not in (None, ""):
            table.add_row(key.removesuffix("_s"), str(value))
    if history:
        path = " → ".join(t.to_state.value for t in history[-8:])
        table.add_row("history", ("… → " if len(history) > 8 else "") + path)
    return table


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=None, sort_keys=False), flush=True)
