"""The cache with a mock ``next`` and a hand-driven clock: no sockets."""

from __future__ import annotations

import asyncio

import dns.message
import dns.rcode
import dns.rrset

from kiosk_agent.config import CacheConfig
from kiosk_agent.filter.resolver.cache import STALE_TTL, Cache
from kiosk_agent.filter.resolver.handler import Answer
from kiosk_agent.net.wire import Query, parse_query


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Next:
    """Answers like an upstream would; ``fail`` switches to SERVFAIL."""

    name = "next"

    def __init__(self, ttl: int = 300, rcode: int = 0, soa_min: int | None = None) -> None:
        self.ttl = ttl
        self.rcode = rcode
        self.soa_min = soa_min
        self.calls = 0
        self.fail = False

    def resolve(self, query: Query) -> Answer:
        self.calls += 1
        m = dns.message.from_wire(query.raw)
        r = dns.message.make_response(m)
        if self.fail:
            r.set_rcode(dns.rcode.SERVFAIL)
        elif self.rcode:
            r.set_rcode(dns.rcode.Rcode(self.rcode))
        else:
            r.answer.append(
                dns.rrset.from_text(m.question[0].name, self.ttl, "IN", "A", "192.0.2.7")
            )
        if self.soa_min is not None:
            r.authority.append(
                dns.rrset.from_text(
                    "test.", 3600, "IN", "SOA", f"ns.test. h.test. 1 2 3 4 {self.soa_min}"
                )
            )
        return bytes(r.to_wire())

    def status(self) -> dict[str, object]:
        return {}


def q(name: str = "a.test", qid: int = 1) -> Query:
    m = dns.message.make_query(name, "A")
    m.id = qid
    return parse_query(bytes(m.to_wire()))


def msg(answer: Answer) -> dns.message.Message:
    assert isinstance(answer, bytes)
    return dns.message.from_wire(answer)


def test_hit_ages_ttl_and_echoes_id_and_case() -> None:
    clock, nxt = Clock(), Next(ttl=300)
    cache = Cache(nxt, CacheConfig(), clock)
    cache.resolve(q("a.test", 1))
    clock.now += 100
    r = msg(cache.resolve(q("A.TeSt", 2)))
    assert nxt.calls == 1
    assert r.id == 2 and str(r.question[0].name) == "A.TeSt."
    assert r.answer[0].ttl == 200


def test_expiry_asks_again() -> None:
    clock, nxt = Clock(), Next(ttl=30)
    cache = Cache(nxt, CacheConfig(), clock)
    cache.resolve(q())
    clock.now += 29
    cache.resolve(q())
    assert nxt.calls == 1
    clock.now += 2
    cache.resolve(q())
    assert nxt.calls == 2


def test_ttl_clamps() -> None:
    clock = Clock()
    cache = Cache(Next(ttl=5), CacheConfig(min_ttl=60, max_ttl=120), clock)
    cache.resolve(q())
    assert msg(cache.resolve(q())).answer[0].ttl == 60
    long = Cache(Next(ttl=100_000), CacheConfig(min_ttl=0, max_ttl=120), clock)
    long.resolve(q())
    assert msg(long.resolve(q())).answer[0].ttl == 120
    clock.now += 121
    long.resolve(q())
    assert long.misses == 2


def test_negative_caching_follows_rfc2308() -> None:
    clock = Clock()
    nxt = Next(rcode=dns.rcode.NXDOMAIN, soa_min=120)
    cache = Cache(nxt, CacheConfig(negative_ttl=300), clock)
    cache.resolve(q())
    clock.now += 119
    assert msg(cache.resolve(q())).rcode() == dns.rcode.NXDOMAIN
    assert nxt.calls == 1
    clock.now += 2
    cache.resolve(q())
    assert nxt.calls == 2
    # capped by negative_ttl
    capped = Cache(Next(rcode=3, soa_min=5000), CacheConfig(negative_ttl=10), clock)
    capped.resolve(q())
    clock.now += 11
    capped.resolve(q())
    assert capped.misses == 2
    # no SOA: not cached
    bare = Cache(Next(rcode=3), CacheConfig(), clock)
    bare.resolve(q())
    bare.resolve(q())
    assert bare.misses == 2


def test_lru_bound() -> None:
    cache = Cache(Next(), CacheConfig(max_entries=2), Clock())
    for name in ("a.test", "b.test", "a.test", "c.test"):
        cache.resolve(q(name))
    assert len(cache) == 2
    cache.resolve(q("a.test"))
    assert cache.hits == 2  # a.test survived (recently used); b.test was dropped
    cache.resolve(q("b.test"))
    assert cache.misses == 4


def test_serve_stale_when_upstream_fails() -> None:
    clock, nxt = Clock(), Next(ttl=30)
    cache = Cache(nxt, CacheConfig(stale_for=3600), clock)
    cache.resolve(q())
    clock.now += 100
    nxt.fail = True
    r = msg(cache.resolve(q(qid=9)))
    assert r.rcode() == 0 and r.id == 9 and r.answer[0].ttl == STALE_TTL
    assert cache.stale_served == 1
    clock.now += 3600
    assert msg(cache.resolve(q())).rcode() == dns.rcode.SERVFAIL  # too old even for stale


def test_disabled_cache_passes_through() -> None:
    nxt = Next()
    cache = Cache(nxt, CacheConfig(max_entries=0), Clock())
    cache.resolve(q())
    cache.resolve(q())
    assert nxt.calls == 2 and len(cache) == 0


def test_concurrent_misses_share_one_upstream_request() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        inner = Next()
        futures: list[asyncio.Future[bytes]] = []

        class Slow:
            name = "slow"

            def resolve(self, query: Query) -> Answer:
                f: asyncio.Future[bytes] = loop.create_future()
                answer = inner.resolve(query)
                assert isinstance(answer, bytes)
                loop.call_later(0.01, f.set_result, answer)
                futures.append(f)
                return f

            def status(self) -> dict[str, object]:
                return {}

        cache = Cache(Slow(), CacheConfig(), Clock())
        a, b = cache.resolve(q("x.test", 1)), cache.resolve(q("X.TEST", 2))
        assert not isinstance(a, bytes) and not isinstance(b, bytes)
        ra, rb = dns.message.from_wire(await a), dns.message.from_wire(await b)
        assert len(futures) == 1
        assert (ra.id, rb.id) == (1, 2)
        assert str(rb.question[0].name) == "X.TEST."

    asyncio.run(main())
