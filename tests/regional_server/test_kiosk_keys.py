"""The per-process cache of kiosk keys used to verify uploads."""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, update

from regional_server.db.models import kiosks, reports
from regional_server.kiosk_keys import KioskKeys
from tests.regional_server.helpers import Clock, World, enroll, make_report, new_code, upload


def test_read_once_then_cached_until_the_ttl(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    keys = KioskKeys(engine, clock, ttl=60)
    entry = keys.get(kiosk.kiosk_id)
    assert entry is not None
    auth, key = entry
    assert (auth.kiosk_id, auth.region_id, auth.country) == (kiosk.kiosk_id, world.region_a, "KE")
    raw = kiosk.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert key.public_bytes(Encoding.Raw, PublicFormat.Raw) == raw == auth.public_key
    with engine.begin() as conn:  # moved behind the cache's back
        conn.execute(update(kiosks).values(region_id=world.region_b))
    assert keys.get(kiosk.kiosk_id) == entry  # cached: no read
    clock.now += 61
    moved = keys.get(kiosk.kiosk_id)
    assert moved is not None and moved[0].region_id == world.region_b
    assert keys.get("k-unknown") is None
    keys.close()


def test_a_removed_kiosk_is_refused_once_its_entry_expires(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    assert (
        upload(client, kiosk, make_report(kiosk, {"sessions.login": 1}), clock).status_code == 201
    )
    with engine.begin() as conn:
        conn.execute(delete(reports))
        conn.execute(delete(kiosks).where(kiosks.c.id == kiosk.kiosk_id))
    clock.now += 301
    r = upload(client, kiosk, make_report(kiosk, {"sessions.login": 1}), clock)
    assert r.status_code == 401 and r.json()["error"] == "unknown_kiosk"


def test_a_broken_connection_is_replaced(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    keys = KioskKeys(engine, clock, ttl=0)
    assert keys.get(kiosk.kiosk_id) is not None
    first = keys._local.conn
    first.driver_connection.close()  # e.g. the database restarted
    assert keys.get(kiosk.kiosk_id) is not None
    assert keys._local.conn is not first
    keys.close()
