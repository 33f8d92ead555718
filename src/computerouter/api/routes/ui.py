"""The dashboard at ``/ui`` (static assets shipped in the package; every call it makes is the
tenant-scoped REST API with the key pasted at login) and ``GET /v1/me``: who a key is."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from computerouter.api.deps import Caller
from computerouter.wire.models import MeOut

__all__ = ["ASSETS", "mount", "router"]

ASSETS = Path(__file__).resolve().parent.parent / "ui"

router = APIRouter(tags=["keys"])


@router.get("/v1/me")
def me(caller: Caller) -> MeOut:
    """The caller's user, key and whether it is an admin key."""
    return MeOut(user_id=caller.user_id, key_id=caller.key_id, admin=caller.admin)


def mount(app: FastAPI) -> None:
    """Serve the dashboard at ``/ui/`` (``/ui`` redirects there)."""

    @app.get("/ui", include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    app.mount("/ui/", StaticFiles(directory=ASSETS, html=True), name="ui")
