"""The Daytona emulator's HTTP app: the control-plane routes the SDK calls, its socket.io event
stream, the toolbox and preview routes, and an admin API for faults.

Routes under ``/api`` and ``/toolbox`` need ``Authorization: Bearer <api key>`` (401 without).
Every route not implemented answers 501 and is recorded (``GET /admin/unimplemented``).
Admin: ``POST /admin/faults`` (a :class:`Fault` as JSON), ``DELETE /admin/faults``,
``POST /admin/sandboxes/{id}/vanish``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import socketio
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response

from computerouter.emulators.daytona.dto import error_body, list_item, sandbox_dto
from computerouter.emulators.daytona.sandboxes import EmulatedSandbox, Sandboxes, StateError
from computerouter.emulators.daytona.settings import EmulatorSettings, Fault, Faults
from computerouter.emulators.daytona.toolbox import toolbox_router

__all__ = ["Emulator", "create_app"]

_ERRORS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}


class Emulator:
    """The emulator's state, shared by its routes and its tests."""

    def __init__(self, *, settings: EmulatorSettings, root: Path) -> None:
        self.settings = settings
        self.sandboxes = Sandboxes(settings=settings, root=root)
        self.faults = Faults()
        self.unimplemented: list[str] = []
        self.requests: list[str] = []
        """Every request line let past the API key check (``POST /api/sandbox``), so tests can
        count the calls that reached the vendor."""
        self.event_connections = 0
        """socket.io clients accepted so far (the SDK waits on events, polling only as a net)."""
        self.base_url = ""

    def received(self, request_line: str) -> Fault | None:
        """Log a request (after its API key was checked) and take the fault it meets, if any."""
        self.requests.append(request_line)
        return self.faults.take(request_line)


def create_app(emulator: Emulator) -> Any:
    settings = emulator.settings
    sandboxes = emulator.sandboxes
    api = FastAPI(title="Daytona emulator")
    sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*", logger=False)
    loop_box: list[asyncio.AbstractEventLoop] = []

    def base(request: Request) -> str:
        return emulator.base_url or str(request.base_url).rstrip("/")

    def dto(sandbox: EmulatedSandbox, request: Request | None = None) -> Any:
        root = base(request) if request is not None else emulator.base_url
        return sandbox_dto(
            sandbox, organization_id=settings.organization_id, toolbox_url=f"{root}/toolbox"
        )

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> bool:
        if not loop_box:
            loop_box.append(asyncio.get_running_loop())
        token = auth.get("token") if isinstance(auth, dict) else None
        if token != settings.api_key:
            return False
        emulator.event_connections += 1
        return True

    sio.on("connect", connect)

    def changed(sandbox: EmulatedSandbox, state: str) -> None:
        if not loop_box:
            return
        payload = {"sandbox": dto(sandbox), "newState": state}
        asyncio.run_coroutine_threadsafe(sio.emit("sandbox.state.updated", payload), loop_box[0])

    sandboxes.on_change(changed)

    @api.middleware("http")
    async def gate(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        if not loop_box:
            loop_box.append(asyncio.get_running_loop())
        path = request.url.path
        if path.startswith("/admin"):
            return await call_next(request)
        protected = path.startswith(("/api", "/toolbox"))
        if protected and request.headers.get("authorization") != f"Bearer {settings.api_key}":
            return JSONResponse(error_body(401, "Invalid API key", "Unauthorized"), 401)
        fault = emulator.received(f"{request.method} {path}")
        if fault is not None:
            if fault.delay_s:
                await asyncio.sleep(fault.delay_s)
            if fault.vanish:
                parts = path.split("/")
                if len(parts) > 3:
                    await asyncio.to_thread(sandboxes.vanish, parts[3])
            elif fault.status:
                headers = {}
                if fault.retry_after_s is not None:
                    headers["Retry-After"] = f"{fault.retry_after_s:g}"
                body = error_body(fault.status, fault.message, "Injected")
                return JSONResponse(body, fault.status, headers=headers)
        try:
            return await call_next(request)
        except StateError as exc:
            name = _ERRORS.get(exc.status, "Error")
            return JSONResponse(error_body(exc.status, str(exc), name), exc.status)

    _error_handlers(api)
    _sandbox_routes(api, emulator, dto, base)
    api.include_router(toolbox_router(sandboxes))

    _admin_routes(api, emulator)

    @api.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    )
    def not_implemented(path: str, request: Request) -> JSONResponse:
        line = f"{request.method} /{path}"
        emulator.unimplemented.append(line)
        return JSONResponse(error_body(501, f"not emulated: {line}", "Not Implemented"), 501)

    return socketio.ASGIApp(sio, other_asgi_app=api, socketio_path="api/socket.io")


