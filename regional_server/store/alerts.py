"""Alert subscriptions and preferences, and the alerts of a user's subscribed regions
(rules in ``regional_server.alerts``; figures published as on the dashboard)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from regional_server.alerts import HISTORY_WEEKS, Alert, Subscription, region_alerts
from regional_server.db.models import alert_prefs, alert_subscriptions, regions
from regional_server.indicators import family_cells, shown_count
from regional_server.perturb import Cell, NoiseTable, cell_sum
from regional_server.rollup import week_label, week_start
from regional_server.store.kiosks import SilentKiosk, silent_kiosks
from regional_server.store.rollups import totals_by_region_week

DEFAULT_SILENT_DAYS = 7
MAX_SILENT_DAYS = 365
SILENT_LISTED = 10
"""Silent kiosks named in an alert (the dashboard lists them all)."""


@dataclass(frozen=True)
class Prefs:
    language: str
    digest: bool
    last_digest_at: int | None = None


def subscriptions(conn: Connection, user_id: int) -> dict[int, Subscription]:
    rows = conn.execute(
        select(
            alert_subscriptions.c.region_id,
            alert_subscriptions.c.silent_days,
            alert_subscriptions.c.jumps,
            alert_subscriptions.c.feed_rejections,
        ).where(alert_subscriptions.c.user_id == user_id)
    )
    return {r[0]: Subscription(r[0], r[1], bool(r[2]), bool(r[3])) for r in rows}


def save_subscriptions(
    conn: Connection, user_id: int, allowed: frozenset[int], subs: Sequence[Subscription]
) -> None:
    """Replace the user's subscriptions; regions outside ``allowed`` are left out."""
    conn.execute(delete(alert_subscriptions).where(alert_subscriptions.c.user_id == user_id))
    rows = [
        {
            "user_id": user_id,
            "region_id": s.region_id,
            "silent_days": s.silent_days,
            "jumps": s.jumps,
            "feed_rejections": s.feed_rejections,
        }
        for s in subs
        if s.region_id in allowed
    ]
    if rows:
        conn.execute(insert(alert_subscriptions), rows)


def prefs(conn: Connection, user_id: int, default_language: str = "en") -> Prefs:
    row = conn.execute(
        select(alert_prefs.c.language, alert_prefs.c.digest, alert_prefs.c.last_digest_at).where(
            alert_prefs.c.user_id == user_id
        )
    ).first()
    return Prefs(row[0], bool(row[1]), row[2]) if row else Prefs(default_language, False)


def save_prefs(conn: Connection, user_id: int, language: str, digest: bool) -> None:
    done = conn.execute(
        update(alert_prefs)
        .where(alert_prefs.c.user_id == user_id)
        .values(language=language, digest=digest)
    )
    if done.rowcount == 0:
        conn.execute(insert(alert_prefs).values(user_id=user_id, language=language, digest=digest))


def digest_sent(conn: Connection, user_id: int, now: int) -> None:
    conn.execute(
        update(alert_prefs).where(alert_prefs.c.user_id == user_id).values(last_digest_at=now)
    )


def digest_users(conn: Connection) -> list[int]:
    """Users who asked for the weekly digest."""
    query = select(alert_prefs.c.user_id).where(alert_prefs.c.digest)
    return [r[0] for r in conn.execute(query.order_by(alert_prefs.c.user_id))]


def last_complete_week(now: int) -> date:
    """The Monday of the last ISO week that has ended at ``now``."""
    return week_start(datetime.fromtimestamp(now, UTC).date()) - timedelta(weeks=1)


def collect_alerts(
    conn: Connection,
    subs: dict[int, Subscription],
    region_ids: frozenset[int],
    now: int,
    noise: NoiseTable,
    threshold: int,
) -> list[Alert]:
    """The alerts of the subscribed regions among ``region_ids`` (the user's grant)."""
    ids = frozenset(r for r in subs if r in region_ids)
    if not ids:
        return []
    codes = dict(
        conn.execute(
            select(regions.c.id, regions.c.code).where(regions.c.id.in_(sorted(ids)))
        ).all()
    )
    last = last_complete_week(now)
    weeks = [last - timedelta(weeks=k) for k in range(HISTORY_WEEKS, -1, -1)]
    cells = totals_by_region_week(conn, ids, weeks[0], last)

    def published(cell: Cell, has_data: bool) -> int | None:
        value = shown_count(cell, noise, threshold, has_data)
        return value if isinstance(value, int) else None

    out: list[Alert] = []
    for region_id in sorted(ids, key=lambda r: codes.get(r, "")):
        sub = subs[region_id]
        series: dict[str, list[int | None]] = {"blocked": [], "tamper": []}
        for w in weeks:
            counts = cells.get((region_id, w), {})
            fam = family_cells(counts)
            for name in series:
                series[name].append(published(fam[name], bool(counts)))
        last_counts = cells.get((region_id, last), {})
        rejected = cell_sum(c for n, c in last_counts.items() if n.startswith("feeds.rejected."))
        total, silent = 0, list[SilentKiosk]()
        if sub.silent_days > 0:
            total, silent = silent_kiosks(
                conn, frozenset({region_id}), now, sub.silent_days, SILENT_LISTED
            )
        out.extend(
            region_alerts(
                codes[region_id],
                week_label(last),
                sub,
                series["blocked"],
                series["tamper"],
                (rejected.value, published(rejected, True)),
                [k.kiosk_id for k in silent],
                total,
            )
        )
    return out
