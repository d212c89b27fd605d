"""`kiosk-agent demo` end to end, headless: the counts reach the coordinator's dashboard."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
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
        assert counts.get("sessions") == CUSTOMERS, counts
        assert report["blocked_attempts"] == 2 * CUSTOMERS + 1  # + the demo's list check
        assert counts.get("blocked") == report["blocked_attempts"], counts
        assert counts.get("kiosks_enrolled") == 1, counts
        # The customers' "This helped" presses: UI event -> service -> counter
        # notices.feedback.helpful.sw.t01 -> signed report -> the region's row.
        assert counts.get("feedback_helpful") == CUSTOMERS, counts
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops what it started
        out = proc.communicate(timeout=60)[0]
    assert "demo stopped" in out, out[-3000:]
    assert _processes_from(tmp_path / "demo") == ""


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
