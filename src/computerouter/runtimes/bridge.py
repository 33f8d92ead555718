"""Session bridge for runtimes that speak TCP only. Standard library; runs inside a session.

It starts the runtime as its child and relays bytes both ways:

- ingress: what the router connects to -> 127.0.0.1:BRIDGE_TARGET_PORT inside the session
  (where the runtime listens). That is TCP 0.0.0.0:COMPUTEROUTER_PORT where the provider
  reaches sessions over TCP (remote providers), else the unix socket COMPUTEROUTER_SOCKET;
- egress: for each "port=route" in BRIDGE_EGRESS (comma separated), 127.0.0.1:port inside
  the session -> the route's way out: ``host:port`` in COMPUTEROUTER_EGRESS_<ROUTE> where the
  provider lets the session reach it over its network (a remote provider's allow list), else
  the unix socket egress-<route>.sock beside COMPUTEROUTER_SOCKET, which the provider relays
  on the host side.

Where a route goes through the router's remote gateway (its name in COMPUTEROUTER_EGRESS_VIA,
comma separated; a remote provider's sandbox), each request going out carries the current turn
identity and the route's name (X-Computerouter-Turn, X-Computerouter-Route). The identity comes
with the router's calls to the runtime: the ingress takes it off each request (the runtime
never sees it) and keeps the latest in this process's memory only, never in an environment or
a file. COMPUTEROUTER_GATEWAY_TLS names the gateway's host when it is reached over TLS.

The child is the command after "--". When it exits, the bridge exits with its status, so the
provider sees the session's runtime die.
"""

import asyncio
import contextlib
import functools
import os
import signal
import ssl
import sys
from collections.abc import Awaitable, Callable


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def relay_to(
    connect: Connect,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await connect()
        except OSError:
            writer.close()
            return
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handle


IDENTITY = b"x-computerouter-turn"
ROUTE = b"x-computerouter-route"
MAX_HEAD = 64 * 1024
turn = {"identity": b""}
"""The latest turn identity the router sent (memory only)."""


def clean_head(head: bytes) -> tuple[bytes, int, bool]:
    """A request head less the turn identity (kept here), its body's length, and whether the
    rest of the connection must pass as it is (a chunked body, an upgrade)."""
    lines = head[:-4].split(b"\r\n")
    kept, length, raw = [lines[0]], 0, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == IDENTITY:
            turn["identity"] = value.strip()
            continue
        if key == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
        elif key in (b"transfer-encoding", b"upgrade"):
            raw = True
        kept.append(line)
    return b"\r\n".join(kept) + b"\r\n\r\n", length, raw


async def requests_in(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    first: tuple[bytes, int, bool],
) -> None:
    """Client -> runtime, one request at a time (``first``: the cleaned head already read):
    each head loses the turn identity; a body passes as its Content-Length says."""
    head, length, raw = first
    try:
        while True:
            writer.write(head)
            await writer.drain()
            if raw:
                await pipe(reader, writer)
                return
            while length > 0:
                chunk = await reader.read(min(length, 65536))
                if not chunk:
                    return
                length -= len(chunk)
                writer.write(chunk)
                await writer.drain()
            try:
                head, length, raw = clean_head(await reader.readuntil(b"\r\n\r\n"))
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    writer.write(exc.partial)
                break
    except (ConnectionError, OSError, asyncio.LimitOverrunError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


def ingress_to(
    port: int,
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # The identity is taken even when the runtime does not answer yet (a readiness
            # probe brings the session's first one while the runtime starts).
            first = clean_head(await reader.readuntil(b"\r\n\r\n"))
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        await asyncio.gather(requests_in(reader, up_writer, first), pipe(up_reader, writer))

    return handle


def via_gateway(
    route: str, connect: Connect
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """Egress through the router's gateway: the first request head of each connection gets
    the turn identity and the route's name (the gateway serves one request per connection)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            writer.close()
            return
        lines = [
            line
            for line in head[:-4].split(b"\r\n")
            if line.partition(b":")[0].strip().lower() not in (IDENTITY, ROUTE)
        ]
        lines[1:1] = [
            b"X-Computerouter-Turn: " + turn["identity"],
            b"X-Computerouter-Route: " + route.encode(),
        ]
        try:
            up_reader, up_writer = await connect()
        except OSError:
            writer.close()
            return
        up_writer.write(b"\r\n".join(lines) + b"\r\n\r\n")
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return handle


def way_out(route: str, socket_path: str) -> Connect:
    """How to reach an egress route: over the network where the provider allows it, else
    through its host-side unix socket."""
    address = os.environ.get(f"COMPUTEROUTER_EGRESS_{route.upper()}", "")
    if address:
        host, _, port = address.rpartition(":")
        tls_host = os.environ.get("COMPUTEROUTER_GATEWAY_TLS", "")
        if tls_host and route in via_routes():
            context = ssl.create_default_context()
            return functools.partial(
                asyncio.open_connection,
                host.strip("[]"),
                int(port),
                ssl=context,
                server_hostname=tls_host,
            )
        return functools.partial(asyncio.open_connection, host.strip("[]"), int(port))
    path = os.path.join(os.path.dirname(socket_path), f"egress-{route}.sock")
    return functools.partial(asyncio.open_unix_connection, path)


def via_routes() -> set[str]:
    return set(filter(None, os.environ.get("COMPUTEROUTER_EGRESS_VIA", "").split(",")))


async def main(argv: list[str]) -> int:
    listen_port = os.environ.get("COMPUTEROUTER_PORT", "")
    socket_path = os.environ.get("COMPUTEROUTER_SOCKET", "")
    target_port = int(os.environ["BRIDGE_TARGET_PORT"])
    child = await asyncio.create_subprocess_exec(*argv)
    servers: list[asyncio.AbstractServer] = []
    ingress = ingress_to(target_port)
    if listen_port:
        servers.append(await asyncio.start_server(ingress, host="0.0.0.0", port=int(listen_port)))
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        servers.append(await asyncio.start_unix_server(ingress, path=socket_path))
        os.chmod(socket_path, 0o600)
    for spec in filter(None, os.environ.get("BRIDGE_EGRESS", "").split(",")):
        port, _, route = spec.partition("=")
        connect = way_out(route, socket_path)
        handler = via_gateway(route, connect) if route in via_routes() else relay_to(connect)
        servers.append(
            await asyncio.start_server(handler, host="127.0.0.1", port=int(port), limit=MAX_HEAD)
        )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, child.terminate)
    code = await child.wait()
    for server in servers:
        server.close()
    return code


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    sys.exit(asyncio.run(main(args)) or 0)
