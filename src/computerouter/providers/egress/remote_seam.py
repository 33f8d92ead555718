"""What a remote provider needs to send its sandboxes' egress through the router's gateway.

A provider whose sandboxes reach the control plane over the network (Daytona, Sprites, any
that lands later) mixes in :class:`RemoteEgress`, handing it the process's
:class:`~computerouter.providers.egress.remote.RemoteGateway` (or ``None``: the provider then
lets sandboxes reach header-less routes directly, as before the gateway). It then:

- registers a session's routes with the gateway when it places the runtime
  (:meth:`RemoteEgress.register_routes`);
- points every route at the gateway in the sandbox's environment (:func:`gateway_env`: the
  gateway's address, which is no secret) and its network allow list at the gateway only
  (:func:`gateway_ip`, or the gateway's host name for a policy by domain);
- answers the router's ``EgressControl`` and ``TurnIdentity`` seams
  (:mod:`computerouter.providers.base`) from the gateway.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from pathlib import Path

from computerouter.domain.egress import EgressMeter, EgressTurn
from computerouter.domain.logs import GATEWAY_LOG, LogLine
from computerouter.domain.values import LaunchSpec
from computerouter.errors import ProviderError
from computerouter.providers.egress.remote import IDENTITY_HEADER, GatewayAddress, RemoteGateway

__all__ = ["RemoteEgress", "gateway_env", "gateway_ip", "shared_gateway"]

BOOT_IDENTITY_S = 600.0
"""How long the identity a runtime is started with serves when no turn comes."""

_SHARED: dict[tuple[str, str, str], RemoteGateway] = {}
_SHARED_GUARD = threading.Lock()


def shared_gateway(*, listen: str, public_url: str, log_path: Path) -> RemoteGateway | None:
    """The process's gateway for these settings (one for every remote provider built with
    them, started on first use); ``None`` when ``listen`` is empty or ``off``."""
    if listen.strip().lower() in ("", "off"):
        return None
    key = (listen, public_url, str(log_path))
    with _SHARED_GUARD:
        found = _SHARED.get(key)
        if found is None:
            found = RemoteGateway(listen=listen, public_url=public_url, log_path=log_path)
            _SHARED[key] = found
        return found


def gateway_env(launch: LaunchSpec, address: GatewayAddress) -> dict[str, str]:
    """Each route's ``COMPUTEROUTER_EGRESS_<NAME>`` names the gateway, and
    ``COMPUTEROUTER_EGRESS_VIA`` tells the session bridge to add the turn identity."""
    env = {f"COMPUTEROUTER_EGRESS_{r.name.upper()}": address.hostport for r in launch.egress}
    if launch.egress:
        env["COMPUTEROUTER_EGRESS_VIA"] = ",".join(r.name for r in launch.egress)
    if address.tls:
        env["COMPUTEROUTER_GATEWAY_TLS"] = address.host
    return env


def gateway_ip(
    address: GatewayAddress, *, provider: str
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The gateway's address, resolved here (an allow list by network needs one)."""
    try:
        return ipaddress.ip_address(address.host)
    except ValueError:
        pass
    try:
        return ipaddress.ip_address(socket.gethostbyname(address.host))
    except OSError as exc:
        raise ProviderError(
            f"the remote gateway's host {address.host} does not resolve: {exc}", provider=provider
        ) from exc


class RemoteEgress:
    """``EgressControl`` and ``TurnIdentity`` answered by the router's remote gateway."""

    _gateway: RemoteGateway | None

    def has_gateway(self) -> bool:
        return self._gateway is not None

    def gateway_address(self) -> GatewayAddress | None:
        return None if self._gateway is None else self._gateway.address

    def register_routes(self, instance_id: str, launch: LaunchSpec) -> None:
        if self._gateway is not None:
            self._gateway.register(instance_id, launch.egress)

    def adopt_egress(self, instance_id: str, launch: LaunchSpec) -> None:
        """Routes for a session this process did not place (made before a restart of the
        control plane): the gateway learns them from the runtime's launch again."""
        if self._gateway is not None and not self._gateway.knows(instance_id):
            self._gateway.register(instance_id, launch.egress)

    def forget_routes(self, instance_id: str) -> None:
        if self._gateway is not None:
            self._gateway.forget(instance_id)

    def configure_egress(self, instance_id: str, route: str, turn: EgressTurn) -> None:
        if self._gateway is not None:
            self._gateway.configure(instance_id, route, turn)

    def egress_meter(
        self, instance_id: str, route: str, run_id: str, *, end: bool = False
    ) -> EgressMeter:
        if self._gateway is None:
            return EgressMeter(run_id=run_id)
        return self._gateway.meter(instance_id, route, run_id, end=end)

    def issue_identity(
        self,
        instance_id: str,
        *,
        run_id: str,
        labels: tuple[tuple[str, str], ...],
        expires_at: float,
    ) -> tuple[tuple[str, str], ...]:
        if self._gateway is None or not self._gateway.knows(instance_id):
            return ()
        identity = self._gateway.issue(
            instance_id, run_id=run_id, labels=labels, expires_at=expires_at
        )
        return ((IDENTITY_HEADER, identity),)

    def boot_headers(self, instance_id: str, session_id: str) -> tuple[tuple[str, str], ...]:
        """Headers for the calls that wait for a (re)started runtime: they bring the
        session an identity of its own, no run's, for what the runtime does as it boots (Hermes
        connects to the MCP host then; with no run in flight, no run's bearer goes out and a
        metered model call is refused). It serves until the first turn brings one, or
        :data:`BOOT_IDENTITY_S` pass."""
        if self._gateway is None or not self._gateway.knows(instance_id):
            return ()
        identity = self._gateway.issue(
            instance_id,
            run_id="",
            labels=(("session", session_id),),
            expires_at=time.time() + BOOT_IDENTITY_S,
        )
        return ((IDENTITY_HEADER, identity),)

    def gateway_log(self, instance_id: str, lines: int) -> list[LogLine]:
        """The session's latest refusals at the gateway (source ``gateway``, as ``local``)."""
        if self._gateway is None:
            return []
        return [
            LogLine(source=GATEWAY_LOG, text=text)
            for text in self._gateway.refusals(instance_id, lines=lines)
        ]

    def revoke_identity(
        self, instance_id: str, run_id: str, *, reason: str, active: tuple[str, ...] = ()
    ) -> None:
        if self._gateway is not None:
            self._gateway.revoke(instance_id, run_id, reason=reason, active=active)
