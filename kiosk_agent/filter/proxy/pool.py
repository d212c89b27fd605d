"""Idle keep-alive connections to real servers, handed to the next client connection.

Browsers open a new connection to the proxy for many requests; without a pool, each
would also open a new connection to the real server, one more round of waiting on a
busy café PC. A connection is pooled only after a complete exchange that both sides
agreed to keep alive, and never after a request carrying ``Authorization`` (NTLM and
Negotiate authenticate the connection itself, which must not pass to another client).
Bounded: a few idle connections per host, a total cap, an idle age; host names are
kept in memory only, like the resolver's cache.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable


class OriginConnection:
    """A connection to a real server (``host``) and whether it may be reused."""

    def __init__(
        self, host: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.host = host
        self.reader = reader
        self.writer = writer
        self.reusable = False  # set after each complete keep-alive exchange
        self.pinned = False  # connection-bound authentication seen: never pooled

    def open(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def usable_for(self, host: str) -> bool:
        return self.host == host and self.open()

    def close(self) -> None:
        self.writer.close()


class OriginPool:
    """At most ``per_host`` idle connections per host and ``total`` overall, each for at
    most ``max_idle`` seconds; the oldest go first."""

    def __init__(
        self,
        per_host: int = 4,
        total: int = 64,
        max_idle: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_host = per_host
        self.total = total
        self.max_idle = max_idle
        self._clock = clock
        self._idle: OrderedDict[int, tuple[float, OriginConnection]] = OrderedDict()
        self.reused = 0

    def __len__(self) -> int:
        return len(self._idle)

    def give(self, conn: OriginConnection) -> None:
        """Keep ``conn`` for reuse if it may be, else close it."""
        if not conn.reusable or conn.pinned or not conn.open() or self.total == 0:
            conn.close()
            return
        same_host = [k for k, (_, c) in self._idle.items() if c.host == conn.host]
        while len(same_host) >= self.per_host:
            self._idle.pop(same_host.pop(0))[1].close()
        while len(self._idle) >= self.total:
            self._idle.popitem(last=False)[1][1].close()
        self._idle[id(conn)] = (self._clock(), conn)

    def take(self, host: str) -> OriginConnection | None:
        """The most recently pooled open connection to ``host``, or None."""
        now = self._clock()
        found: OriginConnection | None = None
        for key, (since, conn) in reversed(list(self._idle.items())):
            if now - since >= self.max_idle or not conn.open():
                del self._idle[key]
                conn.close()
            elif found is None and conn.host == host:
                del self._idle[key]
                found = conn
        if found is not None:
            self.reused += 1
            found.reusable = False
        return found

    def close_all(self) -> None:
        for _, conn in self._idle.values():
            conn.close()
        self._idle.clear()
