"""The assembled chain over real sockets: suspect hosts, listed hosts and trackers."""

from __future__ import annotations

from dataclasses import replace

import dns.rcode

from kiosk_agent.config import FilterConfig, P2PConfig, ProxyConfig
from kiosk_agent.reporting.events import Blocked, Event, EventBus, P2PSeen
from tests.filter.resolver.helpers import ResolverThread, ScriptedUpstream, ask


class Index:
    def lookup_host(self, host: str) -> str | None:
        return "csam" if host == "listed.example" else None

    def suspect_host(self, host: str) -> bool:
        return host in ("pages.example", "listed.example")


def test_chain_order_for_url_level_entries_and_trackers() -> None:
    config = replace(
        FilterConfig(),
        proxy=replace(ProxyConfig(), enabled=True),
        p2p=P2PConfig(policy="block", tracker_hosts=("tracker.example",)),
    )
    upstream = ScriptedUpstream()
    address = upstream.start()
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    try:
        with ResolverThread(config, [address], Index(), bus) as resolver:
            # Warm the cache with the real address first: stage 1 must still win.
            assert ask(resolver.address, "other.example").answer[0][0].address == "192.0.2.1"
            suspect = ask(resolver.address, "pages.example")
            assert [r.address for r in suspect.answer[0]] == ["127.0.0.10"]
            assert ask(resolver.address, "pages.example", "AAAA").answer == []
            # A host listed as a whole is blocked, never sent to the proxy.
            assert ask(resolver.address, "listed.example").rcode() == dns.rcode.NXDOMAIN
            # Trackers under the block policy.
            assert ask(resolver.address, "tracker.example").rcode() == dns.rcode.NXDOMAIN
            assert ask(resolver.address, "router.bittorrent.com").rcode() == dns.rcode.NXDOMAIN
            queries_before = upstream.udp_queries
            ask(resolver.address, "pages.example")
            assert upstream.udp_queries == queries_before  # answered locally
            assert resolver.chain is not None
            status = resolver.chain.status()
            assert status["suspect_hosts"] == {"enabled": True, "redirected": 3}
    finally:
        upstream.stop()
    assert events == [Blocked("csam"), P2PSeen("tracker"), Blocked("p2p"), Blocked("p2p")]


def test_proxy_disabled_leaves_suspect_hosts_alone() -> None:
    upstream = ScriptedUpstream()
    address = upstream.start()
    try:
        with ResolverThread(FilterConfig(), [address], Index()) as resolver:
            assert ask(resolver.address, "pages.example").answer[0][0].address == "192.0.2.1"
            assert ask(resolver.address, "router.bittorrent.com").answer  # count: resolved
    finally:
        upstream.stop()
