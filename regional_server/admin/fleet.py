"""The fleet view (coordinators: their regions; admins: all): program, content pack and
settings overlay versions per region, beside what the server publishes (issue 21)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from kiosk_agent.contracts import signed_dir
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.store.fleet import ACTIVE_DAYS, RegionFleet, fleet
from regional_server.web import render, require_user

router = APIRouter()


def published(directory: Path) -> dict[str, Any] | None:
    """What a signed directory offers: latest, and while staged, the stable version, the
    share of kiosks and the number of cafés in the stage. None: nothing published."""
    try:
        m = signed_dir.read_manifest(directory)
    except (OSError, signed_dir.ManifestError):
        return None
    if m is None:
        return None
    out: dict[str, Any] = {"latest": m.latest, "stable": None, "percent": None, "cafes": 0}
    if m.rollout is not None:
        out.update(stable=m.rollout.stable, percent=m.rollout.percent, cafes=len(m.rollout.cafes))
    return out


def _view(ctx: ServerContext, user: CurrentUser) -> list[tuple[RegionFleet, dict[str, Any]]]:
    with ctx.engine.connect() as conn:
        regions = fleet(conn, user.region_ids, ctx.now())
    feeds = ctx.settings.feeds_path
    content = published(feeds / "content")
    return [
        (
            r,
            {
                "content": content,
                "settings": published(feeds / signed_dir.settings_subject(r.region)),
            },
        )
        for r in regions
    ]


@router.get("/admin/fleet", include_in_schema=False)
def fleet_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    return render(
        request, "admin_fleet.html", {"fleet": _view(ctx, user), "days": ACTIVE_DAYS}, user=user
    )


@router.get(
    "/api/v1/fleet",
    summary="Kiosks per program version, content pack and settings overlay, per region",
    responses={401: {}},
)
def fleet_json(
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> JSONResponse:
    return JSONResponse(
        {
            "active_days": ACTIVE_DAYS,
            "regions": [{**r.to_json(), "published": p} for r, p in _view(ctx, user)],
        }
    )
