"""What the SafeSearch link costs a blocked and a cached answer, in process (issue 17).

`python -m benchmarks.safe_search_cost [--rounds 21] [--queries 20000]`

The whole chain (``build_chain``) answers the same query bytes again and again: a
listed name (blocked before the SafeSearch link is reached) and a cached name (passes
through it). Each round times both chains back to back, once with the SafeSearch link
in place and once with it spliced out (suspect hosts -> cache directly, the chain before
issue 17), so both see the same machine at the same moments; the fastest round of each is printed
(the least disturbed by other processes), with the SafeSearch answer itself (CNAME +
cached target) for scale.
On a shared machine the socket benchmarks (``resolver_bench``) vary by 10-25 % from run
to run; this isolates the link's own cost, which is what changed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

import dns.message
import dns.rrset

from kiosk_agent.config import FilterConfig, HostPort
from kiosk_agent.filter.resolver.chain import Chain, build_chain
from kiosk_agent.net.wire import Query, parse_query


class ListedNames:
    """A one-list index: ``lookup_host`` for the names given (and their subdomains)."""

    def __init__(self, names: set[str]) -> None:
        self.names = names

    def lookup_host(self, host: str) -> str | None:
        parts = host.split(".")
        for i in range(len(parts)):
            if ".".join(parts[i:]) in self.names:
                return "csam"
        return None


def _query(name: str) -> Query:
    return parse_query(bytes(dns.message.make_query(name, "A").to_wire()))


def _answer(query: Query, name: str, address: str) -> bytes:
    resp = dns.message.make_response(dns.message.from_wire(query.raw))
    resp.answer.append(dns.rrset.from_text(name + ".", 300, "IN", "A", address))
    return bytes(resp.to_wire())


def _per_query_ns(chain: Chain, query: Query, n: int) -> float:
    resolve = chain.head.resolve
    start = time.perf_counter_ns()
    for _ in range(n):
        resolve(query)
    return (time.perf_counter_ns() - start) / n


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--queries", type=int, default=20000, help="per chain per round")
    args = parser.parse_args(argv)

    async def run() -> dict[str, list[float]]:
        index = ListedNames({"blocked.test"})
        config = FilterConfig(cache=FilterConfig().cache)
        up = [HostPort("127.0.0.1", 9)]  # never asked: every answer comes from the cache
        with_link = build_chain(config, up, lambda: index)
        without = build_chain(config, up, lambda: index)
        without.suspect_hosts.next = without.cache  # the chain before issue 17
        blocked, cached = _query("www.blocked.test"), _query("www.cached.test")
        safe = _query("www.google.com")
        stand_in = _query("forcesafesearch.google.com")
        for chain in (with_link, without):
            chain.cache.store(cached, _answer(cached, "www.cached.test", "192.0.2.2"))
            chain.cache.store(stand_in, _answer(stand_in, stand_in.name, "192.0.2.120"))
        assert isinstance(with_link.head.resolve(safe), bytes)  # answered from the cache
        times: dict[str, list[float]] = {}
        pair = [("with", with_link), ("without", without)]
        for _ in range(args.rounds):
            pair.reverse()  # each goes first in every other round
            for label, chain in pair:
                for kind, q in (("blocked", blocked), ("cached", cached)):
                    times.setdefault(f"{kind} {label}", []).append(
                        _per_query_ns(chain, q, args.queries)
                    )
            times.setdefault("safe search answer", []).append(
                _per_query_ns(with_link, safe, args.queries)
            )
        return times

    times = asyncio.run(run())
    for label, values in times.items():
        print(f"{label:>20}: {min(values):8.0f} ns per query (fastest round)")
    for kind in ("blocked", "cached"):
        w = min(times[f"{kind} with"])
        wo = min(times[f"{kind} without"])
        print(f"{kind}: SafeSearch link {w - wo:+.0f} ns ({(w - wo) / wo * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
