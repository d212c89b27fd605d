"""The national view with two real servers: a child (kiosks, reports) and a parent, each
``kiosk-server serve`` in its own process with its own data folder, on loopback.

The child pushes with ``kiosk-server push-parent``; the parent pins the child's key
(``register-child``) and the regions it may push for.
"""

from __future__ import annotations

import base64
import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine

from kiosk_agent.contracts.report import EnrollRequest, Report, signing_string
from kiosk_agent.contracts.signed import public_key_string
from kiosk_agent.net.ports import free_port
from regional_server.db.engine import make_engine
from regional_server.db.migrate import upgrade
from regional_server.national.collect import collect_push, pushed_weeks
from regional_server.national.payload import (
    HEADER_KEY,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PUSH_PATH,
    encode_push,
)
from regional_server.national.push import server_key
from regional_server.perturb import noise_table
from regional_server.settings import Settings
from regional_server.store.codes import create_code
from regional_server.store.ingest import store_report
from regional_server.store.kiosks import enroll
from regional_server.store.regions import create_region, get_region
from regional_server.store.tokens import create_token
from regional_server.store.users import create_user, credentials
from tests.conftest import REPO_ROOT, cli_env
from tests.regional_server.helpers import PASSWORD, csrf_of
from tests.regional_server.seed import seed

WEEKLY_SAME = ("sessions", "notices_shown", "notices_acknowledged", "ack_rate", "tamper", "p2p")


