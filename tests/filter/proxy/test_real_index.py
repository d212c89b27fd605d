"""Both stages against a real signed bundle and memory-mapped index (no fakes).

A URL-level entry on a reserved test host: the resolver sends the host to the proxy,
the proxy blocks the listed page (and, per Safe Browsing's expressions, what lies under
it) and serves every other page of the host unchanged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from kiosk_agent.config import FilterConfig, HostPort, ProxyConfig
from kiosk_agent.filter.index import BlocklistIndex, build_index, index_path
from kiosk_agent.filter.proxy.server import FilteringProxy, ProxySettings
from kiosk_agent.filter.sources import entries_from_sources, read_source
from kiosk_agent.reporting.events import Blocked, Event, EventBus
from tests.filter.feed_helpers import CATS, NOW, full, keypair
from tests.filter.proxy.origins import ODD_RESPONSE, HttpOrigin
from tests.filter.resolver.helpers import ResolverThread, ScriptedUpstream, ask

KEY, PUB = keypair()
LISTS = {
    "csam": ["whole.example", "http://pages.example/gallery/img1.jpg", "http://pages.example/dir/"],
    "grooming": [],
}


def open_index(tmp_path: Path) -> BlocklistIndex:
    from kiosk_agent.contracts import feed

    entries = entries_from_sources(CATS, {c: read_source(lines) for c, lines in LISTS.items()})
    path = index_path(tmp_path, "hotline")
    build_index(path, [feed.read_bundle(full(KEY, entries), [PUB], now=NOW)])
    return BlocklistIndex.open(path)


def test_stage_one_sends_only_suspect_hosts_to_the_proxy(tmp_path: Path) -> None:
    idx = open_index(tmp_path)
    config = replace(FilterConfig(), proxy=replace(ProxyConfig(), enabled=True))
    upstream = ScriptedUpstream()
    address = upstream.start()
    try:
        with ResolverThread(config, [address], idx, EventBus()) as resolver:
            for name in ("pages.example", "WWW.Pages.Example."):
                assert ask(resolver.address, name).answer[0][0].address == "127.0.0.10"
            assert ask(resolver.address, "other.example").answer[0][0].address == "192.0.2.1"
            assert ask(resolver.address, "whole.example").rcode() == 3  # NXDOMAIN
    finally:
        upstream.stop()
        idx.close()


def test_stage_two_blocks_listed_pages_only(tmp_path: Path) -> None:
    idx = open_index(tmp_path)

    async def main() -> None:
        origin = await HttpOrigin().start()
        events: list[Event] = []

        async def resolve(host: str) -> Sequence[str]:
            return ["127.0.0.1"]

        proxy = FilteringProxy(
            lambda: idx,
            resolve,
            events.append,
            settings=ProxySettings(origin_http_port=origin.port, allow_loopback_origins=True),
        )
        await proxy.start(HostPort("127.0.0.1", 0), None)
        assert proxy.http_address is not None
        reader, writer = await asyncio.open_connection(*proxy.http_address)
        try:
            cases = [
                ("/gallery/img1.jpg", True),
                ("/gallery/img1.jpg?size=big", True),  # query dropped in one expression
                ("/Gallery/../gallery/./img1.jpg", True),  # canonicalized
                ("/gallery/%69mg1.jpg", True),  # percent-escapes undone
                ("/gallery/img2.jpg", False),  # a sibling
                ("/dir/sub/page.html", True),  # under a listed path prefix
                ("/dirt", False),
                ("/", False),
            ]
            for path, blocked in cases:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: pages.example\r\n\r\n".encode())
                if blocked:
                    head = await reader.readuntil(b"\r\n\r\n")
                    assert head.startswith(b"HTTP/1.1 403"), path
                    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                    await reader.readexactly(length)
                else:
                    assert await reader.readexactly(len(ODD_RESPONSE)) == ODD_RESPONSE, path
            # Other hosts through the same proxy: the whole-host entry blocks everything.
            writer.write(b"GET /anything HTTP/1.1\r\nHost: sub.whole.example\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 403")
        finally:
            writer.close()
            await proxy.stop()
            await origin.stop()
        assert events == [Blocked("csam")] * 6
        forwarded = [h.split(b" ")[1] for h in origin.heads]
        assert forwarded == [b"/gallery/img2.jpg", b"/dirt", b"/"]

    try:
        asyncio.run(main())
    finally:
        idx.close()
