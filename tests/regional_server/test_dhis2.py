"""DHIS2 exchange: the mapping file, dataValueSets JSON and ADX XML, published counts."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from regional_server.dhis2 import (
    ADX_NS,
    MappingError,
    data_values,
    dhis2_week,
    parse_mapping,
    to_adx,
    to_data_value_sets,
)
from regional_server.perturb import NO_NOISE, Cell, noise_table
from tests.conftest import require
from tests.regional_server.helpers import (
    Clock,
    World,
    csrf_of,
    enroll,
    login,
    make_report,
    new_code,
    upload,
)

MAPPING = {
    "dataSet": "pBOMPrpg1QX",
    "dataElements": {
        "sessions": "fbfJHSPpUQD",
        "tamper": "cYeuwXTCPkU",
        "blocked.malware": "Jtf34kNZhzP",
    },
    "orgUnits": {"KE-NBO": "DiszpKrYNg8", "SN-DKR": "ImspTQPwCqd"},
}


def test_parse_mapping_lists_every_problem() -> None:
    m = parse_mapping(json.dumps(MAPPING).encode())
    assert m.org_units["KE-NBO"] == "DiszpKrYNg8" and m.data_set == "pBOMPrpg1QX"
    bad = {"dataSet": "x", "dataElements": {"rates": "fbfJHSPpUQD"}, "orgUnits": {}, "y": 1}
    with pytest.raises(MappingError) as e:
        parse_mapping(json.dumps(bad).encode())
    text = str(e.value)
    assert "dataSet" in text and "'rates'" in text and "orgUnits" in text and "y" in text
    with pytest.raises(MappingError):
        parse_mapping(b"\xff not json")


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_parse_mapping_never_crashes(raw: bytes) -> None:
    with contextlib.suppress(MappingError):
        parse_mapping(raw)


def test_values_are_published_counts() -> None:
    mapping = parse_mapping(json.dumps(MAPPING).encode())
    week = date(2026, 11, 23)
    cells = {
        ("KE-NBO", week): {"sessions.login": Cell(240, 17), "blocked.malware": Cell(2, 3)},
        ("SN-DKR", week): {},
        ("XX-NONE", week): {"sessions.login": Cell(99, 1)},
    }
    values = data_values(cells, mapping, NO_NOISE, 5)
    # sessions 240; tamper a true 0 (sent); malware hidden (<5: left out); SN-DKR no
    # data and XX-NONE unmapped: nothing.
    assert {(v.data_element, v.value) for v in values} == {
        ("fbfJHSPpUQD", 240),
        ("cYeuwXTCPkU", 0),
    }
    perturbed = data_values(cells, mapping, noise_table(), 5)
    from regional_server.indicators import shown_count

    assert next(v.value for v in perturbed if v.data_element == "fbfJHSPpUQD") == shown_count(
        Cell(240, 17), noise_table(), 5
    )
    dvs = to_data_value_sets(values, mapping)
    assert dvs["dataSet"] == "pBOMPrpg1QX"
    assert {
        "dataElement": "fbfJHSPpUQD",
        "period": "2026W48",
        "orgUnit": "DiszpKrYNg8",
        "value": "240",
    } in dvs["dataValues"]
    assert dhis2_week(date(2027, 1, 4)) == "2027W1"
    root = ET.fromstring(to_adx(values, mapping, "2026-12-03T00:00:00Z"))
    assert root.tag == f"{{{ADX_NS}}}adx" and root.get("exported") == "2026-12-03T00:00:00Z"
    groups = root.findall(f"{{{ADX_NS}}}group")
    assert len(groups) == 1 and groups[0].get("period") == "2026-11-23/P7D"
    assert groups[0].get("orgUnit") == "DiszpKrYNg8"
    assert len(groups[0].findall(f"{{{ADX_NS}}}dataValue")) == 2


def test_upload_and_download(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    day = datetime.fromtimestamp(clock(), UTC) - timedelta(days=1)
    report = make_report(kiosk, {"sessions.login": 40, "blocked.malware": 1}, day=day)
    assert upload(client, kiosk, report, clock).status_code == 201
    login(client, world.coord_a)
    assert client.get("/api/v1/dhis2/dataValueSets").status_code == 404  # no mapping yet
    assert client.get("/admin/dhis2").status_code == 404  # admins only
    client.cookies.clear()
    login(client, world.admin)
    page = client.get("/admin/dhis2")
    csrf = csrf_of(page.text)
    r = client.post(
        "/admin/dhis2",
        data={"csrf_token": csrf},
        files={"mapping": ("m.json", b'{"dataSet": 1}', "application/json")},
    )
    assert r.status_code == 400 and "dataSet" in r.text
    r = client.post(
        "/admin/dhis2",
        data={"csrf_token": csrf},
        files={"mapping": ("m.json", json.dumps(MAPPING).encode(), "application/json")},
    )
    assert r.status_code == 200 and "DiszpKrYNg8" in r.text
    client.cookies.clear()
    login(client, world.coord_a)
    dvs = client.get("/api/v1/dhis2/dataValueSets").json()
    assert {(v["dataElement"], v["value"]) for v in dvs["dataValues"]} == {
        ("fbfJHSPpUQD", "40"),
        ("cYeuwXTCPkU", "0"),
    }
    assert {v["orgUnit"] for v in dvs["dataValues"]} == {"DiszpKrYNg8"}  # the user's region
    r = client.get("/api/v1/dhis2/adx")
    assert r.headers["content-type"].startswith("application/adx+xml")
    assert ET.fromstring(r.content).tag == f"{{{ADX_NS}}}adx"
    assert client.get("/api/v1/dhis2/adx?region=SN-DKR").status_code == 404


ADX_XSD = Path(__file__).parent / "data" / "adx.xsd"


def _adx_schema() -> tuple[Any, Any]:
    """The schema and lxml's etree; lxml missing skips (fails under CI=true)."""
    try:
        from lxml import etree
    except ImportError:
        require(False, "lxml is not installed (a dev dependency)")
    return etree.XMLSchema(etree.parse(str(ADX_XSD))), etree


