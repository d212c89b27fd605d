"""A link that answers search engines' and YouTube's names with their safe-mode hosts.

``www.google.<tld>`` becomes a CNAME to ``forcesafesearch.google.com``, ``www.bing.com``
to ``strict.bing.com``, DuckDuckGo to ``safe.duckduckgo.com`` and the YouTube hosts to
``restrictmoderate.youtube.com`` or ``restrict.youtube.com`` (docs/safe-search.md cites
each provider). The answer is the CNAME followed by the target's own records, asked of
the rest of the chain (cache, then upstream), so the target is cached like any answer.
Each engine is counted ``SafeSearchApplied(engine)`` once per customer session.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable, Mapping
from importlib import resources

from kiosk_agent.config import SafeSearchConfig
from kiosk_agent.filter.p2p import SessionGate
from kiosk_agent.filter.resolver.handler import Answer, FilterSwitch, Handler, Link
from kiosk_agent.net.wire import (
    CD,
    CLASS_IN,
    HEADER_LEN,
    NOERROR,
    NXDOMAIN,
    QR,
    RA,
    RD,
    SERVFAIL,
    TYPE_CNAME,
    TYPE_MX,
    TYPE_NS,
    TYPE_OPT,
    TYPE_SOA,
    BadLabel,
    BadPointer,
    FormError,
    Query,
    Truncated,
    encode_name,
    make_response,
    parse_query,
    read_header,
    rr,
)
from kiosk_agent.reporting.events import Event, EventBus, SafeSearchApplied, SessionStarted

GOOGLE_TARGET = "forcesafesearch.google.com"
BING_TARGET = "strict.bing.com"
DUCKDUCKGO_TARGET = "safe.duckduckgo.com"
YOUTUBE_TARGETS = {"moderate": "restrictmoderate.youtube.com", "strict": "restrict.youtube.com"}

BING_HOSTS = ("www.bing.com",)
DUCKDUCKGO_HOSTS = ("duckduckgo.com", "www.duckduckgo.com")
YOUTUBE_HOSTS = (
    "www.youtube.com",
    "m.youtube.com",
    "youtubei.googleapis.com",
    "youtube.googleapis.com",
    "www.youtube-nocookie.com",
)
ENGINES = ("google", "bing", "duckduckgo", "youtube")

# TTL of the CNAME when the target's answer has no record to take it from.
DEFAULT_TTL = 60
MAX_TTL = 3600


def read_domain_list(lines: Iterable[str]) -> tuple[str, ...]:
    """Domains of a data file: one per line, lowercased; blank lines and ``#`` comments
    skipped. Raises ``ValueError`` for a line that is not a plain host name."""
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip().lower().rstrip(".")
        if not text:
            continue
        labels = text.split(".")
        if len(labels) < 2 or not all(
            label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
            for label in labels
        ):
            raise ValueError(f"line {number}: not a domain name")
        out.append(text)
    return tuple(dict.fromkeys(out))


def google_domains() -> tuple[str, ...]:
    """Google's search domains, from ``kiosk_agent/filter/data/google_domains.txt``."""
    text = resources.files("kiosk_agent.filter").joinpath("data/google_domains.txt").read_text()
    return read_domain_list(text.splitlines())


def rewrites(
    config: SafeSearchConfig, google: Iterable[str] | None = None
) -> dict[str, tuple[str, str]]:
    """Host name -> (engine, target) for the engines ``config`` switches on (pure)."""
    out: dict[str, tuple[str, str]] = {}
    if not config.enabled:
        return out
    if config.google:
        for domain in google_domains() if google is None else google:
            out[f"www.{domain}"] = ("google", GOOGLE_TARGET)
    if config.bing:
        out.update((h, ("bing", BING_TARGET)) for h in BING_HOSTS)
    if config.duckduckgo:
        out.update((h, ("duckduckgo", DUCKDUCKGO_TARGET)) for h in DUCKDUCKGO_HOSTS)
    target = YOUTUBE_TARGETS.get(config.youtube)
    if target is not None:
        out.update((h, ("youtube", target)) for h in YOUTUBE_HOSTS)
    return out


