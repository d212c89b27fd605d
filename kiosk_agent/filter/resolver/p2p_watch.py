"""A link that notices BitTorrent DHT bootstrap and tracker names in the queries it sees.

Policy ``count`` (the default): the query goes on unchanged and the session's first
such query is reported as ``P2PSeen("tracker")``. Policy ``block``: the names become
category ``p2p``, answered like a listed name (``Blocked("p2p")`` once per attempt).
"""

from __future__ import annotations

from kiosk_agent.config import P2PConfig
from kiosk_agent.filter.p2p import P2P_CATEGORY, TRACKER_KIND, SessionSightings, TrackerMatcher
from kiosk_agent.filter.resolver.blockanswer import BlockAnswers, RecentNames
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.net.wire import Query
from kiosk_agent.reporting.events import Blocked, EventBus


class P2PWatch(Link):
    """Observes tracker / DHT names; blocks them under ``policy: block``."""

    name = "p2p_watch"

    def __init__(
        self,
        next: Handler,
        config: P2PConfig,
        answers: BlockAnswers,
        bus: EventBus | None = None,
        switch: FilterSwitch | None = None,
    ) -> None:
        super().__init__(next)
        self.switch = switch or FilterSwitch()
        self.block = config.policy == "block"
        self.matcher = TrackerMatcher(extra=config.tracker_hosts)
        self.answers = answers
        self.bus = bus
        self.sightings = SessionSightings(bus) if bus is not None else None
        self.recent = RecentNames()
        self.seen = 0
        self.blocked = 0

    def resolve(self, query: Query) -> Answer:
        if not self.matcher.matches(query.name):
            return self.next.resolve(query)
        self.seen += 1
        if self.sightings is not None:
            self.sightings.seen(TRACKER_KIND)
        if not self.block or not self.switch.on:  # paused: still counted, not blocked
            return self.next.resolve(query)
        self.blocked += 1
        if self.bus is not None and self.recent.first(query.name):
            self.bus.publish(Blocked(P2P_CATEGORY))
        return self.answers.blocked(query)

    def status(self) -> dict[str, object]:
        return {
            "policy": "block" if self.block else "count",
            "seen": self.seen,
            "blocked": self.blocked,
        }
