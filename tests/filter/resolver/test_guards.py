"""Bypass guard and blocklist links with a mock ``next`` and a fake index."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import dns.message
import dns.rcode
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.filter.resolver.blockanswer import BlockAnswers, RecentNames
from kiosk_agent.filter.resolver.blocklist import Blocklist, lookup_name
from kiosk_agent.filter.resolver.bypass_guard import BypassGuard
from kiosk_agent.filter.resolver.handler import Answer
from kiosk_agent.filter.urls import host_hashes
from kiosk_agent.net.wire import Query, parse_query
from kiosk_agent.reporting.events import Blocked, Event, EventBus, TamperDetected
from tests.filter.resolver.helpers import FakeIndex


class Next:
    name = "next"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def resolve(self, query: Query) -> Answer:
        self.seen.append(query.name)
        return b"passed"

    def status(self) -> dict[str, object]:
        return {}


def q(name: str, rdtype: str = "A") -> Query:
    return parse_query(bytes(dns.message.make_query(name, rdtype).to_wire()))


def msg(answer: Answer) -> dns.message.Message:
    assert isinstance(answer, bytes)
    return dns.message.from_wire(answer)


def collect(bus: EventBus) -> list[Event]:
    events: list[Event] = []
    bus.subscribe(events.append)
    return events


def test_canary_and_doh_hosts() -> None:
    bus, nxt = EventBus(), Next()
    events = collect(bus)
    guard = BypassGuard(nxt, ["dns.google", "Cloudflare-DNS.com."], BlockAnswers(), bus)
    assert msg(guard.resolve(q("use-application-dns.net."))).rcode() == dns.rcode.NXDOMAIN
    assert events == []  # the canary is routine, not tampering
    assert msg(guard.resolve(q("DNS.GOOGLE"))).rcode() == dns.rcode.NXDOMAIN
    assert msg(guard.resolve(q("mozilla.cloudflare-dns.com", "AAAA"))).rcode() == 3
    assert events == [Blocked("bypass"), TamperDetected("doh")] * 2
    assert guard.resolve(q("example.org")) == b"passed"
    assert guard.resolve(q("notdns.google.example")) == b"passed"


def test_no_doh_hosts_passes_through() -> None:
    nxt = Next()
    guard = BypassGuard(nxt, [], BlockAnswers())
    assert guard.resolve(q("dns.google")) == b"passed"


def test_blocklist_blocks_every_type_and_subdomains() -> None:
    bus, nxt = EventBus(), Next()
    events = collect(bus)
    index = FakeIndex({"blocked.test": "csam"})
    link = Blocklist(nxt, lambda: index, BlockAnswers(ttl=60), bus)
    for name, rdtype in [
        ("blocked.test", "A"),
        ("WWW.Blocked.Test.", "MX"),
        ("x.blocked.test", "TXT"),
    ]:
        r = msg(link.resolve(q(name, rdtype)))
        assert r.rcode() == dns.rcode.NXDOMAIN
        assert r.authority[0].ttl == 60
    assert events == [Blocked("csam")] * 3
    assert link.resolve(q("notblocked.test")) == b"passed"


def test_blocklist_without_index_passes_through() -> None:
    link = Blocklist(Next(), lambda: None, BlockAnswers())
    assert link.resolve(q("blocked.test")) == b"passed"


def test_sinkhole_answers() -> None:
    index = FakeIndex({"blocked.test": "csam"})
    link = Blocklist(Next(), lambda: index, BlockAnswers("sinkhole", "127.0.0.9", ttl=60))
    a = msg(link.resolve(q("blocked.test", "A")))
    assert a.rcode() == 0 and a.answer[0][0].address == "127.0.0.9" and a.answer[0].ttl == 60
    aaaa = msg(link.resolve(q("blocked.test", "AAAA")))
    assert aaaa.rcode() == 0 and not aaaa.answer  # NODATA: the block page has no IPv6
    mx = msg(link.resolve(q("blocked.test", "MX")))
    assert mx.rcode() == 0 and not mx.answer


def test_repeated_attempts_count_once() -> None:
    clock = [0.0]
    recent = RecentNames(window=10, clock=lambda: clock[0])
    assert recent.first("a.test") and not recent.first("a.test")
    clock[0] = 11
    assert recent.first("a.test")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.floats(0, 4)), max_size=60))
def test_recent_names_agree_with_an_exact_model(steps: list[tuple[int, float]]) -> None:
    """Below capacity, ``first`` is exactly "not seen in the last ``window`` seconds"."""
    clock = [0.0]
    recent = RecentNames(window=10, capacity=64, clock=lambda: clock[0])
    last: dict[str, float] = {}
    for name_id, gap in steps:
        clock[0] += gap
        name = f"n{name_id}.test"
        expected = name not in last or clock[0] - last[name] >= 10
        assert recent.first(name) == expected
        last[name] = clock[0]


def test_recent_names_stay_bounded_under_a_flood() -> None:
    recent = RecentNames(window=10, capacity=100, clock=lambda: 0.0)
    assert all(recent.first(f"n{i}.test") for i in range(10_000))
    assert len(recent._current) + len(recent._previous) <= 200
    assert not recent.first("n9999.test")


def test_an_exact_entry_is_looked_up_before_parent_domains() -> None:
    """A listed name costs one hash; its exact entry wins over a parent's in another list."""

    class OneList:
        def __init__(self, entries: dict[str, str]) -> None:
            self.entries = {}
            for host, category in entries.items():
                self.entries[host_hashes(host)[0]] = category
            self.asked: list[list[int]] = []

        def lookup_hashes(self, hashes: Iterable[int]) -> str | None:
            hashes = list(hashes)
            self.asked.append(hashes)
            return next((self.entries[h] for h in hashes if h in self.entries), None)

        def lookup_host(self, host: str) -> str | None:
            raise AssertionError("plain names take the hashing path")

    class Holder:
        def __init__(self, *indexes: OneList) -> None:
            self.indexes = indexes

        def lookup_host(self, host: str) -> str | None:
            raise AssertionError("plain names take the hashing path")

    parents, exact = OneList({"b.test": "parent"}), OneList({"x.b.test": "exact"})
    assert lookup_name(Holder(parents, exact), "x.b.test") == "exact"
    assert [len(h) for h in parents.asked] == [1]  # only the exact host was hashed
    assert lookup_name(Holder(parents, exact), "y.x.b.test") == "parent"
    assert lookup_name(Holder(parents, exact), "other.test") is None


