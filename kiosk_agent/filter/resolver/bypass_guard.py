"""First link: stop browsers from going around the local resolver with DNS-over-HTTPS.

Firefox asks for the canary ``use-application-dns.net`` and keeps its own DoH off when
the answer is NXDOMAIN. Other browsers and apps name a DoH provider's host; those hosts
(and their subdomains) are blocked as category ``bypass`` and counted as tampering.
"""

from __future__ import annotations

from collections.abc import Iterable

from kiosk_agent.filter.resolver.blockanswer import BlockAnswers, RecentNames
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.net.wire import Query
from kiosk_agent.reporting.events import Blocked, EventBus, TamperDetected

DOH_CANARY = "use-application-dns.net"
BYPASS_CATEGORY = "bypass"


class BypassGuard(Link):
    """NXDOMAIN for the DoH canary; block answers for DoH hosts; pass the rest on."""

    name = "bypass_guard"

    def __init__(
        self,
        next: Handler,
        doh_hosts: Iterable[str],
        answers: BlockAnswers,
        bus: EventBus | None = None,
        switch: FilterSwitch | None = None,
    ) -> None:
        super().__init__(next)
        self.switch = switch or FilterSwitch()
        self.doh_hosts = frozenset(h.strip(".").lower() for h in doh_hosts)
        self._dot_hosts = tuple("." + h for h in self.doh_hosts)
        self.answers = answers
        self.bus = bus
        self.recent = RecentNames()
        self.canary_answered = 0
        self.doh_blocked = 0

    def is_doh_host(self, name: str) -> bool:
        # This runs for every query: one set lookup and one C-level endswith over the
        # ".host" suffixes, instead of walking the parent domains in Python.
        return name in self.doh_hosts or name.endswith(self._dot_hosts)

    def resolve(self, query: Query) -> Answer:
        name = query.name
        if name == DOH_CANARY:
            self.canary_answered += 1
            return self.answers.nxdomain(query)
        if self.switch.on and self.is_doh_host(name):
            self.doh_blocked += 1
            if self.bus is not None and self.recent.first(name):
                self.bus.publish(Blocked(BYPASS_CATEGORY))
                self.bus.publish(TamperDetected("doh"))
            return self.answers.blocked(query)
        return self.next.resolve(query)

    def status(self) -> dict[str, object]:
        return {
            "doh_hosts": len(self.doh_hosts),
            "canary_answered": self.canary_answered,
            "doh_blocked": self.doh_blocked,
        }
