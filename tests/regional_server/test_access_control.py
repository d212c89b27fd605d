"""A coordinator of region A gets nothing of region B through any page, CSV or JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

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

SECRET_CAFE = "Cyber Dakar Plateau"


def _region_b_data(client: TestClient, engine: Engine, world: World, clock: Clock) -> str:
    kiosk = enroll(client, new_code(engine, world.region_b, clock), SECRET_CAFE)
    day = datetime.fromtimestamp(clock(), UTC) - timedelta(days=1)
    r = upload(client, kiosk, make_report(kiosk, {"sessions.login": 7777}, day=day), clock)
    assert r.status_code == 201
    clock.now += 10 * 86400  # the kiosk is now silent: listed by id and café name
    return kiosk.kiosk_id


READ_ROUTES = (
    "/",
    "/export.csv",
    "/api/v1/indicators",
    "/admin/codes",
    "/admin/fleet",
    "/api/v1/fleet",
)


def test_default_views_hold_nothing_of_region_b(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk_id = _region_b_data(client, engine, world, clock)
    login(client, world.coord_a)
    for path in READ_ROUTES:
        r = client.get(path)
        assert r.status_code == 200, path
        for secret in (SECRET_CAFE, kiosk_id, "7777", "7,777", "SN-DKR", "Dakar"):
            assert secret not in r.text, (path, secret)
    # The coordinator of B does see it (the test data is really there).
    client.cookies.clear()
    login(client, world.coord_b)
    assert SECRET_CAFE in client.get("/").text
    assert "7777" in client.get("/export.csv").text


@pytest.mark.parametrize("query", ["region=SN-DKR", "region=SN-DKR,KE-NBO", "region=sn-dkr"])
def test_asking_for_region_b_is_not_found(
    client: TestClient, engine: Engine, world: World, clock: Clock, query: str
) -> None:
    _region_b_data(client, engine, world, clock)
    login(client, world.coord_a)
    for path in ("/", "/export.csv", "/api/v1/indicators"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 404, path
        assert SECRET_CAFE not in r.text and "7777" not in r.text
    # Country SN: no region of A is there, so nothing is shown.
    j = client.get("/api/v1/indicators?country=SN").json()
    assert j["tables"]["regions"]["rows"] == []
    assert j["silent_kiosks"]["total"] == 0


def test_admin_pages_and_codes_of_region_b(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    new_code(engine, world.region_b, clock)
    login(client, world.coord_a)
    for path in ("/admin/users", "/admin/regions"):
        assert client.get(path).status_code == 404
    token = csrf_of(client.get("/admin/codes").text)
    r = client.post("/admin/codes", data={"region": "SN-DKR", "csrf_token": token})
    assert r.status_code == 404
    # Code 1 belongs to region B: a coordinator of A cannot revoke it.
    r = client.post("/admin/codes/1/revoke", data={"csrf_token": token})
    assert r.status_code == 404
    r = client.post(
        "/admin/users",
        data={"email": "x@example.org", "password": "long password 123", "csrf_token": token},
    )
    assert r.status_code == 404
