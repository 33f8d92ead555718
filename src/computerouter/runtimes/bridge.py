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

The child is the command after "--". When it exits, the bridge exits with its status, so the
provider sees the session's runtime die.
"""

import asyncio
import contextlib
import functools
import os
import signal
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


def way_out(route: str, socket_path: str) -> Connect:
    """How to reach an egress route: over the network where the provider allows it, else
    through its host-side unix socket."""
    address = os.environ.get(f"COMPUTEROUTER_EGRESS_{route.upper()}", "")
    if address:
        host, _, port = address.rpartition(":")
        return functools.partial(asyncio.open_connection, host.strip("[]"), int(port))
    path = os.path.join(os.path.dirname(socket_path), f"egress-{route}.sock")
    return functools.partial(asyncio.open_unix_connection, path)


async def main(argv: list[str]) -> int:
    listen_port = os.environ.get("COMPUTEROUTER_PORT", "")
    socket_path = os.environ.get("COMPUTEROUTER_SOCKET", "")
    target_port = int(os.environ["BRIDGE_TARGET_PORT"])
    child = await asyncio.create_subprocess_exec(*argv)
    servers: list[asyncio.AbstractServer] = []
    ingress = relay_to(lambda: asyncio.open_connection("127.0.0.1", target_port))
    if listen_port:
        servers.append(await asyncio.start_server(ingress, host="0.0.0.0", port=int(listen_port)))
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(socket_path)
        servers.append(await asyncio.start_unix_server(ingress, path=socket_path))
        os.chmod(socket_path, 0o600)
    for spec in filter(None, os.environ.get("BRIDGE_EGRESS", "").split(",")):
        port, _, route = spec.partition("=")
        servers.append(
            await asyncio.start_server(
                relay_to(way_out(route, socket_path)), host="127.0.0.1", port=int(port)
            )
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
