"""The one place that orders the resolver's handlers.

Every handler stays in the chain even when its feature is off (no DoH hosts, no list
loaded yet, cache size 0): it then passes queries on, so the order below always holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from kiosk_agent.config import FilterConfig, HostPort
from kiosk_agent.filter.resolver.blockanswer import BlockAnswers
from kiosk_agent.filter.resolver.blocklist import Blocklist, HostIndex
from kiosk_agent.filter.resolver.bypass_guard import BypassGuard
from kiosk_agent.filter.resolver.cache import Cache
from kiosk_agent.filter.resolver.handler import FilterSwitch, Handler
from kiosk_agent.filter.resolver.p2p_watch import P2PWatch
from kiosk_agent.filter.resolver.safe_search import SafeSearch
from kiosk_agent.filter.resolver.suspect import SuspectHosts
from kiosk_agent.filter.resolver.upstream import Upstream
from kiosk_agent.reporting.events import EventBus


@dataclass
class Chain:
    """The assembled chain: ``head`` answers queries; the links are kept for status."""

    head: Handler
    bypass_guard: BypassGuard
    blocklist: Blocklist
    cache: Cache
    upstream: Upstream
    switch: FilterSwitch
    p2p_watch: P2PWatch
    suspect_hosts: SuspectHosts
    safe_search: SafeSearch

    def status(self) -> dict[str, object]:
        return {
            link.name: link.status()
            for link in (
                self.bypass_guard,
                self.blocklist,
                self.p2p_watch,
                self.suspect_hosts,
                self.safe_search,
                self.cache,
                self.upstream,
            )
        }


def build_chain(
    config: FilterConfig,
    upstreams: Sequence[HostPort],
    current_index: Callable[[], HostIndex | None],
    bus: EventBus | None = None,
    switch: FilterSwitch | None = None,
) -> Chain:
    """bypass guard -> blocklist -> p2p watch -> suspect hosts -> safe search -> cache ->
    upstream, each rule explained where it is made."""
    switch = switch or FilterSwitch()
    answers = BlockAnswers(
        config.block_answer, sinkhole=config.blockpage_listen.host, ttl=config.block_ttl
    )
    # The upstream is the end of the chain: it always answers (SERVFAIL at worst).
    upstream = Upstream(upstreams, timeout=config.upstream_timeout)
    # The cache sits in front of the upstream only: it stores what the upstreams say,
    # and it is the one link that can replace a SERVFAIL with a stale answer.
    cache = Cache(upstream, config.cache)
    # SafeSearch comes AFTER the blocklist: a listed name stays blocked, whatever engine
    # it belongs to; and AFTER suspect hosts: a host with listed pages (a YouTube video on
    # a hotline list) goes to the URL proxy, which can block that page, and the hotline
    # list outranks a search engine's safe mode. It comes BEFORE the cache, which it asks
    # for the safe host's addresses: they are cached like any answer, while the rewrite
    # itself is made afresh for each query (it follows the config, not a cached answer).
    safe_search = SafeSearch(cache, config.safe_search, bus, switch)
    # Suspect hosts (stage 1 of URL-level blocking) come BEFORE the cache: a host that
    # becomes suspect with a list update goes to the proxy on its next query even while
    # its real address is still cached; and AFTER the blocklist, so a host listed as a
    # whole gets the block answer, not the proxy.
    proxy = config.proxy
    suspect = SuspectHosts(
        safe_search,
        current_index,
        proxy.http_listen.host if proxy.enabled else None,
        ttl=config.block_ttl,
        switch=switch,
    )
    # The P2P watch comes BEFORE the cache, so tracker queries are seen even when their
    # answer is cached, and AFTER the blocklist and bypass guard, whose answers for a
    # name also on a hotline list take precedence.
    p2p = P2PWatch(suspect, config.p2p, answers, bus, switch)
    # The blocklist comes BEFORE the cache: a name added to the list is blocked on its
    # next query even if an answer for it is still cached, and block answers are never
    # cached by us (they are cheap to make and must follow list updates at once).
    blocklist = Blocklist(p2p, current_index, answers, bus, switch)
    # The bypass guard comes first: the DoH canary must get NXDOMAIN whatever any list
    # or cache says, and DoH hosts are blocked even before a hotline list is loaded.
    guard = BypassGuard(blocklist, config.doh_hosts, answers, bus, switch)
    return Chain(
        head=guard,
        bypass_guard=guard,
        blocklist=blocklist,
        cache=cache,
        upstream=upstream,
        switch=switch,
        p2p_watch=p2p,
        suspect_hosts=suspect,
        safe_search=safe_search,
    )
