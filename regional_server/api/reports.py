"""``POST /api/v1/reports``: a signed report from an enrolled kiosk.

Order of checks: size, signature headers, timestamp window (replay), kiosk key,
signature over the exact bytes sent, then the body itself. Nothing is parsed before
the sender is authenticated, and the report is stored idempotently by its id.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from typing import Annotated, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from kiosk_agent.contracts.report import (
    BATCH_ENCODING,
    BATCH_PATH_SUFFIX,
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BATCH_BYTES,
    MAX_BODY_BYTES,
    SIGNATURE_WINDOW_SECONDS,
    Report,
    ReportError,
    decode_batch,
    parse_report,
    signing_string,
)
from regional_server.api.enroll import ErrorOut
from regional_server.api.errors import ApiError
from regional_server.body_limit import declared_length
from regional_server.context import ServerContext, get_ctx
from regional_server.store.ingest import Pending, ReportConflict
from regional_server.store.kiosks import KioskAuth

router = APIRouter()
REPORTS_PATH = "/api/v1/reports"
_MAX_SIGNATURE_HEADER = 200
_TIMESTAMP = re.compile(r"-?[0-9]{1,19}")
MIN_PERIOD_DAYS = 1.0
"""Reports cover a day or more: the server keeps no time finer than the day."""


def report_json_schema() -> dict[str, Any]:
    """The OpenAPI schema of a report body (the authority is ``parse_report``)."""
    return {
        "type": "object",
        "required": [
            "report_id",
            "kiosk_id",
            "period_start",
            "period_days",
            "counts",
            "agent_version",
            "feed_versions",
        ],
        "properties": {
            "schema": {"type": "integer", "enum": [1]},
            "report_id": {"type": "string", "format": "uuid"},
            "kiosk_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            "period_start": {"type": "string", "example": "2026-11-27T00:00:00Z"},
            "period_days": {"type": "number", "minimum": 1, "maximum": 366},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "agent_version": {"type": "string"},
            "feed_versions": {"type": "object", "additionalProperties": {"type": "integer"}},
            "merged_reports": {"type": "integer", "minimum": 1},
            "content": {"type": "integer", "minimum": 0, "description": "content pack held"},
            "settings": {"type": "integer", "minimum": 0, "description": "overlay held"},
        },
    }


async def read_body_capped(request: Request, limit: int) -> bytes:
    """The request body, or 413 as soon as it passes ``limit`` bytes."""
    declared = declared_length(request.scope)
    if declared is not None and declared > limit:
        raise ApiError(413, "body_too_large", f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_timestamp(value: str | None, now: int) -> int:
    """The signed Unix timestamp, if within the window of ``now`` (else 401).

    ASCII digits only: ``str.isdigit`` also accepts digits such as ``¹²³`` that
    ``int`` refuses (that was a 500).
    """
    if value is None or _TIMESTAMP.fullmatch(value) is None:
        raise ApiError(401, "bad_timestamp", f"{HEADER_TIMESTAMP} must be Unix seconds")
    ts = int(value)
    if abs(now - ts) > SIGNATURE_WINDOW_SECONDS:
        raise ApiError(
            401,
            "stale_timestamp",
            f"{HEADER_TIMESTAMP} is more than {SIGNATURE_WINDOW_SECONDS} s from the server's "
            "clock (see the Date header); correct the clock and sign again",
        )
    return ts


def lookup_kiosk(ctx: ServerContext, kiosk_id: str) -> tuple[KioskAuth, Ed25519PublicKey]:
    entry = ctx.kiosk_keys.get(kiosk_id)
    if entry is None:
        raise ApiError(401, "unknown_kiosk", "this kiosk is not enrolled; enroll it again")
    return entry


def verify_signature(key: Ed25519PublicKey, signature: str, message: bytes) -> None:
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message)
    except (binascii.Error, ValueError, InvalidSignature):
        raise ApiError(401, "bad_signature", "signature does not verify") from None


def verify_upload(
    ctx: ServerContext,
    path: str,
    body: bytes,
    kiosk_id: str | None,
    timestamp: str | None,
    signature: str | None,
    content_encoding: str | None,
) -> Pending:
    """Authenticate and parse one upload (no write yet); raise ``ApiError`` if refused."""
    if not kiosk_id or not signature or len(signature) > _MAX_SIGNATURE_HEADER:
        raise ApiError(
            401,
            "missing_signature",
            f"{HEADER_KIOSK_ID}, {HEADER_TIMESTAMP} and {HEADER_SIGNATURE} are required",
        )
    ts = check_timestamp(timestamp, ctx.now())
    auth, key = lookup_kiosk(ctx, kiosk_id)
    verify_signature(key, signature, signing_string("POST", path, ts, body))
    try:
        report: Report = parse_report(body, content_encoding)
    except ReportError as e:
        raise ApiError(400, "invalid_report", str(e)) from None
    if report.kiosk_id != auth.kiosk_id:
        raise ApiError(400, "kiosk_mismatch", f"kiosk_id in the body is not {HEADER_KIOSK_ID}")
    if report.period_days < MIN_PERIOD_DAYS:
        raise ApiError(
            422, "period_too_short", "a report covers at least one day; send daily reports"
        )
    return Pending(report, auth.region_id, auth.country)


async def store(ctx: ServerContext, pending: Pending) -> bool:
    """Queue ``pending`` for the writer and wait for its commit."""
    try:
        return await ctx.ingest_queue.store(pending)
    except ReportConflict as e:
        raise ApiError(409, "report_id_conflict", str(e)) from None
    except RuntimeError:
        raise ApiError(
            503, "storage_unavailable", "could not store the report; retry later"
        ) from None


@router.post(
    REPORTS_PATH,
    status_code=201,
    summary="Upload a signed report (gzip or plain JSON)",
    responses={
        200: {"description": "A retry of a stored report: acknowledged, not counted again"},
        201: {"description": "Stored"},
        **{s: {"model": ErrorOut} for s in (400, 401, 409, 413, 422)},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": report_json_schema()}},
        }
    },
)
async def upload_report(
    request: Request,
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    x_kiosk_id: Annotated[str | None, Header(alias=HEADER_KIOSK_ID, max_length=64)] = None,
    x_kiosk_timestamp: Annotated[str | None, Header(alias=HEADER_TIMESTAMP, max_length=20)] = None,
    x_kiosk_signature: Annotated[str | None, Header(alias=HEADER_SIGNATURE, max_length=200)] = None,
    content_encoding: Annotated[str | None, Header(alias="Content-Encoding", max_length=40)] = None,
) -> JSONResponse:
    body = await read_body_capped(request, MAX_BODY_BYTES)
    # Verifying is a fraction of a millisecond of CPU (and a cached key): done inline.
    pending = verify_upload(
        ctx,
        request.url.path,
        body,
        x_kiosk_id,
        x_kiosk_timestamp,
        x_kiosk_signature,
        content_encoding,
    )
    stored = await store(ctx, pending)
    if stored:
        return JSONResponse({"status": "stored"}, status_code=201)
    return JSONResponse({"status": "duplicate"}, status_code=200)


@router.post(
    REPORTS_PATH + BATCH_PATH_SUFFIX,
    summary="Several kiosks' signed reports in one request (a café hub's relay round)",
    responses={
        200: {"description": "One result per item"},
        **{s: {"model": ErrorOut} for s in (400, 413, 415)},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_batch(
    request: Request,
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    content_encoding: Annotated[str | None, Header(alias="Content-Encoding", max_length=40)] = None,
) -> JSONResponse:
    """Several kiosks' signed reports in one request (a café hub's relay round).

    The batch itself carries no authority: each item is checked exactly as its own POST
    to ``REPORTS_PATH`` would be (the kiosk signed that path), and stored idempotently.
    The batch may be compressed as a whole (``Content-Encoding: deflate`` or ``gzip``);
    it is inflated within the same ``MAX_BATCH_BYTES``.
    The answer lists each item's result in order: ``stored``, ``duplicate``, or the
    error code with its HTTP status (``{"error": code, "status": n}``).
    """
    body = inflate_batch(await read_body_capped(request, MAX_BATCH_BYTES), content_encoding)
    try:
        items = decode_batch(body)
    except ReportError as e:
        raise ApiError(400, "invalid_batch", str(e)) from None
    path = request.url.path.removesuffix(BATCH_PATH_SUFFIX)
    results: list[object] = []
    for item in items:
        try:
            pending = verify_upload(
                ctx,
                path,
                item.body,
                item.kiosk_id,
                item.timestamp,
                item.signature,
                item.content_encoding,
            )
            results.append("stored" if await store(ctx, pending) else "duplicate")
        except ApiError as e:
            results.append({"error": e.code, "status": e.status})
    return JSONResponse({"results": results}, status_code=200)


def inflate_batch(body: bytes, content_encoding: str | None) -> bytes:
    """A batch body as sent, inflated if compressed, never past ``MAX_BATCH_BYTES`` (a
    small body that would inflate without bound is refused before it is all inflated)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in (BATCH_ENCODING, "gzip"):
        raise ApiError(415, "unsupported_encoding", f"use {BATCH_ENCODING}, gzip or none")
    d = zlib.decompressobj(wbits=32 + zlib.MAX_WBITS)  # zlib or gzip, by its header
    try:
        out = d.decompress(body, MAX_BATCH_BYTES + 1)
    except zlib.error:
        raise ApiError(400, "invalid_batch", f"the body is not valid {encoding}") from None
    if len(out) > MAX_BATCH_BYTES:
        raise ApiError(413, "body_too_large", f"batch inflates past {MAX_BATCH_BYTES} bytes")
    if not d.eof or d.unused_data:
        raise ApiError(400, "invalid_batch", f"the {encoding} body is cut short or trailed")
    return out
