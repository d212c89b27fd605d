"""Test helpers: a settable clock, kiosk keys, signed uploads, logging in."""

from __future__ import annotations

import base64
import email
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine

from kiosk_agent.contracts.report import (
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    Report,
    encode_body,
    signing_string,
)
from regional_server.settings import Settings
from regional_server.store.codes import create_code
from regional_server.store.regions import create_region
from regional_server.store.users import create_user

PASSWORD = "correct horse battery staple"
REPORTS_PATH = "/api/v1/reports"


@dataclass
class Clock:
    """A clock the test moves; starts at the real time."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@dataclass
class Kiosk:
    key: Ed25519PrivateKey
    kiosk_id: str = ""

    @property
    def public_key(self) -> str:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return "ed25519:" + base64.b64encode(raw).decode()


@dataclass
class World:
    region_a: int
    region_b: int
    admin: str = "admin@example.org"
    coord_a: str = "coord-a@example.org"
    coord_b: str = "coord-b@example.org"


def make_world(engine: Engine, settings: Settings, clock: Clock) -> World:
    now = int(clock())
    n = settings.password_scrypt_n
    with engine.begin() as conn:
        a = create_region(conn, "KE-NBO", "Nairobi", "KE", now)
        b = create_region(conn, "SN-DKR", "Dakar", "SN", now)
        create_user(conn, "admin@example.org", PASSWORD, "admin", [], now, n)
        create_user(conn, "coord-a@example.org", PASSWORD, "coordinator", ["KE-NBO"], now, n)
        create_user(conn, "coord-b@example.org", PASSWORD, "coordinator", ["SN-DKR"], now, n)
    return World(a.id, b.id)


def new_code(engine: Engine, region_id: int, clock: Clock, uses: int = 1, days: int = 30) -> str:
    now = int(clock())
    with engine.begin() as conn:
        return create_code(conn, region_id, uses, now + days * 86400, now, None)


def enroll(client: TestClient, code: str, cafe: str = "Sunrise Net Café") -> Kiosk:
    kiosk = Kiosk(Ed25519PrivateKey.generate())
    r = client.post(
        "/api/v1/enroll",
        json={"code": code, "public_key": kiosk.public_key, "cafe_name": cafe},
    )
    assert r.status_code == 201, r.text
    kiosk.kiosk_id = r.json()["kiosk_id"]
    return kiosk


def make_report(
    kiosk: Kiosk,
    counts: dict[str, int],
    *,
    day: datetime | None = None,
    feed_versions: dict[str, int] | None = None,
    report_id: str | None = None,
) -> Report:
    start = (day or datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    return Report(
        report_id=report_id or str(uuid.uuid4()),
        kiosk_id=kiosk.kiosk_id,
        period_start=start,
        period_days=1,
        counts=counts,
        agent_version="0.1.0",
        feed_versions=feed_versions or {},
    )


def signed_headers(
    kiosk: Kiosk, body: bytes, timestamp: int, path: str = REPORTS_PATH
) -> dict[str, str]:
    signature = kiosk.key.sign(signing_string("POST", path, timestamp, body))
    return {
        HEADER_KIOSK_ID: kiosk.kiosk_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: base64.b64encode(signature).decode(),
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }


def upload(client: TestClient, kiosk: Kiosk, report: Report, clock: Clock) -> Response:
    body = encode_body(report)
    return client.post(
        REPORTS_PATH, content=body, headers=signed_headers(kiosk, body, int(clock()))
    )


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no csrf_token in the page"
    return match.group(1)


def login(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    page = client.get("/login")
    token = csrf_of(page.text)
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


class MailCollector:
    """An aiosmtpd handler that keeps every message it is given (a plain loopback relay)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


def mail_body(msg: Message) -> str:
    """A single-part message's text."""
    payload = msg.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(msg.get_content_charset() or "utf-8")
