"""The control API client against a small fake service on a loopback ephemeral port."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.reporting.events import NoticeShown
from kiosk_agent.service.control_client import (
    ControlAuthError,
    ControlClient,
    ControlError,
    parse_response,
    read_token,
    split_base,
)

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


def test_parse_response_lengths_chunks_and_close() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra"
    assert parse_response(ok) == (200, b"{}")
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'3\r\n{"a\r\n4;x=1\r\n": 1\r\n1\r\n}\r\n0\r\n\r\n'
    )
    assert parse_response(chunked) == (200, b'{"a": 1}')
    assert parse_response(b"HTTP/1.0 404 Not Found\r\n\r\nnope") == (404, b"nope")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"HTTP/1.1 200 OK\r\n",
        b"SSH-2.0-x\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
    ],
)
def test_parse_response_rejects_malformed_answers(raw: bytes) -> None:
    with pytest.raises(ControlError):
        parse_response(raw)


@given(st.binary(max_size=300))
def test_parse_response_never_fails_otherwise(raw: bytes) -> None:
    with contextlib.suppress(ControlError):
        parse_response(raw)


@given(st.binary(max_size=200))
def test_parse_response_fuzzed_bodies_after_a_valid_head(body: bytes) -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    with contextlib.suppress(ControlError):
        parse_response(head + body)


def test_split_base() -> None:
    assert split_base("http://127.0.0.1:8053") == ("127.0.0.1", 8053)
    assert split_base("http://[::1]:8053/") == ("::1", 8053)
    with pytest.raises(ControlError):
        split_base("http://localhost")


def test_against_the_real_control_server(tmp_path: Path) -> None:
    from kiosk_agent.reporting.events import SessionStarted
    from tests.service.test_control import Api

    with Api(tmp_path) as api:
        published: list[object] = []
        api.ctx.bus.subscribe(published.append)
        client = ControlClient(api.base, read_token(tmp_path), timeout=5)
        assert client.status()["protected"] is True
        client.session_start("billing_hook")
        nxt, events = client.events(after=0, wait=2)
        assert {"type": "session_signal", "trigger": "billing_hook"}.items() <= events[-1].items()
        assert nxt == events[-1]["seq"]
        client.post_event(SessionStarted("billing_hook"))
        client.post_event(NoticeShown("sw"))
        assert SessionStarted("billing_hook") in published and NoticeShown("sw") in published
        with pytest.raises(ControlAuthError, match="wrong operator PIN"):
            client.pause("0000")
        assert client.pause("2468", 15)["status"] == "paused"
        assert api.resolver.paused == [15]
        with pytest.raises(ControlAuthError):
            ControlClient(api.base, "wrong-token").status()
        nxt, echoed = client.events(after=nxt, wait=0)  # the UI's own events come back too
        assert [e["type"] for e in echoed][:2] == ["session_started", "notice_shown"]
        start = time.monotonic()
        _nxt, quiet = client.events(after=nxt, wait=0.5)  # long poll with nothing new
        assert quiet == [] and time.monotonic() - start >= 0.4
