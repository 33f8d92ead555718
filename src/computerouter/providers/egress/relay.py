"""Egress relay: unix socket in a session's socket directory -> one HTTP(S) upstream.

Standard library only; runs on the host (outside the session's namespaces, inside its cgroups)
as the session's unprivileged uid. Usage:

    python3 -I -S relay.py LISTEN_SOCKET  < config.json

config.json: {"upstream": "http://127.0.0.1:8000/v1", "headers": [["Authorization", "Bearer …"]]}
Read from stdin so credentials never appear on a command line or in a file.

Each request's path must lie under the upstream's path; anything else is refused (403). The
relay sets Host, replaces the listed headers (credentials are added here, never inside the
session), forces one request per connection, and streams the response back as it arrives
(server-sent events included).
"""

import asyncio
import contextlib
import json
import os
import ssl
import sys
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"upgrade", b"te"}


def load_config() -> tuple[str, str, int, str, list[tuple[bytes, bytes]]]:
    config = json.loads(sys.stdin.read())
    up = urlsplit(config["upstream"])
    if up.scheme not in ("http", "https") or not up.hostname:
        raise SystemExit(f"relay: bad upstream {config['upstream']!r}")
    port = up.port or (443 if up.scheme == "https" else 80)
    prefix = up.path.rstrip("/")
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in config.get("headers", [])]
    return up.scheme, up.hostname, port, prefix, headers


SCHEME, HOST, PORT, PREFIX, EXTRA = load_config()
REPLACED = {k.lower() for k, _ in EXTRA} | {b"host"}


async def reply(writer: asyncio.StreamWriter, status: int, text: str) -> None:
    body = json.dumps({"error": {"message": text, "type": "egress_refused"}}).encode()
    writer.write(
        b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
        b"Connection: close\r\n\r\n" % (status, text.encode()[:60], len(body)) + body
    )
    await writer.drain()


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            return
        lines = head[:-4].split(b"\r\n")
        method, _, rest = lines[0].partition(b" ")
        target, _, _version = rest.partition(b" ")
        path = target.decode("latin-1")
        if not (path == PREFIX or path.startswith(PREFIX + "/") or not PREFIX):
            await reply(writer, 403, "path outside the allowed upstream")
            return
        out = [b"%s %s HTTP/1.1" % (method, target)]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key in HOP or key in REPLACED:
                continue
            if key == b"content-length":
                length = int(value.strip() or b"0")
            out.append(line)
        host = HOST.encode() if PORT in (80, 443) else b"%s:%d" % (HOST.encode(), PORT)
        out.append(b"Host: " + host)
        out.extend(k + b": " + v for k, v in EXTRA)
        out.append(b"Connection: close")
        body = await reader.readexactly(length) if length else b""
        try:
            context = ssl.create_default_context() if SCHEME == "https" else None
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(HOST, PORT, ssl=context), timeout=10
            )
        except (TimeoutError, OSError) as exc:
            await reply(writer, 502, f"upstream unreachable: {exc.__class__.__name__}")
            return
        up_writer.write(b"\r\n".join(out) + b"\r\n\r\n" + body)
        await up_writer.drain()
        while True:
            chunk = await up_reader.read(65536)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
        up_writer.close()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(handle, path=path, limit=MAX_HEAD)
    os.chmod(path, 0o600)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
