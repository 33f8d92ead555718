"""The fake provider keeps logs like a real one: tail, follow until destroyed, archived."""

from __future__ import annotations

import threading
import time

import pytest

from computerouter.compute.router import ComputeRouter
from computerouter.domain.logs import LogLine
from computerouter.domain.values import SessionKey
from computerouter.errors import LogsArchived
from computerouter.testing import FakeProvider

KEY = SessionKey(user_id="alice", sandbox_id="sb1")


def test_logs_tail_the_instance_history(router: ComputeRouter, provider: FakeProvider) -> None:
    session = router.ensure_session(KEY)
    assert session.instance_id is not None
    router.suspend(session.id)
    router.resume(session.id)
    provider.write_log(session.instance_id, "runtime says hi", source="runtime.log")

    texts = [line.text for line in provider.logs(session.instance_id, lines=3)]

    assert texts == ["instance suspended", "instance running", "runtime says hi"]
    first = next(iter(provider.logs(session.instance_id)))
    assert first.text == "started runtime fake"


def test_follow_yields_new_lines_and_ends_when_destroyed(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    session = router.ensure_session(KEY)
    assert session.instance_id is not None
    instance_id = session.instance_id
    seen: list[LogLine] = []
    follow = provider.logs(instance_id, lines=0, follow=True)
    reader = threading.Thread(target=lambda: seen.extend(follow), daemon=True)
    reader.start()
    provider.write_log(instance_id, "one")
    provider.write_log(instance_id, "two")
    deadline = time.monotonic() + 5
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert reader.is_alive(), "follow keeps going while the instance lives"
    router.destroy(session.id)
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert [line.text for line in seen] == ["one", "two"]


def test_an_archived_instance_raises_logs_archived(
    router: ComputeRouter, provider: FakeProvider
) -> None:
    session = router.ensure_session(KEY)
    router.archive(session.id)
    assert session.instance_id is not None
    with pytest.raises(LogsArchived, match="archive"):
        provider.logs(session.instance_id)
