"""Second link: answer names on the hotline list with a block answer.

The index (``kiosk_agent.filter.index``) holds only hashes; ``lookup_host`` checks the
name and its parent domains. The index is fetched through ``current_index()`` on every
query, so an updater can swap it atomically while queries are being answered. With no
index loaded (no list yet) the link passes everything on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from kiosk_agent.filter.resolver.blockanswer import BlockAnswers, RecentNames
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.filter.resolver.wire import Query
from kiosk_agent.reporting.events import Blocked, EventBus


class HostIndex(Protocol):
    """The part of ``BlocklistIndex`` the resolver uses."""

    def lookup_host(self, host: str) -> object:
        """The category id if ``host`` or a parent domain is listed, else None."""
        ...


class Blocklist(Link):
    """Blocks listed names for every query type; emits ``Blocked(category)`` once per attempt."""

    name = "blocklist"

    def __init__(
        self,
        next: Handler,
        current_index: Callable[[], HostIndex | None],
        answers: BlockAnswers,
        bus: EventBus | None = None,
        switch: FilterSwitch | None = None,
    ) -> None:
        super().__init__(next)
        self.switch = switch or FilterSwitch()
        self.current_index = current_index
        self.answers = answers
        self.bus = bus
        self.recent = RecentNames()
        self.blocked = 0

    def resolve(self, query: Query) -> Answer:
        index = self.current_index()
        if index is not None and query.name and self.switch.on:
            category = index.lookup_host(query.name)
            if category is not None:
                self.blocked += 1
                if self.bus is not None and self.recent.first(query.name):
                    self.bus.publish(Blocked(str(category)))
                return self.answers.blocked(query)
        return self.next.resolve(query)

    def status(self) -> dict[str, object]:
        return {"loaded": self.current_index() is not None, "blocked": self.blocked}
