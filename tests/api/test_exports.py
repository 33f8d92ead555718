"""The public names of the API and SDK packages are pinned: changing them is a decision."""

from __future__ import annotations

import computerouter.api
import computerouter.client
import computerouter.wire.errors
import computerouter.wire.events


def test_public_names_are_pinned() -> None:
    assert computerouter.client.__all__ == ["AsyncClient", "Client", "RetryPolicy"]
    assert computerouter.api.__all__ == ["create_app"]
    assert computerouter.wire.errors.__all__ == [
        "ERROR_TABLE",
        "ErrorSpec",
        "error_body",
        "error_from_body",
        "spec_for",
        "status_for",
    ]
    assert computerouter.wire.events.__all__ == ["event_from_dict", "event_to_sse", "event_to_wire"]
    for module in (computerouter.client, computerouter.api, computerouter.wire.errors):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_the_sdk_does_not_import_the_server() -> None:
    import subprocess
    import sys

    code = (
        "import sys, computerouter.client; "
        "print(any(m == 'fastapi' or m.startswith('computerouter.api') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
