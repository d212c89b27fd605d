"""The fleet view: how many kiosks of each region run each program version, content pack
and settings overlay, from what each kiosk's latest report said (``kiosks`` columns).

Exact counts, not perturbed like the indicators: they count machines, not people, and a
coordinator staging a release needs to see the last few kiosks that have not taken it
(the silent-kiosk list already names kiosks one by one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from regional_server.db.models import kiosks, regions

DAY = 86400
ACTIVE_DAYS = 7


@dataclass
class VersionCount:
    """Kiosks on one version; ``active``: of them, those that reported in the last 7 days."""

    version: str | int | None
    kiosks: int = 0
    active: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "kiosks": self.kiosks, "active": self.active}


@dataclass
class RegionFleet:
    region: str
    name: str
    country: str
    kiosks: int = 0
    not_reported: int = 0
    """Enrolled, no report yet: what they hold is not known (not in the tables below)."""
    program: list[VersionCount] = field(default_factory=list)
    content: list[VersionCount] = field(default_factory=list)
    """``version`` None: the program's built-in pack."""
    settings: list[VersionCount] = field(default_factory=list)
    """``version`` None: no overlay applied."""

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "name": self.name,
            "country": self.country,
            "kiosks": self.kiosks,
            "not_reported": self.not_reported,
            **{
                kind: [c.to_json() for c in getattr(self, kind)]
                for kind in ("program", "content", "settings")
            },
        }


def _program_key(version: str | int | None) -> tuple[Any, ...]:
    # Newest first: numeric parts compare as numbers ("0.10.0" after "0.9.0").
    parts = re.split(r"[.+-]", str(version or ""))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def _signed_key(version: str | int | None) -> tuple[int, int]:
    return (0, int(version)) if isinstance(version, int) else (-1, 0)


def fleet(conn: Connection, region_ids: frozenset[int], now: int) -> list[RegionFleet]:
    """One ``RegionFleet`` per region of ``region_ids`` (by country, code); versions newest
    first, the built-in pack / no overlay last."""
    ids = sorted(region_ids)
    out: dict[int, RegionFleet] = {
        r.id: RegionFleet(r.code, r.name, r.country)
        for r in conn.execute(
            select(regions.c.id, regions.c.code, regions.c.name, regions.c.country)
            .where(regions.c.id.in_(ids))
            .order_by(regions.c.country, regions.c.code)
        )
    }
    tallies: dict[tuple[int, str], dict[str | int | None, VersionCount]] = {}
    rows = conn.execute(
        select(
            kiosks.c.region_id,
            kiosks.c.last_report_at,
            kiosks.c.agent_version,
            kiosks.c.content_version,
            kiosks.c.settings_version,
        ).where(kiosks.c.region_id.in_(ids))
    ).all()
    active_since = now - ACTIVE_DAYS * DAY
    for region_id, last, program, content, settings in rows:
        region = out[region_id]
        region.kiosks += 1
        if last is None:
            region.not_reported += 1
            continue
        for kind, version in (("program", program), ("content", content), ("settings", settings)):
            per = tallies.setdefault((region_id, kind), {})
            count = per.get(version)
            if count is None:
                count = per[version] = VersionCount(version)
            count.kiosks += 1
            count.active += last > active_since
    for (region_id, kind), per in tallies.items():
        key = _program_key if kind == "program" else _signed_key
        setattr(
            out[region_id], kind, sorted(per.values(), key=lambda c: key(c.version), reverse=True)
        )
    return list(out.values())
