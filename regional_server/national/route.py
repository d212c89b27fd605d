"""``POST /api/v1/parent/aggregates``: a child server's signed push of one region.

Order of checks as for kiosk reports: body size (the app's ``max_body_bytes``),
signature headers, timestamp window, the pinned key of a registered child, the
signature over the exact bytes, then the body; the child must be registered for the
region (or its country). Nothing is parsed before the sender is authenticated.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.concurrency import run_in_threadpool

from kiosk_agent.contracts.report import SIGNATURE_WINDOW_SECONDS, signing_string
from kiosk_agent.contracts.signed import SignedError, verify_ed25519
from regional_server.api.enroll import ErrorOut
from regional_server.api.errors import ApiError
from regional_server.api.reports import read_body_capped
from regional_server.context import ServerContext, get_ctx
from regional_server.national.children import KEY, child_by_key
from regional_server.national.payload import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PUSH_PATH,
    PushError,
    parse_push,
)
from regional_server.national.receive import PushRefused, apply_push

router = APIRouter()
_TIMESTAMP = re.compile(r"[0-9]{1,19}")


def _check_timestamp(value: str | None, now: int) -> int:
    if value is None or not _TIMESTAMP.fullmatch(value):
        raise ApiError(401, "bad_timestamp", f"{HEADER_TIMESTAMP} must be Unix seconds")
    ts = int(value)
    if abs(now - ts) > SIGNATURE_WINDOW_SECONDS:
        raise ApiError(
            401,
            "stale_timestamp",
            f"{HEADER_TIMESTAMP} is more than {SIGNATURE_WINDOW_SECONDS} s from this "
            "server's clock; correct the clock and push again",
        )
    return ts


def receive(
    ctx: ServerContext, body: bytes, key: str | None, timestamp: str | None, signature: str | None
) -> tuple[str, str]:
    """Authenticate, parse and store one push; returns (status, region code)."""
    if not key or not signature or not KEY.fullmatch(key) or len(signature) > 200:
        raise ApiError(
            401,
            "missing_signature",
            f"{HEADER_KEY}, {HEADER_TIMESTAMP} and {HEADER_SIGNATURE} are required",
        )
    now = ctx.now()
    ts = _check_timestamp(timestamp, now)
    with ctx.engine.connect() as conn:
        child = child_by_key(conn, key)
    if child is None:
        raise ApiError(401, "unknown_server", "this server's key is not registered here")
    try:
        raw = base64.b64decode(signature, validate=True)
        verify_ed25519(key, signing_string("POST", PUSH_PATH, ts, body), raw)
    except (binascii.Error, ValueError, SignedError):
        raise ApiError(401, "bad_signature", "signature does not verify") from None
    if not child.active:
        raise ApiError(403, "server_inactive", "pushes from this server are switched off")
    try:
        push = parse_push(body)
    except PushError as e:
        raise ApiError(422, "invalid_push", str(e)) from None
    try:
        with ctx.engine.begin() as conn:
            status = apply_push(conn, child, push, now)
    except PushRefused as e:
        raise ApiError(e.status, e.code, e.message) from None
    except (IntegrityError, DBAPIError):
        # Two pushes of one new region at once: the retry finds it (or its push id).
        raise ApiError(503, "retry", "a concurrent push got there first; retry") from None
    return status, push.region_code


@router.post(
    PUSH_PATH,
    summary="A child regional server's signed push of one region's published figures",
    responses={
        200: {"description": "stored, duplicate (push id seen) or stale (an older push)"},
        **{s: {"model": ErrorOut} for s in (401, 403, 409, 413, 422, 503)},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def push_aggregates(
    request: Request,
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    x_server_key: Annotated[str | None, Header(alias=HEADER_KEY, max_length=100)] = None,
    x_server_timestamp: Annotated[str | None, Header(alias=HEADER_TIMESTAMP, max_length=20)] = None,
    x_server_signature: Annotated[
        str | None, Header(alias=HEADER_SIGNATURE, max_length=200)
    ] = None,
) -> JSONResponse:
    body = await read_body_capped(request, ctx.settings.max_body_bytes)
    status, region = await run_in_threadpool(
        receive, ctx, body, x_server_key, x_server_timestamp, x_server_signature
    )
    return JSONResponse({"status": status, "region": region})
