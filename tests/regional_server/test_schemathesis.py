"""Fuzz every operation of the OpenAPI spec in-process: no input gets a 5xx or a trace.

Schemathesis generates requests from the spec (valid and invalid ones); a logged-in
coordinator's cookie is sent along so the indicator routes are reached too. A second
fuzz signs random bodies with an enrolled kiosk's key, so the report parser behind the
signature check is reached as well.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from kiosk_agent.reporting.schema import signing_string
from regional_server.app import create_app
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.settings import Settings
from tests.regional_server.helpers import Clock, Kiosk, make_world, new_code

_STATE: dict[str, Any] = {}


def _app(tmp: Path) -> tuple[FastAPI, str, Kiosk]:
    s = Settings(
        data_dir=tmp, password_scrypt_n=2**10, sqlite_synchronous="NORMAL", secure_cookies=False
    )
    engine = make_engine(s)
    upgrade(engine)
    clock = Clock()
    world = make_world(engine, s, clock)
    app = create_app(s, engine)
    with TestClient(app) as c:
        page = c.get("/login")
        token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        c.post(
            "/login",
            data={
                "email": world.coord_a,
                "password": "correct horse battery staple",
                "csrf_token": token,
            },
        )
        cookie = c.cookies["ks_session"]
        kiosk = Kiosk(Ed25519PrivateKey.generate())
        r = c.post(
            "/api/v1/enroll",
            json={"code": new_code(engine, world.region_a, clock), "public_key": kiosk.public_key},
        )
        kiosk.kiosk_id = r.json()["kiosk_id"]
    return app, cookie, kiosk


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app, cookie, kiosk = _app(tmp_path_factory.mktemp("schemathesis"))
    _STATE.update(cookie=cookie, kiosk=kiosk)
    yield app
    app.state.ctx.engine.dispose()


OPERATIONS = (
    "POST /api/v1/enroll",
    "POST /api/v1/reports",
    "GET /feeds/{list_id}/{name}",
    "GET /export.csv",
    "GET /api/v1/indicators",
)


def _operations(api_app: FastAPI) -> dict[str, Any]:
    spec = schemathesis.openapi.from_asgi("/openapi.json", api_app)
    out: dict[str, Any] = {}
    for result in spec.get_all_operations():
        assert isinstance(result, Ok), result
        out[result.ok().label] = result.ok()
    return out


def test_spec_lists_every_operation(api_app: FastAPI) -> None:
    labels = set(_operations(api_app))
    assert labels == set(OPERATIONS)


@pytest.mark.parametrize("label", OPERATIONS)
def test_no_server_errors(api_app: FastAPI, label: str) -> None:
    operation = _operations(api_app)[label]

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(cookies={"ks_session": _STATE["cookie"]})
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            assert set(response.json()) == {"error", "message"}
            assert "Traceback" not in response.text

    run()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=12), inner, max_size=6)
            ),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
    ),
    encoding=st.sampled_from([None, "gzip", "identity", "br"]),
)
def test_signed_random_bodies_get_4xx(api_app: FastAPI, body: bytes, encoding: str | None) -> None:
    kiosk: Kiosk = _STATE["kiosk"]
    ts = int(time.time())
    headers = {
        "X-Kiosk-Id": kiosk.kiosk_id,
        "X-Kiosk-Timestamp": str(ts),
        "X-Kiosk-Signature": base64.b64encode(
            kiosk.key.sign(signing_string("POST", "/api/v1/reports", ts, body))
        ).decode(),
    }
    if encoding:
        headers["Content-Encoding"] = encoding
    with TestClient(api_app) as c:
        r = c.post("/api/v1/reports", content=body, headers=headers)
    assert r.status_code in (400, 413), r.text
    assert set(r.json()) == {"error", "message"}
