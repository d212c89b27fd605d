"""DHIS2 exchange: the admin uploads the mapping; users download their regions' weekly
counts as ``dataValueSets`` JSON or ADX XML (cookie or API token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response

from regional_server.api.errors import ApiError
from regional_server.auth.sessions import CurrentUser
from regional_server.context import ServerContext, get_ctx
from regional_server.dashboard.filters import FilterError, parse_filters, select_regions
from regional_server.dashboard.i18n import translate
from regional_server.dhis2 import (
    MAX_MAPPING_BYTES,
    DataValue,
    Dhis2Mapping,
    MappingError,
    data_values,
    parse_mapping,
    to_adx,
    to_data_value_sets,
)
from regional_server.national.read import (
    pushed_by_region_week,
    pushed_completeness,
    pushed_region_ids,
)
from regional_server.perturb import NO_NOISE, noise_table
from regional_server.rollup import weeks_between
from regional_server.store.completeness import completeness_cells
from regional_server.store.documents import load_document, save_document
from regional_server.store.regions import list_regions
from regional_server.store.rollups import totals_by_region_week
from regional_server.web import check_csrf, language_of, render, require_admin, require_user

router = APIRouter()
MAPPING = "dhis2_mapping"


def _mapping(ctx: ServerContext) -> tuple[Dhis2Mapping, str, int] | None:
    with ctx.engine.connect() as conn:
        found = load_document(conn, MAPPING)
    if found is None:
        return None
    return parse_mapping(found[0].encode()), found[0], found[1]


def _page(
    request: Request, ctx: ServerContext, user: CurrentUser, message: str = "", status: int = 200
) -> Response:
    current = _mapping(ctx)
    return render(
        request,
        "admin_dhis2.html",
        {
            "mapping": current[1] if current else "",
            "updated": current[2] if current else None,
            "message": message,
        },
        user=user,
        status=status,
    )


@router.get("/admin/dhis2", include_in_schema=False)
def dhis2_page(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
) -> Response:
    return _page(request, ctx, user)


@router.post("/admin/dhis2", include_in_schema=False)
def dhis2_upload(
    request: Request,
    user: Annotated[CurrentUser, Depends(require_admin)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    mapping: Annotated[UploadFile, File()],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    check_csrf(user, csrf_token)
    raw = mapping.file.read(MAX_MAPPING_BYTES + 1)
    lang = language_of(request)
    try:
        parse_mapping(raw)
    except MappingError as e:
        return _page(request, ctx, user, translate(lang, "dhis2_bad", detail=e), 400)
    with ctx.engine.begin() as conn:
        save_document(conn, MAPPING, raw.decode("utf-8"), ctx.now())
    return _page(request, ctx, user, translate(lang, "saved"))


def _values(
    ctx: ServerContext,
    user: CurrentUser,
    region: list[str],
    date_from: str | None,
    date_to: str | None,
) -> tuple[list[DataValue], Dhis2Mapping]:
    current = _mapping(ctx)
    if current is None:
        raise ApiError(404, "no_mapping", "no DHIS2 mapping uploaded yet (admin: /admin/dhis2)")
    today = datetime.fromtimestamp(ctx.now(), UTC).date()
    try:
        filters = parse_filters(region, None, date_from, date_to, today)
        with ctx.engine.connect() as conn:
            regions = select_regions(filters, list_regions(conn, user.region_ids))
            weeks = weeks_between(filters.date_from, filters.date_to)
            ids = frozenset(r.id for r in regions)
            # Regions pushed by child servers: their published figures, as they are
            # (docs/national-view.md); the others from the kiosks' rollups.
            pushed = frozenset(pushed_region_ids(conn, ids))
            own = ids - pushed
            cells = totals_by_region_week(conn, own, weeks[0], weeks[-1]) if own else {}
            done = completeness_cells(conn, own, weeks, ctx.settings.report_timely_days)
            pushed_cells = (
                pushed_by_region_week(conn, pushed, weeks[0], weeks[-1]) if pushed else {}
            )
            pushed_done = pushed_completeness(conn, pushed, weeks[0], weeks[-1]) if pushed else {}
    except FilterError as e:
        raise ApiError(e.status, "not_found" if e.status == 404 else "bad_filter", str(e)) from None
    codes = {r.id: r.code for r in regions}
    s = ctx.settings
    values = data_values(
        {(codes[rid], week): c for (rid, week), c in cells.items()},
        current[0],
        noise_table(s.noise_max, s.noise_variance),
        s.suppression_threshold,
        {(codes[rid], week): c for (rid, week), c in done.items()},
    )
    if pushed_cells or pushed_done:
        values += data_values(
            {(codes[rid], week): c for (rid, week), c in pushed_cells.items()},
            current[0],
            NO_NOISE,
            s.suppression_threshold,
            {(codes[rid], week): c for (rid, week), c in pushed_done.items()},
        )
        values.sort(key=lambda v: (v.org_unit, v.week))
    return values, current[0]


_REGION_Q = Query([], max_length=40)
_FROM_Q = Query(None, alias="from", max_length=20)
_TO_Q = Query(None, alias="to", max_length=20)


@router.get(
    "/api/v1/dhis2/dataValueSets",
    summary="Weekly counts per region as DHIS2 dataValueSets JSON (the uploaded mapping)",
    responses={400: {}, 401: {}, 404: {}},
)
def dhis2_json(
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    region: list[str] = _REGION_Q,
    date_from: str | None = _FROM_Q,
    date_to: str | None = _TO_Q,
) -> JSONResponse:
    values, mapping = _values(ctx, user, region, date_from, date_to)
    return JSONResponse(to_data_value_sets(values, mapping))


@router.get(
    "/api/v1/dhis2/adx",
    summary="Weekly counts per region as ADX XML (the uploaded mapping)",
    response_class=Response,
    responses={200: {"content": {"application/adx+xml": {}}}, 400: {}, 401: {}, 404: {}},
)
def dhis2_adx(
    user: Annotated[CurrentUser, Depends(require_user)],
    ctx: Annotated[ServerContext, Depends(get_ctx)],
    region: list[str] = _REGION_Q,
    date_from: str | None = _FROM_Q,
    date_to: str | None = _TO_Q,
) -> Response:
    values, mapping = _values(ctx, user, region, date_from, date_to)
    if not values:
        # ADX needs at least one group: an empty document would not be valid ADX.
        raise ApiError(404, "no_data", "no published value for these regions and weeks")
    exported = datetime.fromtimestamp(ctx.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Response(to_adx(values, mapping, exported), media_type="application/adx+xml")
