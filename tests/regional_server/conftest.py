"""Fixtures for the regional server: a fresh database on SQLite and on PostgreSQL.

Every storage test runs twice (``db_kind`` is ``sqlite`` and ``postgresql``). The
PostgreSQL one connects to ``$KIOSK_TEST_PG_URL`` (default: the role and database that
scripts/test-deps.sh creates on loopback) and works in a schema of its own, dropped
afterwards; it skips when PostgreSQL is unreachable, and fails under CI=true.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text

from kiosk_agent.net.ports import free_port
from regional_server.app import create_app
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.settings import Settings
from tests.conftest import require
from tests.regional_server.helpers import Clock, MailCollector, World, make_world

PG_URL = os.environ.get(
    "KIOSK_TEST_PG_URL", "postgresql+psycopg://kiosk_test:kiosk_test@127.0.0.1:5432/kiosk_test"
)
_pg_checked: list[str | None] = []


def _pg_problem() -> str | None:
    if not _pg_checked:
        try:
            engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
            _pg_checked.append(None)
        except Exception as e:  # any failure to connect means "not available"
            _pg_checked.append(f"PostgreSQL is not reachable at {PG_URL}: {type(e).__name__}")
    return _pg_checked[0]


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections work in a fresh, empty PostgreSQL schema."""
    problem = _pg_problem()
    require(problem is None, problem or "")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def settings(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    url = ""
    if db_kind == "postgresql":
        url = request.getfixturevalue("pg_schema_url")
    return Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        password_scrypt_n=2**10,  # fast in tests; production uses 2**17
        secure_cookies=False,  # the test client speaks plain HTTP to "testserver"
        noise_max=0,  # exact figures; the perturbation has tests of its own (test_perturb)
        sqlite_synchronous="NORMAL",
    )


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(settings: Settings, engine: Engine, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, engine, clock)
    with TestClient(app, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def world(engine: Engine, settings: Settings, clock: Clock) -> World:
    """Two regions in two countries, an admin and one coordinator per region."""
    return make_world(engine, settings, clock)


@pytest.fixture
def smtp() -> Iterator[tuple[int, MailCollector]]:
    """A plain SMTP relay (aiosmtpd) on loopback: its port, and what it received."""
    from aiosmtpd.controller import Controller

    handler = MailCollector()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()
