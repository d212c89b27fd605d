"""POST /api/v1/enroll: codes, their uses and expiry, retries, bad input."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.regional_server.helpers import Clock, Kiosk, World, enroll, new_code


def _body(code: str, kiosk: Kiosk) -> dict[str, str]:
    return {"code": code, "public_key": kiosk.public_key, "cafe_name": "Café Étoile"}


def test_enroll_returns_pseudonymous_id_and_region(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_a, clock)
    kiosk = Kiosk(Ed25519PrivateKey.generate())
    r = client.post("/api/v1/enroll", json=_body(code, kiosk))
    assert r.status_code == 201
    data = r.json()
    assert data["region"] == "KE-NBO" and data["country"] == "KE"
    assert data["kiosk_id"].startswith("k-") and "tienne" not in data["kiosk_id"]
    assert "date" in r.headers


def test_code_is_one_time_and_retry_with_same_key_is_idempotent(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_a, clock, uses=1)
    kiosk = Kiosk(Ed25519PrivateKey.generate())
    first = client.post("/api/v1/enroll", json=_body(code, kiosk))
    again = client.post("/api/v1/enroll", json=_body(code, kiosk))
    assert first.status_code == again.status_code == 201
    assert first.json()["kiosk_id"] == again.json()["kiosk_id"]
    other = client.post("/api/v1/enroll", json=_body(code, Kiosk(Ed25519PrivateKey.generate())))
    assert other.status_code == 403
    assert other.json()["error"] == "used_code"


def test_code_with_several_uses(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_b, clock, uses=2)
    ids = {enroll(client, code).kiosk_id for _ in range(2)}
    assert len(ids) == 2
    r = client.post("/api/v1/enroll", json=_body(code, Kiosk(Ed25519PrivateKey.generate())))
    assert r.status_code == 403 and r.json()["error"] == "used_code"


def test_expired_code(client: TestClient, engine: Engine, world: World, clock: Clock) -> None:
    code = new_code(engine, world.region_a, clock, days=1)
    clock.now += 2 * 86400
    r = client.post("/api/v1/enroll", json=_body(code, Kiosk(Ed25519PrivateKey.generate())))
    assert r.status_code == 403
    assert r.json()["error"] == "expired_code"
    assert "expired" in r.json()["message"]


def test_unknown_code_and_codes_are_case_and_dash_insensitive(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    r = client.post(
        "/api/v1/enroll", json=_body("AAAAA-BBBBB-CCCCC", Kiosk(Ed25519PrivateKey.generate()))
    )
    assert r.status_code == 403 and r.json()["error"] == "unknown_code"
    code = new_code(engine, world.region_a, clock)
    sloppy = code.lower().replace("-", " ")
    r = client.post("/api/v1/enroll", json=_body(sloppy, Kiosk(Ed25519PrivateKey.generate())))
    assert r.status_code == 201


def test_bad_public_key_and_malformed_bodies(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_a, clock)
    r = client.post("/api/v1/enroll", json={"code": code, "public_key": "ed25519:abc"})
    assert r.status_code == 400 and r.json()["error"] == "bad_public_key"
    for body in (b"{not json", b"[]", b'{"code": 5}', b""):
        r = client.post(
            "/api/v1/enroll", content=body, headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 400, body
        assert set(r.json()) == {"error", "message"}
    # The failed attempts did not use the code up.
    assert (
        client.post(
            "/api/v1/enroll", json=_body(code, Kiosk(Ed25519PrivateKey.generate()))
        ).status_code
        == 201
    )


def test_same_key_cannot_enroll_in_another_region(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    kiosk = Kiosk(Ed25519PrivateKey.generate())
    a = new_code(engine, world.region_a, clock)
    b = new_code(engine, world.region_b, clock)
    assert client.post("/api/v1/enroll", json=_body(a, kiosk)).status_code == 201
    r = client.post("/api/v1/enroll", json=_body(b, kiosk))
    assert r.status_code == 409 and r.json()["error"] == "key_enrolled"
