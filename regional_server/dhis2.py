"""DHIS2 exchange: the weekly indicators per region as ``dataValueSets`` JSON and ADX XML.

Pure functions. An admin uploads a mapping (JSON) from our indicator names and region
codes to DHIS2 data element and org unit ids; counts are published exactly as on the
dashboard (``indicators.shown_count``, the cell key method): a hidden count (``<5``)
and a week without data are left out (DHIS2 reads a missing value as "not reported"),
a true zero is sent as ``0``. Rates are not sent: DHIS2 computes indicators itself
from the counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.etree import ElementTree as ET

from regional_server.completeness import WeekCells
from regional_server.indicators import family_cells, shown_count
from regional_server.perturb import Cell, NoiseTable

COUNTS = ("sessions", "notices_shown", "notices_acknowledged", "blocked", "tamper", "p2p")
"""The indicators that can be mapped: counts only (and ``blocked.<category>``)."""
COMPLETENESS = ("kiosks_expected", "reports_received", "reports_on_time")
"""Reporting completeness as counts of kiosks (``completeness.py``): DHIS2 computes the
rates with indicators of its own (received / expected)."""
ADX_NS = "urn:ihe:qrph:adx:2015"
_UID = re.compile(r"[A-Za-z][A-Za-z0-9]{10}")
_NAME = re.compile(
    r"(sessions|notices_shown|notices_acknowledged|blocked|tamper|p2p"
    r"|kiosks_expected|reports_received|reports_on_time)"
    r"|blocked\.[a-z0-9_]{1,40}"
)
MAX_MAPPING_BYTES = 256 * 1024


class MappingError(ValueError):
    """A mapping file that cannot be used; the message says what is wrong."""


@dataclass(frozen=True)
class Dhis2Mapping:
    data_set: str
    data_elements: dict[str, str]
    """our indicator name -> DHIS2 data element uid"""
    org_units: dict[str, str]
    """our region code -> DHIS2 org unit uid"""


def parse_mapping(raw: bytes) -> Dhis2Mapping:
    """Validate an uploaded mapping file (JSON), listing every problem at once::

    {"dataSet": "pBOMPrpg1QX",
     "dataElements": {"sessions": "fbfJHSPpUQD", "blocked.malware": "cYeuwXTCPkU"},
     "orgUnits": {"KE-NBO": "DiszpKrYNg8"}}
    """
    if len(raw) > MAX_MAPPING_BYTES:
        raise MappingError(f"the mapping file is larger than {MAX_MAPPING_BYTES} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MappingError(f"the mapping file is not JSON: {e}") from None
    if not isinstance(data, dict):
        raise MappingError("the mapping file must be a JSON object")
    problems: list[str] = []
    data_set = data.get("dataSet")
    if not isinstance(data_set, str) or not _UID.fullmatch(data_set):
        problems.append("dataSet: a DHIS2 uid (11 letters and digits, a letter first)")
    out: dict[str, dict[str, str]] = {}
    for key, pattern, what in (
        ("dataElements", _NAME, "an indicator name (sessions, blocked.<category>, ...)"),
        ("orgUnits", re.compile(r"[A-Z0-9][A-Z0-9_-]{0,31}"), "a region code"),
    ):
        section = data.get(key)
        if not isinstance(section, dict) or not section:
            problems.append(f"{key}: a non-empty object")
            continue
        out[key] = {}
        for name, uid in list(section.items())[:1000]:
            if not isinstance(name, str) or not pattern.fullmatch(name):
                problems.append(f"{key}: {str(name)[:40]!r} is not {what}")
            elif not isinstance(uid, str) or not _UID.fullmatch(uid):
                problems.append(f"{key}.{name}: {str(uid)[:40]!r} is not a DHIS2 uid")
            else:
                out[key][name] = uid
    unknown = sorted(set(data) - {"dataSet", "dataElements", "orgUnits"})
    if unknown:
        problems.append(f"unknown keys: {', '.join(map(str, unknown))[:200]}")
    if problems:
        raise MappingError("; ".join(problems))
    assert isinstance(data_set, str)
    return Dhis2Mapping(data_set, out["dataElements"], out["orgUnits"])


@dataclass(frozen=True)
class DataValue:
    data_element: str
    org_unit: str
    week: date
    """The Monday of the ISO week."""
    value: int


def dhis2_week(monday: date) -> str:
    """DHIS2's weekly period id: ``2026W48``."""
    year, week, _ = monday.isocalendar()
    return f"{year}W{week}"


def data_values(
    cells: Mapping[tuple[str, date], Mapping[str, Cell]],
    mapping: Dhis2Mapping,
    noise: NoiseTable,
    threshold: int,
    completeness: Mapping[tuple[str, date], WeekCells] | None = None,
) -> list[DataValue]:
    """The mapped, published counts of each (region code, week) with data.

    Each value is the same cell the dashboard publishes for that region and week (a
    family total or one blocked category, through ``shown_count``; the completeness
    figures of ``completeness`` for weeks with kiosks expected).
    """
    done = completeness or {}
    out: list[DataValue] = []
    for region, week in sorted(set(cells) | set(done)):
        org_unit = mapping.org_units.get(region)
        if org_unit is None:
            continue
        counts = cells.get((region, week), {})
        families = family_cells(counts)
        for name, element in sorted(mapping.data_elements.items()):
            if name in COMPLETENESS:
                week_cells = done.get((region, week))
                if week_cells is None:
                    continue
                cell = {
                    "kiosks_expected": week_cells.expected,
                    "reports_received": week_cells.received,
                    "reports_on_time": week_cells.on_time,
                }[name]
            elif not counts:
                continue
            else:
                cell = (
                    families[name]
                    if name in families
                    else counts.get(name, Cell())  # blocked.<category>
                )
            value = shown_count(cell, noise, threshold)
            if isinstance(value, int):  # hidden (<5) and no data are left out
                out.append(DataValue(element, org_unit, week, value))
    return out


def to_data_value_sets(values: Sequence[DataValue], mapping: Dhis2Mapping) -> dict[str, Any]:
    """DHIS2's ``dataValueSets`` JSON (POST /api/dataValueSets)."""
    return {
        "dataSet": mapping.data_set,
        "dataValues": [
            {
                "dataElement": v.data_element,
                "period": dhis2_week(v.week),
                "orgUnit": v.org_unit,
                "value": str(v.value),
            }
            for v in values
        ],
    }


def to_adx(values: Sequence[DataValue], mapping: Dhis2Mapping, exported: str) -> bytes:
    """ADX XML (IHE QRPH ADX): one ``group`` per org unit and week, period as an
    ISO 8601 start date and duration (``2026-11-23/P7D``)."""
    ET.register_namespace("", ADX_NS)
    root = ET.Element(f"{{{ADX_NS}}}adx", {"exported": exported})
    groups: dict[tuple[str, date], ET.Element] = {}
    for v in values:
        key = (v.org_unit, v.week)
        group = groups.get(key)
        if group is None:
            group = ET.SubElement(
                root,
                f"{{{ADX_NS}}}group",
                {
                    "orgUnit": v.org_unit,
                    "period": f"{v.week.isoformat()}/P7D",
                    "dataSet": mapping.data_set,
                },
            )
            groups[key] = group
        ET.SubElement(
            group, f"{{{ADX_NS}}}dataValue", {"dataElement": v.data_element, "value": str(v.value)}
        )
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data
