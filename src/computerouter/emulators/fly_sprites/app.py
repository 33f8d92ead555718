"""The Sprites HTTP API as the ``sprites-py`` SDK calls it (0.7.x), on FastAPI.

Routes were read off the SDK's source: ``/v1/sprites`` (create, list by prefix, get, update,
delete), ``/v1/sprites/{name}/exec`` (a WebSocket: stream 1 stdout, 2 stderr, 3 exit, client
sends 0 stdin and 4 stdin EOF), ``/services`` (NDJSON streams), ``/checkpoint(s)`` (NDJSON),
``/policy/network`` and ``/fs/write``. The sprite URL is ``{base}/_sprite/{name}``, proxied to
the Service with an ``http_port``; with URL auth ``sprite`` it takes the same bearer token.
Any other route answers 501 and is recorded (``GET /_admin/unimplemented``). Faults are set
with ``POST /_admin/faults`` (see :mod:`.faults`).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from computerouter.emulators.fly_sprites.faults import Fault, Faults
from computerouter.emulators.fly_sprites.world import Sprite, World

__all__ = ["create_app"]

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _error(status: int, error: str, **extra: Any) -> JSONResponse:
    headers = {}
    if "retry_after_seconds" in extra:
        headers["Retry-After"] = str(extra["retry_after_seconds"])
    return JSONResponse({"error": error, "message": error, **extra}, status, headers=headers)


def _ndjson(events: list[dict[str, Any]]) -> Response:
    body = "".join(json.dumps({"time": _now(), **e}) + "\n" for e in events)
    return Response(body, media_type="application/x-ndjson")


class _Gate:
    """ASGI middleware: bearer token on every /v1 call, then any fault that matches."""

    def __init__(self, app: ASGIApp, world: World, faults: Faults) -> None:
        self.app, self.world, self.faults = app, world, faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not path.startswith("/v1/"):
            return await self.app(scope, receive, send)
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        response: Response | None = None
        if headers.get("authorization") != f"Bearer {self.world.token}":
            response = _error(401, "unauthorized")
        else:
            fault = self.faults.take(scope.get("method", "WS"), path)
            if fault is not None:
                response = await _apply(fault)
        if response is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send(
                {
                    "type": "websocket.http.response.start",
                    "status": response.status_code,
                    "headers": response.raw_headers,
                }
            )
            await send({"type": "websocket.http.response.body", "body": response.body})
            return None
        return await response(scope, receive, send)


async def _apply(fault: Fault) -> Response | None:
    if fault.delay_s:
        await asyncio.sleep(fault.delay_s)
    if not fault.status:
        return None
    extra: dict[str, Any] = {}
    if fault.retry_after_s is not None:
        extra["retry_after_seconds"] = fault.retry_after_s
    return _error(fault.status, fault.error or "injected fault", **extra)


def _info(world: World, sprite: Sprite, base: str) -> dict[str, Any]:
    return {
        "id": sprite.id,
        "name": sprite.name,
        "organization": world.organization,
        "status": sprite.status,
        "url": f"{base}/_sprite/{sprite.name}",
        "url_settings": {"auth": sprite.url_auth},
        "primary_region": sprite.region,
        "labels": sprite.labels,
        "created_at": sprite.created_at.isoformat().replace("+00:00", "Z"),
        "updated_at": sprite.updated_at.isoformat().replace("+00:00", "Z"),
        "version": "emulated",
    }


def _base(request: Request | WebSocket) -> str:
    return str(request.base_url).rstrip("/")


def create_app(world: World, faults: Faults | None = None) -> FastAPI:
    faults = faults or Faults()
    app = FastAPI(title="Sprites emulator")
    app.state.world = world
    app.state.faults = faults

    def sprite_or_404(name: str) -> Sprite | JSONResponse:
        found = world.get(name)
        return found if found is not None else _error(404, "sprite not found")

    # -- sprites -----------------------------------------------------------------------------

    @app.post("/v1/sprites")
    def create(body: dict[str, Any], request: Request) -> Response:
        name = str(body.get("name", ""))
        if not _NAME.fullmatch(name):
            return _error(400, "invalid sprite name")
        config = dict(body.get("config") or {})
        region = str(config.get("region") or world.regions[0])
        if region not in world.regions:
            return _error(400, f"invalid region {region!r}")
        labels = body.get("labels") or []
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            return _error(400, "labels must be a list of strings")
        if world.get(name) is not None:
            return _error(409, "sprite name already exists")
        if len(world.sprites) >= world.max_sprites:
            return _error(
                429,
                "concurrent_sprite_limit_exceeded",
                limit=world.max_sprites,
                current_count=len(world.sprites),
                retry_after_seconds=30,
            )
        auth = str((body.get("url_settings") or {}).get("auth") or "sprite")
        sprite = world.create(name, region=region, config=config, labels=labels, auth=auth)
        return JSONResponse(_info(world, sprite, _base(request)), 201)

    @app.get("/v1/sprites")
    def list_sprites(
        request: Request, prefix: str = "", max_results: int = 50, continuation_token: str = ""
    ) -> dict[str, Any]:
        names = sorted(n for n in list(world.sprites) if n.startswith(prefix))
        names = [n for n in names if n > continuation_token]
        page, more = names[: max(1, min(max_results, 100))], len(names) > max_results
        infos = [_info(world, s, _base(request)) for n in page if (s := world.get(n))]
        counts = {
            k: sum(1 for s in world.sprites.values() if s.status == k)
            for k in ("running", "warm", "cold")
        }
        return {
            "sprites": infos,
            "has_more": more,
            "next_continuation_token": page[-1] if more else None,
            **counts,
        }

    @app.get("/v1/sprites/{name}")
    def get(name: str, request: Request) -> Response:
        found = sprite_or_404(name)
        if isinstance(found, Response):
            return found
        return JSONResponse(_info(world, found, _base(request)))

    @app.put("/v1/sprites/{name}")
    def update(name: str, body: dict[str, Any], request: Request) -> Response:
        found = sprite_or_404(name)
        if isinstance(found, Response):
            return found
        if "labels" in body:
            found.labels = [str(x) for x in body["labels"]]
        if "url_settings" in body and body["url_settings"].get("auth"):
            found.url_auth = str(body["url_settings"]["auth"])
        found.updated_at = datetime.now(UTC)
        return JSONResponse(_info(world, found, _base(request)))

    @app.delete("/v1/sprites/{name}")
    def delete(name: str) -> Response:
        if not world.destroy(name):
            return _error(404, "sprite not found")
        return Response(status_code=204)

    from computerouter.emulators.fly_sprites.routes import add_sprite_routes

    add_sprite_routes(app, world)

    # -- admin and the rest ------------------------------------------------------------------

    @app.post("/_admin/faults")
    def set_fault(body: dict[str, Any]) -> dict[str, Any]:
        faults.add(Fault.from_json(body))
        return {"ok": True}

    @app.delete("/_admin/faults")
    def clear_faults() -> dict[str, Any]:
        faults.clear()
        return {"ok": True}

    @app.post("/_admin/sprites/{name}/vanish")
    def vanish(name: str) -> dict[str, Any]:
        return {"vanished": world.vanish(name)}

    @app.get("/_admin/unimplemented")
    def unimplemented() -> list[str]:
        return list(world.unimplemented)

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def not_implemented(path: str, request: Request) -> Response:
        world.unimplemented.append(f"{request.method} /{path}")
        return _error(501, f"not implemented by the emulator: {request.method} /{path}")

    app.add_middleware(_Gate, world=world, faults=faults)
    return app
