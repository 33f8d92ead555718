"""Sprite status -> :class:`InstanceState`, in one pure function.

A sprite reports one of three runtime statuses (the API's ``status`` field): ``running`` (a VM
is executing), ``warm`` (hibernated in memory: wakes in 0.1-0.5 s) and ``cold`` (hibernated on
disk: wakes in 1-2 s, its Services restarted). The vendor hibernates an idle sprite by itself
and wakes it on the next request, so warm and cold alone are not a state of ours: the runtime
Service still answers. What *we* did to the sprite is kept in its labels as a lifecycle mark
(``cr.state=...``): ``creating`` until the runtime first answers, ``suspended`` when the
runtime Service was stopped on purpose, ``archived`` once a checkpoint holds the workspace and
the Service is stopped. The mark wins; the status decides only for a live sprite.
"""

from __future__ import annotations

import enum

from computerouter.domain.instances import InstanceState

__all__ = ["VENDOR_STATUSES", "Mark", "instance_state"]

VENDOR_STATUSES: tuple[str, ...] = ("running", "warm", "cold")
"""Every status the Sprites API documents for a sprite."""


class Mark(enum.StrEnum):
    """The lifecycle mark the provider keeps in a sprite's labels."""

    CREATING = "creating"
    LIVE = "live"
    SUSPENDED = "suspended"
    ARCHIVED = "archived"


def instance_state(status: str, mark: Mark | None) -> InstanceState:
    """``status`` as the API reports it; ``mark`` None when the labels carry none (a sprite
    made halfway, before its labels were written)."""
    if mark is None or mark is Mark.CREATING:
        return InstanceState.CREATING
    if mark is Mark.ARCHIVED:
        return InstanceState.ARCHIVED
    if status not in VENDOR_STATUSES:
        return InstanceState.UNKNOWN
    if mark is Mark.SUSPENDED:
        return InstanceState.SUSPENDED
    # A live sprite the vendor hibernated wakes on the next request: still serving.
    return InstanceState.RUNNING
