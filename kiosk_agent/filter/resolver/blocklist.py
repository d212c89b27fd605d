"""Second link: answer names on the hotline list with a block answer.

The index (``kiosk_agent.filter.index``) holds only hashes; ``lookup_host`` checks the
name and its parent domains. The index is fetched through ``current_index()`` on every
query, so an updater can swap it atomically while queries are being answered. With no
index loaded (no list yet) the link passes everything on.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from kiosk_agent.filter.resolver.blockanswer import BlockAnswers, RecentNames
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.filter.urls import name_sha256, parent_expression_bytes
from kiosk_agent.net.wire import Query
from kiosk_agent.reporting.events import Blocked, EventBus


class HostIndex(Protocol):
    """The part of ``BlocklistIndex`` the resolver uses."""

    def lookup_host(self, host: str) -> object:
        """The category id if ``host`` or a parent domain is listed, else None."""
        ...


class HashLookup(Protocol):
    """One list's index: is any of these entry hashes listed?"""

    def lookup_hashes(self, hashes: Iterable[int]) -> object:
        """The category id of the first listed hash, or None."""
        ...


# Names that need no canonicalization: lowercase, starting with a letter (so no IPv4
# form), non-empty labels. For them the entry hashes are made here directly; anything
# else goes through the index's own ``lookup_host`` (full URL canonicalization).
_PLAIN_NAME = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*\Z")
_U64 = struct.Struct(">Q")


def _hash64(expression: bytes) -> int:
    """``urls.hash_int`` of an expression already in bytes: the first 8 bytes of SHA-256."""
    return int(_U64.unpack_from(name_sha256(expression).digest())[0])


def lookup_name(index: HostIndex, name: str) -> object:
    """``index.lookup_host(name)``; for a plain DNS name and an ``IndexHolder``
    (``indexes`` of ``lookup_hashes``), hashed here once for all lists.

    The hashes are those of ``urls.host_expressions`` + ``urls.hash_int`` (the exact
    host, then every parent domain down to two labels). The exact host is hashed
    and looked up first in every list, and its parent domains only when it is not
    listed: a listed name (the blocked case) costs one hash, and an exact entry decides
    the category before a parent domain's entry in another list.
    """
    indexes: Sequence[HashLookup] | None = getattr(index, "indexes", None)
    if indexes is None or not _PLAIN_NAME.match(name):
        return index.lookup_host(name)
    whole = name.encode() + b"/"
    exact = (_hash64(whole),)
    for idx in indexes:
        category = idx.lookup_hashes(exact)
        if category is not None:
            return category
    parents = [_hash64(e) for e in parent_expression_bytes(whole)]
    if parents:
        for idx in indexes:
            category = idx.lookup_hashes(parents)
            if category is not None:
                return category
    return None


MAX_DECISIONS = 4096
_UNDECIDED = object()


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
        # Recent decisions per name: browsers ask for A, AAAA and HTTPS of a name at once
        # and again soon after, and hashing the name is the costliest step of a query.
        # Made against one set of lists: a swap (new ``indexes`` tuple) starts afresh.
        self._decisions: dict[str, object] = {}
        self._decided_with: object = None
        self._events: dict[object, Blocked] = {}  # events are frozen: one per category

    def resolve(self, query: Query) -> Answer:
        name = query.name
        if name and self.switch.on:
            index = self.current_index()
            if index is not None:
                lists = getattr(index, "indexes", index)
                if lists is not self._decided_with:
                    self._decisions = {}
                    self._decided_with = lists
                decisions = self._decisions
                category = decisions.get(name, _UNDECIDED)
                if category is _UNDECIDED:
                    category = lookup_name(index, name)
                    if len(decisions) >= MAX_DECISIONS:
                        decisions.clear()  # simple bound; refilled by the next queries
                    decisions[name] = category
                if category is not None:
                    return self._block(query, name, category)
        return self.next.resolve(query)

    def _block(self, query: Query, name: str, category: object) -> bytes:
        self.blocked += 1
        if self.bus is not None and self.recent.first(name):
            event = self._events.get(category)
            if event is None:
                event = self._events[category] = Blocked(str(category))
            self.bus.publish(event)
        return self.answers.blocked(query)

    def status(self) -> dict[str, object]:
        return {"loaded": self.current_index() is not None, "blocked": self.blocked}
