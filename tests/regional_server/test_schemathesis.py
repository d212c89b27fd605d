"""Fuzz every route in-process: no input gets a 5xx or a trace.

Schemathesis generates requests from the spec (valid and invalid ones); a logged-in
coordinator's cookie is sent along so the indicator routes are reached too. A second
run fuzzes every route, the pages and admin forms the public spec leaves out included
(as an admin, with the session's CSRF token, so forms reach their handlers), each
request with random extra headers (proxy, encoding, language, cookies, the signed
headers). Hand-written cases then try what schemathesis cannot guess about the signed
headers, and random bodies signed with an enrolled kiosk's key reach the report
parser behind the signature check.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from kiosk_agent.contracts.report import signing_string
from regional_server import feeds
from regional_server.admin import account, children, codes, dhis2, fleet, regions, users
from regional_server.api import enroll, reports
from regional_server.app import create_app
from regional_server.dashboard import apidocs, pages
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.national import route as national_route
from regional_server.settings import Settings
from tests.regional_server.helpers import Clock, Kiosk, csrf_of, make_world, new_code

_STATE: dict[str, Any] = {}
ROUTERS = (
    enroll.router,
    reports.router,
    feeds.router,
    pages.router,
    codes.router,
    users.router,
    regions.router,
    account.router,
    apidocs.router,
    dhis2.router,
    fleet.router,
    national_route.router,
    children.router,
)


def _app(tmp: Path, as_admin: bool = False) -> tuple[FastAPI, str, Kiosk]:
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
                "email": world.admin if as_admin else world.coord_a,
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
    "POST /api/v1/reports/batch",
    "GET /feeds/{list_id}/{name}",
    "GET /export.csv",
    "GET /api/v1/indicators",
    "GET /api/v1/dhis2/dataValueSets",
    "GET /api/v1/dhis2/adx",
    "GET /api/v1/fleet",
    "POST /api/v1/parent/aggregates",
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


# --- every route, every header ------------------------------------------------------------


def _schema_of_every_route(app: FastAPI) -> None:
    """Serve, from this app only, a spec with the routes the public one leaves out."""
    routes = []
    for router in ROUTERS:
        for route in router.routes:
            if isinstance(route, APIRoute):
                shown = copy.copy(route)
                shown.include_in_schema = True
                routes.append(shown)
    schema = get_openapi(title=app.title, version=app.version, routes=routes)
    app.openapi = lambda: schema  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def every_route_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app, cookie, kiosk = _app(tmp_path_factory.mktemp("every-route"), as_admin=True)
    _schema_of_every_route(app)
    with TestClient(app) as c:
        c.cookies.set("ks_session", cookie)
        csrf = csrf_of(c.get("/admin/regions").text)
    _STATE.update(admin_cookie=cookie, admin_csrf=csrf, admin_kiosk=kiosk)
    yield app
    app.state.ctx.engine.dispose()


EVERY_ROUTE = (
    *OPERATIONS,
    "HEAD /feeds/{list_id}/{name}",
    "GET /login",
    "POST /login",
    "POST /logout",
    "GET /",
    "GET /admin/codes",
    "POST /admin/codes",
    "POST /admin/codes/{code_id}/revoke",
    "GET /admin/regions",
    "POST /admin/regions",
    "GET /admin/users",
    "POST /admin/users",
    "POST /admin/users/{user_id}",
    "GET /account",
    "POST /account/tokens",
    "POST /account/tokens/{token_id}/revoke",
    "GET /docs",
    "GET /admin/dhis2",
    "POST /admin/dhis2",
    "GET /admin/fleet",
    "GET /admin/children",
    "POST /admin/children",
    "POST /admin/children/{child_id}",
)
_HEADER_NAMES = (
    "Accept",
    "Accept-Language",
    "Content-Type",
    "Content-Encoding",
    "Cookie",
    "Authorization",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Kiosk-Id",
    "X-Kiosk-Timestamp",
    "X-Kiosk-Signature",
    "X-Server-Key",
    "X-Server-Timestamp",
    "X-Server-Signature",
    "If-None-Match",
    "Origin",
    "Referer",
)
# Header values are bytes on the wire; anything latin-1 but line breaks and NUL.
_HEADER_VALUE = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=40,
).map(str.strip)  # HTTP clients refuse (and servers strip) edge whitespace
_EXTRA_HEADERS = st.dictionaries(st.sampled_from(_HEADER_NAMES), _HEADER_VALUE, max_size=4)


def test_every_route_is_fuzzed(every_route_app: FastAPI) -> None:
    labels = set(_operations(every_route_app))
    assert labels == set(EVERY_ROUTE)


@pytest.mark.parametrize("label", EVERY_ROUTE)
def test_no_server_errors_on_any_route_with_any_headers(
    every_route_app: FastAPI, label: str
) -> None:
    operation = _operations(every_route_app)[label]

    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(case=operation.as_strategy(), extra=_EXTRA_HEADERS)
    def run(case: Any, extra: dict[str, str]) -> None:
        if isinstance(case.body, dict) and label != "POST /logout":
            case.body["csrf_token"] = _STATE["admin_csrf"]  # reach the form handlers
        headers = {**(case.headers or {}), **extra}
        if "Cookie" in headers:  # the session cookie stays: logged in, whatever else
            headers["Cookie"] += f"; ks_session={_STATE['admin_cookie']}"
        case.headers = headers
        response = case.call(cookies={"ks_session": _STATE["admin_cookie"]})
        assert response.status_code < 500, (label, headers, response.text[:300])
        assert "Traceback" not in response.text

    run()


# --- the signed headers, by hand ---------------------------------------------------------------


def _signed(kiosk: Kiosk, body: bytes, ts: int, path: str = "/api/v1/reports") -> str:
    return base64.b64encode(kiosk.key.sign(signing_string("POST", path, ts, body))).decode()


def _bad_header_cases(kiosk: Kiosk) -> list[tuple[str, list[tuple[bytes, bytes]], bytes]]:
    body = b'{"report_id": "x"}'
    ts = int(time.time())
    good = {
        b"x-kiosk-id": kiosk.kiosk_id.encode(),
        b"x-kiosk-timestamp": str(ts).encode(),
        b"x-kiosk-signature": _signed(kiosk, body, ts).encode(),
    }

    def with_(**changes: bytes | None) -> list[tuple[bytes, bytes]]:
        merged = dict(good)
        for name, value in changes.items():
            key = name.replace("_", "-").encode()
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return list(merged.items())

    long_ts = b"9" * 20
    cases = [
        ("no headers", [], body),
        ("no signature", with_(x_kiosk_signature=None), body),
        ("no timestamp", with_(x_kiosk_timestamp=None), body),
        ("no kiosk id", with_(x_kiosk_id=None), body),
        ("superscript digits", with_(x_kiosk_timestamp="¹²³".encode("latin-1")), body),
        ("latin-1 letters", with_(x_kiosk_timestamp="1é".encode("latin-1")), body),
        ("spaces", with_(x_kiosk_timestamp=f" {ts} ".encode()), body),
        ("plus sign", with_(x_kiosk_timestamp=f"+{ts}".encode()), body),
        ("20 digits", with_(x_kiosk_timestamp=long_ts), body),
        ("negative", with_(x_kiosk_timestamp=b"-1"), body),
        ("float", with_(x_kiosk_timestamp=f"{ts}.0".encode()), body),
        ("stale", with_(x_kiosk_timestamp=str(ts - 10_000).encode()), body),
        ("not base64", with_(x_kiosk_signature=b"!!!!"), body),
        ("short signature", with_(x_kiosk_signature=base64.b64encode(b"x" * 10)), body),
        ("long signature", with_(x_kiosk_signature=b"A" * 300), body),
        ("signature of another body", with_(), body + b" "),
        (
            "signature for another path",
            with_(x_kiosk_signature=_signed(kiosk, body, ts, "/x").encode()),
            body,
        ),
        ("unknown kiosk", with_(x_kiosk_id=b"k-0000000000000000"), body),
        ("latin-1 kiosk id", with_(x_kiosk_id="k-é".encode("latin-1")), body),
        ("long kiosk id", with_(x_kiosk_id=b"k" * 500), body),
        ("empty kiosk id", with_(x_kiosk_id=b""), body),
        ("bad content length", [*with_(), (b"content-encoding", b"gzip, gzip")], body),
        ("unknown encoding", [*with_(), (b"content-encoding", "é".encode("latin-1"))], body),
    ]
    # The same header twice: the first counts, whatever the second says.
    cases.append(("twice", [*with_(), (b"x-kiosk-timestamp", b"\xb9\xb2\xb3")], body))
    return cases


def test_hand_written_signed_header_cases_get_4xx(api_app: FastAPI) -> None:
    kiosk: Kiosk = _STATE["kiosk"]
    with TestClient(api_app) as c:
        for name, headers, body in _bad_header_cases(kiosk):
            r = c.post("/api/v1/reports", content=body, headers=headers)
            assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
            assert set(r.json()) == {"error", "message"}, name
