"""Emulated sandboxes as Daytona's wire objects, built with the SDK's own models so that
whatever the emulator answers is, by construction, something the SDK parses."""

from __future__ import annotations

from typing import Any

from daytona_api_client import Sandbox as SandboxDto
from daytona_api_client import SandboxListItem, SandboxState

from computerouter.emulators.daytona.sandboxes import EmulatedSandbox

__all__ = ["error_body", "list_item", "sandbox_dto"]

_DESIRED = {
    "creating": "started",
    "starting": "started",
    "restoring": "started",
    "started": "started",
    "stopping": "stopped",
    "stopped": "stopped",
    "archiving": "archived",
    "archived": "archived",
    "destroying": "destroyed",
    "destroyed": "destroyed",
}


def _fields(sandbox: EmulatedSandbox, *, organization_id: str, toolbox_url: str) -> dict[str, Any]:
    return {
        "id": sandbox.id,
        "organization_id": organization_id,
        "name": sandbox.name,
        "target": sandbox.target,
        "user": "daytona",
        "public": False,
        "network_block_all": sandbox.network_block_all,
        "cpu": sandbox.cpu,
        "gpu": 0,
        "memory": sandbox.memory,
        "disk": sandbox.disk,
        "labels": dict(sandbox.labels),
        "snapshot": sandbox.snapshot,
        "state": SandboxState(sandbox.state),
        "desired_state": _DESIRED.get(sandbox.state),
        "error_reason": sandbox.error_reason,
        "auto_stop_interval": sandbox.auto_stop_interval,
        "auto_archive_interval": sandbox.auto_archive_interval,
        "auto_delete_interval": sandbox.auto_delete_interval,
        "created_at": sandbox.created_at,
        "updated_at": sandbox.updated_at,
        "last_activity_at": sandbox.last_activity_at,
        "toolbox_proxy_url": toolbox_url,
    }


def sandbox_dto(sandbox: EmulatedSandbox, *, organization_id: str, toolbox_url: str) -> Any:
    fields = _fields(sandbox, organization_id=organization_id, toolbox_url=toolbox_url)
    dto = SandboxDto(
        **fields,
        env=dict(sandbox.env),
        kvm=False,
        network_allow_list=sandbox.network_allow_list,
    )
    return dto.to_dict()


def list_item(sandbox: EmulatedSandbox, *, organization_id: str, toolbox_url: str) -> Any:
    fields = _fields(sandbox, organization_id=organization_id, toolbox_url=toolbox_url)
    return SandboxListItem(**fields).to_dict()


def error_body(status: int, message: str, error: str) -> dict[str, Any]:
    """Daytona's error envelope (NestJS style), which the SDK reads ``message`` from."""
    return {"statusCode": status, "message": message, "error": error}
