"""`kiosk-agent run`: service and UI in one process, on a private Xvfb, loopback only."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from kiosk_agent.net.ports import free_port
from tests.conftest import REPO_ROOT, cli_env
from tests.notices.xvfb import xvfb


def test_run_serves_dns_and_control_api_with_the_ui_then_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    dns_port, control_port, page_port = free_port(), free_port(), free_port()
    config = tmp_path / "agent.yaml"
    config.write_text(
        f"""
state_dir: {tmp_path / "state"}
filter:
  listen: ["127.0.0.1:{dns_port}"]
  upstreams: ["127.0.0.1:9"]
  upstream_timeout: 200ms
  blockpage_listen: "127.0.0.1:{page_port}"
notices: {{triggers: [billing_hook]}}
reporting: {{server: null}}
control: {{listen: "127.0.0.1:{control_port}"}}
"""
    )
    with xvfb() as display:
        env = {**cli_env(), "DISPLAY": display}
        proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk_agent", "run", "--config", str(config), "--no-tray"],
            env=env,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            token_file = tmp_path / "state" / "control.token"
            deadline = time.monotonic() + 30
            while not token_file.exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "service did not write its control token"
                time.sleep(0.1)
            # The DoH canary is answered by the bypass guard without any upstream.
            query = dns.message.make_query("use-application-dns.net", "A")
            answer = dns.query.udp(query, "127.0.0.1", port=dns_port, timeout=5)
            assert answer.rcode() == dns.rcode.NXDOMAIN
            request = urllib.request.Request(
                f"http://127.0.0.1:{control_port}/v1/status",
                headers={"Authorization": f"Bearer {token_file.read_text().strip()}"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                status = json.load(response)
            assert isinstance(status, dict) and "protected" in status
            assert proc.poll() is None, "the UI exited on its own"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _out, err = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                _out, err = proc.communicate()
        assert proc.returncode == 0, err
        assert "Traceback" not in err
