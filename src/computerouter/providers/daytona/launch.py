"""Placing a runtime in a Daytona sandbox and reaching it.

The sandbox keeps ``/workspace`` (persistent across stop and archive; ``HERMES_HOME`` lives in
it) and a runtime directory in it. The launch writes ``launch.files`` there, and a launch
script, ``launch.sh``, that starts ``argv`` with its environment; the script is run as an
async session command, so it is what a later start runs again when the runtime no longer
answers (Daytona's stop ends every process; a session command does not come back by itself).
The runtime is reached through the preview link of ``launch.port`` and its token header.
"""

from __future__ import annotations

import ipaddress
import shlex
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from computerouter.domain.values import Endpoint, LaunchSpec
from computerouter.errors import ProviderError, RuntimeFailure
from computerouter.providers.daytona.errors import PROVIDER
from computerouter.providers.egress.remote import GatewayAddress
from computerouter.providers.egress.remote_seam import gateway_env, gateway_ip

__all__ = ["RUNTIME_DIR", "WORKSPACE", "LaunchPlan", "endpoint", "plan", "start_runtime"]

WORKSPACE = "/workspace"
RUNTIME_DIR = f"{WORKSPACE}/.computerouter/runtime"
SESSION_LOG = f"{RUNTIME_DIR}/session.log"
PREVIEW_TOKEN_HEADER = "x-daytona-preview-token"


class LaunchPlan:
    """What a create sends along for the runtime: egress variables and the allow list."""

    def __init__(self, *, egress_env: dict[str, str], allow: tuple[str, ...]) -> None:
        self.egress_env = egress_env
        self.allow = allow


def _address(upstream: str) -> tuple[str, int]:
    parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return host, port


def plan(launch: LaunchSpec, gateway: GatewayAddress | None = None) -> LaunchPlan:
    """With the router's remote gateway, every egress route goes through it: each
    ``COMPUTEROUTER_EGRESS_<NAME>`` names the gateway and the allow list holds the gateway's
    address only (credentials are stamped there). Without one, each header-less route becomes
    ``COMPUTEROUTER_EGRESS_<NAME>=host:port`` and an allow-list entry for its host; a route that
    adds headers (a credential) cannot be honoured then."""
    if gateway is not None:
        ip = gateway_ip(gateway, provider=PROVIDER)
        return LaunchPlan(
            egress_env=gateway_env(launch, gateway), allow=(f"{ip}/{ip.max_prefixlen}",)
        )
    env: dict[str, str] = {}
    allow: list[str] = []
    for route in launch.egress:
        if route.gateway or route.per_run:
            # No host-side gateway, nor a route stamping per-run credentials (the MCP host's),
            # is reachable from a remote sandbox yet.
            continue
        if route.headers:
            raise ProviderError(
                f"egress route {route.name!r} adds credentials on the host side, which a "
                "remote sandbox cannot be given: use a route without headers",
                provider=PROVIDER,
            )
        host, port = _address(route.upstream)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            try:
                ip = ipaddress.ip_address(socket.gethostbyname(host))
            except OSError as exc:
                raise ProviderError(
                    f"egress route {route.name!r}: cannot resolve {host}: {exc}", provider=PROVIDER
                ) from exc
        env[f"COMPUTEROUTER_EGRESS_{route.name.upper()}"] = f"{ip}:{port}"
        cidr = f"{ip}/{ip.max_prefixlen}"
        if cidr not in allow:
            allow.append(cidr)
    return LaunchPlan(egress_env=env, allow=tuple(allow))


def launch_script(launch: LaunchSpec, egress_env: dict[str, str]) -> str:
    def fill(arg: str) -> str:
        return arg.replace("{runtime_dir}", RUNTIME_DIR).replace("{workspace}", WORKSPACE)

    env = {
        **dict(launch.env),
        **egress_env,
        "COMPUTEROUTER_PORT": str(launch.port),
        "COMPUTEROUTER_WORKSPACE": WORKSPACE,
        "COMPUTEROUTER_RUNTIME_DIR": RUNTIME_DIR,
    }
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    argv = " ".join(shlex.quote(fill(a)) for a in launch.argv)
    return (
        "#!/bin/sh\n"
        f"cd {shlex.quote(WORKSPACE)} || exit 1\n"
        f"exec env {assignments} {argv} >> {shlex.quote(SESSION_LOG)} 2>&1\n"
    )


def write_runtime(sandbox: Any, launch: LaunchSpec, egress_env: dict[str, str]) -> None:
    """The runtime's files and its launch script, in the sandbox's runtime directory."""
    from daytona import FileUpload

    sandbox.process.exec(f"mkdir -p {shlex.quote(RUNTIME_DIR)}")
    uploads = [
        FileUpload(source=f.content, destination=f"{RUNTIME_DIR}/{f.name}") for f in launch.files
    ]
    script = launch_script(launch, egress_env).encode()
    uploads.append(FileUpload(source=script, destination=f"{RUNTIME_DIR}/launch.sh"))
    sandbox.fs.upload_files(uploads)
    modes = [f"chmod {f.mode:o} {shlex.quote(f'{RUNTIME_DIR}/{f.name}')}" for f in launch.files]
    modes.append(f"chmod 755 {shlex.quote(RUNTIME_DIR)}/launch.sh")
    sandbox.process.exec(" && ".join(modes))


def start_runtime(sandbox: Any) -> None:
    """Run the launch script as a long-running async session command."""
    from daytona import SessionExecuteRequest

    session = f"computerouter-{uuid.uuid4().hex[:8]}"
    sandbox.process.create_session(session)
    sandbox.process.execute_session_command(
        session,
        SessionExecuteRequest(command=f"sh {RUNTIME_DIR}/launch.sh", run_async=True),
    )


def endpoint(sandbox: Any, port: int) -> Endpoint:
    link = sandbox.get_preview_link(port)
    return Endpoint(
        kind="http", address=str(link.url), headers=((PREVIEW_TOKEN_HEADER, str(link.token)),)
    )


def answers(target: Endpoint, health_path: str, *, timeout_s: float = 2.0) -> bool:
    try:
        with httpx.Client(headers=dict(target.headers), timeout=timeout_s) as client:
            return client.get(target.address.rstrip("/") + health_path).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(target: Endpoint, launch: LaunchSpec) -> None:
    wait_answering(target, launch.health_path, launch.start_timeout_s, launch.runtime)


def wait_answering(target: Endpoint, health_path: str, timeout_s: float, runtime: str) -> None:
    deadline = time.monotonic() + timeout_s
    pause = 0.02
    while not answers(target, health_path):
        if time.monotonic() > deadline:
            raise RuntimeFailure(
                f"the {runtime} runtime did not answer {health_path} within {timeout_s:g}s"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