def test_failing_subscriber_never_reaches_the_resolver() -> None:
    bus = EventBus()

    def boom(_: Event) -> None:
        raise RuntimeError("toast crashed")

    bus.subscribe(boom)
    link = Blocklist(Next(), lambda: FakeIndex({"b.test": "c"}), BlockAnswers(), bus)
    assert msg(link.resolve(q("b.test"))).rcode() == 3


class _Recorder:
    """An ``IndexHolder`` with one empty list that records what ``lookup_name`` asks."""

    def __init__(self) -> None:
        self.hashes: list[int] = []
        self.general: list[str] = []
        self.indexes = (self,)

    def lookup_hashes(self, hashes: Iterable[int]) -> str | None:
        self.hashes.extend(hashes)
        return None

    def lookup_host(self, host: str) -> str | None:
        self.general.append(host)
        return None


@settings(max_examples=2000, deadline=None)
@given(st.from_regex(r"[a-z0-9_-]{1,12}(\.[a-z0-9_-]{1,12}){0,7}", fullmatch=True))
def test_fast_host_hashes_equal_the_index_canonical_ones(name: str) -> None:
    """For a name on no list, the resolver's own hashing asks for exactly the hashes of
    the canonical ``host/`` expressions, in order; other names take the general path."""
    from kiosk_agent.filter.urls import hash_int, host_expressions

    index = _Recorder()
    assert lookup_name(index, name) is None
    if index.general:
        assert index.general == [name] and index.hashes == []
        assert not name[0].isalpha()
    else:
        assert index.hashes == [hash_int(e) for e in host_expressions(name)]


def test_names_needing_canonicalization_take_the_general_path() -> None:
    for name in ("1.2.3.4", "0x7f.1", "a..b", "é.test"):
        index = _Recorder()
        lookup_name(index, name)
        assert index.general == [name] and index.hashes == [], name
    punycode = _Recorder()
    lookup_name(punycode, "xn--caf-dma.test")  # already canonical: hashed here
    assert punycode.general == [] and punycode.hashes


def test_remembered_decisions_follow_a_list_swap() -> None:
    class OneList:
        """Like a BlocklistIndex: entry hashes of ``host/`` expressions."""

        def __init__(self, host: str) -> None:
            self.hashes = {host_hashes(host)[0]}

        def lookup_hashes(self, hashes: Iterable[int]) -> str | None:
            return "c" if any(h in self.hashes for h in hashes) else None

    class Holder:
        def __init__(self) -> None:
            self.indexes: tuple[OneList, ...] = (OneList("b.test"),)

        def lookup_host(self, host: str) -> str | None:
            raise AssertionError("plain names take the hashing path")

    holder = Holder()
    link = Blocklist(Next(), lambda: holder, BlockAnswers())
    assert msg(link.resolve(q("x.b.test"))).rcode() == 3
    assert msg(link.resolve(q("x.b.test", "AAAA"))).rcode() == 3  # remembered
    holder.indexes = (OneList("other.test"),)  # a swap: a new tuple
    assert link.resolve(q("x.b.test")) == b"passed"
    assert msg(link.resolve(q("other.test"))).rcode() == 3


def test_a_listed_name_blocks_names_beneath_it_at_any_depth(tmp_path: Path) -> None:
    """Issue 17, through the blocklist link over a real index (one list and two)."""
    from kiosk_agent.contracts import feed
    from kiosk_agent.filter.index import BlocklistIndex, IndexHolder, build_index
    from kiosk_agent.filter.sources import entries_from_sources, read_source
    from tests.filter.feed_helpers import CATS, NOW, full, keypair

    key, pub = keypair()
    listed = entries_from_sources(CATS[:1], {"csam": read_source(["a.b.c.d.e.example"])})
    other = entries_from_sources(CATS[:1], {"csam": read_source(["unrelated.example"])})
    paths = []
    for list_id, e in (("hotline", listed), ("second", other)):
        path = tmp_path / f"{list_id}.idx"
        build_index(path, [feed.read_bundle(full(key, e, list_id=list_id), [pub], now=NOW)])
        paths.append(path)
    one = IndexHolder([BlocklistIndex.open(paths[0])])
    two = IndexHolder([BlocklistIndex.open(p) for p in paths])
    deep = ".".join("x" * 116) + ".a.b.c.d.e.example"  # 122 labels, 249 characters
    assert len(deep) < 254
    for holder in (one, two):
        link = Blocklist(Next(), lambda h=holder: h, BlockAnswers())  # type: ignore[misc]
        for name in ("x.a.b.c.d.e.example", "y.x.a.b.c.d.e.example", deep, "X.A.B.C.D.E.Example"):
            assert msg(link.resolve(q(name))).rcode() == dns.rcode.NXDOMAIN, name
            assert holder.lookup_host(name) == "csam"
        assert link.resolve(q("b.c.d.e.example")) == b"passed"
        assert link.resolve(q("x.xa.b.c.d.e.example")) == b"passed"
