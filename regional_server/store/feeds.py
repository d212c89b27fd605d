"""The newest published version of each list, recorded when a feed is published."""

from __future__ import annotations

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from regional_server.db.models import feed_lists


def record_published(conn: Connection, list_id: str, version: int, now: int) -> None:
    """Remember that ``version`` of ``list_id`` is published (versions only grow)."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dialect.insert(feed_lists)
        .values(list_id=list_id, latest_version=version, published_at=now)
        .on_conflict_do_nothing(index_elements=["list_id"])
    )
    conn.execute(
        update(feed_lists)
        .where(feed_lists.c.list_id == list_id, feed_lists.c.latest_version < version)
        .values(latest_version=version, published_at=now)
    )


def published_versions(conn: Connection) -> dict[str, int]:
    return {
        r[0]: int(r[1])
        for r in conn.execute(select(feed_lists.c.list_id, feed_lists.c.latest_version))
    }
