"""Alerts a coordinator subscribes to: the page, the dashboard, the weekly digest sent
to a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import email
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from regional_server.digest import send_digests, smtp_sender
from regional_server.settings import Settings
from tests.regional_server.helpers import (
    Clock,
    Kiosk,
    MailCollector,
    World,
    csrf_of,
    enroll,
    login,
    mail_body,
    make_report,
    new_code,
    upload,
)


def _fill(client: TestClient, engine: Engine, world: World, clock: Clock) -> list[Kiosk]:
    """Region A: eight weeks of about 20 blocked attempts and no tamper, then a week
    (2026-W47) of 200 blocked, 12 tamper and 2 feed rejections; one kiosk never reports."""
    clock.now = datetime(2026, 9, 1, tzinfo=UTC).timestamp()
    code = new_code(engine, world.region_a, clock, uses=5, days=60)
    busy, quiet = enroll(client, code, "Busy Café"), enroll(client, code, "Quiet Café")
    last = datetime(2026, 11, 16, tzinfo=UTC)
    for weeks_back in range(8, 0, -1):
        day = last - timedelta(weeks=weeks_back)
        clock.now = (day + timedelta(hours=20)).timestamp()
        counts = {"sessions.login": 50, "blocked.malware": 18 + weeks_back % 3}
        assert upload(client, busy, make_report(busy, counts, day=day), clock).is_success
    clock.now = (last + timedelta(hours=20)).timestamp()
    counts = {
        "sessions.login": 50,
        "blocked.malware": 200,
        "tamper.dns_changed": 12,
        "feeds.rejected.bad_signature": 2,
    }
    assert upload(client, busy, make_report(busy, counts, day=last), clock).is_success
    clock.now = datetime(2026, 11, 23, 9, tzinfo=UTC).timestamp()  # W48 has begun
    return [busy, quiet]


def _subscribe(client: TestClient, region: str = "KE-NBO", **extra: Any) -> None:
    token = csrf_of(client.get("/alerts").text)
    data: dict[str, Any] = {
        "csrf_token": token,
        "region": [region],
        "days": ["7"],
        "subscribe": [region],
        "jumps": [region],
        "feeds": [region],
        "language": "en",
        **extra,
    }
    r = client.post("/alerts", data=data, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_alerts_on_the_page_and_the_dashboard(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    busy, quiet = _fill(client, engine, world, clock)
    login(client, world.coord_a)
    page = client.get("/alerts").text
    assert "No alert in the regions you follow." in page
    _subscribe(client)
    page = client.get("/alerts").text
    assert "KE-NBO, W47 2026: 200 blocked attempts, against a usual 19 a week." in page
    assert "KE-NBO, W47 2026: 12 tamper attempts, against a usual 0 a week." in page
    # Two rejections: a small count, hidden as on the dashboard.
    assert "KE-NBO, W47 2026: kiosks refused a blocklist feed &lt;5 times" in page
    assert f"KE-NBO: 1 kiosks silent for more than 7 days ({quiet.kiosk_id})." in page
    assert busy.kiosk_id not in page
    html = client.get("/").text
    assert 'id="alerts-title"' in html and "200 blocked attempts" in html
    alerts = client.get("/api/v1/indicators").json()["alerts"]
    assert [(a["kind"], a["value"]) for a in alerts] == [
        ("silent", None),
        ("blocked_jump", 200),
        ("tamper_jump", 12),
        ("feed_rejections", "<5"),
    ]
    assert alerts[0]["kiosks"] == [quiet.kiosk_id] and alerts[1]["usual"] == 19.0
    # Region B alone: not followed, no alert.
    assert client.get("/api/v1/indicators?region=SN-DKR").status_code == 404
    fr = client.get("/alerts?lang=fr").text
    assert "200 tentatives bloquées" in fr
    # Only jumps, silent after 90 days: the silent kiosk and the rejections are quiet.
    token = csrf_of(page)
    r = client.post(
        "/alerts",
        data={
            "csrf_token": token,
            "region": ["KE-NBO"],
            "days": ["90"],
            "subscribe": ["KE-NBO"],
            "jumps": ["KE-NBO"],
            "language": "en",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/alerts?lang=en").text
    assert "blocked attempts" in page and "silent" not in page.split("Alert settings")[0]
    assert "refused" not in page
    # Nothing subscribed: no alert.
    r = client.post(
        "/alerts",
        data={"csrf_token": token, "region": ["KE-NBO"], "days": ["7"], "language": "en"},
        follow_redirects=False,
    )
    assert "No alert in the regions you follow." in client.get("/alerts").text


def test_subscriptions_stay_within_the_grant(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    _fill(client, engine, world, clock)
    login(client, world.coord_b)
    # A coordinator of region B cannot follow region A, even by forging the form.
    _subscribe(client, "KE-NBO")
    assert "No alert in the regions you follow." in client.get("/alerts").text
    token = csrf_of(client.get("/alerts").text)
    bad = {"csrf_token": token, "region": ["SN-DKR"], "days": ["0"], "language": "en"}
    assert client.post("/alerts", data=bad).status_code == 400
    bad = {"csrf_token": "nope", "region": ["SN-DKR"], "days": ["7"], "language": "en"}
    assert client.post("/alerts", data=bad).status_code == 403


def test_weekly_digest_in_the_users_language(
    client: TestClient,
    engine: Engine,
    world: World,
    clock: Clock,
    settings: Settings,
    smtp: tuple[int, MailCollector],
) -> None:
    port, received = smtp
    _fill(client, engine, world, clock)
    login(client, world.coord_a)
    _subscribe(client, language="fr", digest="1")
    client.cookies.clear()
    login(client, world.coord_b)
    _subscribe(client, "SN-DKR", digest="1")  # no alert in region B: no e-mail
    mail = replace(
        settings,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="alerts@example.org",
    )
    now = int(clock())
    outcomes = send_digests(engine, mail, now, smtp_sender(mail))
    assert [(o.email, o.alerts, o.sent) for o in outcomes] == [
        (world.coord_a, 4, True),
        (world.coord_b, 0, False),
    ]
    (msg,) = received.messages
    assert msg["To"] == world.coord_a and msg["From"] == "alerts@example.org"
    assert msg["Content-Language"] == "fr"
    subject = str(email.header.make_header(email.header.decode_header(msg["Subject"])))
    assert subject == "Alertes sécurité des cybercafés, semaine S47 2026 : 4"
    body = mail_body(msg)
    assert "200 tentatives bloquées" in body
    assert "une liste de blocage <5 fois" in body  # small counts suppressed as on the page
    # Once a week: a second run the same week sends nothing, unless forced.
    assert not any(o.sent for o in send_digests(engine, mail, now + 3600, smtp_sender(mail)))
    assert len(received.messages) == 1
    send_digests(engine, mail, now + 3600, smtp_sender(mail), force=True)
    assert len(received.messages) == 2
    # Next week it goes out again, with that week's alerts: both kiosks silent now.
    later = now + 7 * 86400
    outcomes = send_digests(engine, mail, later, smtp_sender(mail))
    assert [(o.alerts, o.sent) for o in outcomes] == [(1, True), (0, False)]
    assert "2 postes silencieux depuis plus de 7 jours" in mail_body(received.messages[-1])
