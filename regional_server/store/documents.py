"""Documents an admin uploads, by name (the DHIS2 mapping), in the database."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from regional_server.db.models import documents


def save_document(conn: Connection, name: str, content: str, now: int) -> None:
    conn.execute(delete(documents).where(documents.c.name == name))
    conn.execute(insert(documents).values(name=name, content=content, updated_at=now))


def load_document(conn: Connection, name: str) -> tuple[str, int] | None:
    row = conn.execute(
        select(documents.c.content, documents.c.updated_at).where(documents.c.name == name)
    ).first()
    return None if row is None else (row.content, int(row.updated_at))
