"""Regression tests for abuse of the regional server's API (issue 19).

Each test failed on the code before the fix: a raced login rate limit and unbounded
concurrent scrypt checks, client addresses from anyone's ``X-Forwarded-For``, cheap
password hashes kept forever, unbounded request bodies, a 500 on a non-ASCII
timestamp, "on the newest list" poisoned from another region, hourly reports stored,
cookies without ``Secure`` and no HSTS.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from starlette.types import Message

from kiosk_agent.contracts.report import encode_body
from regional_server.app import create_app
from regional_server.auth import passwords
from regional_server.body_limit import BodyLimitMiddleware
from regional_server.db.models import users
from regional_server.settings import MIN_SCRYPT_N, Settings, load_settings
from regional_server.store.feeds import record_published
from regional_server.store.kiosks import kiosk_overview
from regional_server.store.users import create_user
from tests.regional_server.helpers import (
    PASSWORD,
    REPORTS_PATH,
    Clock,
    World,
    csrf_of,
    enroll,
    login,
    make_report,
    new_code,
    signed_headers,
    upload,
)

# The HTTP layer under test does not depend on the database: SQLite is enough.
sqlite_only = pytest.mark.parametrize("db_kind", ["sqlite"])


def _client(
    settings: Settings, engine: Engine, clock: Clock, base_url: str = "http://testserver"
) -> TestClient:
    return TestClient(create_app(settings, engine, clock), base_url=base_url)


# --- login: the rate limit holds under concurrency, scrypt checks are capped -------------


class SlowCheck:
    """``verify_password`` made slow, counting calls and the most running at once."""

    def __init__(self) -> None:
        self.calls = 0
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.real = passwords.verify_password

    def __call__(self, password: str, stored: str) -> bool:
        with self.lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.15)
            return self.real(password, stored)
        finally:
            with self.lock:
                self.running -= 1


def test_concurrent_logins_cannot_race_the_rate_limit(
    client: TestClient, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow = SlowCheck()
    monkeypatch.setattr("regional_server.dashboard.pages.verify_password", slow)
    token = csrf_of(client.get("/login").text)
    # 39 wrong passwords and the right one last, all at once (as reproduced on main).
    passwords_sent = [f"wrong password {i}" for i in range(39)] + [PASSWORD]

    def attempt(password: str) -> int:
        r = client.post(
            "/login",
            data={"email": world.coord_a, "password": password, "csrf_token": token},
            follow_redirects=False,
        )
        return r.status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(attempt, passwords_sent))
    # Only the attempts within the account's limit reach scrypt, never more at once
    # than the per-process cap.
    assert slow.calls <= settings.login_max_failures, statuses
    assert slow.most <= settings.login_concurrency
    assert statuses.count(429) >= len(passwords_sent) - settings.login_max_failures
    assert set(statuses) <= {401, 303, 429}


def test_a_wrong_password_counts_before_it_is_checked(
    client: TestClient, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = passwords.verify_password

    def spy(password: str, stored: str) -> bool:
        # While scrypt runs, the attempt is already in the database.
        with client.app.state.ctx.engine.connect() as conn:  # type: ignore[attr-defined]
            from regional_server.db.models import login_attempts

            row = conn.execute(
                select(login_attempts.c.attempts).where(
                    login_attempts.c.key == f"email:{world.coord_a}"
                )
            ).first()
        seen.append(row[0] if row else 0)
        return real(password, stored)

    monkeypatch.setattr("regional_server.dashboard.pages.verify_password", spy)
    assert login(client, world.coord_a, "wrong password 1").status_code == 401
    assert login(client, world.coord_a, "wrong password 2").status_code == 401
    assert seen == [1, 2]
    assert login(client, world.coord_a).status_code == 303
    client.cookies.clear()
    assert login(client, world.coord_a, "wrong password 3").status_code == 401
    assert seen[-1] == 1  # the successful login started the account afresh


@sqlite_only
def test_client_address_comes_only_from_trusted_proxies(
    settings: Settings, engine: Engine, world: World, clock: Clock
) -> None:
    # The test client's peer is "testclient": listed as the proxy, its X-Forwarded-For
    # names the client. 20 failures from one address lock that address, not the proxy.
    proxied = _client(replace(settings, trusted_proxies=("testclient",)), engine, clock)

    def from_address(c: TestClient, address: str, email: str, password: str) -> int:
        token = csrf_of(c.get("/login").text)
        return c.post(
            "/login",
            data={"email": email, "password": password, "csrf_token": token},
            headers={"X-Forwarded-For": address},
            follow_redirects=False,
        ).status_code

    with proxied as c:
        for i in range(settings.login_max_failures * 4):
            status = from_address(c, "203.0.113.7", f"nobody{i}@example.org", "wrong password!")
            assert status == 401
        assert from_address(c, "203.0.113.7", world.coord_b, PASSWORD) == 429
        assert from_address(c, "203.0.113.8", world.coord_a, PASSWORD) == 303

    # Without trusted proxies a made-up X-Forwarded-For changes nothing: the peer counts.
    with _client(settings, engine, clock) as c:
        for i in range(settings.login_max_failures * 4):
            address = f"198.51.100.{i}"
            assert from_address(c, address, f"other{i}@example.org", "wrong password!") == 401
        assert from_address(c, "198.51.100.250", world.admin, PASSWORD) == 429


def test_trusted_proxies_setting_is_validated() -> None:
    env = {"KIOSK_SERVER_TRUSTED_PROXIES": "10.0.0.1, 192.0.2.0/24"}
    assert load_settings(environ=env).trusted_proxies == ("10.0.0.1", "192.0.2.0/24")
    with pytest.raises(ValueError, match="trusted_proxies"):
        load_settings(environ={"KIOSK_SERVER_TRUSTED_PROXIES": "proxy.example"})


@sqlite_only
def test_scrypt_cost_is_owasp_minimum_and_old_hashes_are_redone(
    settings: Settings, engine: Engine, clock: Clock
) -> None:
    assert MIN_SCRYPT_N == 2**17
    assert Settings().password_scrypt_n >= MIN_SCRYPT_N
    assert passwords.DEFAULT_N >= MIN_SCRYPT_N
    with engine.begin() as conn:
        create_user(conn, "old@example.org", PASSWORD, "admin", [], int(clock()), 2**10)
    stronger = replace(settings, password_scrypt_n=2**11)
    with _client(stronger, engine, clock) as c:
        assert login(c, "old@example.org").status_code == 303
    with engine.connect() as conn:
        stored = conn.execute(
            select(users.c.password_hash).where(users.c.email == "old@example.org")
        ).scalar_one()
    assert stored.split("$")[1] == str(2**11)
    assert passwords.verify_password(PASSWORD, stored)
    assert not passwords.needs_rehash(stored, 2**11)


# --- request bodies ------------------------------------------------------------------------


@sqlite_only
def test_every_body_is_bounded(client: TestClient, settings: Settings) -> None:
    big = b'{"code": "' + b"A" * (settings.max_body_bytes + 10) + b'"}'
    r = client.post("/api/v1/enroll", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"
    assert r.headers["X-Content-Type-Options"] == "nosniff"  # the usual headers too

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it streams
        yield b'{"code": "'
        for _ in range(settings.max_body_bytes // 1000 + 5):
            yield b"A" * 1000
        yield b'"}'

    r = client.post(
        "/api/v1/enroll", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    r = client.post(
        "/login", content=big, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 413
    ok = client.post("/api/v1/enroll", json={"code": "X" * 20, "public_key": "ed25519:x"})
    assert ok.status_code in (400, 403)


async def _run(
    mw: BodyLimitMiddleware, headers: list[tuple[bytes, bytes]], chunks: int
) -> tuple[list[Message], int]:
    sent: list[Message] = []
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        taken += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": taken < chunks}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: dict[str, Any] = {"type": "http", "path": "/api/v1/enroll", "headers": headers}
    await mw(scope, receive, send)
    return sent, taken


def test_body_limit_answers_early() -> None:
    import anyio

    async def app(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    mw = BodyLimitMiddleware(app, limit=10_000)
    # A declared 300 MiB body is refused before a byte of it is read.
    sent, taken = anyio.run(_run, mw, [(b"content-length", str(300 * 2**20).encode())], 10**6)
    assert taken == 0 and sent[0]["status"] == 413
    # A streamed body is refused as soon as it passes the bound, not when it ends.
    sent, taken = anyio.run(_run, mw, [], 10**6)
    assert sent[0]["status"] == 413 and taken == 11
    sent, taken = anyio.run(_run, mw, [], 10)
    assert sent[0]["status"] == 200
    # "¹²³" is not a length: the stream is counted instead (no 500 from int()).
    sent, _ = anyio.run(_run, mw, [(b"content-length", "¹²³".encode())], 3)
    assert sent[0]["status"] == 200


@sqlite_only
def test_report_uploads_keep_their_own_bound(
    client: TestClient, world: World, engine: Engine, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    body = b"x" * (70 * 1024)
    r = client.post(REPORTS_PATH, content=body, headers=signed_headers(kiosk, body, int(clock())))
    assert r.status_code == 413


# --- signed headers, periods ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["¹²³", "١٢٣", "１２３", "12 3", "+123", "", "1e9", "-"])
@sqlite_only
def test_malformed_timestamps_are_401_not_500(
    client: TestClient, world: World, engine: Engine, clock: Clock, value: str
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    body = encode_body(make_report(kiosk, {"sessions.login": 3}))
    headers = signed_headers(kiosk, body, int(clock()))
    headers["X-Kiosk-Timestamp"] = value
    r = client.post(
        REPORTS_PATH, content=body, headers={k.encode(): v.encode() for k, v in headers.items()}
    )
    assert r.status_code == 401 and r.json()["error"] == "bad_timestamp"


def test_reports_shorter_than_a_day_are_refused(
    client: TestClient, world: World, engine: Engine, clock: Clock
) -> None:
    kiosk = enroll(client, new_code(engine, world.region_a, clock))
    hourly = replace(make_report(kiosk, {"sessions.login": 3}), period_days=1 / 24)
    r = upload(client, kiosk, hourly, clock)
    assert r.status_code == 422 and r.json()["error"] == "period_too_short"
    assert (
        upload(client, kiosk, make_report(kiosk, {"sessions.login": 3}), clock).status_code == 201
    )


# --- "on the newest list" -----------------------------------------------------------------------


def test_newest_list_comes_from_published_feeds_only(
    client: TestClient, world: World, engine: Engine, clock: Clock
) -> None:
    with engine.begin() as conn:
        record_published(conn, "hotline", 41, int(clock()))
    honest = enroll(client, new_code(engine, world.region_a, clock))
    assert (
        upload(
            client,
            honest,
            make_report(honest, {"sessions.login": 9}, feed_versions={"hotline": 41}),
            clock,
        ).status_code
        == 201
    )
    # A kiosk of region B reports an absurd version and a made-up list.
    poison = enroll(client, new_code(engine, world.region_b, clock))
    made_up = {"hotline": 2**63 - 1, "made-up-list": 7}
    assert (
        upload(
            client, poison, make_report(poison, {"sessions.login": 9}, feed_versions=made_up), clock
        ).status_code
        == 201
    )

    assert login(client, world.coord_a).status_code == 303
    data = client.get("/api/v1/indicators").json()
    assert data["newest_list_versions"] == {"hotline": 41}
    # One kiosk is published as "<5"; the figure before perturbation is 1, not 0.
    with engine.connect() as conn:
        overview = kiosk_overview(conn, frozenset({world.region_a, world.region_b}), int(clock()))
    assert overview.coverage[world.region_a].on_newest.value == 1
    assert overview.coverage[world.region_b].on_newest.value == 1  # at (past) v41
    assert overview.newest == {"hotline": 41}
    page = client.get("/").text
    assert "made-up-list" not in page and str(2**63 - 1) not in page


# --- cookies and transport -------------------------------------------------------------------


def _session_cookie(c: TestClient, email: str) -> str:
    r = login(c, email)
    assert r.status_code == 303
    return r.headers["set-cookie"]


@sqlite_only
def test_cookies_are_secure_unless_on_loopback(
    settings: Settings, engine: Engine, world: World, clock: Clock
) -> None:
    auto = replace(settings, secure_cookies=None)
    assert Settings().secure_cookies is None
    with _client(auto, engine, clock, "https://kiosk-server.example") as c:
        assert "; secure" in _session_cookie(c, world.coord_a).lower()
    with _client(auto, engine, clock, "http://kiosk-server.example") as c:
        assert "; secure" in c.get("/login").headers["set-cookie"].lower()
    with _client(auto, engine, clock, "http://127.0.0.1:8080") as c:
        assert "; secure" not in _session_cookie(c, world.coord_b).lower()


@sqlite_only
def test_hsts_over_https_only(settings: Settings, engine: Engine, clock: Clock) -> None:
    with _client(settings, engine, clock, "https://kiosk-server.example") as c:
        assert c.get("/login").headers["Strict-Transport-Security"].startswith("max-age=")
    with _client(settings, engine, clock) as c:
        assert "Strict-Transport-Security" not in c.get("/login").headers
        # Anyone may claim HTTPS; only a trusted proxy is believed.
        r = c.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" not in r.headers
    trusted = replace(settings, trusted_proxies=("testclient",))
    with _client(trusted, engine, clock) as c:
        r = c.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")


@sqlite_only
def test_ids_too_large_for_the_database_are_refused_not_500(
    client: TestClient, world: World
) -> None:
    # Found by the every-route schemathesis run: the driver overflowed (a 500).
    assert login(client, world.admin).status_code == 303
    for path in (
        "/admin/codes/9690646092632495301466640433020928/revoke",
        "/admin/users/2147483648",
    ):
        r = client.post(path, data={"role": "admin"}, headers={"Accept": "application/json"})
        assert r.status_code == 400, (path, r.status_code)
