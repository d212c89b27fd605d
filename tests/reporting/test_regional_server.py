"""The kiosk side against the real regional server (FastAPI under uvicorn, SQLite)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from kiosk_agent.config import config_from_mapping
from kiosk_agent.contracts.report import encode_body
from kiosk_agent.net.clock import Clock
from kiosk_agent.net.direct_http import direct_session
from kiosk_agent.reporting.component import Reporting
from kiosk_agent.reporting.events import Blocked, NoticeShown, SessionStarted
from kiosk_agent.reporting.identity import enroll, load_enrollment
from kiosk_agent.reporting.uploader import LinkMonitor

TEN_YEARS = 10 * 365.25 * 86400


@dataclass
class Server:
    url: str
    engine: Engine
    code: str


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    import uvicorn

    from regional_server.app import create_app
    from regional_server.db.engine import make_engine
    from regional_server.db.migrate import upgrade
    from regional_server.settings import Settings
    from regional_server.store.codes import create_code
    from regional_server.store.regions import create_region

    settings = Settings(
        data_dir=tmp_path / "server", password_scrypt_n=2**10, sqlite_synchronous="NORMAL"
    )
    engine = make_engine(settings)
    upgrade(engine)
    now = int(time.time())
    with engine.begin() as conn:
        region = create_region(conn, "KE-NBO", "Nairobi", "KE", now)
        code = create_code(conn, region.id, 1, now + 86400, now, None)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        create_app(settings, engine), log_level="warning", date_header=False, lifespan="off"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uv.started
    try:
        yield Server(f"http://127.0.0.1:{sock.getsockname()[1]}", engine, code)
    finally:
        uv.should_exit = True
        thread.join(10)
        sock.close()
        engine.dispose()


def _stored(engine: Engine) -> list[dict[str, int]]:
    from regional_server.db.models import reports

    with engine.connect() as conn:
        return [json.loads(row[0]) for row in conn.execute(select(reports.c.counts))]


def test_enroll_upload_dedup_and_wrong_clock(tmp_path: Path, server: Server) -> None:
    state = tmp_path / "kiosk"
    behind = Clock(state, system_time=lambda: time.time() - TEN_YEARS)
    with direct_session([], clock=behind) as session:
        enrollment = enroll(state, server.url, server.code, session, now=behind.now())
    assert enrollment.region == "KE-NBO" and enrollment.country == "KE"
    assert abs(behind.now() - time.time()) < 5  # the enrollment's Date corrected it

    # A fresh start with the PC clock still 10 years behind and no saved correction.
    (state / "clock.json").unlink()
    clock = Clock(state, system_time=lambda: time.time() - TEN_YEARS)
    config = config_from_mapping(
        {
            "state_dir": str(state),
            "reporting": {"server": server.url},
            "filter": {"upstreams": ["127.0.0.1:9"]},
        }
    )
    reporting = Reporting(
        config,
        clock=clock,
        link=LinkMonitor(read=lambda: (0, 0)),
        session_factory=lambda: direct_session([], clock=clock),
    )
    try:
        # Counted with the wrong clock; the server refuses the old timestamp (401),
        # the Date header corrects the clock, the retry is accepted.
        for event in (SessionStarted("login"), NoticeShown("sw"), Blocked("csam")):
            reporting.counters.count(event)
        result = reporting.upload(operator=True, cut_all=True)
        assert (result.outcome, result.sent) == ("sent", 1), (
            result,
            reporting.outbox.all_reports(),
        )
        assert abs(clock.now() - time.time()) < 5
        assert _stored(server.engine) == [
            {"blocked.csam": 1, "notices.shown.sw": 1, "sessions.login": 1}
        ]
        # The same report again (a retry after a lost answer): acknowledged, counted once.
        reporting.counters.count(Blocked("csam"))
        reporting.flush()
        [rid] = reporting.cut(all_periods=True)
        [stored] = reporting.outbox.all_reports()
        body = encode_body(stored.to_report(enrollment.kiosk_id))
        ts = int(clock.now())
        headers = reporting.key.signed_headers(
            enrollment.kiosk_id, "POST", "/api/v1/reports", ts, body
        )
        with direct_session([]) as s:
            first = s.post(
                server.url + "/api/v1/reports",
                data=body,
                headers={**headers, "Content-Encoding": "gzip"},
            )
            assert first.status_code == 201
        result = reporting.upload(operator=True)
        assert (result.sent, result.duplicates) == (1, 1)
        assert len(_stored(server.engine)) == 2
        assert reporting.outbox.report_count() == 0
        assert load_enrollment(state) is not None and rid == stored.report_id
    finally:
        reporting.close()
