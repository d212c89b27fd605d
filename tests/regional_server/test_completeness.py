"""Reporting completeness and timeliness on the page, in CSV and JSON; retiring kiosks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.regional_server.helpers import (
    Clock,
    Kiosk,
    World,
    csrf_of,
    enroll,
    login,
    make_report,
    new_code,
    upload,
)

DAY = 86400


def _at(clock: Clock, y: int, m: int, d: int, h: int = 12) -> None:
    clock.now = datetime(y, m, d, h, tzinfo=UTC).timestamp()


def _fill(client: TestClient, engine: Engine, world: World, clock: Clock) -> list[Kiosk]:
    """Seven kiosks in region A enrolled in October. Week 2026-W47 (Mon 16 Nov): five
    report during the week, one three and a half days after it ended (late, with 3
    days allowed). Week W48 (Mon 23 Nov, the current week): three report."""
    _at(clock, 2026, 10, 20)
    code = new_code(engine, world.region_a, clock, uses=10, days=60)
    kiosks = [enroll(client, code, f"Café {i}") for i in range(7)]
    _at(clock, 2026, 11, 17)
    for k in kiosks[:5]:
        day = datetime(2026, 11, 16, tzinfo=UTC)
        assert upload(client, k, make_report(k, {"sessions.login": 9}, day=day), clock).is_success
    _at(clock, 2026, 11, 24)
    for k in kiosks[:3]:
        day = datetime(2026, 11, 23, tzinfo=UTC)
        assert upload(client, k, make_report(k, {"sessions.login": 9}, day=day), clock).is_success
    _at(clock, 2026, 11, 26, 13)  # 3 days 13 hours after W47 ended
    late = make_report(kiosks[5], {"sessions.login": 9}, day=datetime(2026, 11, 20, tzinfo=UTC))
    assert upload(client, kiosks[5], late, clock).is_success
    return kiosks


def _completeness(client: TestClient) -> dict[str, dict[str, object]]:
    r = client.get("/api/v1/indicators?from=2026-11-16&to=2026-11-26")
    assert r.status_code == 200, r.text
    table = r.json()["completeness"]
    return {row["key"]: row["values"] for row in [*table["rows"], table["total"]]}


def test_expected_received_on_time_per_week(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    rows = _completeness(client)
    assert rows["2026-W47"] == {
        "kiosks_expected": 7,
        "reports_received": 6,
        "reports_on_time": 5,
        "completeness_rate": 85.7,
        "timeliness_rate": 71.4,
    }
    # Three kiosks: a small count, hidden as on every page; no rate from a hidden count.
    assert rows["2026-W48"] == {
        "kiosks_expected": 7,
        "reports_received": "<5",
        "reports_on_time": "<5",
        "completeness_rate": None,
        "timeliness_rate": None,
    }
    assert rows["total"]["kiosks_expected"] == 14 and rows["total"]["reports_received"] == 9
    by_region = client.get("/api/v1/indicators?from=2026-11-16&to=2026-11-26").json()[
        "completeness_by_region"
    ]
    assert list(by_region) == ["KE-NBO"]
    # Region B's coordinator sees nothing of region A's kiosks.
    client.cookies.clear()
    login(client, world.coord_b)
    rows_b = _completeness(client)
    assert rows_b["2026-W47"]["kiosks_expected"] == 0
    assert rows_b["2026-W47"]["completeness_rate"] is None


def test_page_and_csv(client: TestClient, engine: Engine, world: World, clock: Clock) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    html = client.get("/?from=2026-11-16&to=2026-11-26").text
    assert 'id="completeness-title"' in html and "Reporting completeness" in html
    section = html.split('id="completeness-title"')[1].split("</section>")[0]
    assert "<svg" in section and "85.7" in section and "Kiosks expected" in section
    text = client.get("/export.csv?from=2026-11-16&to=2026-11-26").text.lstrip("\ufeff")
    rows = {(r[0], r[1], r[2]): r[3] for r in csv.reader(io.StringIO(text))}
    assert rows[("completeness", "2026-W47", "reports_on_time")] == "5"
    assert rows[("completeness", "2026-W48", "reports_received")] == "<5"
    assert rows[("completeness:KE-NBO", "2026-W47", "kiosks_expected")] == "7"
    fr = client.get("/?from=2026-11-16&to=2026-11-26&lang=fr").text
    assert "Complétude des rapports" in fr and "85,7" in fr


def test_retire_and_bring_back(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosks = _fill(client, engine, world, clock)
    login(client, world.admin)
    page = client.get("/admin/kiosks")
    assert page.status_code == 200 and kiosks[6].kiosk_id in page.text
    token = csrf_of(page.text)
    target = f"/admin/kiosks/{kiosks[6].kiosk_id}/retire"
    assert client.post(target, data={"csrf_token": "wrong"}).status_code == 403
    r = client.post(target, data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    rows = _completeness(client)
    # Retired during W48: still expected in W47 (it ended before), no longer in W48.
    assert rows["2026-W47"]["kiosks_expected"] == 7
    assert rows["2026-W48"]["kiosks_expected"] == 6
    data = client.get("/api/v1/indicators?from=2026-11-16&to=2026-11-26").json()
    assert data["tables"]["regions"]["total"]["values"]["kiosks_enrolled"] == 6
    silent = [k["kiosk_id"] for k in data["silent_kiosks"]["kiosks"]]
    assert kiosks[6].kiosk_id not in silent and kiosks[4].kiosk_id in silent
    assert "retired" in client.get("/admin/kiosks").text
    r = client.post(
        f"/admin/kiosks/{kiosks[6].kiosk_id}/unretire",
        data={"csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert _completeness(client)["2026-W48"]["kiosks_expected"] == 7
    missing = "/admin/kiosks/k-0000000000000000/retire"
    assert client.post(missing, data={"csrf_token": token}).status_code == 404
    # Coordinators do not learn that the page exists.
    client.cookies.clear()
    login(client, world.coord_a)
    assert client.get("/admin/kiosks").status_code == 404
    assert client.post(target, data={"csrf_token": token}).status_code == 404


def test_reports_of_kiosks_not_expected_are_not_received(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    """A kiosk retired during a week reported for it: neither expected nor received
    then (received never exceeds expected); the rollup at ingest is corrected."""
    from sqlalchemy import update

    from regional_server.db.models import kiosks as kiosks_table

    kiosks = _fill(client, engine, world, clock)
    retired = int(datetime(2026, 11, 18, tzinfo=UTC).timestamp())  # Wednesday of W47
    with engine.begin() as conn:
        conn.execute(
            update(kiosks_table)
            .where(kiosks_table.c.id == kiosks[5].kiosk_id)  # the late one
            .values(retired_at=retired)
        )
    login(client, world.coord_a)
    rows = _completeness(client)
    assert (
        rows["2026-W47"]["kiosks_expected"],
        rows["2026-W47"]["reports_received"],
        rows["2026-W47"]["reports_on_time"],
    ) == (6, 5, 5)
