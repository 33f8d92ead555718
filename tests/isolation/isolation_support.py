"""Types shared by the isolation tests and their fixtures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from computerouter.domain.instances import Instance

SessionFactory = Callable[..., Instance]
"""``session(resources=None)``: a new echo session in the test's provider."""

InsideRunner = Callable[[Instance, str], Any]
"""``inside(instance, code)``: run Python code in the session; returns the JSON it prints."""
