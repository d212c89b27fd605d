"""Personal API tokens: created and revoked on the user's page, stored hashed, scoped
like the user, accepted as ``Authorization: Bearer`` on the JSON and CSV routes only;
and the same against a real ``kiosk-server serve`` process."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from kiosk_agent.net.ports import free_port
from regional_server.db.models import api_tokens
from regional_server.store.tokens import create_token
from regional_server.store.users import credentials
from tests.conftest import REPO_ROOT, cli_env
from tests.regional_server.helpers import World, csrf_of, login

_TOKEN = re.compile(r"kst_[A-Za-z0-9_-]{43}")


def _new_token(client: TestClient, name: str = "nightly export") -> str:
    page = client.get("/account")
    r = client.post("/account/tokens", data={"name": name, "csrf_token": csrf_of(page.text)})
    assert r.status_code == 201
    match = _TOKEN.search(r.text)
    assert match
    return match.group(0)


def test_token_life(client: TestClient, engine: Engine, world: World) -> None:
    login(client, world.coord_a)
    token = _new_token(client)
    with engine.connect() as conn:
        stored = conn.execute(select(api_tokens.c.token_hash)).scalars().all()
    assert token not in stored and len(stored) == 1  # only its hash
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    r = client.get("/api/v1/indicators", headers=bearer)
    assert r.status_code == 200
    assert [row["key"] for row in r.json()["tables"]["regions"]["rows"]] == ["KE-NBO"]
    assert client.get("/export.csv", headers=bearer).status_code == 200
    # Scoped like the user: another region answers 404 as for the user.
    assert client.get("/api/v1/indicators?region=SN-DKR", headers=bearer).status_code == 404
    # Not on pages or forms: a token is no session.
    assert client.get("/", headers=bearer, follow_redirects=False).status_code == 303
    assert (
        client.get("/api/v1/indicators", headers={"Authorization": "Bearer kst_x"}).status_code
        == 401
    )
    # Revoked from the user's page: refused at once.
    login(client, world.coord_a)
    page = client.get("/account")
    assert "nightly export" in page.text and token not in page.text  # shown once only
    token_id = re.search(r"/account/tokens/(\d+)/revoke", page.text)
    assert token_id
    r = client.post(
        f"/account/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf_of(page.text)}
    )
    assert r.status_code in (200, 303)
    client.cookies.clear()
    assert client.get("/api/v1/indicators", headers=bearer).status_code == 401


def test_tokens_are_the_users_own(client: TestClient, engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        cred = credentials(conn, world.coord_b)
        assert cred
        create_token(conn, cred[0], "b's script", 0)
        other = conn.execute(select(api_tokens.c.id)).scalar_one()
    login(client, world.coord_a)
    page = client.get("/account")
    assert "b&#39;s script" not in page.text and "b's script" not in page.text
    r = client.post(f"/account/tokens/{other}/revoke", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 404
    r = client.post("/account/tokens", data={"name": "  ", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 400


def test_bearer_against_a_real_server(tmp_path: Path, world: World, engine: Engine) -> None:
    """Two scripts' calls against ``kiosk-server serve``: a token works, none is 401."""
    with engine.begin() as conn:
        cred = credentials(conn, world.coord_a)
        assert cred
        token = create_token(conn, cred[0], "script", int(time.time()))
    url = str(engine.url.render_as_string(hide_password=False))
    env = cli_env()
    env["KIOSK_SERVER_DB"] = url
    env["KIOSK_SERVER_DATA"] = str(tmp_path / "data")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "regional_server", "serve", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                httpx2.get(f"{base}/login", timeout=2)
                break
            except httpx2.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        r = httpx2.get(f"{base}/api/v1/indicators", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and r.json()["filters"]["regions"] == ["KE-NBO"]
        assert httpx2.get(f"{base}/api/v1/indicators").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=20)
