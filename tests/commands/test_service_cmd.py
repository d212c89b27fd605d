"""`kiosk-agent service` and `kiosk-agent status` as an operator runs them."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import pytest

from kiosk_agent.config import HostPort
from kiosk_agent.net.ports import free_port
from tests.conftest import REPO_ROOT, cli_env, run_cli
from tests.filter.resolver.helpers import ScriptedUpstream, ask


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    up = ScriptedUpstream()
    up.start()
    yield up
    up.stop()


def write_config(
    tmp: Path, upstream: HostPort, extra: str = "", feeds: str = ""
) -> tuple[Path, HostPort]:
    dns_port, control_port = free_port(), free_port()
    config = tmp / "agent.yaml"
    config.write_text(
        f"""
state_dir: {tmp / "state"}
{extra}
filter:
  listen: ["127.0.0.1:{dns_port}"]
  upstreams: ["{upstream}"]
  upstream_timeout: 1s
{feeds}
control:
  listen: "127.0.0.1:{control_port}"
"""
    )
    return config, HostPort("127.0.0.1", dns_port)


def test_service_answers_reports_status_and_stops_on_sigterm(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    config, dns_addr = write_config(tmp_path, upstream.address)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_agent", "service", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "running" in line, proc.stderr.read() if proc.stderr else ""
        assert ask(dns_addr, "www.example.test").answer[0][0].address == "192.0.2.1"
        assert ask(dns_addr, "use-application-dns.net").rcode() == dns.rcode.NXDOMAIN

        done = run_cli(["status", "--config", str(config), "--json"])
        status = json.loads(done.stdout)
        assert status["filter"]["answering"] is True
        assert status["filter"]["queries_answered"] >= 2
        assert status["protected"] is False  # no feed configured: said plainly
        assert "no blocklist feed is configured" in status["problems"]

        words = run_cli(["status", "--config", str(config)])
        assert words.returncode == 2
        assert words.stdout.startswith("NOT protected: no blocklist feed is configured")
        assert f"Upstream DNS {upstream.address}: working" in words.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "stopped" in err
    assert "Traceback" not in err


def test_status_without_a_service_says_so(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path, HostPort("127.0.0.1", 9))
    done = run_cli(["status", "--config", str(config)])
    assert done.returncode == 3
    assert "does not seem to be running" in done.stderr


def test_service_reports_a_taken_port_plainly(tmp_path: Path) -> None:
    import socket

    config, dns_addr = write_config(tmp_path, HostPort("127.0.0.1", 9))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((dns_addr.host, dns_addr.port))
        start = time.monotonic()
        done = run_cli(["service", "--config", str(config)], timeout=30)
    assert time.monotonic() - start < 20
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_protected_with_a_feed_and_operator_actions(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    from kiosk_agent.config import load_config
    from kiosk_agent.contracts import manifest
    from kiosk_agent.service.control_client import ControlAuthError, ControlClient
    from kiosk_agent.service.pin import hash_pin
    from tests.filter.feed_helpers import keypair
    from tests.filter.test_updater import entries, full

    priv, pub = keypair()
    feed_dir = tmp_path / "feed"
    manifest.publish(feed_dir, [full(priv, entries("blocked.test"), 1)])
    feeds = f"""  feeds:
    - url: {feed_dir.as_uri()}
      trust: ["{pub}"]"""
    pin = hash_pin("2468", n=2**10)
    config, dns_addr = write_config(
        tmp_path, upstream.address, extra=f'operator: {{pin_scrypt: "{pin}"}}', feeds=feeds
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_agent", "service", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO_ROOT,
    )
    try:
        assert proc.stdout is not None
        assert "running" in proc.stdout.readline()
        client = ControlClient.from_config(load_config(config))
        deadline = time.monotonic() + 20
        while not client.status()["protected"] and time.monotonic() < deadline:
            time.sleep(0.1)
        status = client.status()
        assert status["protected"] is True, status["problems"]
        assert status["filter"]["index_entries"] == 1
        assert ask(dns_addr, "www.blocked.test").rcode() == dns.rcode.NXDOMAIN
        words = run_cli(["status", "--config", str(config)])
        assert words.returncode == 0
        assert words.stdout.startswith("Protected, list updated less than a minute ago.")
        assert "List hotline: version 1" in words.stdout

        with pytest.raises(ControlAuthError):
            client.pause("0000", minutes=1)
        client.pause("2468", minutes=1)
        assert ask(dns_addr, "www.blocked.test").rcode() == 0  # paused: passes through
        status = client.status()
        assert status["protected"] is False
        assert "paused" in status["problems"][0]
        _, events = client.events(0, wait=0)
        assert any(e.get("type") == "tamper" and e.get("kind") == "operator_pause" for e in events)
        assert client.update_now("2468")["status"] == "update started"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def _start_service(config: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_agent", "service", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=REPO_ROOT,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "running" in line, proc.stderr.read() if proc.stderr else ""
    return proc


def test_a_killed_service_counts_service_stopped_once(
    tmp_path: Path, upstream: ScriptedUpstream
) -> None:
    """Issue 15: killed (not a clean stop, not the PC shutting down) in this boot."""
    from kiosk_agent.config import load_config
    from kiosk_agent.service.control_client import ControlClient
    from kiosk_agent.service.pin import hash_pin

    if not Path("/proc/sys/kernel/random/boot_id").exists():
        pytest.skip("no boot id on this system")
    pin = hash_pin("2468", n=2**10)
    config, _ = write_config(tmp_path, upstream.address, extra=f'operator: {{pin_scrypt: "{pin}"}}')

    def counts() -> dict[str, int]:
        client = ControlClient.from_config(load_config(config))
        today = client.today("2468")
        return {k: v for k, v in today["counts"].items() if k.startswith("tamper.")}

    first = _start_service(config)
    try:
        assert counts() == {}  # a first start is not tamper
    finally:
        first.kill()
        first.communicate(timeout=20)
    second = _start_service(config)
    try:
        assert counts() == {"tamper.service_stopped": 1}
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)
