"""The dashboard page, CSV and JSON: the same suppressed cells, filters, languages."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from regional_server.store.feeds import record_published
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


def _fill(client: TestClient, engine: Engine, world: World, clock: Clock) -> list[Kiosk]:
    """Three kiosks in region A reporting two weeks; one in B; one silent in A."""
    today = datetime.fromtimestamp(clock(), UTC)
    code_a = new_code(engine, world.region_a, clock, uses=5)
    code_b = new_code(engine, world.region_b, clock)
    kiosks = [enroll(client, code_a, f"Café A{i}") for i in range(3)]
    kiosk_b = enroll(client, code_b, "Cyber Dakar Plateau")
    with engine.begin() as conn:
        record_published(conn, "hotline", 8, int(clock()))
    for days_ago in (1, 8):
        day = today - timedelta(days=days_ago)
        for i, k in enumerate(kiosks):
            counts = {
                "sessions.login": 40,
                "notices.shown.en": 40,
                "notices.acknowledged": 30,
                "blocked.csam": 6,
                "blocked.malware": 1 if i == 0 else 0,
                "tamper.dns_changed": 2,
            }
            r = upload(
                client,
                k,
                make_report(k, counts, day=day, feed_versions={"hotline": 7 + (i > 0)}),
                clock,
            )
            assert r.status_code == 201
        r = upload(client, kiosk_b, make_report(kiosk_b, {"sessions.login": 99}, day=day), clock)
        assert r.status_code == 201
    clock.now += 8 * 86400
    silent = enroll(client, code_a, "Quiet Café")
    clock.now += 0  # enrolled now: not yet silent
    return [*kiosks, silent]


def test_page_shows_indicators_charts_and_small_cells(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    r = client.get("/")
    assert r.status_code == 200
    html = r.text
    assert "<svg" in html and "Child sexual abuse material" in html and "Malware" in html
    assert "&lt;5" in html  # malware counts, tamper counts are small
    assert "Cyber Dakar" not in html
    # Silent for more than 7 days: the three reporting kiosks (last report 8 days ago).
    assert "Café A0" in html and "Quiet Café" not in html
    assert 'name="csrf_token"' in html


def test_csv_and_json_match_the_page(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    r = client.get("/export.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())  # Excel reads accented names right
    rows = list(csv.reader(io.StringIO(r.text.removeprefix("\ufeff"))))
    assert rows[0] == ["table", "row", "column", "value"]
    cells = {(t, row, col): v for t, row, col, v in rows[1:]}
    j = client.get("/api/v1/indicators").json()
    total = j["tables"]["weekly"]["total"]["values"]
    assert cells[("weekly", "total", "sessions")] == str(total["sessions"]) == "240"
    assert total["tamper"] == 12
    blocked = j["tables"]["blocked"]["total"]["values"]
    assert blocked["blocked.malware"] == "<5"
    assert cells[("blocked", "total", "blocked.malware")] == "<5"
    # No secondary suppression: with perturbed figures (noise off in this test) the
    # totals no longer give a hidden cell away exactly (docs/indicators.md).
    assert blocked["blocked.csam"] == 36 and blocked["blocked"] == 38
    weekly_rows = j["tables"]["blocked"]["rows"]
    # Hidden, no data and zero are three different things: the two weeks with reports
    # show "<5", the weeks without any report null (no data); csam was never 0.
    malware = [row["values"]["blocked.malware"] for row in weekly_rows]
    assert malware.count("<5") == 2 and set(malware) == {"<5", None}
    nodata = [r for r in weekly_rows if r["values"]["blocked.malware"] is None]
    assert all(v is None for r in nodata for v in r["values"].values())
    assert cells[("blocked", nodata[0]["key"], "blocked.malware")] == ""
    regions = j["tables"]["regions"]
    assert [row["key"] for row in regions["rows"]] == ["KE-NBO"]
    cov = regions["total"]["values"]
    # Kiosk counts are published counts too: below 5 they are "<5".
    assert cov["kiosks_enrolled"] == cov["kiosks_on_newest"] == "<5"
    assert cov["kiosks_active"] == 0  # a true zero: none reported in the last 7 days
    assert j["newest_list_versions"] == {"hotline": 8}
    assert j["silent_kiosks"]["total"] == 3
    assert {k["cafe_name"] for k in j["silent_kiosks"]["kiosks"]} == {
        "Café A0",
        "Café A1",
        "Café A2",
    }
    assert ("silent_kiosks", j["silent_kiosks"]["kiosks"][0]["kiosk_id"], "cafe_name") in cells


def test_filters(client: TestClient, engine: Engine, world: World, clock: Clock) -> None:
    _fill(client, engine, world, clock)
    login(client, world.admin)
    both = client.get("/api/v1/indicators").json()
    assert [r["key"] for r in both["tables"]["regions"]["rows"]] == ["KE-NBO", "SN-DKR"]
    sn = client.get("/api/v1/indicators?country=SN").json()
    assert [r["key"] for r in sn["tables"]["regions"]["rows"]] == ["SN-DKR"]
    assert sn["tables"]["weekly"]["total"]["values"]["sessions"] == 198
    one = client.get("/api/v1/indicators?region=KE-NBO").json()
    assert one["filters"]["regions"] == ["KE-NBO"]
    today = datetime.fromtimestamp(clock(), UTC).date()
    narrow = client.get(f"/api/v1/indicators?from={today - timedelta(days=3)}&to={today}").json()
    assert narrow["tables"]["weekly"]["total"]["values"]["sessions"] is None  # no data
    for bad in ("from=2026-13-01", "from=2026-02-01&to=2026-01-01", "country=Kenya", "region=../x"):
        r = client.get(f"/api/v1/indicators?{bad}")
        assert r.status_code == 400, bad
        assert r.json()["error"] == "bad_filter"
    assert client.get("/export.csv?region=XX-NONE").status_code == 404


def test_french_page(client: TestClient, engine: Engine, world: World, clock: Clock) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    r = client.get("/?lang=fr")
    assert "Tentatives bloquées" in r.text and 'lang="fr"' in r.text
    assert "ks_lang=fr" in r.headers.get("set-cookie", "")
    assert "Tentatives bloquées" in client.get("/").text  # remembered
    en = client.get("/", headers={"Accept-Language": "fr"}, params={"lang": "en"})
    assert "Blocked attempts" in en.text


def test_admin_creates_region_user_and_code(
    client: TestClient, engine: Engine, world: World
) -> None:
    login(client, world.admin)
    page = client.get("/admin/regions")
    token = csrf_of(page.text)
    r = client.post(
        "/admin/regions",
        data={"code": "TZ-DAR", "name": "Dar es Salaam", "country": "TZ", "csrf_token": token},
    )
    assert r.status_code == 201 and "TZ-DAR" in r.text
    r = client.post(
        "/admin/users",
        data={
            "email": "new@example.org",
            "password": "a long enough password",
            "role": "coordinator",
            "regions": ["TZ-DAR"],
            "csrf_token": token,
        },
    )
    assert r.status_code == 201 and "new@example.org" in r.text
    r = client.post(
        "/admin/codes", data={"region": "TZ-DAR", "uses": "3", "days": "7", "csrf_token": token}
    )
    assert r.status_code == 201
    assert "shown only once" in r.text
    # Without a CSRF token nothing is created.
    r = client.post("/admin/regions", data={"code": "UG-KLA", "name": "Kampala", "country": "UG"})
    assert r.status_code == 403
    assert "UG-KLA" not in client.get("/admin/regions").text


def test_one_pass_overview_matches_the_sql_definitions(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    from regional_server.store.kiosks import coverage, kiosk_overview, silent_kiosks

    _fill(client, engine, world, clock)
    ids = frozenset({world.region_a, world.region_b})
    now = int(clock())
    with engine.connect() as conn:
        overview = kiosk_overview(conn, ids, now, 7, 500)
        assert overview.coverage == coverage(conn, ids, now)
        total, silent = silent_kiosks(conn, ids, now, 7, 500)
    assert overview.silent_total == total
    assert [k.kiosk_id for k in overview.silent] == [k.kiosk_id for k in silent]


def _days_ago(clock: Clock, days: int) -> str:
    return (datetime.fromtimestamp(clock(), UTC).date() - timedelta(days=days)).isoformat()


def test_first_screen_figures_charts_and_trends(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    html = client.get("/").text
    # The first screen comes before the charts, which come before the tables.
    first, charts, tables = (
        html.index('id="headline-title"'),
        html.index("<svg"),
        html.index('class="data"'),
    )
    assert first < charts < tables
    # The previous 12 weeks have no report: no trend is claimed.
    assert "no comparison with the previous period" in html
    assert "vs previous period" not in html and "Kiosks reporting / enrolled" in html
    # The reports were 9 and 16 days ago: the week of the later one, against the one
    # before, has a trend.
    day = _days_ago(clock, 9)
    one_week = client.get(f"/?from={day}&to={day}").text
    assert "vs previous period" in one_week
    # Values on hover and as text for screen readers; whole ticks only for counts.
    assert "<desc>" in html and "<g><title>Child sexual abuse material, W" in html
    ticks = re.findall(r'text-anchor="end" font-size="11" fill="#444">([^<]+)<', html)
    assert ticks and not any("." in t for t in ticks[: len(ticks) // 2])


def test_nothing_enrolled_reads_as_no_data(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    login(client, world.coord_a)
    html = client.get("/").text
    assert "No data for these weeks" in html  # the charts' "no data" state
    assert "no data" in html and "hidden-cell" not in html  # nothing hidden: nothing at all
    assert "Every kiosk has reported" not in html and "No kiosk is enrolled" in html
    j = client.get("/api/v1/indicators").json()
    assert j["tables"]["weekly"]["total"]["values"]["sessions"] is None
    assert j["tables"]["regions"]["total"]["values"]["kiosks_enrolled"] == 0
