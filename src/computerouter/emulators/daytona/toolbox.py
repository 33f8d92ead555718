"""The toolbox (in-sandbox daemon) routes and preview links, forwarded to each sandbox's agent.

The SDK sends toolbox calls to ``{toolboxProxyUrl}/{sandboxId}/...``; preview links here are
``{base}/preview/{sandboxId}/{port}`` with the ``x-daytona-preview-token`` header.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from computerouter.emulators.daytona.sandboxes import EmulatedSandbox, Sandboxes

__all__ = ["toolbox_router"]

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _agent(sandboxes: Sandboxes, sandbox: EmulatedSandbox, timeout_s: float) -> httpx.Client:
    instance = sandboxes.local.get(sandbox.instance_id) if sandbox.instance_id else None
    if instance is None or instance.endpoint is None:
        raise HTTPException(409, f"Sandbox {sandbox.id} is not running")
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=instance.endpoint.address),
        base_url="http://agent",
        timeout=httpx.Timeout(timeout_s, connect=5.0),
    )


def _started(sandboxes: Sandboxes, sandbox_id: str) -> EmulatedSandbox:
    sandbox = sandboxes.get(sandbox_id)
    if sandbox.state != "started":
        raise HTTPException(409, f"Sandbox {sandbox.id} is {sandbox.state}, not started")
    return sandbox


def toolbox_router(sandboxes: Sandboxes) -> APIRouter:
    router = APIRouter()
    sessions: dict[tuple[str, str], dict[str, Any]] = {}

    def agent_post(sandbox: EmulatedSandbox, path: str, body: dict[str, Any]) -> Any:
        timeout = float(body.get("timeout") or 60) + 5
        with _agent(sandboxes, sandbox, timeout) as client:
            return client.post(path, json=body).json()

    @router.post("/toolbox/{sandbox_id}/process/execute")
    async def execute(sandbox_id: str, request: Request) -> Any:
        body = await request.json()
        sandbox = _started(sandboxes, sandbox_id)
        done = await _in_thread(
            agent_post,
            sandbox,
            "/exec",
            {
                "command": body["command"],
                "cwd": body.get("cwd"),
                "env": body.get("envs") or {},
                "timeout": body.get("timeout"),
            },
        )
        return {"exitCode": done["exit_code"], "result": done["stdout"] + done["stderr"]}

    @router.post("/toolbox/{sandbox_id}/process/session")
    async def create_session(sandbox_id: str, request: Request) -> Response:
        body = await request.json()
        _started(sandboxes, sandbox_id)
        sessions[(sandbox_id, body["sessionId"])] = {"commands": []}
        return Response(status_code=201)

    @router.delete("/toolbox/{sandbox_id}/process/session/{session_id}")
    def delete_session(sandbox_id: str, session_id: str) -> Response:
        sessions.pop((sandbox_id, session_id), None)
        return Response(status_code=204)

    @router.post("/toolbox/{sandbox_id}/process/session/{session_id}/exec")
    async def session_exec(sandbox_id: str, session_id: str, request: Request) -> Any:
        body = await request.json()
        sandbox = _started(sandboxes, sandbox_id)
        if (sandbox_id, session_id) not in sessions:
            raise HTTPException(404, f"session {session_id} not found")
        command_id = str(uuid.uuid4())
        if body.get("runAsync") or body.get("async"):
            log = f"/tmp/.daytona-session-{session_id}-{command_id}.log"
            await _in_thread(
                agent_post, sandbox, "/spawn", {"command": body["command"], "log": log}
            )
            return {"cmdId": command_id}
        done = await _in_thread(agent_post, sandbox, "/exec", {"command": body["command"]})
        return {
            "cmdId": command_id,
            "exitCode": done["exit_code"],
            "output": done["stdout"] + done["stderr"],
            "stdout": done["stdout"],
            "stderr": done["stderr"],
        }

    _file_routes(router, sandboxes, agent_post)
    _preview_route(router, sandboxes)
    return router


def _file_routes(router: APIRouter, sandboxes: Sandboxes, agent_post: Any) -> None:
    @router.post("/toolbox/{sandbox_id}/files/bulk-upload")
    async def bulk_upload(sandbox_id: str, request: Request) -> Response:
        sandbox = _started(sandboxes, sandbox_id)
        form = await request.form()
        paths: dict[str, str] = {}
        contents: dict[str, bytes] = {}
        for key, value in form.multi_items():
            index = key.split("]")[0].removeprefix("files[")
            if key.endswith(".path"):
                paths[index] = str(value)
            elif key.endswith(".file") and not isinstance(value, str):
                contents[index] = await value.read()
        for index, path in paths.items():
            encoded = base64.b64encode(contents.get(index, b"")).decode()
            await _in_thread(
                agent_post, sandbox, "/files", {"path": path, "content_b64": encoded, "mode": 0o644}
            )
        return Response(status_code=200)

    @router.post("/toolbox/{sandbox_id}/files/bulk-download")
    async def bulk_download(sandbox_id: str, request: Request) -> Response:
        """Each requested path as one multipart part: ``file`` with its bytes, or ``error``
        with a JSON reason, named by the path (what the SDK's parser reads)."""
        body = await request.json()
        sandbox = _started(sandboxes, sandbox_id)
        boundary = uuid.uuid4().hex
        parts: list[bytes] = []
        for path in body.get("paths") or []:
            with _agent(sandboxes, sandbox, 60.0) as client:
                answer = await _in_thread(client.post, "/files/read", json={"path": path})
            if answer.status_code == 200:
                name, kind = "file", "application/octet-stream"
                data = base64.b64decode(answer.json()["content_b64"])
            else:
                name, kind = "error", "application/json"
                data = json.dumps(
                    {"message": answer.json().get("error", "not found"), "statusCode": 404}
                ).encode()
            quoted = str(path).replace('"', "%22")
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{quoted}"\r\nContent-Type: {kind}\r\n\r\n'.encode()
                + data
                + b"\r\n"
            )
        parts.append(f"--{boundary}--\r\n".encode())
        return Response(
            content=b"".join(parts), media_type=f"multipart/form-data; boundary={boundary}"
        )


