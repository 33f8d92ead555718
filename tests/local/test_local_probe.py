"""The ``local`` provider's health probe: cheap, no session made; isolation missing is not
retryable, an unusable or full sessions root is."""

from __future__ import annotations

from pathlib import Path

import pytest

from computerouter.errors import IsolationUnavailable, ProviderUnavailable
from computerouter.providers.base import HealthProbe
from computerouter.providers.local import LocalProvider
from computerouter.providers.local.host import LocalHost
from computerouter.providers.local.readiness import check_ready

UNISOLATED = LocalHost(is_root=False)


def test_local_offers_the_probe_and_refuses_without_isolation(tmp_path: Path) -> None:
    provider = LocalProvider(root=tmp_path / "local", host=UNISOLATED)
    assert isinstance(provider, HealthProbe)
    with pytest.raises(IsolationUnavailable) as caught:
        provider.probe("")
    assert caught.value.retryable is False
    assert not (tmp_path / "local").exists(), "the probe made nothing"


def test_unisolated_when_allowed_probes_ok(tmp_path: Path) -> None:
    provider = LocalProvider(root=tmp_path / "local", host=UNISOLATED, allow_unisolated=True)
    provider.probe("")
    assert list(provider.list()) == []


def test_a_root_that_cannot_be_written_is_retryable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    provider = LocalProvider(root=blocker / "local", host=UNISOLATED, allow_unisolated=True)
    with pytest.raises(ProviderUnavailable, match="cannot be written") as caught:
        provider.probe("")
    assert caught.value.retryable is True


def test_a_full_disk_is_retryable(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable, match="too little") as caught:
        check_ready(host=UNISOLATED, root=tmp_path, allow_unisolated=True, min_free_bytes=2**62)
    assert caught.value.retryable is True
    assert "\n" not in str(caught.value)
