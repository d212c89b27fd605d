"""Child servers a parent accepts pushes from: a name, a pinned public key, and the
regions and countries each may speak for (set by an administrator)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from regional_server.db.models import child_servers
from regional_server.store.regions import COUNTRY_CODE, REGION_CODE

KEY = re.compile(r"ed25519:[A-Za-z0-9+/]{43}=")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")


class ChildError(ValueError):
    """A child server that cannot be registered as asked."""


@dataclass(frozen=True)
class Child:
    id: int
    name: str
    public_key: str
    regions: frozenset[str]
    countries: frozenset[str]
    active: bool
    last_push_at: int | None

    def may_speak_for(self, region_code: str, country: str) -> bool:
        return region_code in self.regions or country in self.countries


def _codes(values: list[str], pattern: re.Pattern[str], what: str) -> frozenset[str]:
    out = set()
    for v in values:
        for code in v.replace(",", " ").split():
            code = code.strip().upper()
            if not pattern.fullmatch(code):
                raise ChildError(f"{what} {code!r} is not valid")
            out.add(code)
    return frozenset(out)


def _row(r: Row[Any]) -> Child:
    return Child(
        r.id,
        r.name,
        r.public_key,
        frozenset(r.regions.split()),
        frozenset(r.countries.split()),
        bool(r.active),
        r.last_push_at,
    )


def register_child(
    conn: Connection,
    name: str,
    public_key: str,
    regions: list[str],
    countries: list[str],
    now: int,
) -> Child:
    """Register (or update, by name) a child server; it may push for ``regions`` and
    for any region of ``countries``."""
    name, public_key = name.strip(), public_key.strip()
    if not NAME.fullmatch(name):
        raise ChildError("the name: 1-100 letters, digits, spaces, '.', '_' or '-'")
    if not KEY.fullmatch(public_key):
        raise ChildError("the key must look like ed25519:BASE64 (kiosk-server server-key)")
    region_set = _codes(regions, REGION_CODE, "region")
    country_set = _codes(countries, COUNTRY_CODE, "country")
    if not region_set and not country_set:
        raise ChildError("name at least one region or country the server may push for")
    values = {
        "public_key": public_key,
        "regions": " ".join(sorted(region_set)),
        "countries": " ".join(sorted(country_set)),
        "active": True,
    }
    other = conn.execute(
        select(child_servers.c.name).where(
            child_servers.c.public_key == public_key, child_servers.c.name != name
        )
    ).first()
    if other is not None:
        raise ChildError(f"this key is already registered for {other.name}")
    existing = get_child(conn, name)
    if existing is None:
        conn.execute(insert(child_servers).values(name=name, created_at=now, **values))
    else:
        conn.execute(update(child_servers).where(child_servers.c.id == existing.id).values(values))
    child = get_child(conn, name)
    assert child is not None
    return child


def set_active(conn: Connection, name: str, active: bool) -> bool:
    """Accept pushes from ``name`` again, or refuse them; False if there is no such child."""
    result = conn.execute(
        update(child_servers).where(child_servers.c.name == name).values(active=active)
    )
    return bool(result.rowcount)


def get_child(conn: Connection, name: str) -> Child | None:
    row = conn.execute(select(child_servers).where(child_servers.c.name == name)).first()
    return _row(row) if row else None


def child_by_key(conn: Connection, public_key: str) -> Child | None:
    row = conn.execute(
        select(child_servers).where(child_servers.c.public_key == public_key)
    ).first()
    return _row(row) if row else None


def list_children(conn: Connection) -> list[Child]:
    return [_row(r) for r in conn.execute(select(child_servers).order_by(child_servers.c.name))]
