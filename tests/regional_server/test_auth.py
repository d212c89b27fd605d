"""Login, sessions, CSRF and login rate limiting."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from regional_server.auth.ratelimit import Counted, wait_seconds
from regional_server.db.models import sessions
from regional_server.store.users import credentials, set_active
from tests.regional_server.helpers import PASSWORD, Clock, World, csrf_of, login


def test_login_sets_a_safe_session_cookie_and_logout_ends_it(
    client: TestClient, world: World, engine: Engine
) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="email"' in page.text and 'name="password"' in page.text
    r = login(client, world.coord_a)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert "ks_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    with engine.connect() as conn:
        stored = conn.execute(select(sessions.c.token_hash)).scalars().all()
    token = client.cookies["ks_session"]
    assert token not in stored  # only the hash is stored
    home = client.get("/")
    assert home.status_code == 200
    csrf = csrf_of(home.text)
    # Logout needs the CSRF token.
    assert client.post("/logout", data={"csrf_token": "x"}).status_code == 403
    out = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303
    client.cookies.set("ks_session", token)
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_wrong_password_and_unknown_user_look_the_same(client: TestClient, world: World) -> None:
    a = login(client, world.coord_a, "wrong password!")
    b = login(client, "nobody@example.org", "wrong password!")
    assert a.status_code == b.status_code == 401
    assert "Wrong e-mail or password" in a.text and "Wrong e-mail or password" in b.text


def test_login_without_csrf_token_is_refused(client: TestClient, world: World) -> None:
    client.get("/login")
    r = client.post(
        "/login", data={"email": world.coord_a, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert r.status_code == 403
    assert "ks_session" not in client.cookies


def test_login_rate_limit(client: TestClient, world: World, clock: Clock) -> None:
    for _ in range(5):
        assert login(client, world.coord_a, "bad password 123").status_code == 401
    r = login(client, world.coord_a)
    assert r.status_code == 429 and "Retry-After" in r.headers
    clock.now += 901
    assert login(client, world.coord_a).status_code == 303


def test_rate_limit_decision() -> None:
    limits = {"email:a": 3, "client:x": 12}
    assert (
        wait_seconds([Counted("email:a", 3, 100), Counted("client:x", 3, 100)], limits, 300, 900)
        == 0
    )
    assert wait_seconds([Counted("email:a", 4, 100)], limits, 300, 900) == 700
    assert (
        wait_seconds([Counted("email:a", 1, 100), Counted("client:x", 13, 250)], limits, 300, 900)
        == 850
    )
    assert wait_seconds([Counted("email:a", 9, 100)], limits, 1000, 900) == 1


def test_deactivated_user_loses_the_session(
    client: TestClient, world: World, engine: Engine
) -> None:
    login(client, world.coord_a)
    assert client.get("/").status_code == 200
    with engine.begin() as conn:
        cred = credentials(conn, world.coord_a)
        assert cred is not None
        set_active(conn, cred[0], False)
    assert client.get("/", follow_redirects=False).status_code == 303
    assert login(client, world.coord_a).status_code == 401


def test_next_only_redirects_within_the_site(client: TestClient, world: World) -> None:
    page = client.get("/login?next=//evil.example/x")
    r = client.post(
        "/login",
        data={
            "email": world.admin,
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_pages_redirect_and_data_routes_answer_401_when_logged_out(client: TestClient) -> None:
    r = client.get("/?region=KE-NBO", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    for path in ("/export.csv", "/api/v1/indicators"):
        r = client.get(path)
        assert r.status_code == 401 and r.json()["error"] == "login_required"


def test_security_headers(client: TestClient) -> None:
    r = client.get("/login")
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "date" in r.headers


def test_failed_login_keeps_the_email(client: TestClient, world: World) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"email": world.coord_a, "password": "wrong", "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 401
    assert f'value="{world.coord_a}"' in r.text and "wrong" not in r.text.split("<form")[1]


def test_api_docs_for_logged_in_users(client: TestClient, world: World) -> None:
    r = client.get("/docs", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    login(client, world.coord_a)
    r = client.get("/docs")
    assert r.status_code == 200
    assert "<script" not in r.text and 'href="/openapi.json"' in r.text
    assert "GET /api/v1/indicators" in r.text and "POST /api/v1/reports" in r.text
    assert client.get("/openapi.json").status_code == 200
