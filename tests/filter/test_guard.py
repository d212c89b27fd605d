"""The browser guard's API: prefixes in, a category out, counted once; loopback only."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.config import Config, HostPort
from kiosk_agent.filter.guard import (
    MAX_PREFIXES,
    GuardApi,
    GuardRequestError,
    GuardServer,
    RateLimiter,
    allowed_hosts,
    create_guard,
    guard_listen,
    parse_check,
    parse_head,
    parse_prefixes,
    suspect_hint,
)
from kiosk_agent.filter.index import IndexHolder
from kiosk_agent.filter.urls import expressions, host_expressions
from kiosk_agent.reporting.events import Blocked, Event
from kiosk_agent.service.context import ServiceContext
from tests.filter.proxy.test_real_index import open_index


def prefixes_of(url: str) -> str:
    return ",".join(hashlib.sha256(e.encode()).digest()[:8].hex() for e in expressions(url))


def head(path: str, *, guard: bool = True, host: str = "127.0.0.1:8054", extra: str = "") -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    if guard:
        lines.append("X-Kiosk-Guard: 1")
    return ("\r\n".join(lines) + "\r\n" + extra).encode()


def answer(raw: bytes) -> tuple[int, dict[str, object]]:
    head_part, _, body = raw.partition(b"\r\n\r\n")
    status = int(head_part.split(b" ")[1])
    return status, json.loads(body) if body.startswith(b"{") else {}


@pytest.fixture
def api(tmp_path: Path) -> tuple[GuardApi, list[Event], list[bool]]:
    holder = IndexHolder([open_index(tmp_path)])
    events: list[Event] = []
    on = [True]
    guard = GuardApi(
        lambda: holder,
        events.append,
        lambda lang: f"<p>blocked {lang}</p>".encode(),
        active=lambda: on[0],
        hosts=allowed_hosts("127.0.0.1", 8054),
    )
    return guard, events, on


def test_listed_page_answers_its_category_and_counts_once(
    api: tuple[GuardApi, list[Event], list[bool]],
) -> None:
    guard, events, _ = api
    raw, keep = guard.respond(
        head("/v1/check?p=" + prefixes_of("https://pages.example/gallery/img1.jpg?x=1"))
    )
    assert answer(raw) == (200, {"category": "csam"})
    assert keep
    assert events == [Blocked("csam")]
    for url in ("https://pages.example/gallery/img2.jpg", "https://other.example/gallery/img1.jpg"):
        assert answer(guard.respond(head("/v1/check?p=" + prefixes_of(url)))[0]) == (
            200,
            {"category": None},
        )
    assert events == [Blocked("csam")]
    assert guard.counts.checks == 3
    assert guard.counts.hits == 1


def test_dns_kind_answers_without_counting(api: tuple[GuardApi, list[Event], list[bool]]) -> None:
    guard, events, _ = api
    raw, _ = guard.respond(head("/v1/check?kind=dns&p=" + prefixes_of("https://whole.example/a")))
    assert answer(raw) == (200, {"category": "csam"})
    assert events == []  # the resolver counted the NXDOMAIN


def test_paused_filtering_lists_nothing(api: tuple[GuardApi, list[Event], list[bool]]) -> None:
    guard, events, on = api
    on[0] = False
    raw, _ = guard.respond(
        head("/v1/check?p=" + prefixes_of("http://pages.example/gallery/img1.jpg"))
    )
    assert answer(raw) == (200, {"category": None})
    assert answer(guard.respond(head("/v1/hosts"))[0])[1]["active"] is False
    assert events == []


def test_hint_holds_suspect_hosts_only(api: tuple[GuardApi, list[Event], list[bool]]) -> None:
    guard, _, _ = api
    status, hint = answer(guard.respond(head("/v1/hosts"))[0])
    assert status == 200
    assert hint["active"] is True and hint["prefix_bytes"] == 4
    prefixes = hint["prefixes"]
    assert isinstance(prefixes, list)

    def top(expr: str) -> str:
        return hashlib.sha256(expr.encode()).digest()[:4].hex()

    assert top("pages.example/") in prefixes
    assert top("whole.example/") not in prefixes  # a whole-host entry is DNS's business
    assert top("other.example/") not in prefixes
    # what the extension does: any host expression of the URL's host in the hint
    assert any(top(e) in prefixes for e in host_expressions("www.pages.example"))
    assert guard.hint_body() is guard.hint_body()  # built once per list version


def test_requests_without_the_header_or_from_another_host_are_refused(
    api: tuple[GuardApi, list[Event], list[bool]],
) -> None:
    guard, events, _ = api
    p = "/v1/check?p=" + prefixes_of("http://pages.example/gallery/img1.jpg")
    assert answer(guard.respond(head(p, guard=False))[0])[0] == 403
    assert answer(guard.respond(head(p, host="rebound.example:8054"))[0])[0] == 403
    options = p.replace("GET", "OPTIONS")
    raw, _ = guard.respond(head(options).replace(b"GET", b"OPTIONS", 1))
    assert answer(raw)[0] == 403
    assert answer(guard.respond(head("/v1/nothing"))[0])[0] == 404
    assert events == []
    assert guard.counts.refused == 4


def test_block_page_needs_no_header_and_follows_accept_language(
    api: tuple[GuardApi, list[Event], list[bool]],
) -> None:
    guard, events, _ = api
    raw, _ = guard.respond(head("/blocked", guard=False, extra="Accept-Language: sw\r\n"))
    assert raw.startswith(b"HTTP/1.1 403 ")
    assert raw.endswith(b"<p>blocked sw</p>")
    assert b"Cache-Control: no-store" in raw
    assert events == []


def test_rate_limit() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=10, burst=3, clock=lambda: now[0])
    assert [limiter.allow() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.1
    assert limiter.allow()
    assert not limiter.allow()


def test_rate_limited_api_answers_429(tmp_path: Path) -> None:
    guard = GuardApi(lambda: None, lambda e: None, lambda lang: b"", limiter=RateLimiter(1, 1))
    assert answer(guard.respond(head("/v1/hosts"))[0])[0] == 200
    assert answer(guard.respond(head("/v1/hosts"))[0])[0] == 429
    assert guard.counts.limited == 1


def test_parse_check() -> None:
    assert parse_check("p=" + "0" * 15 + "1") == ([1], "page")
    assert parse_check("kind=dns&p=ffffffffffffffff") == ([2**64 - 1], "dns")
    for bad in ("", "p=", "p=1", "kind=x&p=" + "0" * 16, "p=" + "A" * 16, "p=a&p=b", "p=%zz&&"):
        with pytest.raises(GuardRequestError):
            parse_check(bad)
    with pytest.raises(GuardRequestError):
        parse_prefixes(",".join(["0" * 16] * (MAX_PREFIXES + 1)))


@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=MAX_PREFIXES))
def test_parse_prefixes_round_trip(values: list[int]) -> None:
    assert parse_prefixes(",".join(f"{v:016x}" for v in values)) == values


@given(st.text(max_size=200))
def test_parse_check_accepts_or_refuses_cleanly(text: str) -> None:
    try:
        prefixes, kind = parse_check(text)
    except GuardRequestError as e:
        assert e.status == 400
        return
    assert 1 <= len(prefixes) <= MAX_PREFIXES and kind in ("page", "resource", "dns")


@given(st.binary(max_size=300))
def test_parse_head_accepts_or_refuses_cleanly(data: bytes) -> None:
    try:
        request = parse_head(data)
    except GuardRequestError as e:
        assert e.status == 400
        return
    assert request.path.startswith("/")


def test_head_with_a_body_or_repeated_header_is_refused() -> None:
    for extra in ("Content-Length: 1", "Host: b"):
        with pytest.raises(GuardRequestError):
            parse_head(f"GET / HTTP/1.1\r\nHost: a\r\n{extra}".encode())


def test_suspect_hint_merges_lists(tmp_path: Path) -> None:
    class Fake:
        def __init__(self, hashes: list[int]) -> None:
            self.hashes = hashes

        def array(self, code: int) -> list[int]:
            return self.hashes

    hint = suspect_hint([Fake([1 << 40, 2 << 32]), Fake([(1 << 40) + 5])], 0)  # type: ignore[list-item]
    assert hint == ["00000002", "00000100"]


def test_server_keeps_the_connection_and_serves_json(
    api: tuple[GuardApi, list[Event], list[bool]],
) -> None:
    guard, events, _ = api

    async def main() -> None:
        server = GuardServer(guard, HostPort("127.0.0.1", 0))
        guard.hosts = frozenset()
        await server.start()
        assert server.address is not None
        host = f"127.0.0.1:{server.address[1]}"
        assert guard.hosts == allowed_hosts("127.0.0.1", server.address[1])
        reader, writer = await asyncio.open_connection(*server.address)
        try:
            for url in ("http://pages.example/gallery/img1.jpg", "http://pages.example/x"):
                writer.write(head("/v1/check?p=" + prefixes_of(url), host=host) + b"\r\n")
                await writer.drain()
                response = await reader.readuntil(b"\r\n\r\n")
                length = int(response.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                assert b"Connection: keep-alive" in response
                assert json.loads(body)["category"] == ("csam" if url.endswith("jpg") else None)
        finally:
            writer.close()
            await server.stop()
        assert server.status()["checks"] == 2
        assert events == [Blocked("csam")]

    asyncio.run(main())


def test_server_refuses_a_non_loopback_address() -> None:
    async def main() -> None:
        server = GuardServer(
            GuardApi(lambda: None, lambda e: None, lambda lang: b""), HostPort("0.0.0.0", 0)
        )
        await server.start()
        assert server.address is None and "loopback only" in str(server.error)

    asyncio.run(main())


def test_component_on_by_default_with_the_extensions_address(tmp_path: Path) -> None:
    ctx = ServiceContext(Config(state_dir=tmp_path))
    assert guard_listen(ctx) == (True, HostPort("127.0.0.1", 8054))
    component = create_guard(ctx)
    assert isinstance(component, GuardServer)
    assert component.api.current() is None  # no updater: nothing listed
    extension_default = (Path(__file__).parents[2] / "browser_guard/src/config.js").read_text()
    assert '"http://127.0.0.1:8054"' in extension_default
