"""``GET /feeds/{list_id}/{file}``: published bundles and manifests, with ETag and 304.

Files are served from the feeds folder as they are; the ETag is the SHA-256 of the
content (cached by size and mtime), so a kiosk on a slow link re-downloads nothing
that has not changed. Bundles are named by version and never change once published;
the manifest changes with every publication and must always be revalidated. Every file
but the manifest answers ``Range`` requests (a program release resumes after a cut).
"""

from __future__ import annotations

import hashlib
import os
import re
from email.utils import formatdate
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from regional_server.api.errors import ApiError
from regional_server.context import ServerContext, get_ctx

router = APIRouter()
_LIST_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_etags: dict[str, tuple[int, int, str]] = {}


def etag_of(path: Path, st: os.stat_result) -> str:
    key = str(path)
    cached = _etags.get(key)
    if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns:
        return cached[2]
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
    etag = f'"{digest}"'
    _etags[key] = (st.st_size, st.st_mtime_ns, etag)
    return etag


def etag_matches(header: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header names ``etag`` (or is ``*``)."""
    if not header:
        return False
    for candidate in header.split(","):
        c = candidate.strip()
        if c.startswith("W/"):
            c = c[2:]
        if c in ("*", etag):
            return True
    return False


def feed_file(feeds_dir: Path, list_id: str, name: str) -> Path:
    """The path of a published file, or 404 for any name outside the feeds folder."""
    if not _LIST_ID.fullmatch(list_id) or not _FILE.fullmatch(name) or ".." in name:
        raise ApiError(404, "not_found", "no such feed file")
    path = feeds_dir / list_id / name
    if not path.is_file():
        raise ApiError(404, "not_found", "no such feed file")
    return path


@router.head("/feeds/{list_id}/{name}", include_in_schema=False)
@router.get(
    "/feeds/{list_id}/{name}",
    summary="A published feed file (manifest.json or a bundle)",
    responses={200: {"content": {"application/octet-stream": {}}}, 304: {}, 404: {}},
)
def get_feed_file(
    list_id: str,
    name: str,
    request: Request,
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    path = feed_file(ctx.settings.feeds_path, list_id, name)
    try:
        st = path.stat()
        etag = etag_of(path, st)
    except OSError:
        raise ApiError(404, "not_found", "no such feed file") from None
    headers = {
        "ETag": etag,
        "Last-Modified": formatdate(st.st_mtime, usegmt=True),
        "Cache-Control": "no-cache"
        if name == "manifest.json"
        else "public, max-age=31536000, immutable",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    media = "application/json" if name.endswith(".json") else "application/octet-stream"
    if request.method == "HEAD":
        headers["Content-Length"] = str(st.st_size)
        return Response(status_code=200, headers=headers, media_type=media)
    if name != "manifest.json":
        # Bundles, packs and program releases (~25 MB) are streamed from disk, and a
        # ``Range: bytes=N-`` resumes a download cut on a slow link (206; docs/fleet.md).
        return FileResponse(path, headers=headers, media_type=media, stat_result=st)
    try:
        data = path.read_bytes()
    except OSError:
        raise ApiError(404, "not_found", "no such feed file") from None
    return Response(data, headers=headers, media_type=media)