async def _in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(fn, *args, **kwargs)


def _preview_route(router: APIRouter, sandboxes: Sandboxes) -> None:
    @router.api_route(
        "/preview/{sandbox_id}/{port}/{path:path}",
        methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
    )
    async def preview(sandbox_id: str, port: int, path: str, request: Request) -> Response:
        sandbox = sandboxes.get(sandbox_id)
        if request.headers.get("x-daytona-preview-token") != sandbox.preview_token:
            return JSONResponse({"statusCode": 401, "message": "Invalid preview token"}, 401)
        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        query = f"?{request.url.query}" if request.url.query else ""
        try:
            client = _agent(sandboxes, sandbox, 600.0)
        except HTTPException:
            # Nothing runs behind the link (archived, being made or restored): the connection
            # drops mid-answer, as a link to no machine does.
            return StreamingResponse(_dropped(), status_code=502, headers={"content-length": "1"})
        upstream = client.build_request(
            request.method, f"/proxy/{port}/{path}{query}", content=body, headers=headers
        )
        response = await _in_thread(client.send, upstream, stream=True)

        def chunks() -> Iterator[bytes]:
            try:
                yield from response.iter_raw()
            finally:
                response.close()
                client.close()

        out_headers = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
        return StreamingResponse(chunks(), status_code=response.status_code, headers=out_headers)


_SHORT_BODY = "Too little data for declared Content-Length"


class _Quiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or _SHORT_BODY not in str(exc)


QUIET = _Quiet()
"""A filter for the server's error log: the dropped preview link (a body shorter than its
declared length, which makes the server cut the connection) is intended, not an error."""


def _dropped() -> Iterator[bytes]:
    """No bytes for a declared length of one: the connection drops mid-answer."""
    yield from ()
