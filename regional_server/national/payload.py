"""The body a regional server pushes to its parent: one region's published figures.

Pure functions: ``encode_push`` on the child, ``parse_push`` (strict, bounded) on the
parent. Every value is a figure as the child publishes it (already perturbed by the cell
key method and thresholded): an integer, ``0`` for a true zero, ``null`` for a hidden
one (``<5``); a week with no data is absent. No kiosk-level data has a place in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from regional_server.national.parent_url import PUSH_PATH as PUSH_PATH
from regional_server.store.regions import COUNTRY_CODE, REGION_CODE

HEADER_KEY = "X-Server-Key"
HEADER_TIMESTAMP = "X-Server-Timestamp"
HEADER_SIGNATURE = "X-Server-Signature"
SCHEMA = 1
MAX_WEEKS = 53
"""A push covers at most a year of weeks."""
MAX_NAMES = 80
"""Figures per week: the indicator families and the blocked categories."""
MAX_VALUE = 2**53
FAMILIES = (
    "sessions",
    "notices_shown",
    "notices_acknowledged",
    "feedback_helpful",
    "feedback_not_helpful",
    "tamper",
    "p2p",
)
"""Pushed as one figure each; ``blocked`` is pushed per category (``blocked.<cat>``)."""
COVERAGE = ("kiosks_enrolled", "kiosks_active", "kiosks_on_newest")
COMPLETENESS = ("kiosks_expected", "reports_received", "reports_on_time")
"""Reporting completeness and timeliness of the week, pushed per week (optional: a child
of before they were pushed sends none); not counters of the dashboard's tables."""
_NAME = re.compile(r"blocked\.[a-z0-9_]{1,64}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

Published = int | None
"""A published figure: a count (0 a true zero) or ``None`` (hidden)."""


class PushError(ValueError):
    """A push body that is not one; the message says why."""


@dataclass(frozen=True)
class Push:
    push_id: str
    generated_at: int
    region_code: str
    region_name: str
    country: str
    first_week: date
    last_week: date
    """The weeks this push replaces on the parent (Mondays, inclusive)."""
    weeks: dict[date, dict[str, Published]]
    """Weeks with data: figure name -> published value."""
    coverage: dict[str, Published]


def valid_name(name: str) -> bool:
    return name in FAMILIES or name in COMPLETENESS or bool(_NAME.fullmatch(name))


def encode_push(push: Push) -> bytes:
    """The JSON body (compact, keys sorted: the same push is the same bytes)."""
    body = {
        "schema": SCHEMA,
        "push_id": push.push_id,
        "generated_at": push.generated_at,
        "region": {"code": push.region_code, "name": push.region_name, "country": push.country},
        "first_week": push.first_week.isoformat(),
        "last_week": push.last_week.isoformat(),
        "weeks": {
            w.isoformat(): dict(sorted(values.items())) for w, values in sorted(push.weeks.items())
        },
        "coverage": push.coverage,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _need(obj: Mapping[str, Any], key: str, kind: type) -> Any:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PushError(f"{key}: missing or not a {kind.__name__}")
    return value


def _monday(text: Any, what: str) -> date:
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise PushError(f"{what}: not a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PushError(f"{what}: not a date") from None
    if day.weekday() != 0:
        raise PushError(f"{what}: not a Monday (weeks start on Monday)")
    return day


def _published(value: Any, what: str) -> Published:
    if value is None:
        return None
    if type(value) is not int or not 0 <= value < MAX_VALUE:
        raise PushError(f"{what}: a published figure is a count or null (hidden)")
    return value


def parse_push(data: bytes) -> Push:
    """Read and check a push body; raise ``PushError``."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise PushError("the body is not JSON") from None
    if not isinstance(obj, dict):
        raise PushError("the body is not a JSON object")
    if obj.get("schema") != SCHEMA or type(obj.get("schema")) is not int:
        raise PushError(f"schema: expected {SCHEMA}")
    push_id = _need(obj, "push_id", str)
    if not _UUID.fullmatch(push_id):
        raise PushError("push_id: not a lowercase UUID")
    generated_at = _need(obj, "generated_at", int)
    if not 0 <= generated_at < 2**40:
        raise PushError("generated_at: out of range")
    region = _need(obj, "region", dict)
    code, name, country = (region.get(k) for k in ("code", "name", "country"))
    if not isinstance(code, str) or not REGION_CODE.fullmatch(code):
        raise PushError("region.code: not a region code")
    if not isinstance(country, str) or not COUNTRY_CODE.fullmatch(country):
        raise PushError("region.country: not a two-letter country code")
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 200 or not name.isprintable():
        raise PushError("region.name: 1-200 printable characters")
    first = _monday(obj.get("first_week"), "first_week")
    last = _monday(obj.get("last_week"), "last_week")
    if last < first or (last - first) > timedelta(weeks=MAX_WEEKS - 1):
        raise PushError(f"first_week..last_week: at most {MAX_WEEKS} weeks, in order")
    raw_weeks = _need(obj, "weeks", dict)
    weeks: dict[date, dict[str, Published]] = {}
    for text, values in raw_weeks.items():
        week = _monday(text, f"weeks[{text[:12]!r}]")
        if not first <= week <= last:
            raise PushError(f"weeks: {text} is outside first_week..last_week")
        if not isinstance(values, dict) or len(values) > MAX_NAMES:
            raise PushError(f"weeks[{text}]: at most {MAX_NAMES} figures")
        figures: dict[str, Published] = {}
        for key, value in values.items():
            if not valid_name(key):
                raise PushError(f"weeks[{text}]: unknown figure {key[:70]!r}")
            figures[key] = _published(value, f"weeks[{text}][{key}]")
        weeks[week] = figures
    raw_cov = _need(obj, "coverage", dict)
    if set(raw_cov) != set(COVERAGE):
        raise PushError(f"coverage: exactly {', '.join(COVERAGE)}")
    coverage = {k: _published(raw_cov[k], f"coverage[{k}]") for k in COVERAGE}
    return Push(push_id, generated_at, code, name.strip(), country, first, last, weeks, coverage)
