"""The per-process cache of kiosk keys used to verify uploads."""

from __future__ import annotations

import time

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
    keys = KioskKeys(engine, clock, ttl=60, preload=False)
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
    keys = KioskKeys(engine, clock, ttl=0, preload=False)
    assert keys.get(kiosk.kiosk_id) is not None
    first = keys._local.conn
    first.driver_connection.close()  # e.g. the database restarted
    assert keys.get(kiosk.kiosk_id) is not None
    assert keys._local.conn is not first
    keys.close()


def test_load_all_fills_the_cache_and_keeps_key_objects(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_a, clock, uses=3)
    fleet = [enroll(client, code) for _ in range(3)]
    keys = KioskKeys(engine, clock, ttl=60, preload=False)
    assert keys.load_all() == 3
    with engine.begin() as conn:  # loaded: no read per kiosk any more
        conn.execute(update(kiosks).values(region_id=world.region_b))
    first = [keys.get(k.kiosk_id) for k in fleet]
    assert all(e is not None and e[0].region_id == world.region_a for e in first)
    assert keys.load_all() == 3  # the next load sees the change, keeps the key objects
    again = [keys.get(k.kiosk_id) for k in fleet]
    for old, new in zip(first, again, strict=True):
        assert old is not None and new is not None
        assert new[0].region_id == world.region_b and new[1] is old[1]
    with engine.begin() as conn:
        conn.execute(delete(kiosks).where(kiosks.c.id == fleet[0].kiosk_id))
    assert keys.load_all() == 2
    clock.now += 61  # a removed kiosk is gone from the next load, and no longer found
    assert keys.get(fleet[0].kiosk_id) is None
    keys.close()


def test_the_loader_runs_in_the_background_and_stops(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    keys = KioskKeys(engine, clock, ttl=0.2)
    assert keys.get(kiosk.kiosk_id) is not None
    deadline = time.monotonic() + 20
    while keys.loads < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    keys.close()
    assert keys.loads >= 2
    loads = keys.loads
    time.sleep(0.5)
    assert keys.loads == loads
