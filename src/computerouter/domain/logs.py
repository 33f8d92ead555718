"""Lines of an instance's logs, as every provider hands them back."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GATEWAY_LOG", "SESSION_LOG", "LogLine"]

SESSION_LOG = "session"
"""The source name of what the instance's processes wrote to stdout and stderr."""
GATEWAY_LOG = "gateway"
"""Source of the egress gateway's lines: one JSON object per refused request."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LogLine:
    """One line (without its newline) of one log of an instance."""

    source: str
    """``session`` (the process tree's output) or the runtime log file's path in the
    workspace (``LaunchSpec.log_files``)."""
    text: str