_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_TYPE_PTR = 12
_TYPE_DNAME = 39


def _expand_name(data: bytes, pos: int) -> tuple[bytes, int]:
    """The name at ``pos`` in uncompressed wire form, and the offset after it."""
    out = bytearray()
    after: int | None = None
    limit = pos
    end = len(data)
    while True:
        if pos >= end:
            raise Truncated(f"name cut at offset {pos}")
        length = data[pos]
        if length == 0:
            out.append(0)
            if len(out) > 255:
                raise BadLabel("name longer than 255 bytes")
            return bytes(out), (pos + 1 if after is None else after)
        if length & 0xC0 == 0xC0:
            if pos + 1 >= end:
                raise Truncated(f"compression pointer cut at offset {pos}")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise BadPointer(f"pointer at offset {pos} to {target} does not point back")
            if after is None:
                after = pos + 2
            pos = limit = target
            continue
        if length & 0xC0:
            raise BadLabel(f"label type {length & 0xC0:#x} at offset {pos}")
        if pos + 1 + length > end:
            raise Truncated(f"label cut at offset {pos}")
        out += data[pos : pos + 1 + length]
        if len(out) > 255:
            raise BadLabel("name longer than 255 bytes")
        pos += length + 1


def _expand_rdata(data: bytes, rtype: int, start: int, rdlen: int) -> bytes:
    """Record data with its compressed names written out (RFC 3597: only the RFC 1035
    types may carry compression; the others are copied as they are)."""
    stop = start + rdlen
    if rtype in (TYPE_CNAME, TYPE_NS, _TYPE_PTR, _TYPE_DNAME):  # one name
        name, after = _expand_name(data[:stop], start)
        tail = b""
    elif rtype == TYPE_MX:
        name, after = _expand_name(data[:stop], start + 2)
        return data[start : start + 2] + name
    elif rtype == TYPE_SOA:
        mname, after = _expand_name(data[:stop], start)
        rname, after = _expand_name(data[:stop], after)
        name = mname + rname
        tail = data[after:stop]
        if len(tail) != 20:
            raise FormError("SOA record data of the wrong length")
        return name + tail
    else:
        return data[start:stop]
    if after != stop:
        raise FormError("record data longer than its name")
    return name + tail


def _records(data: bytes, pos: int, count: int) -> tuple[list[bytes], list[int], int]:
    """``count`` records from ``pos`` re-encoded without compression (OPT skipped), their
    TTLs, and the offset after them."""
    out: list[bytes] = []
    ttls: list[int] = []
    for _ in range(count):
        owner, pos = _expand_name(data, pos)
        if pos + 10 > len(data):
            raise Truncated(f"record header cut at offset {pos}")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        if pos + rdlen > len(data):
            raise Truncated(f"record data cut at offset {pos}")
        if rtype != TYPE_OPT:
            rdata = _expand_rdata(data, rtype, pos, rdlen)
            out.append(owner + _RR_FIXED.pack(rtype, rclass, ttl, len(rdata)) + rdata)
            ttls.append(ttl)
        pos += rdlen
    return out, ttls, pos


def compose(query: Query, target: bytes, target_answer: bytes) -> bytes:
    """The client's answer: a CNAME from its name to ``target`` (wire form), then the
    answer and authority records of ``target_answer`` (the target's own answer).

    An upstream failure (neither NOERROR nor NXDOMAIN) or an answer that cannot be read
    gives SERVFAIL: the client must not be handed the unrestricted host instead.
    """
    try:
        _qid, flags, qdcount, ancount, nscount, _arcount = read_header(target_answer)
        rcode = flags & 0xF
        if rcode not in (NOERROR, NXDOMAIN) or qdcount != 1:
            return make_response(query, SERVFAIL)
        pos = HEADER_LEN
        _name, pos = _expand_name(target_answer, pos)
        pos += 4
        answers, ttls, pos = _records(target_answer, pos, ancount)
        authority, auth_ttls, _ = _records(target_answer, pos, nscount)
    except (FormError, struct.error):
        return make_response(query, SERVFAIL)
    ttl = min(ttls or auth_ttls or [DEFAULT_TTL])
    cname = rr(TYPE_CNAME, min(ttl, MAX_TTL), target)
    out = _HEADER.pack(
        query.id,
        QR | RA | (query.flags & (RD | CD)) | rcode,
        1,
        1 + len(answers),
        len(authority),
        1 if query.edns else 0,
    )
    msg = b"".join([out, query.question, cname, *answers, *authority])
    if query.edns:
        msg += b"\x00" + _RR_FIXED.pack(TYPE_OPT, 1232, 0, 0)
    return msg


