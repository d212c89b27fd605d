"""The answers the agent gives for a blocked name, and a damper for repeated events.

A browser asks for A, AAAA and HTTPS records of the same name at once and retries;
``RecentNames`` lets one attempt count once. It keeps only Python hashes of names, in
memory, for a few seconds: nothing readable and nothing on disk.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import Literal

from kiosk_agent.net.wire import (
    NOERROR,
    NXDOMAIN,
    TYPE_A,
    TYPE_AAAA,
    Query,
    make_response,
    rr,
    soa_rr,
)


class BlockAnswers:
    """Builds the response for a blocked query.

    ``nxdomain``: NXDOMAIN with a synthetic SOA whose TTL is ``ttl`` (RFC 2308), so a
    name removed from the list resolves again within ``ttl`` seconds. ``sinkhole``: A or
    AAAA of the block page when it has an address of that family, otherwise NODATA.
    """

    def __init__(
        self,
        mode: Literal["nxdomain", "sinkhole"] = "nxdomain",
        sinkhole: str | None = None,
        ttl: int = 60,
    ) -> None:
        self.mode = mode
        self.ttl = ttl
        self._v4: bytes | None = None
        self._v6: bytes | None = None
        if sinkhole is not None:
            addr = ipaddress.ip_address(sinkhole)
            if addr.version == 4:
                self._v4 = addr.packed
            else:
                self._v6 = addr.packed
        self._soa = soa_rr(ttl)

    def nxdomain(self, query: Query) -> bytes:
        return make_response(query, NXDOMAIN, authority=self._soa)

    def blocked(self, query: Query) -> bytes:
        if self.mode == "sinkhole":
            if query.qtype == TYPE_A and self._v4 is not None:
                return make_response(query, NOERROR, rr(TYPE_A, self.ttl, self._v4), 1)
            if query.qtype == TYPE_AAAA and self._v6 is not None:
                return make_response(query, NOERROR, rr(TYPE_AAAA, self.ttl, self._v6), 1)
            return make_response(query, NOERROR, authority=self._soa)  # NODATA
        return self.nxdomain(query)


class RecentNames:
    """True the first time a name is seen within ``window`` seconds (bounded memory).

    Two generations of {name hash: last seen}: the current one and the one before. A
    generation ends after ``window`` seconds, so everything dropped with the older one is
    at least ``window`` old; or early, after ``capacity`` names, when a flood of distinct
    names would otherwise grow it without bound. Two dict lookups and a store per call:
    this runs for every blocked query.
    """

    def __init__(
        self,
        window: float = 10.0,
        capacity: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._current: dict[int, float] = {}
        self._previous: dict[int, float] = {}
        self._rotate_at = clock() + window

    def first(self, name: str) -> bool:
        now = self._clock()
        current = self._current
        if now >= self._rotate_at or len(current) >= self.capacity:
            self._previous = current
            self._current = current = {}
            self._rotate_at = now + self.window
        key = hash(name)
        seen = current.get(key)
        if seen is None:
            seen = self._previous.get(key)
        current[key] = now
        return seen is None or now - seen >= self.window