def _admin_routes(api: FastAPI, emulator: Emulator) -> None:
    @api.post("/admin/faults")
    async def add_fault(request: Request) -> Any:
        raw = await request.json()
        known = {f.name for f in fields(Fault)}
        emulator.faults.add(Fault(**{k: v for k, v in raw.items() if k in known}))
        return {"ok": True}

    @api.delete("/admin/faults")
    def clear_faults() -> Any:
        emulator.faults.clear()
        return {"ok": True}

    @api.post("/admin/sandboxes/{sandbox_id}/vanish")
    def vanish(sandbox_id: str) -> Any:
        emulator.sandboxes.vanish(sandbox_id)
        return {"ok": True}

    @api.get("/admin/unimplemented")
    def unimplemented() -> Any:
        return {"routes": list(emulator.unimplemented)}


def _sandbox_routes(
    api: FastAPI,
    emulator: Emulator,
    dto: Callable[[EmulatedSandbox, Request], Any],
    base: Callable[[Request], str],
) -> None:
    settings = emulator.settings
    sandboxes = emulator.sandboxes

    @api.post("/api/sandbox")
    async def create(request: Request) -> Any:
        body = await request.json()
        sandbox = await asyncio.to_thread(sandboxes.create, body)
        return dto(sandbox, request)

    @api.get("/api/sandbox")
    def list_sandboxes(request: Request, labels: str | None = None) -> Any:
        wanted = json.loads(labels) if labels else {}
        items = [
            list_item(
                s, organization_id=settings.organization_id, toolbox_url=f"{base(request)}/toolbox"
            )
            for s in sandboxes.all()
            if all(s.labels.get(k) == v for k, v in wanted.items())
        ]
        return {"items": items, "nextCursor": None}

    @api.get("/api/sandbox/{sandbox_id}")
    def get(sandbox_id: str, request: Request) -> Any:
        return dto(sandboxes.get(sandbox_id), request)

    @api.post("/api/sandbox/{sandbox_id}/start")
    def start(sandbox_id: str, request: Request) -> Any:
        return dto(sandboxes.start(sandbox_id), request)

    @api.post("/api/sandbox/{sandbox_id}/stop")
    def stop(sandbox_id: str, request: Request) -> Any:
        return dto(sandboxes.stop(sandbox_id), request)

    @api.post("/api/sandbox/{sandbox_id}/archive")
    def archive(sandbox_id: str, request: Request) -> Any:
        return dto(sandboxes.archive(sandbox_id), request)

    @api.delete("/api/sandbox/{sandbox_id}")
    def delete(sandbox_id: str, request: Request) -> Any:
        return dto(sandboxes.delete(sandbox_id), request)

    @api.post("/api/sandbox/{sandbox_id}/last-activity")
    def last_activity(sandbox_id: str) -> Response:
        sandboxes.touch(sandbox_id)
        return Response(status_code=201)

    @api.get("/api/sandbox/{sandbox_id}/toolbox-proxy-url")
    def toolbox_url(sandbox_id: str, request: Request) -> Any:
        sandboxes.get(sandbox_id)
        return {"url": f"{base(request)}/toolbox"}

    @api.get("/api/sandbox/{sandbox_id}/ports/{port}/preview-url")
    def preview_url(sandbox_id: str, port: int, request: Request) -> Any:
        sandbox = sandboxes.get(sandbox_id)
        url = f"{base(request)}/preview/{sandbox.id}/{port}"
        return {"sandboxId": sandbox.id, "url": url, "token": sandbox.preview_token}


def _error_handlers(api: FastAPI) -> None:
    @api.exception_handler(StateError)
    async def state_error(request: Request, exc: StateError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, str(exc), _ERRORS.get(exc.status, "")), exc.status
        )

    @api.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        status = exc.status_code
        return JSONResponse(error_body(status, str(exc.detail), _ERRORS.get(status, "")), status)
