"""POST /api/v1/reports: signatures, replay window, idempotency, limits, bad bodies."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from kiosk_agent.contracts.report import (
    HEADER_SIGNATURE,
    MAX_BODY_BYTES,
    SIGNATURE_WINDOW_SECONDS,
    encode_body,
)
from regional_server.db.models import kiosk_feeds, kiosks, reports, rollup_weekly
from regional_server.rollup import week_start
from tests.regional_server.helpers import (
    REPORTS_PATH,
    Clock,
    Kiosk,
    World,
    enroll,
    make_report,
    new_code,
    signed_headers,
    upload,
)

DAY = datetime(2026, 11, 25, tzinfo=UTC)  # a Wednesday


def _kiosk(client: TestClient, engine: Engine, world: World, clock: Clock) -> Kiosk:
    return enroll(client, new_code(engine, world.region_a, clock))


def _rollup(engine: Engine) -> dict[tuple[date, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(rollup_weekly.c.week_start, rollup_weekly.c.counter, rollup_weekly.c.total)
        )
        return {(r[0], r[1]): r[2] for r in rows}


def test_stored_then_duplicate_counts_once(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    report = make_report(
        kiosk,
        {"sessions.login": 12, "blocked.csam": 3, "notices.acknowledged": 10, "tamper.dns": 0},
        day=DAY,
        feed_versions={"hotline": 7},
    )
    first = upload(client, kiosk, report, clock)
    assert first.status_code == 201 and first.json() == {"status": "stored"}
    assert "date" in first.headers
    again = upload(client, kiosk, report, clock)
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    monday = week_start(DAY.date())
    assert _rollup(engine) == {
        (monday, "sessions.login"): 12,
        (monday, "blocked.csam"): 3,
        (monday, "notices.acknowledged"): 10,
    }
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reports)).scalar_one() == 1
        assert conn.execute(select(kiosk_feeds.c.version)).scalar_one() == 7
        assert conn.execute(select(kiosks.c.last_report_at)).scalar_one() == int(clock())


def test_reports_of_one_week_are_summed(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    for day in (23, 24, 29):  # Mon, Tue of one week, Sunday of the same ISO week
        r = upload(
            client,
            kiosk,
            make_report(kiosk, {"sessions.login": 5}, day=DAY.replace(day=day)),
            clock,
        )
        assert r.status_code == 201
    r = upload(
        client, kiosk, make_report(kiosk, {"sessions.login": 4}, day=DAY.replace(day=30)), clock
    )
    assert r.status_code == 201
    roll = _rollup(engine)
    assert roll[(date(2026, 11, 23), "sessions.login")] == 15
    assert roll[(date(2026, 11, 30), "sessions.login")] == 4


def test_plain_json_body_is_accepted(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    body = make_report(kiosk, {"p2p.bittorrent": 2}, day=DAY).to_bytes()
    headers = signed_headers(kiosk, body, int(clock()))
    del headers["Content-Encoding"]
    r = client.post(REPORTS_PATH, content=body, headers=headers)
    assert r.status_code == 201


def test_bad_signature(client: TestClient, engine: Engine, world: World, clock: Clock) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    body = encode_body(make_report(kiosk, {"sessions.login": 1}, day=DAY))
    headers = signed_headers(kiosk, body, int(clock()))
    tampered = encode_body(make_report(kiosk, {"sessions.login": 999}, day=DAY))
    r = client.post(REPORTS_PATH, content=tampered, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    headers[HEADER_SIGNATURE] = "not base64!!"
    r = client.post(REPORTS_PATH, content=body, headers=headers)
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    # Signed by another key (a different kiosk claiming this id).
    impostor = Kiosk(Ed25519PrivateKey.generate(), kiosk.kiosk_id)
    r = client.post(
        REPORTS_PATH, content=body, headers=signed_headers(impostor, body, int(clock()))
    )
    assert r.status_code == 401 and r.json()["error"] == "bad_signature"
    # Signed for another path.
    r = client.post(
        REPORTS_PATH, content=body, headers=signed_headers(kiosk, body, int(clock()), "/other")
    )
    assert r.status_code == 401
    assert _rollup(engine) == {}


def test_replay_outside_window_and_future_timestamps(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    body = encode_body(make_report(kiosk, {"sessions.login": 1}, day=DAY))
    old = signed_headers(kiosk, body, int(clock()) - SIGNATURE_WINDOW_SECONDS - 5)
    r = client.post(REPORTS_PATH, content=body, headers=old)
    assert r.status_code == 401 and r.json()["error"] == "stale_timestamp"
    assert "Date" in r.json()["message"]
    future = signed_headers(kiosk, body, int(clock()) + SIGNATURE_WINDOW_SECONDS + 5)
    assert client.post(REPORTS_PATH, content=body, headers=future).status_code == 401
    # A captured request replayed later: rejected even though the signature is valid.
    ok = signed_headers(kiosk, body, int(clock()))
    assert client.post(REPORTS_PATH, content=body, headers=ok).status_code == 201
    clock.now += SIGNATURE_WINDOW_SECONDS + 60
    r = client.post(REPORTS_PATH, content=body, headers=ok)
    assert r.status_code == 401 and r.json()["error"] == "stale_timestamp"


def test_missing_headers_and_unknown_kiosk(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    body = encode_body(make_report(kiosk, {"sessions.login": 1}, day=DAY))
    r = client.post(REPORTS_PATH, content=body)
    assert r.status_code == 401 and r.json()["error"] == "missing_signature"
    ghost = Kiosk(kiosk.key, "k-0000000000000000")
    r = client.post(REPORTS_PATH, content=body, headers=signed_headers(ghost, body, int(clock())))
    assert r.status_code == 401 and r.json()["error"] == "unknown_kiosk"
    headers = signed_headers(kiosk, body, int(clock()))
    headers["X-Kiosk-Timestamp"] = "yesterday"
    assert client.post(REPORTS_PATH, content=body, headers=headers).json()["error"] == (
        "bad_timestamp"
    )


def test_oversize_body(client: TestClient, engine: Engine, world: World, clock: Clock) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    body = b"x" * (MAX_BODY_BYTES + 1)
    r = client.post(REPORTS_PATH, content=body, headers=signed_headers(kiosk, body, int(clock())))
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"

    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY_BYTES // 1000 + 2):
            yield b"y" * 1000

    # Without Content-Length (chunked): cut off while reading.
    r = client.post(
        REPORTS_PATH, content=chunks(), headers=signed_headers(kiosk, b"", int(clock()))
    )
    assert r.status_code == 413


def test_gzip_bomb_is_rejected(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    body = gzip.compress(b" " * (8 * 1024 * 1024))
    assert len(body) < MAX_BODY_BYTES
    r = client.post(REPORTS_PATH, content=body, headers=signed_headers(kiosk, body, int(clock())))
    assert r.status_code == 400 and "inflates" in r.json()["message"]


def test_malformed_json_and_unknown_counter(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    for body, needle in (
        (gzip.compress(b"{not json"), "JSON"),
        (b"\x1f\x8b\x08garbage", "gzip"),
        (json.dumps([1, 2]).encode(), "object"),
    ):
        headers = signed_headers(kiosk, body, int(clock()))
        if not body.startswith(b"\x1f\x8b"):
            del headers["Content-Encoding"]
        r = client.post(REPORTS_PATH, content=body, headers=headers)
        assert r.status_code == 400, body
        assert r.json()["error"] == "invalid_report" and needle in r.json()["message"]
    report = make_report(kiosk, {"sessions.login": 1, "visited.example.com": 1}, day=DAY)
    r = upload(client, kiosk, report, clock)
    assert r.status_code == 400
    assert "unknown counter name 'visited.example.com'" in r.json()["message"]
    assert _rollup(engine) == {}


def test_body_must_name_the_signing_kiosk(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    other = _kiosk(client, engine, world, clock)
    body = encode_body(make_report(other, {"sessions.login": 1}, day=DAY))
    r = client.post(REPORTS_PATH, content=body, headers=signed_headers(kiosk, body, int(clock())))
    assert r.status_code == 400 and r.json()["error"] == "kiosk_mismatch"


def test_report_id_of_another_kiosk_is_a_conflict(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    a = _kiosk(client, engine, world, clock)
    b = _kiosk(client, engine, world, clock)
    ra = make_report(a, {"sessions.login": 1}, day=DAY)
    assert upload(client, a, ra, clock).status_code == 201
    rb = make_report(b, {"sessions.login": 1}, day=DAY, report_id=ra.report_id)
    r = upload(client, b, rb, clock)
    assert r.status_code == 409 and r.json()["error"] == "report_id_conflict"


def test_concurrent_uploads_count_each_report_once(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = _kiosk(client, engine, world, clock)
    reports_ = [make_report(kiosk, {"sessions.login": 1}, day=DAY) for _ in range(10)]
    statuses: list[int] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        # Every report twice, from several threads at once.
        r = upload(client, kiosk, reports_[i % 10], clock)
        with lock:
            statuses.append(r.status_code)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 10 + [201] * 10
    assert _rollup(engine)[(date(2026, 11, 23), "sessions.login")] == 10
