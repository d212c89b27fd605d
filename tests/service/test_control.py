"""The control API over real loopback HTTP: token, status, event long poll, UI events,
session signals, operator actions with PIN and lockout."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.config import Config as AgentConfig
from kiosk_agent.config import ControlConfig, HostPort, OperatorConfig
from kiosk_agent.net.http_server import HttpError
from kiosk_agent.net.ports import free_port
from kiosk_agent.reporting.events import (
    Blocked,
    Event,
    NoticeFeedback,
    NoticeShown,
    OperatorAction,
    TamperDetected,
)
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.service.control import ControlServer
from kiosk_agent.service.control_token import TOKEN_FILE

PIN_HASH = "scrypt$test"


def fake_verify(pin: str, stored: str | None) -> bool:
    return stored == PIN_HASH and pin == "2468"


class FakeResolver:
    name = "resolver"

    def __init__(self) -> None:
        self.paused: list[float] = []

    def pause(self, minutes: float) -> float:
        self.paused.append(minutes)
        return 123.0

    def status(self) -> dict[str, object]:
        return {"answering": True}


class Api:
    def __init__(self, tmp: Path) -> None:
        port = free_port()
        config = AgentConfig(
            state_dir=tmp,
            control=ControlConfig(HostPort("127.0.0.1", port)),
            operator=OperatorConfig(pin_scrypt=PIN_HASH),
        )
        self.ctx = ServiceContext(config)
        self.resolver = FakeResolver()
        self.ctx.components["resolver"] = self.resolver  # type: ignore[assignment]
        self.server = ControlServer(
            self.ctx, lambda: {"protected": True, "summary": "Protected."}, pin_verify=fake_verify
        )
        self.base = f"http://127.0.0.1:{port}"
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Api:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(5)
        self.token = (self.ctx.state_dir / TOKEN_FILE).read_text().strip()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        h = {"Authorization": f"Bearer {self.token if token is None else token}", **(headers or {})}
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data, h, method=method)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with Api(tmp_path) as a:
        yield a


def test_token_is_required(api: Api) -> None:
    assert api.call("GET", "/v1/status", token="wrong")[0] == 401
    assert api.call("GET", "/v1/status", token="")[0] == 401
    status, body = api.call("GET", "/v1/status")
    assert status == 200 and body["protected"] is True
    assert api.call("GET", "/v1/nothing")[0] == 404
    assert api.call("DELETE", "/v1/status")[0] == 405


def test_ui_running_from_its_events_long_poll(api: Api) -> None:
    """The notices program keeps an events long poll open: that is how the service (and
    the café hub's console) knows it runs."""
    from kiosk_agent.service.control import UI_SILENT

    server = api.server
    start = server.started
    assert server.ui_running(start + 1) is None  # just started: not known yet
    assert server.ui_running(start + UI_SILENT + 1) is False
    poll = threading.Thread(target=api.call, args=("GET", "/v1/events?after=0&wait=2"))
    poll.start()
    deadline = time.monotonic() + 5
    while server._ui_polls == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.ui_running(start + UI_SILENT + 1) is True  # a poll is open
    poll.join(10)
    ended = time.monotonic()
    assert server.ui_running(ended + 1) is True  # between two polls
    assert server.ui_running(ended + UI_SILENT + 1) is False  # silent since


def test_events_long_poll_and_ui_events(api: Api) -> None:
    _status, body = api.call("GET", "/v1/events?after=0&wait=0")
    assert body == {"next": 0, "events": []}

    def later() -> None:
        time.sleep(0.3)
        api.ctx.bus.publish(Blocked("csam"))  # from another thread, like the resolver's

    threading.Thread(target=later).start()
    start = time.monotonic()
    _status, body = api.call("GET", "/v1/events?after=0&wait=5")
    assert 0.2 < time.monotonic() - start < 4
    assert body["events"] == [{"seq": 1, "type": "blocked", "category": "csam"}]
    assert body["next"] == 1

    seen: list[Event] = []
    api.ctx.bus.subscribe(seen.append)
    assert api.call("POST", "/v1/events", {"type": "notice_shown", "locale": "sw"})[0] == 200
    assert seen == [NoticeShown("sw")]
    # the UI may not forge filter counts, nor send junk
    assert api.call("POST", "/v1/events", {"type": "blocked", "category": "x"})[0] == 403
    assert api.call("POST", "/v1/events", {"type": "notice_shown"})[0] == 400
    # Feedback under a tip: accepted only in the counter vocabulary (tip id, verdict).
    good = {"type": "notice_feedback", "locale": "sw", "tip": "t03", "verdict": "helpful"}
    assert api.call("POST", "/v1/events", good)[0] == 200
    assert seen[-1] == NoticeFeedback("sw", "t03", "helpful")
    for bad in ({"tip": "t99"}, {"verdict": "love"}, {"tip": "blocked.evil"}):
        assert api.call("POST", "/v1/events", {**good, **bad})[0] == 400
    assert api.call("POST", "/v1/session-start", {"trigger": "billing_hook"})[0] == 200
    assert api.call("POST", "/v1/session-start", {"trigger": "nonsense"})[0] == 400
    _, body = api.call("GET", "/v1/events?after=1&wait=0")
    types = [e["type"] for e in body["events"]]
    assert types == ["notice_shown", "notice_feedback", "session_signal"]
    assert body["events"][2]["trigger"] == "billing_hook"
    assert body["next"] == 4


def test_operator_actions_need_the_pin(api: Api) -> None:
    seen: list[Event] = []
    api.ctx.bus.subscribe(seen.append)
    assert api.call("POST", "/v1/operator/pause", {"pin": "0000", "minutes": 10})[0] == 403
    status, body = api.call("POST", "/v1/operator/pause", {"pin": "2468", "minutes": 10})
    assert status == 200 and body["status"] == "paused"
    assert api.resolver.paused == [10]
    # no updater configured, no reporting: plain-words 503s
    status, body = api.call("POST", "/v1/operator/update-now", {"pin": "2468"})
    assert status == 503 and "feed" in body["error"]
    api.ctx.bus.publish(Blocked("csam"))
    api.ctx.bus.publish(NoticeShown("sw"))
    status, body = api.call("GET", "/v1/operator/today", headers={"X-Operator-Pin": "2468"})
    assert status == 200
    assert body["counts"] == {
        "blocked.csam": 1,
        "notices.shown.sw": 1,
        "tamper.pin_refused": 1,
        "operator.pause": 1,
        "operator.update_now": 1,
        "operator.today": 1,
    }
    assert api.call("GET", "/v1/operator/today", headers={"X-Operator-Pin": "1"})[0] == 403
    # the fake resolver publishes none; every refused PIN and operator action is counted
    assert seen == [
        TamperDetected("pin_refused"),
        OperatorAction("pause"),
        OperatorAction("update_now"),
        Blocked("csam"),
        NoticeShown("sw"),
        OperatorAction("today"),
        TamperDetected("pin_refused"),
    ]


def test_wrong_pins_lock_out(api: Api) -> None:
    for _ in range(5):
        assert api.call("POST", "/v1/operator/pause", {"pin": "1111"})[0] == 403
    status, _body = api.call("POST", "/v1/operator/pause", {"pin": "2468"})
    assert status == 429


def test_resolver_pause_counts_as_tamper(tmp_path: Path) -> None:
    from kiosk_agent.config import FilterConfig
    from kiosk_agent.filter.resolver.component import ResolverComponent

    async def main() -> None:
        config = AgentConfig(
            state_dir=tmp_path, filter=FilterConfig(listen=(HostPort("127.0.0.1", 0),))
        )
        ctx = ServiceContext(config)
        seen: list[Event] = []
        ctx.bus.subscribe(seen.append)
        comp = ResolverComponent(ctx, lambda: None, upstreams=[])
        await comp.start()
        try:
            comp.pause(5)
            assert not comp.switch.on and comp.status()["paused_until"]
            comp.resume()
            assert comp.switch.on
        finally:
            await comp.stop()
        assert seen == [TamperDetected("operator_pause")]

    asyncio.run(main())


def test_real_scrypt_pin_hash(tmp_path: Path) -> None:
    from kiosk_agent.service.control import PinGuard
    from kiosk_agent.service.pin import hash_pin

    guard = PinGuard(hash_pin("2468", n=2**10))
    asyncio.run(guard.check("2468"))
    with pytest.raises(HttpError):
        asyncio.run(guard.check("1357"))
    with pytest.raises(HttpError):
        asyncio.run(PinGuard(None).check("2468"))


async def _raw_calls(port: int, token: str, pins: list[str]) -> list[int]:
    """Open one connection per PIN first, then send every request at once (issue 15)."""
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in pins]
    for (_reader, writer), pin in zip(conns, pins, strict=True):
        body = json.dumps({"pin": pin, "minutes": 5}).encode()
        writer.write(
            b"POST /v1/operator/pause HTTP/1.1\r\nHost: x\r\n"
            + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    statuses = []
    for reader, writer in conns:
        head = await reader.read()
        statuses.append(int(head.split(b" ", 2)[1]))
        writer.close()
    return statuses


def test_concurrent_wrong_pins_cannot_race_the_lockout(tmp_path: Path) -> None:
    verified: list[str] = []
    active = [0, 0]  # now, most at once

    def slow_verify(pin: str, stored: str | None) -> bool:
        active[0] += 1
        active[1] = max(active)
        verified.append(pin)
        time.sleep(0.005)
        active[0] -= 1
        return fake_verify(pin, stored)

    with Api(tmp_path) as api:
        api.server.pins._verify = slow_verify
        seen: list[Event] = []
        api.ctx.bus.subscribe(seen.append)
        port = api.ctx.config.control.listen.port
        wrong = [f"{1000 + i}" for i in range(199)]
        statuses = asyncio.run(_raw_calls(port, api.token, [*wrong, "2468"]))
        assert len(verified) <= 5 and "2468" not in verified
        assert active[1] == 1  # one PIN at a time
        assert statuses.count(403) == len(verified)
        assert statuses.count(429) == 200 - len(verified) and statuses[-1] == 429
        assert api.resolver.paused == []
        assert seen.count(TamperDetected("pin_refused")) == 200
    # the lock survives a restart of the service
    with Api(tmp_path) as api:
        assert api.call("POST", "/v1/operator/pause", {"pin": "2468"})[0] == 429
    mode = (tmp_path / "pin-lock.json").stat().st_mode & 0o777
    assert mode == 0o600


def test_operator_unlock_clears_the_lock_for_the_running_service(tmp_path: Path) -> None:
    from kiosk_agent.service.pin_lock import clear_lock

    with Api(tmp_path) as api:
        seen: list[Event] = []
        api.ctx.bus.subscribe(seen.append)
        for _ in range(5):
            assert api.call("POST", "/v1/operator/pause", {"pin": "1111"})[0] == 403
        assert api.call("POST", "/v1/operator/pause", {"pin": "2468"})[0] == 429
        clear_lock(tmp_path)
        assert api.call("POST", "/v1/operator/pause", {"pin": "2468"})[0] == 200
        assert OperatorAction("unlock") in seen


def test_token_is_not_world_readable(api: Api) -> None:
    import os

    mode = (api.ctx.state_dir / TOKEN_FILE).stat().st_mode & 0o777
    # as root with the kiosk-agent group: 0640 root:kiosk-agent; otherwise owner only
    assert mode in (0o600, 0o640) and not mode & 0o007
    if os.geteuid() != 0:
        assert mode == 0o600


def test_forged_ui_events_are_rate_limited(api: Api) -> None:
    seen: list[Event] = []
    api.ctx.bus.subscribe(seen.append)
    statuses = [
        api.call("POST", "/v1/events", {"type": "session_started", "trigger": "login"})[0]
        for _ in range(1000)
    ]
    assert statuses.count(200) == len(seen) <= 5
    assert statuses.count(429) >= 995
    signals = [
        api.call("POST", "/v1/session-start", {"trigger": "billing_hook"})[0] for _ in range(50)
    ]
    assert signals.count(200) <= 5


def test_a_demo_config_allows_its_scripted_customers(tmp_path: Path) -> None:
    import dataclasses

    with Api(tmp_path) as api:
        pass
    demo = ServiceContext(dataclasses.replace(api.ctx.config, demo=True))
    server = ControlServer(demo, dict)
    assert server.limits["session_started"].capacity == 40
    assert ControlServer(api.ctx, dict).limits["session_started"].capacity == 4


def test_postpone_update_needs_the_pin_and_its_lockout(api: Api) -> None:
    from kiosk_agent.updates import release_state

    assert api.call("POST", "/v1/operator/postpone-update", {"pin": "0000"})[0] == 403
    assert release_state.postponed_until(api.ctx.state_dir) is None
    before = time.time()
    status, body = api.call("POST", "/v1/operator/postpone-update", {"pin": "2468"})
    assert status == 200 and body["status"] == "postponed"
    until = release_state.postponed_until(api.ctx.state_dir)
    assert until is not None
    assert until == body["until"] and before + 86000 < until < time.time() + 86401
    _, today = api.call("GET", "/v1/operator/today", headers={"X-Operator-Pin": "2468"})
    assert today["counts"]["operator.postpone_update"] == 1
    for _ in range(5):
        api.call("POST", "/v1/operator/postpone-update", {"pin": "1111"})
    assert api.call("POST", "/v1/operator/postpone-update", {"pin": "2468"})[0] == 429
