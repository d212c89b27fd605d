"""Completeness, retiring, alerts and the digest against a real ``kiosk-server serve``
process and a real SMTP server (aiosmtpd on loopback), set up with the CLI as an
administrator would. Figures are perturbed here (the settings' noise, at least 1), so
counts are checked within the noise."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kiosk_agent.contracts.report import encode_body
from kiosk_agent.net.ports import free_port
from regional_server.rollup import week_label, week_start
from tests.conftest import REPO_ROOT, cli_env
from tests.regional_server.helpers import (
    PASSWORD,
    Kiosk,
    MailCollector,
    csrf_of,
    mail_body,
    make_report,
    signed_headers,
)


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    r = subprocess.run(
        [sys.executable, "-m", "regional_server", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture
def server(tmp_path: Path, smtp: tuple[int, MailCollector]) -> Iterator[tuple[str, dict[str, str]]]:
    config = tmp_path / "server.yaml"
    config.write_text(
        "data_dir: data\n"
        "noise_max: 1\n"
        "noise_variance: 0.5\n"
        "smtp_host: 127.0.0.1\n"
        f"smtp_port: {smtp[0]}\n"
        "smtp_security: none\n"
        "smtp_from: alerts@example.org\n",
        encoding="utf-8",
    )
    env = cli_env()
    for key in ("KIOSK_SERVER_DB", "KIOSK_SERVER_DATA"):
        env.pop(key, None)
    env["KIOSK_SERVER_CONFIG"] = str(config)
    _run(["init-db"], env)
    _run(["create-region", "KE-NBO", "Nairobi", "--country", "KE"], env)
    _run(["create-user", "admin@example.org", "--role", "admin"], env, PASSWORD + "\n")
    _run(
        ["create-user", "c@example.org", "--role", "coordinator", "--region", "KE-NBO"],
        env,
        PASSWORD + "\n",
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "regional_server", "serve", "--port", str(port)],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx2.get(f"{base}/login", timeout=2)
                break
            except httpx2.TransportError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        yield base, env
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr:
            proc.stderr.close()


@contextmanager
def _login(base: str, user: str) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=base, timeout=30) as c:
        token = csrf_of(c.get("/login").text)
        r = c.post("/login", data={"email": user, "password": PASSWORD, "csrf_token": token})
        assert r.status_code in (200, 303), r.text
        yield c


def _upload(base: str, kiosk: Kiosk, counts: dict[str, int], day: datetime) -> None:
    body = encode_body(make_report(kiosk, counts, day=day))
    headers = signed_headers(kiosk, body, int(time.time()))
    r = httpx2.post(f"{base}/api/v1/reports", content=body, headers=headers, timeout=30)
    assert r.status_code == 201, r.text


def _near(value: Any, exact: int) -> bool:
    return isinstance(value, int) and abs(value - exact) <= 1


def test_completeness_alerts_and_digest_with_real_processes(
    server: tuple[str, dict[str, str]], smtp: tuple[int, MailCollector]
) -> None:
    base, env = server
    code = _run(
        ["create-enrollment-code", "--region", "KE-NBO", "--uses", "10", "--expires", "1d"], env
    ).strip()
    kiosks = []
    for i in range(8):
        k = Kiosk(Ed25519PrivateKey.generate())
        r = httpx2.post(
            f"{base}/api/v1/enroll",
            json={"code": code, "public_key": k.public_key, "cafe_name": f"Café {i}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        k.kiosk_id = r.json()["kiosk_id"]
        kiosks.append(k)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    this_week = week_start(today.date())
    last = datetime.combine(this_week - timedelta(weeks=1), datetime.min.time(), UTC)
    # Eight usual weeks of about 30 blocked attempts, then 300 in the last complete week.
    for back in range(8, 0, -1):
        _upload(base, kiosks[0], {"blocked.malware": 30 + back % 3}, last - timedelta(weeks=back))
    _upload(base, kiosks[0], {"blocked.malware": 300, "feeds.rejected.expired": 7}, last)
    for k in kiosks:  # every kiosk reports this week
        _upload(base, k, {"sessions.login": 20}, today)

    with _login(base, "c@example.org") as coord, _login(base, "admin@example.org") as admin:
        token = csrf_of(coord.get("/alerts").text)
        r = coord.post(
            "/alerts",
            data={
                "csrf_token": token,
                "region": ["KE-NBO"],
                "days": ["7"],
                "subscribe": ["KE-NBO"],
                "jumps": ["KE-NBO"],
                "feeds": ["KE-NBO"],
                "language": "pt",
                "digest": "1",
            },
        )
        assert r.status_code in (200, 303)
        page = coord.get("/alerts?lang=en").text
        assert re.search(r"KE-NBO, W\d+ \d{4}: (299|300|301) blocked attempts", page)
        assert 'class="alert-feed_rejections"' in page
        assert 'id="alerts-title"' in coord.get("/").text

        def current() -> dict[str, Any]:
            table = coord.get("/api/v1/indicators").json()["completeness"]
            rows = {row["key"]: row["values"] for row in table["rows"]}
            values: dict[str, Any] = rows[week_label(this_week)]
            return values

        now = current()
        assert _near(now["kiosks_expected"], 8) and _near(now["reports_received"], 8)
        assert _near(now["reports_on_time"], 8)  # the week has not ended yet

        token = csrf_of(admin.get("/admin/kiosks").text)
        r = admin.post(f"/admin/kiosks/{kiosks[7].kiosk_id}/retire", data={"csrf_token": token})
        assert r.status_code in (200, 303)
        after = current()
        assert _near(after["kiosks_expected"], 7) and _near(after["reports_received"], 7)

    out = _run(["send-digest"], env)
    assert "c@example.org: 2 alerts, sent" in out, out
    (msg,) = smtp[1].messages
    assert msg["To"] == "c@example.org" and msg["Content-Language"] == "pt"
    body = mail_body(msg)
    assert "tentativas bloqueadas" in body and "recusaram uma lista de bloqueio" in body
    assert "already sent this week" in _run(["send-digest"], env)
    assert len(smtp[1].messages) == 1
