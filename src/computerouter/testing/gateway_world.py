"""For tests of the router's remote gateway: an upstream that records what reached it, and a
launch whose runtime calls out through the session bridge's egress ports
(:mod:`computerouter.testing.callout`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from types import TracebackType

from computerouter.domain.values import EgressRoute, FileSpec, LaunchSpec
from computerouter.runtimes.echo.runtime import sandbox_python

__all__ = ["CALLOUT_MODEL_PORT", "CALLOUT_PROXY_PORT", "RecordingUpstream", "callout_launch"]

CALLOUT_MODEL_PORT = 18080
CALLOUT_PROXY_PORT = 18089
_CALLOUT_PORT = 8700


class RecordingUpstream:
    """An OpenAI-like endpoint on 127.0.0.1 that answers every POST with a completion and
    keeps each request's path and headers (lower-cased names) in :attr:`seen`."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str]]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = json.dumps(
                    {
                        "choices": [{"message": {"role": "assistant", "content": "hello"}}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingUpstream:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def callout_launch(model_upstream: str) -> LaunchSpec:
    """The session bridge in front of the callout runtime, with a ``model`` route (the
    endpoint's key is stamped outside the sandbox) and a ``gateway`` route (the forward proxy,
    allowing nothing)."""
    python = sandbox_python()
    bridge = resources.files("computerouter.runtimes").joinpath("bridge.py").read_bytes()
    callout = resources.files("computerouter.testing").joinpath("callout.py").read_bytes()
    return LaunchSpec(
        runtime="callout",
        argv=(
            python,
            "-I",
            "{runtime_dir}/bridge.py",
            "--",
            python,
            "-I",
            "-S",
            "{runtime_dir}/callout.py",
        ),
        env=(
            ("BRIDGE_TARGET_PORT", str(_CALLOUT_PORT)),
            ("CALLOUT_PORT", str(_CALLOUT_PORT)),
            ("CALLOUT_PROXY_PORT", str(CALLOUT_PROXY_PORT)),
            ("BRIDGE_EGRESS", f"{CALLOUT_MODEL_PORT}=model,{CALLOUT_PROXY_PORT}=gateway"),
        ),
        files=(
            FileSpec(name="bridge.py", content=bridge),
            FileSpec(name="callout.py", content=callout),
        ),
        egress=(
            EgressRoute(
                name="model",
                upstream=model_upstream,
                headers=(("Authorization", "Bearer placeholder-replaced-each-turn"),),
                prefix="/v1",
            ),
            EgressRoute(name="gateway", upstream="", gateway=True),
        ),
        health_path="/health",
        start_timeout_s=20.0,
    )
