"""Third link: remember upstream answers for as long as their TTLs allow.

- TTLs are clamped to ``[min_ttl, max_ttl]``; an answer lives as long as its smallest TTL.
- Negative answers (NXDOMAIN, NODATA) live min(SOA TTL, SOA MINIMUM, ``negative_ttl``)
  (RFC 2308); without an SOA they are not cached.
- At most ``max_entries`` answers, least recently used dropped first.
- An expired answer is kept ``stale_for`` longer and served, with TTL 30, when the
  upstreams cannot answer (SERVFAIL): RFC 8767 serve-stale.
- Identical queries that miss at the same time share one upstream request.

Answers are stored as bytes; a hit copies them, writes the client's id and question
(letter case included) and lowers every TTL by the answer's age. ``max_entries: 0``
disables the cache: the link then passes every query on.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from kiosk_agent.config import CacheConfig
from kiosk_agent.filter.resolver.handler import Answer, Handler, Link
from kiosk_agent.net.wire import (
    HEADER_LEN,
    NOERROR,
    NXDOMAIN,
    SERVFAIL,
    TC,
    FormError,
    Query,
    parse_answer,
)

STALE_TTL = 30  # RFC 8767 section 4: TTL of a stale answer
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")

CacheKey = tuple[bytes, int, int, int]


@dataclass(slots=True)
class Entry:
    answer: bytes
    qlen: int
    ttl_offsets: tuple[int, ...]
    ttls: tuple[int, ...]  # already clamped
    stored: float
    expires: float
    stale_until: float


def personalize(answer: bytes, query: Query) -> bytes:
    """``answer`` with the client's id and exact question bytes."""
    qlen = len(query.question)
    return _U16.pack(query.id) + answer[2:HEADER_LEN] + query.question + answer[HEADER_LEN + qlen :]


class Cache(Link):
    """The answer cache with TTL clamps, negative caching, LRU bound and serve-stale."""

    name = "cache"

    def __init__(
        self,
        next: Handler,
        config: CacheConfig,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(next)
        self.config = config
        self.clock = clock
        self._entries: OrderedDict[CacheKey, Entry] = OrderedDict()
        self._pending: dict[CacheKey, asyncio.Future[bytes]] = {}
        self.hits = 0
        self.misses = 0
        self.stale_served = 0

    @property
    def enabled(self) -> bool:
        return self.config.max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    # -- the chain -------------------------------------------------------------------

    def resolve(self, query: Query) -> Answer:
        if not self.enabled:
            return self.next.resolve(query)
        key = query.key
        entry = self._entries.get(key)
        now = self.clock()
        if entry is not None and now < entry.expires:
            self._entries.move_to_end(key)
            self.hits += 1
            return self._render(entry, query, now, stale=False)
        self.misses += 1
        pending = self._pending.get(key)
        if pending is not None:
            return self._follow(pending, query)
        answer = self.next.resolve(query)
        if isinstance(answer, bytes):
            return self._settle(query, answer)
        self._pending[key] = answer
        if entry is None or now >= entry.stale_until:
            # Nothing stale to put in place of a failure: the client gets the upstream's
            # answer as it comes, and storing it (which parses every record) is done
            # after the answer was sent.
            answer.add_done_callback(partial(self._store_later, query))
            return answer
        answer.add_done_callback(lambda _f: self._pending.pop(key, None))
        return self._follow(answer, query, first=True)

    def _store_later(self, query: Query, upstream: asyncio.Future[bytes]) -> None:
        self._pending.pop(query.key, None)
        if upstream.cancelled() or upstream.exception() is not None:
            return
        # Runs before the callbacks that send the answer to the client (added later);
        # call_soon puts the store after them.
        upstream.get_loop().call_soon(self.store, query, upstream.result())

    def _follow(self, upstream: asyncio.Future[bytes], query: Query, first: bool = False) -> Answer:
        out: asyncio.Future[bytes] = upstream.get_loop().create_future()

        def done(f: asyncio.Future[bytes]) -> None:
            if out.done():
                return
            if f.cancelled():
                out.cancel()
                return
            exc = f.exception()
            if exc is not None:
                out.set_exception(exc)
                return
            answer = f.result()
            if first:
                out.set_result(self._settle(query, answer))
            else:
                out.set_result(self._settle_follower(query, answer))

        upstream.add_done_callback(done)
        return out

    def _settle(self, query: Query, answer: bytes) -> bytes:
        """Store a fresh answer, or swap an upstream failure for a stale answer."""
        if len(answer) >= 4 and answer[3] & 0xF == SERVFAIL:
            return self._stale_or(query, answer)
        self.store(query, answer)
        return answer

    def _settle_follower(self, query: Query, answer: bytes) -> bytes:
        if len(answer) >= 4 and answer[3] & 0xF == SERVFAIL:
            return self._stale_or(query, personalize(answer, query))
        return personalize(answer, query)

    def _stale_or(self, query: Query, failure: bytes) -> bytes:
        entry = self._entries.get(query.key)
        now = self.clock()
        if entry is not None and now < entry.stale_until:
            self.stale_served += 1
            return self._render(entry, query, now, stale=True)
        return failure

    # -- storing and rendering --------------------------------------------------------

    def lifetime(self, answer: bytes) -> tuple[float, tuple[int, ...], tuple[int, ...]] | None:
        """(seconds to keep, TTL offsets, clamped TTLs), or None when not cacheable."""
        try:
            info = parse_answer(answer)
        except FormError:
            return None
        if info.flags & TC or info.rcode not in (NOERROR, NXDOMAIN):
            return None
        c = self.config
        ttls = tuple(int(min(max(t, c.min_ttl), c.max_ttl)) for t in info.ttls)
        if info.rcode == NOERROR and info.ancount > 0:
            lifetime = float(min(ttls[: info.ancount]))
        elif info.negative_ttl is not None:
            lifetime = min(max(info.negative_ttl, c.min_ttl), c.negative_ttl)
        else:
            return None  # RFC 2308 5: a negative answer without SOA is not cached
        if lifetime <= 0:
            return None
        return lifetime, info.ttl_offsets, ttls

    def store(self, query: Query, answer: bytes) -> bool:
        """Remember ``answer`` for ``query`` if it is cacheable; True if stored."""
        life = self.lifetime(answer)
        if life is None:
            return False
        lifetime, offsets, ttls = life
        now = self.clock()
        key = query.key
        self._entries[key] = Entry(
            answer=answer,
            qlen=len(query.question),
            ttl_offsets=offsets,
            ttls=ttls,
            stored=now,
            expires=now + lifetime,
            stale_until=now + lifetime + self.config.stale_for,
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self.config.max_entries:
            self._entries.popitem(last=False)
        return True

    def _render(self, entry: Entry, query: Query, now: float, *, stale: bool) -> bytes:
        buf = bytearray(entry.answer)
        _U16.pack_into(buf, 0, query.id)
        buf[HEADER_LEN : HEADER_LEN + entry.qlen] = query.question
        if stale:
            for off in entry.ttl_offsets:
                _U32.pack_into(buf, off, STALE_TTL)
        else:
            age = int(now - entry.stored)
            for off, ttl in zip(entry.ttl_offsets, entry.ttls, strict=True):
                _U32.pack_into(buf, off, ttl - age if ttl > age else 0)
        return bytes(buf)

    def status(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "entries": len(self._entries),
            "hits": self.hits,
            "misses": self.misses,
            "stale_served": self.stale_served,
        }
