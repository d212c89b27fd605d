"""The parent's side of a push: check the child may speak for the region, then replace
that region's weeks with the pushed figures, once per push id.

Idempotent twice over: a push id already applied is a no-op (``duplicate``), and a push
replaces the region's figures for its weeks (``first_week..last_week``) instead of adding
to them, so sending the same weeks again never counts anything twice. A push generated
before the last one applied for the region is ignored (``stale``): an old retry cannot
overwrite newer figures.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from regional_server.db.models import child_regions, child_servers, parent_pushes, pushed_weekly
from regional_server.national.children import Child
from regional_server.national.payload import Push
from regional_server.store.regions import create_region, get_region


class PushRefused(Exception):
    """A push the parent refuses: HTTP status, error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def apply_push(conn: Connection, child: Child, push: Push, now: int) -> str:
    """Store ``push`` from ``child`` in the open transaction; returns ``stored``,
    ``duplicate`` or ``stale``; raises ``PushRefused``."""
    if not child.may_speak_for(push.region_code, push.country):
        raise PushRefused(
            403,
            "region_not_allowed",
            f"this server is not registered to push for {push.region_code} ({push.country})",
        )
    seen = conn.execute(
        select(parent_pushes.c.push_id).where(parent_pushes.c.push_id == push.push_id)
    ).first()
    if seen is not None:
        return "duplicate"
    region = get_region(conn, push.region_code)
    if region is None:
        region = create_region(conn, push.region_code, push.region_name, push.country, now)
        conn.execute(
            insert(child_regions).values(
                region_id=region.id, child_id=child.id, generated_at=push.generated_at
            )
        )
    else:
        owner = conn.execute(
            select(child_regions.c.child_id, child_regions.c.generated_at)
            .where(child_regions.c.region_id == region.id)
            .with_for_update()  # pushes for one region take turns (PostgreSQL)
        ).first()
        if owner is None or owner.child_id != child.id or region.country != push.country:
            raise PushRefused(
                409,
                "region_conflict",
                f"region {region.code} here is not {child.name}'s to push "
                "(this server's own region, another server's, or another country)",
            )
        if push.generated_at < owner.generated_at:
            return "stale"
    conn.execute(
        delete(pushed_weekly).where(
            pushed_weekly.c.region_id == region.id,
            pushed_weekly.c.week_start >= push.first_week,
            pushed_weekly.c.week_start <= push.last_week,
        )
    )
    rows = [
        {"region_id": region.id, "week_start": week, "name": name, "value": value}
        for week, figures in sorted(push.weeks.items())
        for name, value in sorted(figures.items())
    ]
    if rows:
        conn.execute(insert(pushed_weekly), rows)
    conn.execute(
        update(child_regions)
        .where(child_regions.c.region_id == region.id)
        .values(
            generated_at=push.generated_at,
            kiosks_enrolled=push.coverage["kiosks_enrolled"],
            kiosks_active=push.coverage["kiosks_active"],
            kiosks_on_newest=push.coverage["kiosks_on_newest"],
        )
    )
    conn.execute(
        update(child_servers).where(child_servers.c.id == child.id).values(last_push_at=now)
    )
    conn.execute(
        insert(parent_pushes).values(push_id=push.push_id, child_id=child.id, received_at=now)
    )
    return "stored"
