"""Second link: answer names on the hotline list with a block answer.

The index (``kiosk_agent.filter.index``) holds only hashes; ``lookup_host`` checks the
name and its parent domains. The index is fetched through ``current_index()`` on every
query, so an updater can swap it atomically while queries are being answered. With no
index loaded (no list yet) the link passes everything on.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

from kiosk_agent.filter.resolver.blockanswer import BlockAnswers, RecentNames
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.filter.resolver.wire import Query
from kiosk_agent.filter.urls import MAX_HOST_SUFFIXES
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


def host_hashes(name: str) -> list[int] | None:
    """The entry hashes of ``host/`` for ``name`` and its parent domains (the exact host,
    then suffixes from the last five labels down to two), exactly as
    ``urls.host_expressions`` + ``urls.hash_int`` make them; None when ``name`` needs the
    general path."""
    if not _PLAIN_NAME.match(name):
        return None
    expression = name.encode() + b"/"  # every suffix expression is a tail of this one
    labels = name.split(".")
    starts = [0]
    offset = 0
    for label in labels[: len(labels) - 2]:
        offset += len(label) + 1
        starts.append(offset)
    # The exact host, then suffixes from the last MAX_HOST_SUFFIXES labels down to two.
    first = max(1, len(labels) - MAX_HOST_SUFFIXES)
    cut = [0, *starts[first:]] if len(labels) > 1 else [0]
    sha256 = hashlib.sha256
    from_bytes = int.from_bytes
    return [from_bytes(sha256(expression[i:]).digest()[:8], "big") for i in dict.fromkeys(cut)]


def lookup_name(index: HostIndex, name: str) -> object:
    """``index.lookup_host(name)``, hashing the name once for all lists of an
    ``IndexHolder`` (``indexes`` of ``lookup_hashes``) when it is a plain DNS name."""
    indexes: Sequence[HashLookup] | None = getattr(index, "indexes", None)
    if indexes is not None:
        hashes = host_hashes(name)
        if hashes is not None:
            for idx in indexes:
                category = idx.lookup_hashes(hashes)
                if category is not None:
                    return category
            return None
    return index.lookup_host(name)


MAX_DECISIONS = 4096


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

    def resolve(self, query: Query) -> Answer:
        index = self.current_index()
        name = query.name
        if index is not None and name and self.switch.on:
            lists = getattr(index, "indexes", index)
            if lists is not self._decided_with:
                self._decisions = {}
                self._decided_with = lists
            decisions = self._decisions
            try:
                category = decisions[name]
            except KeyError:
                category = lookup_name(index, name)
                if len(decisions) >= MAX_DECISIONS:
                    decisions.clear()  # simple bound; refilled by the next queries
                decisions[name] = category
            if category is not None:
                self.blocked += 1
                if self.bus is not None and self.recent.first(name):
                    self.bus.publish(Blocked(str(category)))
                return self.answers.blocked(query)
        return self.next.resolve(query)

    def status(self) -> dict[str, object]:
        return {"loaded": self.current_index() is not None, "blocked": self.blocked}
