"""The router's remote gateway: the only way out of a remote provider's sandbox.

A remote sandbox (Daytona, Sprites) has no host-side relay beside it. Its network allow list
names one destination, this gateway, served by the control plane on ``gateway_listen``; each
of its egress routes (the model endpoint, the router's MCP host, the general forward proxy)
lives here as the very objects a ``local`` session's relay script runs
(:class:`~computerouter.providers.egress.relay.Relay`,
:class:`~computerouter.providers.egress.relay.Gateway`: imported, not copied), told each
turn's configuration the same way (:meth:`RemoteGateway.configure`, behind the providers'
``EgressControl``). Credentials are stamped here, on the way out; the sandbox holds none.

**Turn identity.** A request is served only when it carries a live turn identity
(:data:`IDENTITY_HEADER`) and names its route (:data:`ROUTE_HEADER`). An identity is minted by
the router for one run on one session (:meth:`RemoteGateway.issue`) and sent with that turn's
calls to the runtime: the session bridge takes it off the call, keeps it in memory only (never
in an environment or a file) and adds it to each request going out. It is refused from the
moment the session's next turn brings a new one, its run ends or is cancelled
(:meth:`RemoteGateway.revoke`), or its expiry (the run's ceiling) passes. Every refusal is one
JSON line in the gateway's log, naming the session, sandbox, agent and run where the identity
does (a forged or missing one names only the peer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from computerouter.domain.egress import EgressMeter, EgressTurn
from computerouter.domain.gateway import parse_gateway_address
from computerouter.domain.values import EgressRoute
from computerouter.errors import ConfigError, InputError, ProviderError
from computerouter.providers.egress import relay
from computerouter.providers.egress.control import meter_from, turn_message

__all__ = ["IDENTITY_HEADER", "ROUTE_HEADER", "GatewayAddress", "RemoteGateway"]

IDENTITY_HEADER = "X-Computerouter-Turn"
"""The turn identity: on the router's calls to the runtime, and on what the bridge sends out."""
ROUTE_HEADER = "X-Computerouter-Route"
"""Which of the session's egress routes a request is for (``model``, ``mcp``, ``gateway``)."""
IDENTITY_PREFIX = "gwt_"
_KEEP_ENDED = 4096
"""Identities no longer live kept (by digest) so a refusal can still say whose they were."""
_CALL_TIMEOUT_S = 5.0
_KEEP_REFUSALS = 1000

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayAddress:
    """Where a sandbox reaches the gateway."""

    host: str
    port: int
    tls: bool = False
    """Behind a TLS terminator: the bridge speaks TLS to ``host``."""

    @property
    def hostport(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _split(text: str, *, what: str) -> tuple[str, int, bool]:
    try:
        return parse_gateway_address(text)
    except InputError as exc:
        raise ConfigError(f"setting {what}: {exc}") from None


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


@dataclass(kw_only=True, slots=True)
class _Binding:
    """What one identity names, and why it no longer serves ('' while it does)."""

    instance_id: str
    run_id: str
    labels: tuple[tuple[str, str], ...]
    expires_at: float
    ended: str = ""


class _Refused(Exception):
    def __init__(
        self, status: int, message: str, labels: dict[str, str], instance_id: str = ""
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.labels = status, message, labels
        self.instance_id = instance_id


class _LoggedGateway(relay.Gateway):
    """The forward proxy of one session, logging its refusals to the gateway's log."""

    def __init__(self, config: relay.Json, sink: Callable[[str, str], None]) -> None:
        super().__init__(config)
        self._sink = sink
        self._instance = str(dict(config.get("labels", {})).get("instance", ""))

    def emit(self, text: str) -> None:
        self._sink(text, self._instance)


Route = relay.Relay | relay.Gateway


def _route_object(route: EgressRoute, instance_id: str, sink: Callable[[str, str], None]) -> Route:
    config: relay.Json = {
        "upstream": route.upstream,
        "headers": [list(h) for h in route.headers],
        "prefix": route.prefix,
        "metered": route.metered,
        "per_run": route.per_run,
        "allow": [rule.as_json() for rule in route.allow],
        "labels": {"instance": instance_id, **dict(route.labels)},
    }
    if route.gateway:
        return _LoggedGateway(config, sink)
    if not route.upstream:
        raise ProviderError(f"egress route {route.name!r} names no upstream", provider="gateway")
    return relay.Relay(config)


class RemoteGateway:
    """One TCP endpoint serving every remote session's egress routes.

    ``listen`` is where it binds (``HOST:PORT``; port 0: any free one); ``public_url`` is where
    sandboxes reach it (``[https://]HOST:PORT``; empty: the address it bound). ``log_path``
    receives one JSON line per refusal. Started on first use; thread-safe."""

    def __init__(
        self,
        *,
        listen: str = "127.0.0.1:0",
        public_url: str = "",
        log_path: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._listen = _split(listen, what="gateway_listen")[:2]
        self._public = _split(public_url, what="gateway_public_url") if public_url else None
        self._log_path = log_path
        self._clock = clock
        self._guard = threading.Lock()
        self._log_guard = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._address: GatewayAddress | None = None
        self._routes: dict[str, dict[str, Route]] = {}
        self._live: dict[str, _Binding] = {}
        """Live identities by digest."""
        self._ended: OrderedDict[str, _Binding] = OrderedDict()
        self._recent: dict[str, deque[str]] = {}
        """Each session's latest refusals (its ``logs`` show them)."""

    # -- serving -----------------------------------------------------------------------------

    def start(self) -> GatewayAddress:
        """Serve (once) and return where sandboxes reach the gateway."""
        with self._guard:
            if self._address is not None:
                return self._address
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            failure: list[BaseException] = []
            bound: list[int] = []

            def run() -> None:
                asyncio.set_event_loop(loop)
                try:
                    server = loop.run_until_complete(
                        asyncio.start_server(
                            self._handle, self._listen[0], self._listen[1], limit=relay.MAX_HEAD
                        )
                    )
                except OSError as exc:
                    failure.append(exc)
                    ready.set()
                    return
                bound.append(int(server.sockets[0].getsockname()[1]))
                ready.set()
                try:
                    loop.run_forever()
                finally:
                    server.close()
                    loop.run_until_complete(server.wait_closed())
                    loop.close()

            thread = threading.Thread(target=run, name="remote-gateway", daemon=True)
            thread.start()
            if not ready.wait(10.0) or failure or not bound:
                why = failure[0] if failure else "it did not start"
                raise ProviderError(
                    f"the remote gateway cannot listen on {self._listen[0]}:{self._listen[1]}: "
                    f"{why}",
                    provider="gateway",
                )
            self._loop, self._thread = loop, thread
            if self._public is not None:
                host, port, tls = self._public
                self._address = GatewayAddress(host=host, port=port or bound[0], tls=tls)
            else:
                self._address = GatewayAddress(host=self._listen[0], port=bound[0])
            return self._address

    @property
    def address(self) -> GatewayAddress:
        return self.start()

    def stop(self) -> None:
        with self._guard:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            self._address = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10.0)

    def __enter__(self) -> RemoteGateway:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _in_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the gateway's loop (where the route objects live), or here before."""
        loop = self._loop
        if loop is None:
            return fn()

        async def call() -> T:
            return fn()

        coroutine: Coroutine[Any, Any, T] = call()
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(_CALL_TIMEOUT_S)

    # -- sessions and turns ------------------------------------------------------------------

    def register(self, instance_id: str, routes: Sequence[EgressRoute]) -> None:
        """The session's routes (again at each create, restore, or claim: the latest wins)."""
        made = {r.name: _route_object(r, instance_id, self._write) for r in routes}
        self._in_loop(lambda: self._routes.__setitem__(instance_id, made))

    def knows(self, instance_id: str) -> bool:
        return instance_id in self._routes

    def forget(self, instance_id: str) -> None:
        """The session is gone: its routes and identities too."""
        self._in_loop(lambda: self._routes.pop(instance_id, None))
        with self._log_guard:
            self._recent.pop(instance_id, None)
        with self._guard:
            for digest, binding in list(self._live.items()):
                if binding.instance_id == instance_id:
                    self._end(digest, "its session was destroyed")

    def _route(self, instance_id: str, route: str) -> Route:
        found = self._routes.get(instance_id, {}).get(route)
        if found is None:
            raise ProviderError(
                f"the remote gateway has no route {route!r} for {instance_id} (the session was "
                "made by another control plane process, or its runtime has no such route)",
                provider="gateway",
            )
        return found

    def configure(self, instance_id: str, route: str, turn: EgressTurn) -> None:
        message = turn_message(turn)

        def apply() -> relay.Json:
            return self._route(instance_id, route).command(message)

        answer = self._in_loop(apply)
        if "error" in answer:
            raise ProviderError(
                f"the remote gateway refused: {answer['error']}", provider="gateway"
            )

    def meter(self, instance_id: str, route: str, run_id: str, *, end: bool) -> EgressMeter:
        message = {"op": "end" if end else "meter", "run_id": run_id}
        answer = self._in_loop(lambda: self._route(instance_id, route).command(message))
        return meter_from(run_id, answer)

    def issue(
        self,
        instance_id: str,
        *,
        run_id: str,
        labels: tuple[tuple[str, str], ...],
        expires_at: float,
    ) -> str:
        """A new identity for ``run_id``'s turn on the session; the session's earlier ones
        stop serving now (each turn brings its own)."""
        identity = IDENTITY_PREFIX + secrets.token_urlsafe(32)
        with self._guard:
            for digest, binding in list(self._live.items()):
                if binding.instance_id == instance_id:
                    self._end(digest, f"replaced by the identity of a later turn (after {run_id})")
            self._live[_digest(identity)] = _Binding(
                instance_id=instance_id, run_id=run_id, labels=labels, expires_at=expires_at
            )
        return identity

    def revoke(
        self,
        instance_id: str,
        run_id: str,
        *,
        reason: str = "its run ended",
        active: Sequence[str] = (),
    ) -> None:
        """``run_id``'s identity stops serving it now. Where other runs are still in flight on
        the session (``active``), the bridge holds this identity for them too (it keeps the
        latest): it goes on serving the latest of them, with that run's labels and expiry."""
        with self._guard:
            for digest, binding in list(self._live.items()):
                if binding.instance_id != instance_id or binding.run_id != run_id:
                    continue
                heir = next(
                    (
                        old
                        for old in reversed(self._ended.values())
                        if old.instance_id == instance_id
                        and old.run_id in active
                        and old.run_id != run_id
                        and self._clock() < old.expires_at
                    ),
                    None,
                )
                if heir is None:
                    self._end(digest, reason)
                else:
                    binding.run_id, binding.labels = heir.run_id, heir.labels
                    binding.expires_at = heir.expires_at

    def _end(self, digest: str, reason: str) -> None:
        binding = self._live.pop(digest)
        binding.ended = reason
        self._ended[digest] = binding
        while len(self._ended) > _KEEP_ENDED:
            self._ended.popitem(last=False)

    def _bound(self, identity: str) -> _Binding:
        """The live binding ``identity`` is; :class:`_Refused` (407) for anything else."""
        if not identity:
            raise _Refused(407, f"no turn identity ({IDENTITY_HEADER})", {})
        digest = _digest(identity)
        with self._guard:
            binding = self._live.get(digest)
            if binding is not None and self._clock() >= binding.expires_at:
                self._end(digest, "it expired at its run's ceiling")
                binding = None
            if binding is None:
                ended = self._ended.get(digest)
                if ended is None:
                    raise _Refused(407, "unknown turn identity", {})
                whose = f"of run {ended.run_id}" if ended.run_id else "the session booted with"
                raise _Refused(
                    407,
                    f"the turn identity {whose} no longer serves: {ended.ended}",
                    dict(ended.labels),
                    ended.instance_id,
                )
            # Found by the SHA-256 of a 256-bit secret: the lookup's timing tells nothing of it.
            return binding

    # -- the data path -----------------------------------------------------------------------

    def refusals(self, instance_id: str, *, lines: int = 100) -> list[str]:
        """The session's latest refusals, oldest first (at most ``lines``)."""
        with self._log_guard:
            kept = list(self._recent.get(instance_id, ()))
        return kept[-lines:] if lines > 0 else []

    def _write(self, text: str, instance_id: str = "") -> None:
        line = text.rstrip("\n")
        log.warning("remote gateway: %s", line)
        if instance_id:
            with self._log_guard:
                self._recent.setdefault(instance_id, deque(maxlen=_KEEP_REFUSALS)).append(line)
        if self._log_path is None:
            return
        with self._log_guard, contextlib.suppress(OSError):
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with self._log_path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")

    def _log_refusal(
        self, refused: _Refused, *, peer: str, route: str, request: str, instance_id: str = ""
    ) -> None:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "event": "egress.refused",
            "reason": refused.message,
            "route": route,
            "request": request[:200],
            "peer": peer,
        }
        line.update(refused.labels)
        if instance_id:
            line["instance"] = instance_id
        self._write(json.dumps(line), instance_id)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str(writer.get_extra_info("peername") or "")
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
            writer.close()
            return
        lines = head[:-4].split(b"\r\n")
        identity = route = ""
        kept = [lines[0]]
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower().decode("latin-1")
            if key == IDENTITY_HEADER.lower():
                identity = value.strip().decode("latin-1")
            elif key == ROUTE_HEADER.lower():
                route = value.strip().decode("latin-1")
            else:
                kept.append(line)
        request = lines[0].decode("latin-1")
        try:
            binding = self._bound(identity)
            target = self._routes.get(binding.instance_id, {}).get(route)
            if target is None:
                raise _Refused(
                    403,
                    f"no egress route {route!r} here",
                    dict(binding.labels),
                    binding.instance_id,
                )
        except _Refused as refused:
            self._log_refusal(
                refused, peer=peer, route=route, request=request, instance_id=refused.instance_id
            )
            with contextlib.suppress(ConnectionError, OSError):
                await relay.reply(writer, refused.status, refused.message)
            writer.close()
            return
        # The route object reads the request as the session sent it, less our two headers.
        inner = asyncio.StreamReader(limit=relay.MAX_HEAD)
        inner.feed_data(b"\r\n".join(kept) + b"\r\n\r\n")
        pump = asyncio.ensure_future(_pump(reader, inner))
        try:
            await target.handle(inner, writer)
        finally:
            pump.cancel()


async def _pump(source: asyncio.StreamReader, target: asyncio.StreamReader) -> None:
    try:
        while chunk := await source.read(65536):
            target.feed_data(chunk)
    except (ConnectionError, OSError):
        pass
    finally:
        target.feed_eof()
