"""SafeSearch link: host lists, answer composition, and the whole chain against dnsmasq."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.config import FilterConfig, HostPort, SafeSearchConfig, parse_config
from kiosk_agent.contracts.report import is_counter_name
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch
from kiosk_agent.filter.resolver.safe_search import (
    GOOGLE_TARGET,
    SafeSearch,
    compose,
    google_domains,
    read_domain_list,
    rewrites,
    target_query,
)
from kiosk_agent.net.wire import Query, encode_name, parse_query
from kiosk_agent.reporting.counters import counter_name
from kiosk_agent.reporting.events import Event, EventBus, SafeSearchApplied, SessionStarted
from tests.conftest import require_tool
from tests.filter.resolver.helpers import FakeIndex, ResolverThread, ask, run_dnsmasq


def q(name: str, rdtype: str = "A", **kw: object) -> Query:
    return parse_query(bytes(dns.message.make_query(name, rdtype, **kw).to_wire()))  # type: ignore[arg-type]


# -- host lists ---------------------------------------------------------------------------


def test_google_domains_ship_every_country_domain() -> None:
    domains = google_domains()
    assert len(domains) > 180
    for d in ("google.com", "google.co.ke", "google.com.kh", "google.co.uk", "google.cat"):
        assert d in domains
    assert all(d.startswith("google.") for d in domains)


def test_rewrites_follow_each_engine_switch() -> None:
    everything = rewrites(SafeSearchConfig())
    assert everything["www.google.co.ke"] == ("google", "forcesafesearch.google.com")
    assert everything["www.google.com.kh"] == ("google", "forcesafesearch.google.com")
    assert everything["www.bing.com"] == ("bing", "strict.bing.com")
    assert everything["duckduckgo.com"] == ("duckduckgo", "safe.duckduckgo.com")
    for host in (
        "www.youtube.com",
        "m.youtube.com",
        "youtubei.googleapis.com",
        "youtube.googleapis.com",
        "www.youtube-nocookie.com",
    ):
        assert everything[host] == ("youtube", "restrictmoderate.youtube.com")
    assert "google.com" not in everything and "bing.com" not in everything
    strict = rewrites(SafeSearchConfig(youtube="strict"))
    assert strict["m.youtube.com"] == ("youtube", "restrict.youtube.com")
    some = rewrites(SafeSearchConfig(google=False, youtube="off"))
    assert {engine for engine, _ in some.values()} == {"bing", "duckduckgo"}
    assert rewrites(SafeSearchConfig(enabled=False)) == {}


def test_read_domain_list() -> None:
    text = ["# comment", "", "Google.CO.KE.  # trailing", "google.com", "google.com"]
    assert read_domain_list(text) == ("google.co.ke", "google.com")
    for bad in ("com", "a..b", "x y.com", "bad_label.com", "é.com"):
        with pytest.raises(ValueError):
            read_domain_list([bad])


@given(st.lists(st.text(max_size=40), max_size=8))
def test_read_domain_list_fuzz_only_raises_value_error(lines: list[str]) -> None:
    try:
        out = read_domain_list(lines)
    except ValueError:
        return
    assert all("." in d and d == d.lower() for d in out)


# -- answer composition -------------------------------------------------------------------


def _target_answer(
    query: Query, *records: str, rcode: dns.rcode.Rcode = dns.rcode.NOERROR
) -> bytes:
    """An answer to ``query`` (dnspython compresses its names) with ``records`` as
    zone-file lines (name ttl class type data)."""
    msg = dns.message.from_wire(query.raw)
    resp = dns.message.make_response(msg)
    resp.set_rcode(rcode)
    for line in records:
        name, ttl, _cls, rdtype, *data = line.split()
        resp.answer.append(dns.rrset.from_text(name, int(ttl), "IN", rdtype, " ".join(data)))
    return bytes(resp.to_wire())


def test_compose_puts_the_cname_first_and_expands_compressed_names() -> None:
    client = q("WWW.Google.co.KE", use_edns=0)
    target = encode_name("strict.bing.com")
    stand_in = target_query(client, target)
    assert stand_in.name == "strict.bing.com" and stand_in.qtype == client.qtype
    assert stand_in.edns and stand_in.key[1:] == client.key[1:]
    upstream = _target_answer(
        stand_in,
        "strict.bing.com. 300 IN CNAME edge.strict.bing.com.",
        "edge.strict.bing.com. 120 IN A 192.0.2.220",
        "edge.strict.bing.com. 120 IN A 192.0.2.221",
    )
    got = dns.message.from_wire(compose(client, target, upstream))
    assert got.id == client.id and got.rcode() == dns.rcode.NOERROR
    assert str(got.question[0].name) == "WWW.Google.co.KE."  # the client's case echoed
    assert got.edns == 0
    first = got.answer[0]
    assert (str(first.name).lower(), first.rdtype, first.ttl) == ("www.google.co.ke.", 5, 120)
    assert str(first[0].target) == "strict.bing.com."
    assert str(got.answer[1][0].target) == "edge.strict.bing.com."
    addrs = {r.address for rrset in got.answer[2:] for r in rrset}
    assert addrs == {"192.0.2.220", "192.0.2.221"}


def test_compose_refuses_to_hand_out_anything_on_failure() -> None:
    client = q("www.bing.com")
    target = encode_name("strict.bing.com")
    stand_in = target_query(client, target)
    failed = _target_answer(stand_in, rcode=dns.rcode.SERVFAIL)
    assert dns.message.from_wire(compose(client, target, failed)).rcode() == dns.rcode.SERVFAIL
    bad = dns.message.from_wire(compose(client, target, b"\x00" * 20))
    assert bad.rcode() == dns.rcode.SERVFAIL and not bad.answer
    nx = _target_answer(stand_in, rcode=dns.rcode.NXDOMAIN)
    nx_answer = dns.message.from_wire(compose(client, target, nx))
    assert nx_answer.rcode() == dns.rcode.NXDOMAIN and len(nx_answer.answer) == 1


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_compose_fuzz_always_answers_the_client(junk: bytes) -> None:
    """Whatever the upstream sends for the target, the client gets a well-formed answer
    to its own question: the CNAME plus readable records, or SERVFAIL."""
    client = q("www.youtube.com", "AAAA")
    target = encode_name("restrictmoderate.youtube.com")
    got = dns.message.from_wire(
        compose(client, target, bytes(target_query(client, target).raw[:2]) + junk)
    )
    assert got.id == client.id and got.question[0].name == dns.name.from_text("www.youtube.com")


class Fixed:
    """The rest of the chain: answers every stand-in query at once and records it."""

    name = "fixed"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolve(self, query: Query) -> Answer:
        self.asked.append(query.name)
        return _target_answer(query, f"{query.name}. 300 IN A 192.0.2.120")

    def status(self) -> dict[str, object]:
        return {}


def test_counted_once_per_session_per_engine_and_paused_passes() -> None:
    bus, nxt = EventBus(), Fixed()
    events: list[Event] = []
    bus.subscribe(events.append)
    switch = FilterSwitch()
    link = SafeSearch(nxt, SafeSearchConfig(), bus, switch, google=["google.com", "google.co.ke"])
    for name in ("www.google.com", "www.google.co.ke", "www.google.com", "www.bing.com"):
        answer = link.resolve(q(name))
        assert isinstance(answer, bytes)
        assert dns.message.from_wire(answer).answer[0].rdtype == dns.rdatatype.CNAME
    assert nxt.asked == [GOOGLE_TARGET] * 3 + ["strict.bing.com"]
    assert events == [SafeSearchApplied("google"), SafeSearchApplied("bing")]
    bus.publish(SessionStarted("login"))
    link.resolve(q("www.google.com"))
    assert events[-1] == SafeSearchApplied("google") and len(events) == 4
    switch.on = False  # the operator's pause: passes the query on unchanged
    link.resolve(q("www.google.com"))
    assert nxt.asked[-1] == "www.google.com" and len(events) == 4
    assert link.resolve(q("example.test")) is not None and nxt.asked[-1] == "example.test"
    assert link.status()["applied"] == {"google": 4, "bing": 1}
    link.close()


def test_counter_vocabulary() -> None:
    for engine in ("google", "bing", "duckduckgo", "youtube"):
        name = counter_name(SafeSearchApplied(engine))
        assert name == f"safe_search.{engine}" and is_counter_name(name)
    assert counter_name(SafeSearchApplied("altavista")) is None
    assert not is_counter_name("safe_search.www_google_com")


def test_config_keys() -> None:
    assert parse_config("").filter.safe_search == SafeSearchConfig()
    assert parse_config("filter: {safe_search: false}").filter.safe_search.enabled is False
    off = parse_config("filter: {safe_search: {youtube: off, bing: false}}").filter.safe_search
    assert off == SafeSearchConfig(bing=False, youtube="off")
    strict = parse_config("filter: {safe_search: {youtube: strict}}").filter.safe_search
    assert strict.youtube == "strict"
    from kiosk_agent.config import ConfigError

    with pytest.raises(ConfigError, match="moderate, strict or off"):
        parse_config("filter: {safe_search: {youtube: lenient}}")
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config("filter: {safe_search: {yahoo: true}}")


def test_a_future_from_the_cache_is_followed() -> None:
    class Later:
        name = "later"

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop
            self.futures: list[tuple[Query, asyncio.Future[bytes]]] = []

        def resolve(self, query: Query) -> Answer:
            fut: asyncio.Future[bytes] = self.loop.create_future()
            self.futures.append((query, fut))
            return fut

        def status(self) -> dict[str, object]:
            return {}

    async def run() -> None:
        later = Later(asyncio.get_running_loop())
        link = SafeSearch(later, SafeSearchConfig(), google=["google.com"])
        ok = link.resolve(q("www.google.com"))
        failed = link.resolve(q("www.google.com", "AAAA"))
        assert isinstance(ok, asyncio.Future) and isinstance(failed, asyncio.Future)
        (q1, f1), (_q2, f2) = later.futures
        f1.set_result(_target_answer(q1, f"{GOOGLE_TARGET}. 300 IN A 192.0.2.120"))
        f2.set_exception(OSError("gone"))
        good = dns.message.from_wire(await ok)
        assert good.answer[1][0].address == "192.0.2.120"
        assert dns.message.from_wire(await failed).rcode() == dns.rcode.SERVFAIL

    asyncio.run(run())


# -- the whole chain against dnsmasq ----------------------------------------------------

# dnsmasq stands in for the providers: the safe hosts get documentation addresses, the
# unrestricted hosts other ones, so a test sees which one a client was sent to.
SAFE_RECORDS = [
    "local-ttl=300",  # dnsmasq answers its own records with TTL 0 otherwise: nothing to cache
    "host-record=ready.test,192.0.2.53",
    "host-record=forcesafesearch.google.com,192.0.2.120,2001:db8::120",
    "cname=strict.bing.com,strict-edge.bing.test",
    "host-record=strict-edge.bing.test,192.0.2.220",
    "host-record=safe.duckduckgo.com,192.0.2.44",
    "host-record=restrictmoderate.youtube.com,192.0.2.119",
    "host-record=restrict.youtube.com,192.0.2.121",
    "host-record=www.youtube.com,198.51.100.1",
    "host-record=www.google.com,198.51.100.2",
]


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[HostPort]:
    exe = require_tool("dnsmasq")
    with run_dnsmasq(tmp_path, exe, SAFE_RECORDS) as address:
        yield address


def _config(**safe: object) -> FilterConfig:
    return FilterConfig(upstream_timeout=0.5, safe_search=SafeSearchConfig(**safe))  # type: ignore[arg-type]


def _addresses(m: dns.message.Message) -> set[str]:
    return {r.address for rrset in m.answer if rrset.rdtype in (1, 28) for r in rrset}


def test_chain_answers_safe_hosts_through_dnsmasq(dnsmasq: HostPort) -> None:
    bus = EventBus()
    events: list[Event] = []
    bus.subscribe(events.append)
    with ResolverThread(_config(), [dnsmasq], FakeIndex({"www.duckduckgo.com": "csam"}), bus) as r:
        for name in ("www.google.co.ke", "www.google.com.kh", "WWW.GOOGLE.COM"):
            m = ask(r.address, name)
            assert m.rcode() == 0 and m.answer[0].rdtype == dns.rdatatype.CNAME, name
            assert str(m.answer[0][0].target) == "forcesafesearch.google.com."
            assert _addresses(m) == {"192.0.2.120"}, name
        six = ask(r.address, "www.google.com", "AAAA", tcp=True)
        assert _addresses(six) == {"2001:db8::120"}
        assert r.chain is not None and r.chain.cache.hits >= 2  # the target was cached
        bing = ask(r.address, "www.bing.com", use_edns=0)
        assert [str(rrset[0].target) for rrset in bing.answer[:2]] == [
            "strict.bing.com.",
            "strict-edge.bing.test.",
        ]
        assert _addresses(bing) == {"192.0.2.220"} and bing.edns == 0
        yt = ask(r.address, "youtubei.googleapis.com")
        assert _addresses(yt) == {"192.0.2.119"}
        # a listed name stays blocked, whatever engine it belongs to
        assert ask(r.address, "www.duckduckgo.com").rcode() == dns.rcode.NXDOMAIN
        assert _addresses(ask(r.address, "duckduckgo.com")) == {"192.0.2.44"}
        assert _addresses(ask(r.address, "www.youtube-nocookie.com")) == {"192.0.2.119"}
    counted = [e for e in events if isinstance(e, SafeSearchApplied)]
    assert counted == [SafeSearchApplied(e) for e in ("google", "bing", "youtube", "duckduckgo")]


def test_chain_youtube_strict_and_engines_off(dnsmasq: HostPort) -> None:
    with ResolverThread(_config(youtube="strict"), [dnsmasq]) as r:
        assert _addresses(ask(r.address, "m.youtube.com")) == {"192.0.2.121"}
    with ResolverThread(_config(youtube="off", google=False), [dnsmasq]) as r:
        assert _addresses(ask(r.address, "www.youtube.com")) == {"198.51.100.1"}
        assert _addresses(ask(r.address, "www.google.com")) == {"198.51.100.2"}
        assert ask(r.address, "www.bing.com").answer[0].rdtype == dns.rdatatype.CNAME
    with ResolverThread(_config(enabled=False), [dnsmasq]) as r:
        assert _addresses(ask(r.address, "www.google.com")) == {"198.51.100.2"}
