"""The P2P watch link: tracker / DHT names counted (count) or blocked (block)."""

from __future__ import annotations

import dns.rcode

from kiosk_agent.config import P2PConfig
from kiosk_agent.filter.resolver.blockanswer import BlockAnswers
from kiosk_agent.filter.resolver.p2p_watch import P2PWatch
from kiosk_agent.reporting.events import Blocked, EventBus, P2PSeen, SessionStarted
from tests.filter.resolver.test_guards import Next, collect, msg, q


def test_count_policy_observes_and_passes_on() -> None:
    bus, nxt = EventBus(), Next()
    events = collect(bus)
    link = P2PWatch(nxt, P2PConfig(tracker_hosts=("tracker.example",)), BlockAnswers(), bus)
    assert link.resolve(q("router.bittorrent.com")) == b"passed"
    assert link.resolve(q("router.bittorrent.com", "AAAA")) == b"passed"
    assert link.resolve(q("tracker.example")) == b"passed"
    assert link.resolve(q("www.example.org")) == b"passed"
    assert events == [P2PSeen("tracker")]  # once per session, however many queries
    bus.publish(SessionStarted("login"))
    link.resolve(q("dht.transmissionbt.com"))
    assert events[-1] == P2PSeen("tracker")
    assert nxt.seen == [
        "router.bittorrent.com",
        "router.bittorrent.com",
        "tracker.example",
        "www.example.org",
        "dht.transmissionbt.com",
    ]
    assert link.status() == {"policy": "count", "seen": 4, "blocked": 0}


def test_block_policy_makes_them_category_p2p() -> None:
    bus, nxt = EventBus(), Next()
    events = collect(bus)
    link = P2PWatch(nxt, P2PConfig(policy="block"), BlockAnswers(ttl=60), bus)
    assert msg(link.resolve(q("router.utorrent.com"))).rcode() == dns.rcode.NXDOMAIN
    assert msg(link.resolve(q("router.utorrent.com", "AAAA"))).rcode() == dns.rcode.NXDOMAIN
    assert link.resolve(q("example.org")) == b"passed"
    assert nxt.seen == ["example.org"]
    assert events == [P2PSeen("tracker"), Blocked("p2p")]  # one attempt, one Blocked
    assert link.status()["blocked"] == 2


def test_without_a_bus() -> None:
    link = P2PWatch(Next(), P2PConfig(), BlockAnswers())
    assert link.resolve(q("router.bittorrent.com")) == b"passed"