def target_query(query: Query, target: bytes) -> Query:
    """The query for ``target`` that stands in for ``query`` (same type, class, EDNS, DO
    and CD bits, so that it shares cache entries with clients asking for the target)."""
    flags = RD | (query.flags & CD)
    msg = _HEADER.pack(0, flags, 1, 0, 0, 1 if query.edns else 0)
    msg += target + struct.pack("!HH", query.qtype, query.qclass)
    if query.edns:
        msg += b"\x00" + _RR_FIXED.pack(TYPE_OPT, 1232, 0x8000 if query.do else 0, 0)
    return parse_query(msg)


class SafeSearch(Link):
    """Answers the safe-search engines' host names with a CNAME to their safe host."""

    name = "safe_search"

    def __init__(
        self,
        next: Handler,
        config: SafeSearchConfig,
        bus: EventBus | None = None,
        switch: FilterSwitch | None = None,
        google: Iterable[str] | None = None,
    ) -> None:
        super().__init__(next)
        self.switch = switch or FilterSwitch()
        self.config = config
        self.hosts: Mapping[str, tuple[str, str]] = rewrites(config, google)
        self._wire = {t: encode_name(t) for _e, t in self.hosts.values()}
        # Stand-in queries, one per (target, type, class, EDNS bits): a handful in use.
        self._targets: dict[tuple[str, tuple[int, int, int]], Query] = {}
        self.bus = bus
        self.gate = SessionGate()
        self.applied: dict[str, int] = {}
        self._unsubscribe = (
            bus.subscribe(self._on_event, types=(SessionStarted,)) if bus is not None else None
        )
        self._events = {engine: SafeSearchApplied(engine) for engine in ENGINES}

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SessionStarted):
            self.gate.reset()

    def resolve(self, query: Query) -> Answer:
        rewrite = self.hosts.get(query.name)
        if rewrite is None or not self.switch.on or query.qclass != CLASS_IN:
            return self.next.resolve(query)
        engine, target = rewrite
        self.applied[engine] = self.applied.get(engine, 0) + 1
        if self.bus is not None and self.gate.first(engine):
            self.bus.publish(self._events[engine])
        wire = self._wire[target]
        key = (target, query.key[1:])
        stand_in = self._targets.get(key)
        if stand_in is None:
            if len(self._targets) >= 256:
                self._targets.clear()
            stand_in = self._targets[key] = target_query(query, wire)
        answer = self.next.resolve(stand_in)
        if isinstance(answer, bytes):
            return compose(query, wire, answer)
        out: asyncio.Future[bytes] = answer.get_loop().create_future()

        def done(f: asyncio.Future[bytes]) -> None:
            if out.done():
                return
            if f.cancelled() or f.exception() is not None:
                out.set_result(make_response(query, SERVFAIL))
                return
            out.set_result(compose(query, wire, f.result()))

        answer.add_done_callback(done)
        return out

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def status(self) -> dict[str, object]:
        c = self.config
        return {
            "engines": {
                "google": c.enabled and c.google,
                "bing": c.enabled and c.bing,
                "duckduckgo": c.enabled and c.duckduckgo,
                "youtube": c.youtube if c.enabled else "off",
            },
            "applied": dict(self.applied),
        }