def test_adx_output_is_valid_adx() -> None:
    """The ADX document validates against the ADX schema (tests/.../data/adx.xsd,
    written from the profile); a document missing what the profile requires does not,
    so the check can fail."""
    schema, etree = _adx_schema()
    mapping = parse_mapping(json.dumps(MAPPING).encode())
    cells = {
        (region, date(2026, 11, 23) + timedelta(weeks=w)): {
            "sessions.login": Cell(100 + w, w),
            "tamper.dns_changed": Cell(9, 5),
        }
        for region in ("KE-NBO", "SN-DKR")
        for w in range(3)
    }
    values = data_values(cells, mapping, noise_table(), 5)
    doc = etree.fromstring(to_adx(values, mapping, "2026-12-03T10:00:00Z"))
    assert schema.validate(doc), schema.error_log
    assert len(doc) == 6
    broken = etree.fromstring(to_adx(values, mapping, "2026-12-03T10:00:00Z"))
    del broken.attrib["exported"]
    assert not schema.validate(broken)
    broken = etree.fromstring(to_adx(values, mapping, "2026-12-03T10:00:00Z"))
    broken[0].set("period", "2026W48")  # DHIS2's period id is not an ADX period
    assert not schema.validate(broken)


def test_completeness_as_counts_of_kiosks() -> None:
    """Expected, received and on time go out as three data elements (counts of kiosks,
    published like every count); DHIS2 computes the rates itself."""
    from regional_server.completeness import WeekCells

    mapping = parse_mapping(
        json.dumps(
            {
                **MAPPING,
                "dataElements": {
                    "kiosks_expected": "aaaaaaaaaa1",
                    "reports_received": "aaaaaaaaaa2",
                    "reports_on_time": "aaaaaaaaaa3",
                },
            }
        ).encode()
    )
    week = date(2026, 11, 23)
    done = {("KE-NBO", week): WeekCells(Cell(12, 1), Cell(9, 2), Cell(3, 3))}
    # A week with kiosks expected and no report at all still says so: 12 expected, 0 in.
    idle = {("KE-NBO", week + timedelta(weeks=1)): WeekCells(Cell(12, 1))}
    values = data_values({}, mapping, NO_NOISE, 5, {**done, **idle})
    assert {(v.data_element, v.week.isoformat(), v.value) for v in values} == {
        ("aaaaaaaaaa1", "2026-11-23", 12),
        ("aaaaaaaaaa2", "2026-11-23", 9),  # on time, 3: hidden, left out
        ("aaaaaaaaaa1", "2026-11-30", 12),
        ("aaaaaaaaaa2", "2026-11-30", 0),
        ("aaaaaaaaaa3", "2026-11-30", 0),
    }
