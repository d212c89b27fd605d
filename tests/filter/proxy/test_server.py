"""The proxy on loopback between real clients and local origin servers (HTTP and TLS)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from kiosk_agent.config import HostPort
from kiosk_agent.filter.proxy.decide import URL_UNVERIFIABLE
from kiosk_agent.filter.proxy.server import FilteringProxy, ProxySettings
from kiosk_agent.reporting.events import Blocked, Event
from tests.filter.proxy.origins import (
    CHUNKED_RESPONSE,
    CLOSE_RESPONSE,
    ODD_RESPONSE,
    HttpOrigin,
    TlsOrigin,
    make_cert,
)

LOOPBACK = HostPort("127.0.0.1", 0)


@dataclass
class FakeIndex:
    """URL prefixes and whole hosts, as the real index would report them."""

    url_prefixes: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, str] = field(default_factory=dict)
    suspects: set[str] = field(default_factory=set)

    def lookup_url(self, url: str) -> str | None:
        host = url.split("/")[2]
        if host in self.hosts:
            return self.hosts[host]
        return next((c for p, c in self.url_prefixes.items() if url.startswith(p)), None)

    def lookup_host(self, host: str) -> str | None:
        return self.hosts.get(host)

    def suspect_host(self, host: str) -> bool:
        return host in self.suspects


INDEX = FakeIndex(
    url_prefixes={"http://site.example/bad/": "csam"},
    hosts={"listed.example": "csam"},
    suspects={"site.example"},
)


@dataclass
class Rig:
    proxy: FilteringProxy
    origin: HttpOrigin
    tls_origin: TlsOrigin
    events: list[Event]
    cert_file: Path
    cert_der: bytes
    lookups: list[str]
    opened: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def http_port(self) -> int:
        assert self.proxy.http_address is not None
        return self.proxy.http_address[1]

    @property
    def https_port(self) -> int:
        assert self.proxy.https_address is not None
        return self.proxy.https_address[1]

    async def open(
        self, port: int | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A plain connection to the HTTP listener (or ``port``), closed at teardown."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port or self.http_port)
        self.opened.append(writer)
        return reader, writer

    async def open_tls(
        self, name: str | None, ctx: ssl.SSLContext | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        ctx = ctx or ssl.create_default_context(cafile=str(self.cert_file))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.https_port, ssl=ctx, server_hostname=name
        )
        self.opened.append(writer)
        return reader, writer


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, **overrides: Any) -> AsyncIterator[Rig]:
    cert_file, key_file, der = make_cert(tmp_path, ["site.example", "other.example"])
    origin = await HttpOrigin().start()
    tls_origin = await TlsOrigin(cert_file, key_file).start()
    events: list[Event] = []
    lookups: list[str] = []

    async def resolve(host: str) -> Sequence[str]:
        lookups.append(host)
        if host.endswith(".invalid"):
            raise OSError("no such name")
        return ["127.0.0.1"]

    settings = replace(
        ProxySettings(
            idle_timeout=5.0,
            connect_timeout=2.0,
            origin_http_port=origin.port,
            origin_https_port=tls_origin.port,
            allow_loopback_origins=True,
        ),
        **overrides,
    )
    proxy = FilteringProxy(lambda: INDEX, resolve, events.append, settings=settings)
    await proxy.start(LOOPBACK, LOOPBACK)
    r = Rig(proxy, origin, tls_origin, events, cert_file, der, lookups)
    try:
        yield r
    finally:
        for writer in r.opened:
            writer.close()
        for writer in r.opened:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2)
        await proxy.stop()
        await origin.stop()
        await tls_origin.stop()


def run(tmp_path: Path, body: Callable[[Rig], Awaitable[None]], **overrides: Any) -> None:
    async def main() -> None:
        async with rig(tmp_path, **overrides) as r:
            await asyncio.wait_for(body(r), 30)

    asyncio.run(main())


def get(path: str, host: str = "site.example", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one Content-Length response."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.lower().split(b"\r\n")
        if line.startswith(b"content-length:")
    )
    return head, await reader.readexactly(length)


def test_sibling_url_is_served_byte_for_byte(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(get("/good/page.html"))
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        writer.write(get("/chunked"))
        assert await reader.readexactly(len(CHUNKED_RESPONSE)) == CHUNKED_RESPONSE
        writer.close()
        assert r.origin.heads[0] == get("/good/page.html")  # request head unchanged too
        assert r.events == []
        assert r.lookups == ["site.example"]  # one origin connection, kept alive

    run(tmp_path, body)


def test_listed_url_gets_the_block_page(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(get("/bad/picture.jpg"))
        head, page = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 403 ")
        assert b"no-store" in head
        assert b"blocked" in page and b"site.example" not in page
        assert r.events == [Blocked("csam")]
        assert r.origin.heads == []  # the listed request never left the kiosk
        writer.close()

    run(tmp_path, body)


def test_every_request_on_a_keep_alive_connection_is_checked(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        # Pipelined in one write: good, bad, good.
        writer.write(get("/a") + get("/bad/x") + get("/b"))
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        head, _ = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 403")
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        assert [h.split(b" ")[1] for h in r.origin.heads] == [b"/a", b"/b"]
        assert r.events == [Blocked("csam")]
        # A listed whole host on the same connection is blocked too.
        writer.write(get("/anything", host="listed.example"))
        head, _ = await read_response(reader)
        assert head.startswith(b"HTTP/1.1 403")
        writer.close()

    run(tmp_path, body)


def test_request_bodies_are_forwarded(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(b"POST /echo HTTP/1.1\r\nHost: site.example\r\nContent-Length: 5\r\n\r\nabcde")
        _, echoed = await read_response(reader)
        assert echoed == b"abcde"
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: site.example\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n" + get("/after")
        )
        _, echoed = await read_response(reader)
        assert echoed == b"abcde"
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        writer.close()

    run(tmp_path, body)


def test_expect_100_continue(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(
            b"POST /continue HTTP/1.1\r\nHost: site.example\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"data")
        _, echoed = await read_response(reader)
        assert echoed == b"data"
        writer.close()

    run(tmp_path, body)


def test_response_until_close_and_upgrade(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(get("/close"))
        assert await reader.read() == CLOSE_RESPONSE
        writer.close()
        reader, writer = await r.open()
        writer.write(get("/upgrade", extra="Connection: Upgrade\r\nUpgrade: echo\r\n"))
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"spliced")
        assert await reader.readexactly(7) == b"SPLICED"
        writer.close()

    run(tmp_path, body)


def test_large_response_streams(tmp_path: Path) -> None:
    size = 8 * 1024 * 1024

    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(get(f"/big/{size}"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"Content-Length: %d" % size in head
        got = 0
        while got < size:
            got += len(await reader.read(1 << 20))
        assert got == size
        writer.close()

    run(tmp_path, body)


def test_bad_requests_get_error_answers(tmp_path: Path) -> None:
    cases = [
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", b"400"),
        (b"GET / HTTP/1.0\r\n\r\n", b"400"),  # no host
        (b"CONNECT site.example:443 HTTP/1.1\r\nHost: site.example\r\n\r\n", b"405"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", b"501"),
        (b"GET / HTTP/1.1\r\nX: " + b"y" * 40000 + b"\r\n\r\n", b"431"),
        (b"\x16\x03\x01\x00\x05hello\r\n\r\n", b"400"),  # TLS on the HTTP port
    ]

    async def body(r: Rig) -> None:
        for raw, status in cases:
            reader, writer = await r.open()
            writer.write(raw)
            answer = await reader.read()
            assert answer.startswith(b"HTTP/1.1 " + status), (raw[:30], answer[:40])
            writer.close()
        assert r.origin.heads == []

    run(tmp_path, body)


def test_unreachable_origin_is_a_bad_gateway(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(get("/", host="nowhere.invalid"))
        assert (await reader.read()).startswith(b"HTTP/1.1 502")

    run(tmp_path, body)


def test_loops_back_to_the_proxy_are_refused(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open()
        writer.write(get("/"))
        assert (await reader.read()).startswith(b"HTTP/1.1 502")
        assert r.origin.heads == []

    # Without allow_loopback_origins, the loopback origin counts as a loop.
    run(tmp_path, body, allow_loopback_origins=False)


def test_slow_and_broken_peers_affect_only_themselves(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        # A client that stalls mid-head, one that stalls mid-body, an origin that never
        # answers, an origin that resets mid-response, a client that vanishes mid-stream.
        stalled_head = await r.open()
        stalled_head[1].write(b"GET /a HTTP/1.1\r\nHo")
        stalled_body = await r.open()
        stalled_body[1].write(
            b"POST /echo HTTP/1.1\r\nHost: site.example\r\nContent-Length: 100\r\n\r\nab"
        )
        slow_origin = await r.open()
        slow_origin[1].write(get("/slow"))
        reset = await r.open()
        reset[1].write(get("/reset"))
        vanished = await r.open()
        vanished[1].write(get("/big/50000000"))
        await vanished[0].readexactly(1000)
        vanished[1].transport.abort()

        # Meanwhile other customers are served normally and promptly.
        for _ in range(5):
            reader, writer = await r.open()
            writer.write(get("/fine"))
            async with asyncio.timeout(1):
                assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
            writer.close()

        # The reset origin's client sees its connection end, not a hang.
        async with asyncio.timeout(2):
            data = await reset[0].read()
        assert data.startswith(b"HTTP/1.1 200 OK") and len(data) < 1000

        # The stalled ones are cut after idle_timeout (1 s here).
        for reader, _writer in (stalled_head, stalled_body, slow_origin):
            async with asyncio.timeout(3):
                rest = await reader.read()
            assert b"200 OK" not in rest
        await asyncio.sleep(0.1)
        assert r.proxy.stats.active == 0

    run(tmp_path, body, idle_timeout=1.0)


def test_connection_limit(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        held = [await r.open() for _ in range(2)]
        for _, writer in held:
            writer.write(b"GET / HTTP/1.1\r\n")  # keep them busy mid-head
        await asyncio.sleep(0.1)
        reader, writer = await r.open()
        assert (await reader.read()).startswith(b"HTTP/1.1 503")
        for _, w in held:
            w.close()
        await asyncio.sleep(0.2)
        reader, writer = await r.open()
        writer.write(get("/"))
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        assert r.proxy.stats.refused_over_limit == 1

    run(tmp_path, body, max_connections=2)


# -- TLS ------------------------------------------------------------------------------------


def test_https_is_spliced_with_the_origin_certificate(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open_tls("site.example")
        ssl_obj = writer.get_extra_info("ssl_object")
        assert ssl_obj.getpeercert(binary_form=True) == r.cert_der
        writer.write(b"ping")
        assert await reader.readexactly(9) == b"echo:ping"
        writer.close()
        assert r.tls_origin.server_names == ["site.example"]
        # The path is invisible: one unverifiable visit is counted, and a second
        # connection to the same host in the same visit is not counted again.
        reader, writer = await r.open_tls("site.example")
        writer.write(b"again")
        assert await reader.readexactly(10) == b"echo:again"
        writer.close()
        assert r.events == [Blocked(URL_UNVERIFIABLE)]

    run(tmp_path, body)


def test_https_to_an_unsuspected_host_is_not_counted(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open_tls("other.example")
        writer.write(b"x")
        assert await reader.readexactly(6) == b"echo:x"
        writer.close()
        assert r.events == []

    run(tmp_path, body)


def test_https_to_a_listed_host_is_refused(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await r.open_tls("listed.example")
        assert r.events == [Blocked("csam")]
        assert r.tls_origin.handshakes == 0

    run(tmp_path, body)


def test_https_bulk_transfer(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        reader, writer = await r.open_tls("site.example")
        block = b"x" * 60000
        total = 0
        for _ in range(50):
            writer.write(block)
            await writer.drain()
        while total < 50 * 60000:  # the origin echoes each read with a 5-byte prefix
            data = await reader.read(1 << 20)
            assert data
            total += data.count(b"x")
        assert total == 50 * 60000
        writer.close()

    run(tmp_path, body)


def test_broken_tls_clients(tmp_path: Path) -> None:
    async def body(r: Rig) -> None:
        for raw in (
            b"GET / HTTP/1.1\r\n\r\n",  # plain HTTP on 443
            b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00",  # malformed hello
            b"\x16\x03\x01\x40\x00",  # a hello that never comes (cut by idle timeout)
        ):
            reader, writer = await r.open(r.https_port)
            writer.write(raw)
            async with asyncio.timeout(3):
                assert await reader.read() == b""
            writer.close()
        # A hello without server name cannot be routed: closed.
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await r.open_tls(None, ctx)
        # And the next well-behaved client is served.
        reader, writer = await r.open_tls("site.example")
        writer.write(b"ok")
        assert await reader.readexactly(7) == b"echo:ok"
        # A spliced client that goes quiet is cut after idle_timeout, origin side too.
        async with asyncio.timeout(3):
            assert await reader.read() == b""
        assert r.tls_origin.handshakes == 1
        await asyncio.sleep(0.1)
        assert r.proxy.stats.active == 0

    run(tmp_path, body, idle_timeout=1.0)


def test_garbage_never_stops_the_proxy(tmp_path: Path) -> None:
    import random

    rnd = random.Random(8)
    good = get("/fine")
    samples = [bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 300))) for _ in range(60)]
    for _ in range(60):  # mutated valid requests
        data = bytearray(good + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
        for _ in range(rnd.randint(1, 6)):
            data[rnd.randrange(len(data))] = rnd.getrandbits(8)
        samples.append(bytes(data))

    async def body(r: Rig) -> None:
        for data in samples:
            reader, writer = await r.open()
            writer.write(data)
            writer.write_eof()
            async with asyncio.timeout(3):
                await reader.read()  # an answer or a close, never a hang
            writer.close()
        reader, writer = await r.open()
        writer.write(good)
        assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE
        await asyncio.sleep(0.1)
        assert r.proxy.stats.active == 1

    run(tmp_path, body, idle_timeout=2.0)
