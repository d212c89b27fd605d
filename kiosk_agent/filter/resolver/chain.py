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
from kiosk_agent.filter.resolver.handler import Handler
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

    def status(self) -> dict[str, object]:
        return {
            link.name: link.status()
            for link in (self.bypass_guard, self.blocklist, self.cache, self.upstream)
        }


def build_chain(
    config: FilterConfig,
    upstreams: Sequence[HostPort],
    current_index: Callable[[], HostIndex | None],
    bus: EventBus | None = None,
) -> Chain:
    """bypass guard -> blocklist -> cache -> upstream, each rule explained where it is made."""
    answers = BlockAnswers(
        config.block_answer, sinkhole=config.blockpage_listen.host, ttl=config.block_ttl
    )
    # The upstream is the end of the chain: it always answers (SERVFAIL at worst).
    upstream = Upstream(upstreams, timeout=config.upstream_timeout)
    # The cache sits in front of the upstream only: it stores what the upstreams say,
    # and it is the one link that can replace a SERVFAIL with a stale answer.
    cache = Cache(upstream, config.cache)
    # The blocklist comes BEFORE the cache: a name added to the list is blocked on its
    # next query even if an answer for it is still cached, and block answers are never
    # cached by us (they are cheap to make and must follow list updates at once).
    blocklist = Blocklist(cache, current_index, answers, bus)
    # The bypass guard comes first: the DoH canary must get NXDOMAIN whatever any list
    # or cache says, and DoH hosts are blocked even before a hotline list is loaded.
    guard = BypassGuard(blocklist, config.doh_hosts, answers, bus)
    return Chain(
        head=guard, bypass_guard=guard, blocklist=blocklist, cache=cache, upstream=upstream
    )
