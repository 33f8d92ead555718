"""``swap_frozen``: a suspended session's memory goes out to the host's swap, and it resumes
as before. Needs swap on the host (``bench/density.py`` sets up zram for its run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from computerouter.domain.instances import InstanceState
from computerouter.providers.local import LocalProvider, probe
from computerouter.providers.local.host import swap_configured
from computerouter.runtimes.transport import client_for
from computerouter.testing.specs import echo_spec

pytestmark = pytest.mark.isolation


@pytest.mark.skipif(bool(probe().gaps()), reason="needs root, bubblewrap and cgroups")
@pytest.mark.skipif(not swap_configured(), reason="the host has no swap")
def test_a_frozen_session_is_squeezed_into_swap_and_resumes(tmp_path: Path) -> None:
    plain = LocalProvider(root=tmp_path / "plain")
    squeezing = LocalProvider(root=tmp_path / "squeezing", swap_frozen=True)
    held = {}
    for name, provider in (("plain", plain), ("squeezed", squeezing)):
        instance = provider.create(echo_spec())
        provider.suspend(instance.instance_id)
        held[name] = provider.usage(instance.instance_id).memory_bytes
        resumed = provider.resume(instance.instance_id)
        assert resumed.state is InstanceState.RUNNING
        assert resumed.endpoint is not None
        with client_for(resumed.endpoint, timeout_s=10) as client:
            assert client.get("/health").status_code == 200
        provider.destroy(instance.instance_id)

    assert held["squeezed"] < held["plain"] / 2, held
