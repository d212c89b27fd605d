"""Stage 1 of URL-level blocking: send hosts that carry listed pages to the local proxy.

The index knows, for every URL-level entry, the hash of its host ("suspect host"), but
not which pages. A browser asking for a suspect host gets the filtering proxy's
loopback address, so its requests reach stage 2 (``kiosk_agent.filter.proxy``), which
checks each URL and forwards everything not listed to the real server. AAAA and
HTTPS/SVCB queries get NODATA: an IPv6 address or an address hint would let the
browser go around the proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.net.wire import (
    NOERROR,
    TYPE_A,
    TYPE_AAAA,
    Query,
    make_response,
    rr,
    soa_rr,
)

TYPE_SVCB = 64
TYPE_HTTPS = 65
_HIDDEN_TYPES = frozenset({TYPE_AAAA, TYPE_SVCB, TYPE_HTTPS})


class SuspectHosts(Link):
    """Answers A queries for suspect hosts with ``proxy_address``; passes everything else.

    With no proxy address (proxy disabled), no index, or filtering paused by the operator,
    the link passes every query on.
    The index is fetched per query so a list swap applies at once; an index without
    ``suspect_host`` (no URL-level entries) is passed by.
    """

    name = "suspect_hosts"

    def __init__(
        self,
        next: Handler,
        current_index: Callable[[], object | None],
        proxy_address: str | None,
        ttl: int = 60,
        switch: FilterSwitch | None = None,
    ) -> None:
        super().__init__(next)
        self.switch = switch or FilterSwitch()
        self.current_index = current_index
        self.ttl = ttl
        self._a: bytes | None = None
        if proxy_address is not None:
            address = ipaddress.ip_address(proxy_address)
            if address.version != 4:
                raise ValueError("the proxy must listen on an IPv4 loopback address")
            self._a = rr(TYPE_A, ttl, address.packed)
        self._soa = soa_rr(ttl)
        self.redirected = 0

    def resolve(self, query: Query) -> Answer:
        if self._a is None or not query.name or not self.switch.on:
            return self.next.resolve(query)
        if query.qtype != TYPE_A and query.qtype not in _HIDDEN_TYPES:
            return self.next.resolve(query)
        suspect_host = getattr(self.current_index(), "suspect_host", None)
        if suspect_host is None or not suspect_host(query.name):
            return self.next.resolve(query)
        self.redirected += 1
        if query.qtype == TYPE_A:
            return make_response(query, NOERROR, self._a, 1)
        return make_response(query, NOERROR, authority=self._soa)  # NODATA

    def status(self) -> dict[str, object]:
        return {"enabled": self._a is not None, "redirected": self.redirected}
