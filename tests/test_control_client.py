"""The control API client against a small fake service on a loopback ephemeral port."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kiosk_agent.control_client import (
    ControlAuthError,
    ControlClient,
    ControlError,
    read_token,
)
from kiosk_agent.reporting.events import NoticeShown

TOKEN = "t0ken"
PIN = "4321"


class FakeService(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, dict[str, str], Any]]] = []

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.received.append((method, self.path, dict(self.headers), body))
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._reply(401, {"error": "bad token"})
        elif self.path.startswith("/v1/operator/") and self.headers.get("X-Operator-Pin") != PIN:
            self._reply(403, {"error": "wrong PIN"})
        elif self.path == "/v1/status":
            self._reply(200, {"state": "protected"})
        elif self.path.startswith("/v1/events?"):
            self._reply(
                200, {"next": 7, "events": [{"seq": 7, "type": "blocked", "category": "c"}]}
            )
        elif self.path == "/v1/operator/today":
            self._reply(200, {"counts": {"sessions": 3}})
        else:
            self._reply(200, {"ok": True})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")


@pytest.fixture
def server() -> Iterator[str]:
    FakeService.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeService)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_calls_carry_the_token_and_parse_answers(server: str) -> None:
    client = ControlClient(server, TOKEN)
    assert client.status() == {"state": "protected"}
    nxt, events = client.events(after=3, wait=0)
    assert nxt == 7 and events[0]["type"] == "blocked"
    client.post_event(NoticeShown("sw"))
    client.session_start()
    assert client.today(PIN) == {"counts": {"sessions": 3}}
    client.pause(PIN, minutes=15)
    methods = [(m, p.split("?")[0], b) for m, p, _, b in FakeService.received]
    assert ("POST", "/v1/events", {"type": "notice_shown", "locale": "sw"}) in methods
    assert ("POST", "/v1/session-start", {"trigger": "billing_hook"}) in methods
    assert ("POST", "/v1/operator/pause", {"pin": PIN, "minutes": 15}) in methods
    assert "after=3" in FakeService.received[1][1]


def test_wrong_token_and_wrong_pin_are_auth_errors(server: str) -> None:
    with pytest.raises(ControlAuthError, match="bad token"):
        ControlClient(server, "nope").status()
    with pytest.raises(ControlAuthError, match="wrong PIN") as info:
        ControlClient(server, TOKEN).update_now("0000")
    assert info.value.status == 403


def test_unreachable_service_is_a_control_error() -> None:
    with pytest.raises(ControlError, match="not reachable"):
        ControlClient("http://127.0.0.1:9", TOKEN, timeout=1).status()


def test_read_token(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="cannot read"):
        read_token(tmp_path)
    (tmp_path / "control.token").write_text(" abc\n")
    assert read_token(tmp_path) == "abc"
