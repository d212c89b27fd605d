"""Regions: a code (e.g. ``KE-NBO``), a name and the country they belong to."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from regional_server.db.models import regions

REGION_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}")
COUNTRY_CODE = re.compile(r"[A-Z]{2}")


class RegionError(ValueError):
    """A region that cannot be created as asked."""


@dataclass(frozen=True)
class Region:
    id: int
    code: str
    name: str
    country: str


def create_region(conn: Connection, code: str, name: str, country: str, now: int) -> Region:
    code, country, name = code.strip().upper(), country.strip().upper(), name.strip()
    if not REGION_CODE.fullmatch(code):
        raise RegionError(f"region code {code!r}: use 1-32 letters, digits, '-' or '_'")
    if not COUNTRY_CODE.fullmatch(country):
        raise RegionError(f"country {country!r}: use a two-letter ISO 3166 code such as KE")
    if not name or len(name) > 200:
        raise RegionError("the region name must have 1-200 characters")
    if get_region(conn, code) is not None:
        raise RegionError(f"region {code} already exists")
    new_id = conn.execute(
        insert(regions).values(code=code, name=name, country=country, created_at=now)
    ).inserted_primary_key
    assert new_id is not None
    return Region(int(new_id[0]), code, name, country)


def get_region(conn: Connection, code: str) -> Region | None:
    row = conn.execute(select(regions).where(regions.c.code == code.strip().upper())).first()
    return Region(row.id, row.code, row.name, row.country) if row else None


def list_regions(conn: Connection, ids: frozenset[int] | None = None) -> list[Region]:
    """All regions, or only ``ids``, ordered by country then code."""
    query = select(regions).order_by(regions.c.country, regions.c.code)
    if ids is not None:
        query = query.where(regions.c.id.in_(sorted(ids)))
    return [Region(r.id, r.code, r.name, r.country) for r in conn.execute(query)]
