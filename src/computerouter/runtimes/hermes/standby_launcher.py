"""Hermes started ahead of its workspace: a restore standby. Standard library; runs inside a
session, under the Hermes image's interpreter.

Phase one, before any workspace exists: import Hermes's gateway and what its first chat imports
lazily (the agent, its transports, its tools), and run its probe of the toolchain (which reads
only ``PATH``); the imports create an empty ``HERMES_HOME`` and hold two of its log files
open, nothing else (the provider empties the workspace before the unpack, and the log files
are opened again at go). Then answer ``GET /standby`` on Hermes's own port, so the provider
knows the imports are done (it freezes the instance there, using no CPU while it waits).

Phase two, on ``POST /go`` (a JSON object of environment variables: the restored session's
Hermes key; and the config, under :data:`CONFIG_KEY`): the provider has unpacked the session's
workspace by then. The listener closes, the config is written into ``HERMES_HOME`` and Hermes's
gateway runs in this process, on the modules already imported, opening its home (its state
database, the conversation) only now.

Usage: ``python -I standby_launcher.py CONFIG`` (the config file to use when go brings none).
"""

import contextlib
import importlib
import json
import os
import runpy
import shutil
import socket
import sys

# Imported at gateway start, then lazily by the first chat (measured with -X importtime).
PRELOAD = (
    "hermes_cli.main",
    "gateway.run",
    "gateway.platforms.api_server",
    "tools.mcp_tool",
    "run_agent",
    "hermes_cli.tools_config",
    "agent.agent_init",
    "agent.transports.chat_completions",
    "hermes_cli.models",
    "hermes_cli.model_normalize",
    "agent.agent_runtime_helpers",
    "openai",
    "openai.resources.chat",
    "tools.schema_sanitizer",
    "tools.tool_search",
    "gateway.session_context",
    "agent.system_prompt",
    "agent.chat_completion_helpers",
)
MAX_GO_BYTES = 65536
CONFIG_KEY = "HERMES_CONFIG_YAML"
"""The go key whose value is written as ``config.yaml`` (``runtime.STANDBY_CONFIG``)."""


PROBE_WAIT_S = 15.0
"""At most this long for the environment probe before the standby says it is ready."""


def preload() -> None:
    for name in PRELOAD:
        # A module this Hermes does not have is only a cold import later, never an error.
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    # The first system prompt waits for Hermes's probe of the toolchain (python3, pip: a few
    # subprocesses, seconds on a busy host); it reads only PATH, never HERMES_HOME, and is
    # cached for the process. Run it now, not in the restored session's first turn.
    with contextlib.suppress(Exception):
        probe = importlib.import_module("tools.env_probe")
        probe.warm_environment_probe_async()
        probe._PROBE_DONE.wait(PROBE_WAIT_S)


def _reply(conn: socket.socket, status: str, body: bytes = b"") -> None:
    head = f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    with contextlib.suppress(OSError):
        conn.sendall(head.encode() + body)


def _read_request(conn: socket.socket) -> tuple[str, str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > MAX_GO_BYTES:
            raise ValueError("incomplete request")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    if length > MAX_GO_BYTES:
        raise ValueError("request too large")
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            raise ValueError("incomplete body")
        body += chunk
    return method, path, body


def wait_for_go(port: int) -> dict[str, str]:
    """Answer ``/standby`` until a ``POST /go`` brings the environment to start with."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    try:
        while True:
            conn, _ = server.accept()
            with conn:
                try:
                    method, path, body = _read_request(conn)
                except (OSError, ValueError):
                    continue
                if method == "GET" and path == "/standby":
                    _reply(conn, "200 OK", b"standby")
                    continue
                if method != "POST" or path != "/go":
                    _reply(conn, "404 Not Found")
                    continue
                try:
                    env = json.loads(body)
                    if not isinstance(env, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
                    ):
                        raise ValueError("not an object of strings")
                except ValueError:
                    _reply(conn, "400 Bad Request")
                    continue
                _reply(conn, "202 Accepted")
                return env
    finally:
        server.close()


def reopen_logs(home: str) -> None:
    """Log files the imports opened under ``HERMES_HOME`` were replaced by the restored ones:
    each handler opens its file again at its next record."""
    import logging

    handlers = [logging.getLogger().handlers]
    handlers += [
        getattr(logger, "handlers", []) for logger in logging.Logger.manager.loggerDict.values()
    ]
    for group in handlers:
        for handler in group:
            if isinstance(handler, logging.FileHandler) and handler.baseFilename.startswith(home):
                handler.acquire()
                try:
                    if handler.stream is not None:
                        with contextlib.suppress(OSError):
                            handler.stream.close()
                    handler.stream = None
                finally:
                    handler.release()


PREVIOUS_GATEWAY_FILES = ("gateway.pid", "gateway.lock", "gateway-starts.log")
"""Kept in step with ``runtime.PREVIOUS_GATEWAY_FILES`` (this file imports nothing of ours)."""


def forget_previous_gateway(home: str) -> None:
    """The restored home describes the archived instance's gateway processes, every one of
    them gone: its pid (in this sandbox perhaps another live process, which ``--replace``
    would signal and wait ten seconds for) and its start times (more than five in two minutes
    make Hermes's respawn-storm breaker wait 10 s, 20 s, 40 s... before it starts). None of
    that is memory: forget it."""
    for name in PREVIOUS_GATEWAY_FILES:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(home, name))


def main(argv: list[str]) -> None:
    config = argv[1]
    port = int(os.environ["API_SERVER_PORT"])
    preload()
    print("standby: Hermes imported, waiting for the workspace", flush=True)
    go = wait_for_go(port)
    given = go.pop(CONFIG_KEY, None)
    os.environ.update(go)
    home = os.environ["HERMES_HOME"]
    reopen_logs(home)
    forget_previous_gateway(home)
    os.makedirs(home, exist_ok=True)
    if given is None:
        shutil.copyfile(config, os.path.join(home, "config.yaml"))
    else:
        with open(os.path.join(home, "config.yaml"), "w") as fh:
            fh.write(given)
    sys.argv = ["hermes", "gateway", "run", "--replace"]
    runpy.run_module("hermes_cli.main", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv)
