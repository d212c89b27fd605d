"""What the proxy does with a request or a TLS connection: pure decisions over the index.

No sockets here. The index is anything with the three lookups below (the real one is
``kiosk_agent.filter.index.BlocklistIndex``); it is fetched per decision from an
``IndexSource`` so a list update swapped in by the updater applies to the next request.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

URL_UNVERIFIABLE = "url_unverifiable"
"""The pseudo-category of ``Blocked`` events for HTTPS visits to a suspect host: the
proxy cannot see the path, lets the connection through, and counts it as
``blocked.url_unverifiable``. Not a block: toasts must skip it (docs/url-blocking.md)."""


class UrlIndex(Protocol):
    """The lookups the proxy needs from the blocklist index."""

    def lookup_url(self, url: str) -> str | None:
        """The category of the first listed expression of ``url``, or None."""
        ...

    def lookup_host(self, host: str) -> str | None:
        """The category when the whole host (or a parent) is listed, or None."""
        ...

    def suspect_host(self, host: str) -> bool:
        """True when some URL-level entry names a page on ``host``."""
        ...


IndexSource = Callable[[], UrlIndex | None]
"""Returns the index in force now (None before the first list is applied)."""


def http_verdict(index: UrlIndex | None, host: str, path: str) -> str | None:
    """The category that blocks ``http://host/path``, or None to forward the request.

    ``path`` is the request's path and query as sent. The port is left out: hotline
    expressions, like Safe Browsing's, never carry one.
    """
    if index is None:
        return None
    return index.lookup_url(f"http://{host}{path if path.startswith('/') else '/' + path}")


@dataclass(frozen=True, slots=True)
class TlsVerdict:
    """``refuse`` a listed host (fatal alert, ``Blocked(category)``) or ``splice`` it
    unchanged; ``unverifiable`` when it carries listed pages we cannot see."""

    action: Literal["splice", "refuse"]
    category: str | None = None
    unverifiable: bool = False


def tls_verdict(index: UrlIndex | None, server_name: str) -> TlsVerdict:
    """Decide a TLS connection from its SNI alone (the path is encrypted)."""
    if index is None:
        return TlsVerdict("splice")
    category = index.lookup_host(server_name)
    if category is not None:
        return TlsVerdict("refuse", category)
    return TlsVerdict("splice", unverifiable=index.suspect_host(server_name))


class VisitWindow:
    """Counts one unverifiable *visit* per host per ``window`` seconds, not per connection.

    A browser opens up to six connections per host and reconnects after idling; counting
    connections would turn one page view into a dozen. Hosts are remembered only as
    8-byte BLAKE2b digests, in memory, at most ``max_hosts`` of them (oldest dropped).
    ``reset()`` forgets everything (a new customer session).
    """

    def __init__(
        self,
        window: float = 600.0,
        max_hosts: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.max_hosts = max_hosts
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_visit(self, host: str) -> bool:
        """True if ``host`` has not been counted within the window (and count it now)."""
        key = hashlib.blake2b(host.encode(), digest_size=8).digest()
        now = self._clock()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.window:
                return False
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > self.max_hosts:
                self._seen.popitem(last=False)
            return True

    def reset(self) -> None:
        with self._lock:
            self._seen.clear()
