"""The answers the agent gives for a blocked name, and a damper for repeated events.

A browser asks for A, AAAA and HTTPS records of the same name at once and retries;
``RecentNames`` lets one attempt count once. It keeps only Python hashes of names, in
memory, for a few seconds: nothing readable and nothing on disk.
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Literal

from kiosk_agent.filter.resolver.wire import (
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
    """True the first time a name is seen within ``window`` seconds (bounded memory)."""

    def __init__(
        self,
        window: float = 10.0,
        capacity: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[int, float] = OrderedDict()

    def first(self, name: str) -> bool:
        now = self._clock()
        key = hash(name)
        seen = self._seen.get(key)
        if seen is not None and now - seen < self.window:
            return False
        self._seen[key] = now
        self._seen.move_to_end(key)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return True
