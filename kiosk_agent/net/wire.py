"""DNS messages on the wire: the agent's one bounds-checked reader, fast for the resolver.

Only what the resolver needs is parsed: the header and the question (every query), the
OPT record (EDNS0 pass-through and UDP size), and, for answers, the offset of every TTL
field so the cache can age answers and ids can be rewritten without rebuilding a
message. Everything is read through ``Reader``; a packet that is shorter than it
claims, a compression pointer that does not point strictly backwards, or a label that
overruns raises a ``FormError`` subclass and nothing else.

Hostile packets (issue 15): the work per message is bounded. A name follows at most
``MAX_NAME_HOPS`` compression pointers and a message at most ``MAX_MESSAGE_HOPS``; a
query may carry no answer or authority records and at most one additional record, an
OPT at the root name (RFC 1035 4.1.1, RFC 6891 6.1.1), so parsing a query never walks
more than its question. An EDNS version other than 0 raises ``BadVersion`` (answered
BADVERS, RFC 6891 6.1.3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Header flag bits (RFC 1035 4.1.1).
QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
RA = 0x0080
CD = 0x0010
OPCODE_MASK = 0x7800

# Response codes.
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5

# Record types used by the resolver itself.
TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_SOA = 6
TYPE_MX = 15
TYPE_TXT = 16
TYPE_AAAA = 28
TYPE_OPT = 41
CLASS_IN = 1

HEADER_LEN = 12
MAX_NAME_LEN = 255
MAX_NAME_HOPS = 16
"""Compression pointers followed in one name (real answers use one or two)."""
MAX_MESSAGE_HOPS = 8192
"""Compression pointers followed in one message (a 64 KB answer of 4,000 records uses
one per owner name)."""
BADVERS = 16  # extended rcode (RFC 6891 9): 1 in the OPT's upper 8 bits, 0 in the header
DEFAULT_UDP_SIZE = 512
# The UDP payload the agent advertises in its own OPT records (DNS flag day 2020).
OUR_UDP_SIZE = 1232

_HEADER = struct.Struct("!HHHHHH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_RR_FIXED = struct.Struct("!HHIH")  # type, class, ttl, rdlength


class FormError(Exception):
    """The bytes are not a well-formed DNS message."""


class ShortHeader(FormError):
    """Fewer than 12 bytes: not even a header to answer."""


class Truncated(FormError):
    """The message ends before what its header or a length field claims."""


class BadPointer(FormError):
    """A compression pointer that does not point strictly backwards."""


class BadLabel(FormError):
    """A label type that is not defined, or a name longer than 255 bytes."""


class BadQuestion(FormError):
    """A query whose question count is not one, or that carries records a query may not."""


class BadVersion(FormError):
    """An EDNS query of a version this resolver does not implement (answer BADVERS)."""

    def __init__(self, query: Query, version: int) -> None:
        super().__init__(f"EDNS version {version}")
        self.query = query


class Reader:
    """Reads big-endian integers and names from ``data``, checking every bound."""

    __slots__ = ("data", "end", "hops_left", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos
        self.end = len(data)
        self.hops_left = MAX_MESSAGE_HOPS

    def get_bytes(self, n: int) -> bytes:
        if self.pos + n > self.end:
            raise Truncated(f"needed {n} bytes at offset {self.pos}, message has {self.end}")
        start = self.pos
        self.pos += n
        return self.data[start : self.pos]

    def get_u16(self) -> int:
        if self.pos + 2 > self.end:
            raise Truncated(f"needed 2 bytes at offset {self.pos}, message has {self.end}")
        (value,) = _U16.unpack_from(self.data, self.pos)
        self.pos += 2
        return int(value)

    def skip_name(self) -> None:
        """Advance past a (possibly compressed) name, validating it."""
        self.pos, hops = _walk_name(self.data, self.pos)
        self.hops_left -= hops
        if self.hops_left < 0:
            raise BadPointer(f"more than {MAX_MESSAGE_HOPS} compression pointers in a message")

    def get_rr_fixed(self) -> tuple[int, int, int, int, int]:
        """(type, class, ttl, rdlength, ttl_offset) of the record whose fixed part is next."""
        if self.pos + 10 > self.end:
            raise Truncated(f"record header cut at offset {self.pos}")
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(self.data, self.pos)
        ttl_at = self.pos + 4
        self.pos += 10
        if self.pos + rdlen > self.end:
            raise Truncated(f"record data of {rdlen} bytes cut at offset {self.pos}")
        return rtype, rclass, ttl, rdlen, ttl_at


def name_end(data: bytes, pos: int) -> int:
    """Offset just after the name at ``pos``; follows pointers only to validate them."""
    return _walk_name(data, pos)[0]


def _walk_name(data: bytes, pos: int) -> tuple[int, int]:
    """(offset just after the name at ``pos``, compression pointers followed)."""
    end = len(data)
    after: int | None = None
    total = 0
    hops = 0
    limit = pos  # pointers must point strictly before the name that uses them
    while True:
        if pos >= end:
            raise Truncated(f"name cut at offset {pos}")
        length = data[pos]
        if length == 0:
            return (pos + 1 if after is None else after), hops
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= end:
                raise Truncated(f"compression pointer cut at offset {pos}")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise BadPointer(f"pointer at offset {pos} to {target} does not point back")
            hops += 1
            if hops > MAX_NAME_HOPS:
                raise BadPointer(f"more than {MAX_NAME_HOPS} compression pointers in a name")
            if after is None:
                after = pos + 2
            pos = limit = target
            continue
        if kind:
            raise BadLabel(f"label type {kind:#x} at offset {pos}")
        total += length + 1
        if total > MAX_NAME_LEN:
            raise BadLabel("name longer than 255 bytes")
        pos += length + 1


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """The name at ``pos`` as lowercase dotted text (no trailing dot) and the offset after it.

    Bytes outside printable ASCII and dots inside a label are escaped as in zone files
    (``\\046``), so two different names never give the same text.
    """
    end = len(data)
    labels: list[str] = []
    after: int | None = None
    total = 0
    hops = 0
    limit = pos
    while True:
        if pos >= end:
            raise Truncated(f"name cut at offset {pos}")
        length = data[pos]
        if length == 0:
            return ".".join(labels), (pos + 1 if after is None else after)
        kind = length & 0xC0
        if kind == 0xC0:
            if pos + 1 >= end:
                raise Truncated(f"compression pointer cut at offset {pos}")
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if target >= limit:
                raise BadPointer(f"pointer at offset {pos} to {target} does not point back")
            hops += 1
            if hops > MAX_NAME_HOPS:
                raise BadPointer(f"more than {MAX_NAME_HOPS} compression pointers in a name")
            if after is None:
                after = pos + 2
            pos = limit = target
            continue
        if kind:
            raise BadLabel(f"label type {kind:#x} at offset {pos}")
        total += length + 1
        if total > MAX_NAME_LEN:
            raise BadLabel("name longer than 255 bytes")
        if pos + 1 + length > end:
            raise Truncated(f"label cut at offset {pos}")
        labels.append(_label_text(data[pos + 1 : pos + 1 + length]))
        pos += length + 1


_PLAIN = bytes(b for b in range(0x21, 0x7F) if b not in (0x2E, 0x5C))


def _label_text(raw: bytes) -> str:
    label = raw.lower()
    if not label.translate(None, _PLAIN):
        return label.decode("ascii")
    return "".join(
        chr(b) if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) else f"\\{b:03d}" for b in label
    )


def encode_name(name: str) -> bytes:
    """Wire form of a dotted ASCII name (``""`` or ``"."`` is the root)."""
    out = bytearray()
    for label in name.strip(".").split("."):
        if not label:
            continue
        raw = label.encode("ascii")
        if len(raw) > 63:
            raise ValueError(f"label longer than 63 bytes: {label!r}")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > MAX_NAME_LEN:
        raise ValueError("name longer than 255 bytes")
    return bytes(out)


@dataclass(slots=True)
class Query:
    """A parsed query: what every handler needs, plus the raw bytes to forward as they are.

    ``name`` is lowercase without the trailing dot; ``question`` is the question section's
    exact bytes (the client's letter case), echoed in every answer. ``key`` identifies
    the answer in the cache: the lowercase wire name, type, class, and the EDNS/DO/CD
    bits that change what an upstream returns.
    """

    raw: bytes
    id: int
    flags: int
    name: str
    qtype: int
    qclass: int
    question: bytes
    edns: bool
    udp_size: int
    do: bool
    key: tuple[bytes, int, int, int]

    @property
    def max_udp_answer(self) -> int:
        """The largest UDP answer this client accepts (RFC 6891: at least 512)."""
        return max(DEFAULT_UDP_SIZE, self.udp_size) if self.edns else DEFAULT_UDP_SIZE


def read_header(data: bytes) -> tuple[int, int, int, int, int, int]:
    """(id, flags, qdcount, ancount, nscount, arcount); raises ``ShortHeader``."""
    if len(data) < HEADER_LEN:
        raise ShortHeader(f"{len(data)} bytes, a header needs 12")
    values = _HEADER.unpack_from(data, 0)
    return values[0], values[1], values[2], values[3], values[4], values[5]


def parse_query(data: bytes) -> Query:
    """Parse a query's header, question and OPT record; raises ``FormError``.

    The caller has already checked (with ``read_header``) that this is a query with
    the standard opcode. A query may carry one OPT record at the root name after its
    question and nothing else (``BadQuestion``); an EDNS version other than 0 raises
    ``BadVersion``, which carries the parsed query for the BADVERS answer.
    """
    if len(data) < HEADER_LEN:
        raise ShortHeader(f"{len(data)} bytes, a header needs 12")
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data, 0)
    if qdcount != 1:
        raise BadQuestion(f"question count {qdcount}, a query has one")
    # Hand-inlined label walk: queries carry no compression in the question. Only the
    # label lengths are visited here; the text is made from the whole name at once.
    end = len(data)
    pos = 12
    dots: list[int] = []
    while True:
        if pos >= end:
            raise Truncated("question name cut short")
        length = data[pos]
        if length == 0:
            break
        if length > 63:
            raise BadLabel(f"label type or length {length:#x} in the question")
        dots.append(pos - 13)  # where this label's length byte lands in the text
        pos += 1 + length
        if pos > end:
            raise Truncated("question label cut short")
    if pos - 11 > MAX_NAME_LEN:
        raise BadLabel("name longer than 255 bytes")
    qend = pos + 5
    if qend > end:
        raise Truncated("question type/class cut short")
    qtype, qclass = _QTYPE_CLASS.unpack_from(data, pos + 1)
    question = data[12:qend]
    wire_name = question[:-5].lower()
    name = _name_text(wire_name, dots)
    edns = False
    do = False
    udp_size = DEFAULT_UDP_SIZE
    version = 0
    if arcount or ancount or nscount:
        # Only one OPT record at the root name, read in place: a query's work is bounded
        # by its question, whatever its counts claim. One test on the usual path; the
        # reason for a refusal is worked out only then.
        rtype = rclass = ttl = rdlen = 0
        if arcount == 1 and not ancount and not nscount and end >= qend + 11 and not data[qend]:
            rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, qend + 1)
        if rtype != TYPE_OPT or qend + 11 + rdlen > end:
            _refuse_records(data, qend, ancount, nscount, arcount, rtype)
        edns = True
        udp_size = rclass
        do = bool(ttl & 0x8000)
        version = ttl & 0xFF0000
    ebits = (1 if edns else 0) | (2 if do else 0) | (4 if flags & CD else 0)
    query = Query(
        data,
        qid,
        flags,
        name,
        qtype,
        qclass,
        question,
        edns,
        udp_size,
        do,
        (wire_name, qtype, qclass, ebits),
    )
    if version:
        raise BadVersion(query, version >> 16)
    return query


def _refuse_records(
    data: bytes, qend: int, ancount: int, nscount: int, arcount: int, rtype: int
) -> None:
    """Raise the ``FormError`` for records after a query's question other than one OPT."""
    if ancount or nscount or arcount != 1:
        raise BadQuestion("a query carries no answers or authority and one OPT at most")
    if len(data) < qend + 11:
        raise Truncated("additional record cut short")
    if data[qend]:
        raise BadQuestion("the additional record of a query must be OPT at the root")
    if rtype != TYPE_OPT:
        raise BadQuestion(f"additional record of type {rtype} in a query; only OPT")
    raise Truncated("OPT record data cut short")


_QTYPE_CLASS = struct.Struct("!HH")
_PLAIN_OR_DOT = _PLAIN + b"."


def _name_text(wire_name: bytes, dots: list[int]) -> str:
    """Dotted text of a lowercase wire name (without its root byte) whose length bytes
    sit at ``dots`` (the first at -1)."""
    if not dots:
        return ""
    text = bytearray(wire_name[1:])
    for at in dots[1:]:
        text[at] = 0x2E
    # Fast path: printable ASCII only, and every dot is a label boundary.
    if not text.translate(None, _PLAIN_OR_DOT) and text.count(b".") == len(dots) - 1:
        return text.decode("ascii")
    labels = []
    starts = [d + 1 for d in dots]
    for i, start in enumerate(starts):
        stop = dots[i + 1] if i + 1 < len(dots) else len(text)
        labels.append(_label_text(wire_name[start + 1 : stop + 1]))
    return ".".join(labels)


@dataclass(frozen=True, slots=True)
class AnswerInfo:
    """What the cache needs to know about an answer, read once when it is stored.

    ``ttl_offsets`` are the offsets of every TTL field except OPT's (which holds flags);
    ``ttls`` the values there. ``negative_ttl`` is RFC 2308's min(SOA TTL, SOA MINIMUM)
    from the authority section, or None when there is no SOA.
    """

    id: int
    flags: int
    rcode: int
    ancount: int
    question_end: int
    ttl_offsets: tuple[int, ...]
    ttls: tuple[int, ...]
    negative_ttl: int | None


def parse_answer(data: bytes) -> AnswerInfo:
    """Walk every record of an answer (validating it) and collect TTL positions."""
    qid, flags, qdcount, ancount, nscount, arcount = read_header(data)
    r = Reader(data, HEADER_LEN)
    for _ in range(qdcount):
        r.skip_name()
        r.get_bytes(4)
    question_end = r.pos
    offsets: list[int] = []
    ttls: list[int] = []
    negative: int | None = None
    for i in range(ancount + nscount + arcount):
        r.skip_name()
        rtype, _rclass, ttl, rdlen, ttl_at = r.get_rr_fixed()
        if rtype != TYPE_OPT:
            offsets.append(ttl_at)
            ttls.append(ttl)
        if rtype == TYPE_SOA and ancount <= i < ancount + nscount:
            # SOA rdata: mname, rname, then serial refresh retry expire minimum.
            rd = Reader(data[: r.pos + rdlen], r.pos)
            rd.skip_name()
            rd.skip_name()
            fixed = rd.get_bytes(20)
            minimum = _U32.unpack_from(fixed, 16)[0]
            negative = min(ttl, minimum)
        r.pos += rdlen
    return AnswerInfo(
        id=qid,
        flags=flags,
        rcode=flags & 0xF,
        ancount=ancount,
        question_end=question_end,
        ttl_offsets=tuple(offsets),
        ttls=tuple(ttls),
        negative_ttl=negative,
    )


def rcode_of(data: bytes) -> int:
    """The (header) response code of a message of at least 4 bytes."""
    return data[3] & 0xF


def with_id(data: bytes, qid: int) -> bytes:
    """The same message with its id replaced."""
    return _U16.pack(qid) + data[2:]


def answer_matches(data: bytes, qid: int, question: bytes) -> bool:
    """Is ``data`` an answer to the query with ``qid`` and ``question`` (case-insensitive)?"""
    if len(data) < HEADER_LEN + len(question):
        return False
    qr_id, flags = struct.unpack_from("!HH", data, 0)
    if qr_id != qid or not flags & QR:
        return False
    if _U16.unpack_from(data, 4)[0] != 1:
        return False
    got = data[HEADER_LEN : HEADER_LEN + len(question)]
    return got == question or got.lower() == question.lower()


def _opt_record(extended_rcode: int = 0) -> bytes:
    # Root owner, type OPT, our UDP size, extended rcode, version 0, flags 0, no options.
    return b"\x00" + struct.pack("!HHIH", TYPE_OPT, OUR_UDP_SIZE, extended_rcode << 24, 0)


_OPT = _opt_record()
_OPT_BADVERS = _opt_record(BADVERS >> 4)


def badvers_response(query: Query) -> bytes:
    """RFC 6891 6.1.3: BADVERS (header rcode 0, upper bits in the OPT), version 0 (the
    highest this resolver implements), the question echoed, no records."""
    return response_header(query, BADVERS & 0xF) + query.question + _OPT_BADVERS


def response_header(query: Query, rcode: int, ancount: int = 0, nscount: int = 0) -> bytes:
    """A response header for ``query``: id and RD echoed, RA set, opcode QUERY."""
    flags = QR | RA | (query.flags & (RD | CD)) | rcode
    return _HEADER.pack(query.id, flags, 1, ancount, nscount, 1 if query.edns else 0)


def make_response(
    query: Query, rcode: int, answers: bytes = b"", ancount: int = 0, authority: bytes = b""
) -> bytes:
    """A complete response echoing the query's question (and an OPT record if it had one).

    ``answers``/``authority`` are already-encoded records; owner names may point at the
    question name with ``0xC00C``.
    """
    nscount = 1 if authority else 0
    msg = response_header(query, rcode, ancount, nscount) + query.question + answers + authority
    return msg + _OPT if query.edns else msg


def formerr_for(data: bytes) -> bytes | None:
    """FORMERR for a message whose header can be read, echoing its id; None otherwise."""
    if len(data) < HEADER_LEN:
        return None
    qid, flags = struct.unpack_from("!HH", data, 0)
    if flags & QR:
        return None  # never answer an answer: that is how reflection loops start
    return _HEADER.pack(qid, QR | RA | (flags & (OPCODE_MASK | RD)) | FORMERR, 0, 0, 0, 0)


def error_for_header(data: bytes, rcode: int) -> bytes:
    """A header-only error response (NOTIMP for an unknown opcode, ...)."""
    qid, flags = struct.unpack_from("!HH", data, 0)
    return _HEADER.pack(qid, QR | RA | (flags & (OPCODE_MASK | RD)) | rcode, 0, 0, 0, 0)


def truncated_reply(query: Query, answer: bytes) -> bytes:
    """The answer cut to header and question with TC set: the client retries over TCP."""
    flags = _U16.unpack_from(answer, 2)[0] | TC
    return (
        _HEADER.pack(query.id, flags, 1, 0, 0, 1 if query.edns else 0)
        + query.question
        + (_OPT if query.edns else b"")
    )


def rr(rtype: int, ttl: int, rdata: bytes, owner: bytes = b"\xc0\x0c") -> bytes:
    """One encoded record of class IN; the owner defaults to a pointer to the question name."""
    return owner + struct.pack("!HHIH", rtype, CLASS_IN, ttl, len(rdata)) + rdata


def soa_rr(ttl: int) -> bytes:
    """A synthetic SOA for the authority section of the agent's own negative answers.

    Its TTL and MINIMUM both carry ``ttl``, so RFC 2308 caches see how long the answer
    holds (short, so that a removal from the list takes effect soon).
    """
    rdata = (
        encode_name("blocked.kiosk-agent.invalid")
        + encode_name("nobody.invalid")
        + struct.pack("!IIIII", 1, 3600, 600, 86400, ttl)
    )
    return rr(TYPE_SOA, ttl, rdata)
