"""Deterministic sprite names and the labels a sprite carries; pure.

Sprites are found by name prefix (the API lists by prefix, not by label), so a session's sprite
is always ``cr-<session id>``: a retried create finds the sprite made before. Labels are a list
of strings; ours are ``cr.<key>=<value>``: the session's labels, the lifecycle mark
(:class:`~.states.Mark`) and, while an archive is kept, the checkpoint holding it.
"""

from __future__ import annotations

from computerouter.domain.values import Labels
from computerouter.providers.fly_sprites.states import Mark

__all__ = ["PREFIX", "SpriteLabels", "sprite_name"]

PREFIX = "cr-"


def sprite_name(idempotency_key: str) -> str:
    return PREFIX + idempotency_key.lower().replace("_", "-").replace(".", "-")


class SpriteLabels:
    """Our labels on one sprite, read from and written back to the vendor's list."""

    def __init__(
        self, labels: Labels | None, mark: Mark | None, checkpoint: str = "", health: str = ""
    ) -> None:
        self.labels = labels
        self.mark = mark
        self.checkpoint = checkpoint
        self.health = health
        """``<seconds>:<path>``: how long the runtime may take to answer, and where (resume)."""

    def to_vendor(self) -> list[str]:
        out = [f"cr.{k}={v}" for k, v in (self.labels.as_dict() if self.labels else {}).items()]
        if self.mark is not None:
            out.append(f"cr.state={self.mark.value}")
        if self.checkpoint:
            out.append(f"cr.checkpoint={self.checkpoint}")
        if self.health:
            out.append(f"cr.health={self.health}")
        return out

    @classmethod
    def from_vendor(cls, raw: list[str]) -> SpriteLabels:
        pairs = dict(
            item[3:].split("=", 1) for item in raw if item.startswith("cr.") and "=" in item
        )
        mark = None
        try:
            mark = Mark(pairs.pop("state", ""))
        except ValueError:
            mark = None
        checkpoint = pairs.pop("checkpoint", "")
        health = pairs.pop("health", "")
        try:
            labels: Labels | None = Labels.from_dict(pairs)
        except KeyError:
            labels = None
        return cls(labels, mark if labels is not None else None, checkpoint, health)

    def with_mark(self, mark: Mark, checkpoint: str | None = None) -> SpriteLabels:
        return SpriteLabels(
            self.labels, mark, self.checkpoint if checkpoint is None else checkpoint
        )
