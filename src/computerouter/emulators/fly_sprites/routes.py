"""The routes under one sprite: exec (WebSocket), Services, checkpoints, network policy, files,
and the sprite URL. Each one wakes the sprite first, as the vendor does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse

from computerouter.emulators.fly_sprites.world import Checkpoint, Sprite, World

__all__ = ["add_sprite_routes"]

STDOUT, STDERR, EXIT = 1, 2, 3
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _ndjson(events: list[dict[str, Any]]) -> Response:
    body = "".join(json.dumps({"time": _now(), **e}) + "\n" for e in events)
    return Response(body, media_type="application/x-ndjson")


def _missing() -> JSONResponse:
    return JSONResponse({"error": "sprite not found"}, 404)


def _service_json(name: str, spec: dict[str, Any], state: dict[str, Any] | None) -> dict[str, Any]:
    running = bool(state and state.get("running"))
    failed = bool(state and not running and state.get("exit_code") not in (None, 0, -15))
    return {
        "name": name,
        "cmd": spec["cmd"],
        "args": spec.get("args") or [],
        "needs": spec.get("needs") or [],
        "http_port": spec.get("http_port"),
        "env": spec.get("env") or {},
        "dir": spec.get("dir"),
        "state": {
            "name": name,
            "status": "running" if running else "failed" if failed else "stopped",
            "pid": state.get("pid") if state and running else None,
            "restart_count": 0,
        },
    }


def _exec_argv(cmd: list[str], env: list[str], cwd: str) -> list[str]:
    prefix = ["/usr/bin/env"] + (["-C", cwd] if cwd else []) + env
    return prefix + cmd if (env or cwd) else cmd


@contextmanager
def _using(world: World, name: str) -> Iterator[Sprite | None]:
    """The sprite, woken and marked in use for the block; None when there is none."""
    sprite = world.get(name)
    if sprite is None:
        yield None
        return
    world.enter(sprite)
    try:
        yield sprite
    finally:
        world.leave(sprite)


def add_sprite_routes(app: FastAPI, world: World) -> None:
    _exec_routes(app, world)
    _service_routes(app, world)
    _checkpoint_routes(app, world)
    _policy_and_file_routes(app, world)
    _url_routes(app, world)


def _exec_routes(app: FastAPI, world: World) -> None:
    # -- exec --------------------------------------------------------------------------------

    @app.websocket("/v1/sprites/{name}/exec")
    async def exec_ws(websocket: WebSocket, name: str) -> None:
        query = websocket.query_params
        cmd = query.getlist("cmd")
        env = query.getlist("env")
        cwd = query.get("dir", "")
        sprite = world.get(name)
        if sprite is None or not cmd:
            await websocket.close(code=4404 if sprite is None else 4400)
            return
        await websocket.accept()
        stdin_done = asyncio.create_task(_drain(websocket))
        await asyncio.to_thread(world.enter, sprite)
        try:
            result = await asyncio.to_thread(
                world.backing.exec,
                sprite.backing.instance_id,
                _exec_argv(cmd, env, cwd),
                timeout_s=600.0,
            )
        finally:
            await asyncio.to_thread(world.leave, sprite)
        if result.stdout:
            await websocket.send_bytes(bytes([STDOUT]) + result.stdout.encode())
        if result.stderr:
            await websocket.send_bytes(bytes([STDERR]) + result.stderr.encode())
        await websocket.send_bytes(bytes([EXIT, result.exit_code & 0xFF]))
        stdin_done.cancel()
        with suppress(RuntimeError):  # the client closed first (the SDK drops it on EXIT)
            await websocket.close()

    @app.get("/v1/sprites/{name}/exec")
    def exec_sessions(name: str) -> Response:
        if world.get(name) is None:
            return _missing()
        return JSONResponse({"sessions": []})


def _service_routes(app: FastAPI, world: World) -> None:
    def using(name: str) -> Any:
        return _using(world, name)

    # -- services ----------------------------------------------------------------------------

    @app.get("/v1/sprites/{name}/services")
    def list_services(name: str) -> Response:
        with using(name) as sprite:
            if sprite is None:
                return _missing()
            states = world.service_states(sprite)
            return JSONResponse(
                [_service_json(n, s, states.get(n)) for n, s in sprite.services.items()]
            )

    @app.get("/v1/sprites/{name}/services/{service}")
    def get_service(name: str, service: str) -> Response:
        with using(name) as sprite:
            if sprite is None or service not in sprite.services:
                return JSONResponse({"error": "service not found"}, 404)
            states = world.service_states(sprite)
            return JSONResponse(
                _service_json(service, sprite.services[service], states.get(service))
            )

    @app.put("/v1/sprites/{name}/services/{service}")
    def put_service(name: str, service: str, body: dict[str, Any]) -> Response:
        with using(name) as sprite:
            if sprite is None:
                return _missing()
            if not isinstance(body.get("cmd"), str) or not body["cmd"]:
                return JSONResponse({"error": "cmd is required"}, 400)
            sprite.services[service] = body
            started = world.agent(sprite, "PUT", f"/services/{quote(service)}", json=body)
            return _ndjson(
                [
                    {
                        "type": "started",
                        "data": service,
                        "timestamp": int(datetime.now(UTC).timestamp() * 1000),
                        "pid": started.json().get("pid"),
                    }
                ]
            )

    @app.post("/v1/sprites/{name}/services/{service}/start")
    def start_service(name: str, service: str) -> Response:
        with using(name) as sprite:
            if sprite is None or service not in sprite.services:
                return JSONResponse({"error": "service not found"}, 404)
            world.agent(sprite, "PUT", f"/services/{quote(service)}", json=sprite.services[service])
            return _ndjson([{"type": "started", "data": service, "timestamp": 0}])

    @app.post("/v1/sprites/{name}/services/{service}/stop")
    def stop_service(name: str, service: str) -> Response:
        with using(name) as sprite:
            if sprite is None or service not in sprite.services:
                return JSONResponse({"error": "service not found"}, 404)
            world.agent(sprite, "DELETE", f"/services/{quote(service)}")
            return _ndjson([{"type": "stopped", "data": service, "timestamp": 0}])

    @app.delete("/v1/sprites/{name}/services/{service}")
    def delete_service(name: str, service: str) -> Response:
        with using(name) as sprite:
            if sprite is None or service not in sprite.services:
                return JSONResponse({"error": "service not found"}, 404)
            world.agent(sprite, "DELETE", f"/services/{quote(service)}")
            del sprite.services[service]
            return Response(status_code=204)


def _checkpoint_routes(app: FastAPI, world: World) -> None:
    def using(name: str) -> Any:
        return _using(world, name)

    # -- checkpoints -------------------------------------------------------------------------

    def _checkpoint_json(cp: Checkpoint) -> dict[str, Any]:
        return {
            "id": cp.id,
            "create_time": cp.create_time.isoformat().replace("+00:00", "Z"),
            "comment": cp.comment,
        }

    @app.post("/v1/sprites/{name}/checkpoint")
    def create_checkpoint(
        name: str, request: Request, body: dict[str, Any] | None = None
    ) -> Response:
        with using(name) as sprite:
            if sprite is None:
                return _missing()
            cp = Checkpoint(
                id=f"v{len(sprite.checkpoints)}",
                create_time=datetime.now(UTC),
                comment=str((body or {}).get("comment", "")),
            )
            made = world.agent(sprite, "POST", f"/checkpoints/{cp.id}", timeout_s=300)
            if made.status_code != 200:
                return _ndjson([{"type": "error", "error": made.text}])
            sprite.checkpoints.append(cp)
            return _ndjson(
                [
                    {"type": "info", "data": "Creating checkpoint..."},
                    {"type": "complete", "data": f"Checkpoint {cp.id} created"},
                ]
            )

    @app.get("/v1/sprites/{name}/checkpoints")
    def list_checkpoints(name: str) -> Response:
        sprite = world.get(name)
        if sprite is None:
            return _missing()
        return JSONResponse([_checkpoint_json(c) for c in reversed(sprite.checkpoints)])

    @app.get("/v1/sprites/{name}/checkpoints/{cid}")
    def get_checkpoint(name: str, cid: str) -> Response:
        sprite = world.get(name)
        found = [c for c in sprite.checkpoints if c.id == cid] if sprite else []
        if not found:
            return JSONResponse({"error": "checkpoint not found"}, 404)
        return JSONResponse(_checkpoint_json(found[0]))

    @app.post("/v1/sprites/{name}/checkpoints/{cid}/restore")
    def restore_checkpoint(name: str, cid: str) -> Response:
        with using(name) as sprite:
            if sprite is None or cid not in {c.id for c in sprite.checkpoints}:
                return JSONResponse({"error": "checkpoint not found"}, 404)
            world.agent(sprite, "POST", "/services/stop-all")
            restored = world.agent(sprite, "POST", f"/checkpoints/{cid}/restore", timeout_s=300)
            world.agent(sprite, "POST", "/services/restart")
            if restored.status_code != 200:
                return _ndjson([{"type": "error", "error": restored.text}])
            return _ndjson(
                [
                    {"type": "info", "data": f"Restoring {cid}..."},
                    {"type": "complete", "data": f"Restored {cid}"},
                ]
            )


def _policy_and_file_routes(app: FastAPI, world: World) -> None:
    # -- network policy and files ------------------------------------------------------------

    @app.get("/v1/sprites/{name}/policy/network")
    def get_policy(name: str) -> Response:
        sprite = world.get(name)
        if sprite is None:
            return _missing()
        return JSONResponse({"rules": sprite.policy})

    @app.post("/v1/sprites/{name}/policy/network")
    def set_policy(name: str, body: dict[str, Any]) -> Response:
        sprite = world.get(name)
        if sprite is None:
            return _missing()
        rules = body.get("rules")
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            return JSONResponse({"error": "rules must be a list of objects"}, 400)
        sprite.policy = [{k: str(v) for k, v in r.items()} for r in rules]
        with _using(world, name) as awake:
            if awake is not None:
                world.allow(awake)
        return Response(status_code=204)

    @app.put("/v1/sprites/{name}/fs/write")
    async def write_file(name: str, request: Request) -> Response:
        data = await request.body()
        path = request.query_params.get("path", "")
        base = request.query_params.get("workingDir", "")
        if base and not path.startswith("/"):
            path = f"{base.rstrip('/')}/{path}"
        mode = request.query_params.get("mode", "0644")
        sprite = world.get(name)
        if sprite is None:
            return _missing()
        await asyncio.to_thread(world.enter, sprite)
        try:
            written = await asyncio.to_thread(
                world.agent,
                sprite,
                "PUT",
                f"/files?path={quote(path, safe='')}&mode={mode}",
                content=data,
            )
        finally:
            await asyncio.to_thread(world.leave, sprite)
        if written.status_code != 200:
            return JSONResponse({"error": written.text}, 400)
        return JSONResponse({"path": path, "size": len(data), "mode": mode})


def _url_routes(app: FastAPI, world: World) -> None:
    # -- the sprite URL ----------------------------------------------------------------------

    @app.api_route(
        "/_sprite/{name}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
    )
    async def sprite_url(name: str, path: str, request: Request) -> Response:
        sprite = world.get(name)
        if sprite is None:
            return JSONResponse({"error": "sprite not found"}, 404)
        if sprite.url_auth != "public" and (
            request.headers.get("authorization") != f"Bearer {world.token}"
        ):
            return JSONResponse({"error": "unauthorized"}, 401)
        ports = [s["http_port"] for s in sprite.services.values() if s.get("http_port")]
        if not ports:
            return JSONResponse({"error": "no service with an http_port"}, 502)
        await asyncio.to_thread(world.enter, sprite)
        body = await request.body()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in _HOP
            and (sprite.url_auth == "public" or k.lower() != "authorization")
        }
        assert sprite.backing.endpoint is not None
        client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=sprite.backing.endpoint.address),
            base_url="http://sprite",
            timeout=httpx.Timeout(600, connect=5),
        )
        target = f"/proxy/{ports[0]}/{path}" + (
            f"?{request.url.query}" if request.url.query else ""
        )
        try:
            upstream = await client.send(
                client.build_request(request.method, target, headers=headers, content=body),
                stream=True,
            )
        except httpx.HTTPError as exc:
            await client.aclose()
            world.leave(sprite)
            return JSONResponse({"error": f"sprite unreachable: {exc}"}, 502)

        async def relay() -> Any:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()
                await client.aclose()
                world.leave(sprite)

        out = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
        return StreamingResponse(relay(), status_code=upstream.status_code, headers=out)


async def _drain(websocket: WebSocket) -> None:
    """Read what the client sends (stdin, its EOF) until it closes; commands get no stdin."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
    except Exception:
        return
