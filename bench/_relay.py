"""A TCP → unix-socket relay, for clients that only speak TCP (LiteLLM) to a local session's
runtime, which listens on the session's unix socket. It runs as its own process (one asyncio
loop), so its work never waits on the benchmark's own threads; each connection is piped both
ways until either side closes.

    python bench/_relay.py SOCKET PORT
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _shared import free_port, running, wait_up


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _relay(path: str, port: int) -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


@contextmanager
def tcp_unix_relay(path: str, workdir: Path, *, name: str = "relay") -> Iterator[str]:
    """``http://127.0.0.1:PORT``, reaching the unix socket ``path``, while the block runs
    (its log: ``workdir/<name>.log``)."""
    port = free_port()
    log = workdir / f"{name}.log"
    argv = [sys.executable, __file__, path, str(port)]
    with running(argv, env=dict(os.environ), log=log) as process:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, process, log, timeout_s=30)
        yield url


if __name__ == "__main__":
    asyncio.run(_relay(sys.argv[1], int(sys.argv[2])))