@dataclass
class Server:
    data: Path
    engine: Engine
    base: str
    token: str
    proc: subprocess.Popen[bytes]


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "regional_server", "--data-dir", str(data), *args],
        env=cli_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _start(data: Path, email: str, role: str, regions: list[str]) -> Server:
    engine = make_engine(Settings(data_dir=data, sqlite_synchronous="NORMAL"))
    upgrade(engine)
    now = int(time.time())
    with engine.begin() as conn:
        for code in regions:
            if get_region(conn, code) is None:
                create_region(conn, code, {"KE-NBO": "Nairobi"}.get(code, "Mombasa"), "KE", now)
        create_user(conn, email, PASSWORD, role, regions, now, 2**10)
        cred = credentials(conn, email)
        assert cred
        token = create_token(conn, cred[0], "test", now)
    env = cli_env()
    env["KIOSK_SERVER_DATA"] = str(data)
    port = free_port()
    with (data / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "regional_server", "serve", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx2.get(f"{base}/login", timeout=2)
            break
        except httpx2.TransportError:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
    return Server(data, engine, base, token, proc)


def _one_small_kiosk(engine: Engine, code: str, now: int) -> None:
    """One kiosk with one day of small counts: its figures are hidden on the child."""
    with engine.begin() as conn:
        region = get_region(conn, code)
        assert region is not None
        enroll_code = create_code(conn, region.id, 1, now + 86400, now, None)
        key = "ed25519:" + base64.b64encode(secrets.token_bytes(32)).decode()
        kiosk = enroll(conn, EnrollRequest(enroll_code, key, "Small Café", "0.1.0"), now)
        day = datetime.fromtimestamp(now - 86400, UTC).replace(hour=0, minute=0, second=0)
        report = Report(
            str(uuid.uuid4()), kiosk.kiosk_id, day, 1, {"sessions.login": 2}, "0.1.0", {}
        )
        store_report(conn, report, region.id, region.country, now)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    child_dir, parent_dir = tmp_path / "child", tmp_path / "parent"
    started: list[Server] = []
    try:
        child_engine = make_engine(Settings(data_dir=child_dir, sqlite_synchronous="NORMAL"))
        upgrade(child_engine)
        now = int(time.time())
        with child_engine.begin() as conn:
            create_region(conn, "KE-NBO", "Nairobi", "KE", now)
            create_region(conn, "KE-MSA", "Mombasa", "KE", now)
        seed(child_engine, "KE-NBO", now, weeks=4, kiosks=8)
        _one_small_kiosk(child_engine, "KE-MSA", now)
        child_engine.dispose()
        started.append(_start(child_dir, "coord@example.org", "coordinator", ["KE-NBO"]))
        started.append(_start(parent_dir, "national@example.org", "admin", []))
        yield started[0], started[1]
    finally:
        for s in started:
            s.proc.terminate()
            s.proc.wait(timeout=20)
            s.engine.dispose()


def _indicators(server: Server, **params: str) -> dict:  # type: ignore[type-arg]
    r = httpx2.get(
        f"{server.base}/api/v1/indicators",
        params=params,
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    data: dict = r.json()  # type: ignore[type-arg]
    return data


def _rows(data: dict, table: str) -> dict[str, dict]:  # type: ignore[type-arg]
    t = data["tables"][table]
    return {r["key"]: r["values"] for r in [*t["rows"], t["total"]]}


def _post(base: str, body: bytes, sign: Callable[[bytes], bytes], public: str) -> httpx2.Response:
    ts = int(time.time())
    signature = base64.b64encode(sign(signing_string("POST", PUSH_PATH, ts, body)))
    return httpx2.post(
        base + PUSH_PATH,
        content=body,
        headers={
            HEADER_KEY: public,
            HEADER_TIMESTAMP: str(ts),
            HEADER_SIGNATURE: signature.decode(),
        },
        timeout=30,
    )


def test_push_to_a_parent(servers: tuple[Server, Server]) -> None:
    child, parent = servers
    key_out = _cli(child.data, "server-key")
    assert key_out.returncode == 0, key_out.stderr
    child_key = key_out.stdout.strip()
    assert re.fullmatch(r"ed25519:[A-Za-z0-9+/]{43}=", child_key)
    assert _cli(child.data, "server-key").stdout.strip() == child_key  # made once, then kept
    assert (child.data / "server-key.pem").stat().st_mode & 0o077 == 0

    # Registered for Nairobi only: Mombasa is refused, Nairobi stored.
    reg = _cli(parent.data, "register-child", "kenya-1", "--key", child_key, "--region", "KE-NBO")
    assert reg.returncode == 0, reg.stderr
    pushed = _cli(child.data, "push-parent", "--parent", parent.base, "--attempts", "1")
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    assert "KE-NBO: stored" in pushed.stdout
    assert "KE-MSA: refused, 403" in pushed.stdout and "region_not_allowed" in pushed.stdout

    _first, last = pushed_weeks(int(time.time()), 8)
    period = {"from": (last - timedelta(weeks=3)).isoformat(), "to": str(last + timedelta(6))}
    national = _indicators(parent, **period)
    assert national["filters"]["regions"] == ["KE-NBO"]
    assert national["pushed_regions"] == {"KE-NBO": "kenya-1"}
    regional = _indicators(child, region="KE-NBO", **period)
    # The parent's weeks are the child's published weeks, figure for figure (noise and
    # all: the child perturbed them once, the parent adds none).
    parent_weeks, child_weeks = _rows(national, "weekly"), _rows(regional, "weekly")
    for week, values in child_weeks.items():
        if week == "total":
            continue
        assert {k: parent_weeks[week][k] for k in WEEKLY_SAME} == {
            k: values[k] for k in WEEKLY_SAME
        }, week
    # Completeness too (pushed per week): the child's published weeks, figure for figure.
    parent_done = {r["key"]: r["values"] for r in national["completeness"]["rows"]}
    child_done = {r["key"]: r["values"] for r in regional["completeness"]["rows"]}
    assert parent_done == child_done
    assert any(
        isinstance(v["kiosks_expected"], int) and v["kiosks_expected"] > 0
        for v in parent_done.values()
    )
    assert isinstance(parent_weeks["total"]["sessions"], int)
    assert parent_weeks["total"]["sessions"] > 1000
    before = _rows(national, "regions")["KE-NBO"]

    # Registered for the whole country now: both regions, and Nairobi again replaces
    # its weeks instead of adding to them.
    reg = _cli(parent.data, "register-child", "kenya-1", "--key", child_key, "--country", "KE")
    assert reg.returncode == 0, reg.stderr
    pushed = _cli(child.data, "push-parent", "--parent", parent.base, "--attempts", "1")
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "KE-NBO: stored" in pushed.stdout and "KE-MSA: stored" in pushed.stdout
    national = _indicators(parent, **period)
    regions = _rows(national, "regions")
    assert regions["KE-NBO"] == before
    assert set(regions) == {"KE-NBO", "KE-MSA", "total"}
    countries = _rows(national, "countries")
    assert set(countries) == {"KE", "total"}
    msa = regions["KE-MSA"]
    assert msa["kiosks_enrolled"] == "<5"  # one kiosk: hidden on the child, so here
    assert countries["KE"]["kiosks_enrolled"] == before["kiosks_enrolled"]

    # The same push sent twice is counted once; a forged or unknown signature is refused.
    with child.engine.connect() as conn:
        region = get_region(conn, "KE-NBO")
        assert region is not None
        push = collect_push(conn, region, int(time.time()), 8, noise_table(), 5)
    body = encode_push(push)
    sign = server_key(child.data).sign  # the child's own key, as push-parent signs
    assert _post(parent.base, body, sign, child_key).json()["status"] == "stored"
    assert _post(parent.base, body, sign, child_key).json()["status"] == "duplicate"
    assert _rows(_indicators(parent, **period), "regions")["KE-NBO"] == before
    other = Ed25519PrivateKey.generate()
    forged = _post(parent.base, body, other.sign, child_key)
    assert forged.status_code == 401 and forged.json()["error"] == "bad_signature"
    stranger = Ed25519PrivateKey.generate()
    stranger_pub = public_key_string(
        stranger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    )
    unknown = _post(parent.base, body, stranger.sign, stranger_pub)
    assert unknown.status_code == 401 and unknown.json()["error"] == "unknown_server"

    # The parent's page shows the child's regions and the country, side by side.
    with httpx2.Client(base_url=parent.base, timeout=60) as web:
        page = web.get("/login")
        r = web.post(
            "/login",
            data={
                "email": "national@example.org",
                "password": PASSWORD,
                "csrf_token": csrf_of(page.text),
            },
        )
        html = web.get("/", params=period).text
    assert r.status_code in (200, 303)
    assert "Nairobi" in html and "Mombasa" in html and "kenya-1" not in html
    assert "Countries" in html and "come from other regional servers" in html
    assert "are followed on their own regional servers" in html
    assert "Every kiosk has reported" not in html  # the parent cannot know it

    # The parent down: the push says so and exits 75 for its timer to run it again.
    down = _cli(child.data, "push-parent", "--parent", f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 75, down.stdout + down.stderr
    assert "not pushed, cannot reach the parent" in down.stdout
