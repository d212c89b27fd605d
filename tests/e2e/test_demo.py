"""`kiosk-agent demo` end to end, headless: the counts reach the coordinator's dashboard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

from kiosk_agent.demo.run import CUSTOMERS, DEMO_LOGIN, DEMO_REGION, have_module, region_counts
from tests.conftest import REPO_ROOT, cli_env, require

pytestmark = pytest.mark.slow

PARTS = {
    "regional_server.cli": "the regional server",
    "kiosk_agent.commands.feed_cmd": "feed building",
    "kiosk_agent.commands.service_cmd": "the service",
    "kiosk_agent.commands.enroll_cmd": "enrollment",
    "kiosk_agent.commands.report_cmd": "report upload",
}


def _dashboard_json(base: str) -> dict[str, object]:
    """Log in like a coordinator (CSRF token from the login form) and read the JSON."""
    s = requests.Session()
    s.trust_env = False  # loopback only, never a proxy from the environment
    page = s.get(f"{base}/login", timeout=10).text
    token = re.search(r'name="csrf_token"\s+value="([^"]+)"', page)
    assert token, "no csrf_token on the login page"
    email, password = DEMO_LOGIN
    r = s.post(
        f"{base}/login",
        data={"email": email, "password": password, "csrf_token": token.group(1)},
        timeout=10,
    )
    assert r.status_code == 200, r.status_code  # after the redirect to the dashboard
    data = s.get(f"{base}/api/v1/indicators", timeout=10).json()
    assert isinstance(data, dict)
    return data


def test_demo_headless_counts_reach_the_dashboard(tmp_path: Path) -> None:
    for module, part in PARTS.items():
        require(have_module(module), f"{part} ({module}) is not in this checkout yet")
    report_file = tmp_path / "demo.json"
    env = cli_env()
    env.pop("DISPLAY", None)  # headless: the notice is rendered as text
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_agent", "demo", "--exit-after", "120", "--no-window",
         "--port", "0", "--json", str(report_file), "--workdir", str(tmp_path / "demo")],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not report_file.exists():
            assert proc.poll() is None, proc.communicate()[0][-4000:]
            assert time.monotonic() < deadline, "the demo did not finish its script in 240 s"
            time.sleep(0.5)
        time.sleep(0.2)  # the file is written in one go; let the writer close it
        report = json.loads(report_file.read_text())
        assert report["skipped"] == [], report["skipped"]
        assert report["leaked"] == []  # no listed name ever reached the upstream
        assert report["resolver_ready_seconds"] < 10
        blocked = [n for n in report["names"] if n["blocked"]]
        assert len(blocked) == 2 * CUSTOMERS
        assert {n["name"] for n in report["names"] if not n["blocked"]} >= {"news.example"}

        counts = region_counts(_dashboard_json(report["dashboard"].rstrip("/")), DEMO_REGION[0])
        assert report["blocked_attempts"] == 2 * CUSTOMERS + 1  # + the demo's list check
        # The dashboard publishes perturbed counts (cell key method, noise at most 3)
        # and "<5" below 5: one kiosk is "<5".
        assert _near(counts.get("sessions"), CUSTOMERS), counts
        assert _near(counts.get("blocked"), report["blocked_attempts"]), counts
        assert counts.get("kiosks_enrolled") == "<5", counts
        # Before perturbation, in the server's database: exactly what the kiosk did, and
        # the list the terminal said was applied is the one the server published.
        exact = _exact_figures(tmp_path / "demo" / "server" / "server.sqlite")
        assert exact["sessions"] == CUSTOMERS, exact
        assert exact["blocked"] == report["blocked_attempts"], exact
        assert exact["kiosks_enrolled"] == 1 and exact["kiosks_on_newest"] == 1, exact
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops what it started
        out = proc.communicate(timeout=60)[0]
    assert "demo stopped" in out, out[-3000:]
    assert _processes_from(tmp_path / "demo") == ""


def _near(shown: object, exact: int, noise: int = 3) -> bool:
    """``shown`` is ``exact`` give or take the noise, or hidden ("<5") when that is small."""
    if shown == "<5":
        return exact - noise < 5
    return isinstance(shown, int) and abs(shown - exact) <= noise


def _exact_figures(database: Path) -> dict[str, int]:
    """The demo region's figures before perturbation, from the server's database."""
    from sqlalchemy import create_engine

    from regional_server.indicators import family_totals
    from regional_server.rollup import weeks_between
    from regional_server.store.kiosks import kiosk_overview
    from regional_server.store.regions import get_region
    from regional_server.store.rollups import totals_by_region

    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            region = get_region(conn, DEMO_REGION[0])
            assert region is not None
            ids = frozenset({region.id})
            weeks = weeks_between(date.today() - timedelta(days=30), date.today() + timedelta(1))
            cells = totals_by_region(conn, ids, weeks[0], weeks[-1]).get(region.id, {})
            cov = kiosk_overview(conn, ids, int(time.time())).coverage[region.id]
    finally:
        engine.dispose()
    fam = family_totals({name: cell.value for name, cell in cells.items()})
    return {
        "sessions": fam["sessions"],
        "blocked": fam["blocked"],
        "kiosks_enrolled": cov.enrolled.value,
        "kiosks_on_newest": cov.on_newest.value,
    }


def _processes_from(workdir: Path) -> str:
    """Processes still running from the demo's folder (there must be none)."""
    left = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(workdir) in cmdline:
            left.append(f"{pid}: {cmdline}")
    return "\n".join(left)
