"""Enrolled kiosks: enrollment, the key an upload is checked against, coverage, silence,
retirement (a retired kiosk is not counted as enrolled, expected or silent)."""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update

from kiosk_agent.contracts.report import EnrollRequest, EnrollResponse
from regional_server.db.models import feed_lists, kiosk_feeds, kiosks, regions
from regional_server.indicators import Coverage
from regional_server.perturb import KEY_RANGE, Cell, new_record_key
from regional_server.store.codes import CodeError, check_code_region, redeem_code
from regional_server.store.feeds import published_versions

_PUBLIC_KEY = re.compile(r"ed25519:([A-Za-z0-9+/]{43}=)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_VERSION = re.compile(r"[A-Za-z0-9_.+-]{0,32}")
DAY = 86400


class EnrollError(ValueError):
    """An enrollment refused; ``code`` is a short reason, the message says what to do."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class KioskAuth:
    """What verifying and storing an upload needs to know about its kiosk."""

    kiosk_id: str
    public_key: bytes
    region_id: int
    country: str


@dataclass(frozen=True)
class SilentKiosk:
    kiosk_id: str
    cafe_name: str
    region_code: str
    last_report_at: int | None
    enrolled_at: int


def parse_public_key(value: str) -> bytes:
    """The 32 raw bytes of an ``ed25519:BASE64`` key, or ``EnrollError``."""
    match = _PUBLIC_KEY.fullmatch(value) if isinstance(value, str) else None
    raw = base64.b64decode(match.group(1)) if match else b""
    if len(raw) != 32:
        raise EnrollError("bad_public_key", "public_key must be ed25519:<base64 of 32 bytes>")
    return raw


def new_kiosk_id() -> str:
    # Pseudonymous and unguessable: it names no café, PC or person.
    return "k-" + secrets.token_hex(8)


def enroll(conn: Connection, request: EnrollRequest, now: int) -> EnrollResponse:
    """Enroll a kiosk with a one-time code; a retry with the same key gets the same id."""
    parse_public_key(request.public_key)
    cafe = _CONTROL.sub("", request.cafe_name).strip()[:200]
    version = request.agent_version if _VERSION.fullmatch(request.agent_version or "") else ""
    existing = conn.execute(
        select(kiosks.c.id, kiosks.c.region_id).where(kiosks.c.public_key == request.public_key)
    ).first()
    if existing is not None:
        # The kiosk lost our answer and retried: same code, same key -> same kiosk, and
        # the retry does not use up another use of the code.
        if check_code_region(conn, request.code, now) != existing.region_id:
            raise EnrollError("key_enrolled", "this public key is already enrolled", 409)
        return _response(conn, existing.id, existing.region_id)
    try:
        region_id = redeem_code(conn, request.code, now)
    except CodeError as e:
        raise EnrollError(e.code, str(e), 403) from None
    kiosk_id = new_kiosk_id()
    conn.execute(
        insert(kiosks).values(
            id=kiosk_id,
            region_id=region_id,
            public_key=request.public_key,
            cafe_name=cafe,
            agent_version=version,
            enrolled_at=now,
            last_report_at=None,
            record_key=new_record_key(),
        )
    )
    return _response(conn, kiosk_id, region_id)


def _response(conn: Connection, kiosk_id: str, region_id: int) -> EnrollResponse:
    row = conn.execute(select(regions).where(regions.c.id == region_id)).one()
    return EnrollResponse(kiosk_id=kiosk_id, region=row.code, country=row.country)


def newest_versions(conn: Connection) -> dict[str, int]:
    """The newest version of each list this server publishes (``publish-feed``).

    Only published lists count: a kiosk can report any list name and version, and a
    made-up name or version must neither appear on a dashboard nor put other kiosks
    (of any region) behind.
    """
    return published_versions(conn)


def set_retired(conn: Connection, kiosk_id: str, retired: bool, now: int) -> bool:
    """Retire a kiosk (no longer expected to report, no longer counted as enrolled or
    silent) or bring it back; False when there is no such kiosk."""
    result = conn.execute(
        update(kiosks)
        .where(kiosks.c.id == kiosk_id)
        # Retiring twice keeps the first date.
        .values(retired_at=func.coalesce(kiosks.c.retired_at, now) if retired else None)
    )
    return result.rowcount == 1


@dataclass(frozen=True)
class KioskRow:
    kiosk_id: str
    cafe_name: str
    region_code: str
    enrolled_at: int
    last_report_at: int | None
    retired_at: int | None


def list_kiosks(conn: Connection, region_ids: frozenset[int], limit: int = 1000) -> list[KioskRow]:
    """Kiosks of ``region_ids``, active ones first, then by region and café name."""
    rows = conn.execute(
        select(
            kiosks.c.id,
            kiosks.c.cafe_name,
            regions.c.code,
            kiosks.c.enrolled_at,
            kiosks.c.last_report_at,
            kiosks.c.retired_at,
        )
        .join(regions, regions.c.id == kiosks.c.region_id)
        .where(kiosks.c.region_id.in_(sorted(region_ids)))
        .order_by(kiosks.c.retired_at.is_not(None), regions.c.code, kiosks.c.cafe_name, kiosks.c.id)
        .limit(limit)
    )
    return [KioskRow(*r) for r in rows]


def coverage(conn: Connection, region_ids: frozenset[int], now: int) -> dict[int, Coverage]:
    """Per region: kiosks enrolled, reporting in the last 7 days, on the newest lists.

    A kiosk is on the newest lists when it reported at least one list this server
    publishes and is at (or past) the published version of every such list it
    reported; lists the server does not publish are ignored.
    """
    ids = sorted(region_ids)
    active = kiosks.c.last_report_at > now - 7 * DAY
    newest = select(feed_lists.c.list_id, feed_lists.c.latest_version.label("v")).subquery()
    # One row per kiosk: how many published lists it reported, how many are behind.
    per_kiosk = (
        select(
            kiosks.c.region_id,
            kiosks.c.record_key,
            case((active, 1), else_=0).label("active"),
            func.count(newest.c.list_id).label("lists"),
            func.sum(case((kiosk_feeds.c.version < newest.c.v, 1), else_=0)).label("behind"),
        )
        .select_from(
            kiosks.outerjoin(kiosk_feeds, kiosk_feeds.c.kiosk_id == kiosks.c.id).outerjoin(
                newest, newest.c.list_id == kiosk_feeds.c.list_id
            )
        )
        .where(kiosks.c.region_id.in_(ids), kiosks.c.retired_at.is_(None))
        .group_by(kiosks.c.id, kiosks.c.region_id, kiosks.c.record_key, kiosks.c.last_report_at)
        .subquery()
    )
    on_newest = (per_kiosk.c.lists > 0) & (func.coalesce(per_kiosk.c.behind, 0) == 0)
    key = per_kiosk.c.record_key
    rows = conn.execute(
        select(
            per_kiosk.c.region_id,
            func.count(),
            func.sum(key),
            func.sum(per_kiosk.c.active),
            func.sum(case((per_kiosk.c.active == 1, key), else_=0)),
            func.sum(case((on_newest, 1), else_=0)),
            func.sum(case((on_newest, key), else_=0)),
        ).group_by(per_kiosk.c.region_id)
    )
    out = {i: Coverage() for i in ids}
    for region_id, *sums in rows:
        n = [int(v or 0) for v in sums]
        out[region_id] = Coverage(
            Cell(n[0], n[1] % KEY_RANGE),
            Cell(n[2], n[3] % KEY_RANGE),
            Cell(n[4], n[5] % KEY_RANGE),
        )
    return out


def silent_kiosks(
    conn: Connection, region_ids: frozenset[int], now: int, days: int = 7, limit: int = 500
) -> tuple[int, list[SilentKiosk]]:
    """Kiosks with no report for more than ``days`` days (never-reporting ones once they
    have been enrolled that long): the total, and the ``limit`` silent the longest."""
    since = now - days * DAY
    last = func.coalesce(kiosks.c.last_report_at, kiosks.c.enrolled_at)
    where = (
        kiosks.c.region_id.in_(sorted(region_ids)),
        last <= since,
        kiosks.c.retired_at.is_(None),
    )
    total = conn.execute(select(func.count()).select_from(kiosks).where(*where)).scalar_one()
    rows = conn.execute(
        select(kiosks, regions.c.code.label("region_code"))
        .join(regions, regions.c.id == kiosks.c.region_id)
        .where(*where)
        .order_by(last, kiosks.c.id)
        .limit(limit)
    )
    return int(total), [
        SilentKiosk(r.id, r.cafe_name, r.region_code, r.last_report_at, r.enrolled_at) for r in rows
    ]


@dataclass(frozen=True)
class KioskOverview:
    coverage: dict[int, Coverage]
    silent_total: int
    silent: list[SilentKiosk]
    newest: dict[str, int]


def kiosk_overview(
    conn: Connection,
    region_ids: frozenset[int],
    now: int,
    silent_days: int = 7,
    limit: int = 500,
) -> KioskOverview:
    """Coverage per region and the silent kiosks, from one pass over the kiosks.

    Same definitions as ``coverage`` and ``silent_kiosks``; one query over the region's
    kiosks (and their list versions) is cheaper than several grouped joins: 10,000
    kiosks are a few milliseconds of Python.
    """
    newest = newest_versions(conn)
    ids = sorted(region_ids)
    codes = dict(
        conn.execute(select(regions.c.id, regions.c.code).where(regions.c.id.in_(ids))).all()
    )
    rows = conn.execute(
        select(
            kiosks.c.id,
            kiosks.c.region_id,
            kiosks.c.cafe_name,
            kiosks.c.enrolled_at,
            kiosks.c.last_report_at,
            kiosks.c.record_key,
            kiosk_feeds.c.list_id,
            kiosk_feeds.c.version,
        )
        .select_from(kiosks.outerjoin(kiosk_feeds, kiosk_feeds.c.kiosk_id == kiosks.c.id))
        .where(kiosks.c.region_id.in_(ids), kiosks.c.retired_at.is_(None))
    ).all()  # one fetchall: row-by-row fetching cost more than the query
    active_since = now - 7 * DAY
    silent_since = now - silent_days * DAY
    # kiosk id -> [region, cafe, enrolled, last report, has lists, all lists newest, key]
    seen: dict[str, list[Any]] = {}
    for kid, region_id, cafe, enrolled, last, key, list_id, version in rows:
        k = seen.get(kid)
        if k is None:
            k = seen[kid] = [region_id, cafe, enrolled, last, False, True, key]
        published = newest.get(list_id) if list_id is not None else None
        if published is not None:  # lists the server does not publish are ignored
            k[4] = True
            if version < published:
                k[5] = False
    # region -> [enrolled, key sum, active, key sum, on newest, key sum]
    counts: dict[int, list[int]] = {i: [0] * 6 for i in ids}
    silent: list[SilentKiosk] = []
    for kid, (region_id, cafe, enrolled, last, has_lists, all_newest, key) in seen.items():
        c = counts[region_id]
        c[0] += 1
        c[1] += key
        if last is not None and last > active_since:
            c[2] += 1
            c[3] += key
        if has_lists and all_newest:
            c[4] += 1
            c[5] += key
        if (last if last is not None else enrolled) <= silent_since:
            silent.append(SilentKiosk(kid, cafe, codes[region_id], last, enrolled))
    silent.sort(key=lambda k: (k.last_report_at or k.enrolled_at, k.kiosk_id))
    return KioskOverview(
        {
            i: Coverage(
                Cell(c[0], c[1] % KEY_RANGE),
                Cell(c[2], c[3] % KEY_RANGE),
                Cell(c[4], c[5] % KEY_RANGE),
            )
            for i, c in counts.items()
        },
        len(silent),
        silent[:limit],
        newest,
    )
