"""``POST /api/v1/enroll``: a one-time code and a public key make a kiosk."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError

from kiosk_agent.contracts import signed_dir
from kiosk_agent.contracts.report import EnrollRequest
from regional_server.api.errors import ApiError
from regional_server.context import ServerContext, get_ctx
from regional_server.store.kiosks import EnrollError, enroll

router = APIRouter()


class EnrollBody(BaseModel):
    """The enrollment request (``kiosk_agent.contracts.report.EnrollRequest``)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=64)
    public_key: str = Field(min_length=1, max_length=100, examples=["ed25519:" + "A" * 43 + "="])
    cafe_name: str = Field(default="", max_length=200)
    agent_version: str = Field(default="", max_length=32)


class EnrollOut(BaseModel):
    kiosk_id: str
    region: str
    country: str
    settings_overlay: str | None = Field(
        default=None,
        description="base64 of the region's current signed settings overlay, when one is "
        "published: an install with nothing but a code is fully configured (docs/fleet.md)",
    )


class ErrorOut(BaseModel):
    error: str
    message: str


_ERRORS: dict[int | str, dict[str, object]] = {s: {"model": ErrorOut} for s in (400, 403, 409, 413)}


@router.post(
    "/api/v1/enroll",
    response_model=EnrollOut,
    status_code=201,
    responses=_ERRORS,
    summary="Enroll a kiosk with a one-time code",
)
def enroll_kiosk(body: EnrollBody, ctx: Annotated[ServerContext, Depends(get_ctx)]) -> JSONResponse:
    request = EnrollRequest(body.code, body.public_key, body.cafe_name, body.agent_version)
    try:
        with ctx.engine.begin() as conn:
            response = enroll(conn, request, ctx.now())
    except EnrollError as e:
        raise ApiError(e.status, e.code, str(e)) from None
    except IntegrityError:
        # Two enrollments of the same key raced; the loser retries and gets the same id.
        raise ApiError(409, "retry", "enrollment in progress for this key; retry") from None
    answer: dict[str, object] = dict(response.to_json())
    overlay = signed_dir.latest_for(
        ctx.settings.feeds_path / signed_dir.settings_subject(response.region),
        response.kiosk_id,
        body.cafe_name or None,
    )
    if overlay is not None:
        answer["settings_overlay"] = base64.b64encode(overlay).decode("ascii")
    return JSONResponse(answer, status_code=201)
