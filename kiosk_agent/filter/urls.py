"""URL canonicalization and lookup expressions, after Google Safe Browsing's published rules.

A list entry and a visited URL meet as *expressions*: ``host/`` (a host and everything
under it) or ``host/path[?query]`` (one page and what lies under it), hashed with
``entry_hash``. The feed builder, the index, the resolver and the URL proxy all use the
functions here, so a publisher's entry and a kiosk's lookup hash the same bytes.

Work happens on bytes: percent-unescaping may produce bytes that are not UTF-8, and those
must survive (re-escaped) rather than be replaced.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from typing import Any

__all__ = [
    "InvalidURL",
    "canonical_host",
    "canonicalize",
    "entry_hash",
    "expressions",
    "hash_int",
    "host_expression_bytes",
    "host_expressions",
    "host_hashes",
    "host_suffixes",
    "parent_expression_bytes",
    "split_expression",
    "url_hashes",
]

# Page expressions (``host/path``) use Safe Browsing's host set: the exact host plus the
# suffixes from the last five labels (at most 5 hosts). A ``host/`` entry covers every
# name beneath it at any depth, so host expressions take every suffix: a DNS name has at
# most 127 labels (255 bytes on the wire), which bounds the work per name (issue 17).
MAX_HOST_SUFFIXES = 5  # Safe Browsing's bound, for page expressions only
MAX_PATH_PREFIXES = 6
_U64 = struct.Struct(">Q")  # exact path with query, without query, up to four prefixes


def _name_sha256() -> Callable[[bytes], Any]:
    """SHA-256 for host names, which the resolver hashes for every query.

    CPython's own implementation (``_sha256``; ``_sha2`` from Python 3.12) gives the
    same digest as OpenSSL's (``hashlib.sha256``) and is as fast on a short input, but it
    is far cheaper on a cold CPU: at 200 queries/s the CPU idles between queries and
    loses its caches, and the first OpenSSL hash after that took 28 µs against 11 µs
    (docs/BENCHMARKS.md, issue 3, "Forwarded path"). On long inputs OpenSSL is faster
    (SHA extensions): feed builds and page URLs keep ``hashlib.sha256``.
    """
    try:
        import _sha256 as builtin  # type: ignore[import-not-found]  # CPython up to 3.11
    except ImportError:
        try:
            import _sha2 as builtin  # type: ignore[import-not-found]  # 3.12 on
        except ImportError:
            return hashlib.sha256
    sha: Callable[[bytes], Any] = builtin.sha256
    return sha


name_sha256 = _name_sha256()


class InvalidURL(ValueError):
    """The text cannot be read as a URL or a host name (no host left after cleaning)."""


_SCHEME = re.compile(rb"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})")
# Bytes Safe Browsing re-escapes: controls and space, DEL and above, '#' and '%'.
_ESCAPE_SET = frozenset(range(0x21)) | frozenset(range(0x7F, 0x100)) | {ord("#"), ord("%")}
_ESCAPE_TABLE = [f"%{b:02X}" if b in _ESCAPE_SET else chr(b) for b in range(256)]
# Host names that need no IDNA, no IP parsing, no escaping: the common case in DNS lookups.
_PLAIN_HOST = re.compile(r"^[a-z0-9_\-]+(?:\.[a-z0-9_\-]+)*\Z")
_DOTS = re.compile(rb"\.{2,}")
_IDNA_RESULT = re.compile(rb"^[A-Za-z0-9_.\-]+\Z")


def _unescape_once(data: bytes) -> bytes:
    return _PERCENT.sub(lambda m: bytes((int(m.group(1), 16),)), data)


def _unescape_fully(data: bytes) -> bytes:
    """Percent-unescape until nothing changes (``%252525`` -> ``%``)."""
    while b"%" in data:
        once = _unescape_once(data)
        if once == data:
            break
        data = once
    return data


def _escape(data: bytes) -> str:
    return "".join([_ESCAPE_TABLE[b] for b in data])


def _parse_ipv4_part(part: bytes) -> int | None:
    if not part:
        return None
    try:
        if part[:2] in (b"0x", b"0X"):
            return int(part[2:], 16) if len(part) > 2 else 0
        if len(part) > 1 and part[:1] == b"0":
            return int(part[1:], 8)
        if part.isdigit():
            return int(part)
    except ValueError:
        return None
    return None


def _ipv4(host: bytes) -> bytes | None:
    """Dotted quad for a host written as an IPv4 address in any legal form, else None.

    Legal forms (as browsers read them): one to four parts, each decimal, octal (leading
    0) or hex (0x); the last part fills the remaining bytes (``10.1`` is ``10.0.0.1``,
    ``3279880203`` is ``195.127.0.11``).
    """
    parts = host.split(b".")
    if len(parts) > 4:
        return None
    numbers = [_parse_ipv4_part(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    nums = [n for n in numbers if n is not None]
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        return None
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n << (8 * (3 - i))
    return b".".join(str((value >> s) & 0xFF).encode() for s in (24, 16, 8, 0))


def _idna(host: bytes) -> bytes:
    """ASCII (punycode) form of a host with non-ASCII letters; unchanged when not a name."""
    encoded = _idna_encode(host)
    # Only a clean name counts: punycode around a '%' would unescape on the next pass.
    return encoded if _IDNA_RESULT.match(encoded) else host


def _idna_encode(host: bytes) -> bytes:
    try:
        text = host.decode("utf-8")
    except UnicodeDecodeError:
        return host
    try:
        import idna  # installed with requests; UTS 46 mapping as browsers do

        return bytes(idna.encode(text, uts46=True, std3_rules=False, transitional=False))
    except (idna.IDNAError, UnicodeError, ValueError):
        pass
    try:
        return text.encode("idna")  # IDNA 2003 for what UTS 46 refuses
    except UnicodeError:
        return host


def _clean_host(host: bytes) -> bytes:
    """Lowercase, IDNA, strip and collapse dots, IPv4 in any form to a dotted quad."""
    host = _DOTS.sub(b".", host).strip(b".")
    if host.startswith(b"["):  # IPv6 literal: keep, lowercase
        # Cut at "]" as _split_authority does, so that a host that only starts with "["
        # once its leading dots are stripped canonicalizes the same on a second pass.
        end = host.find(b"]")
        return (host[: end + 1] if end >= 0 else host).lower()
    if any(b >= 0x80 for b in host):
        host = _DOTS.sub(b".", _idna(host)).strip(b".")
    host = host.lower()
    return _ipv4(host) or host


def _split_authority(authority: bytes) -> bytes:
    """The host part of ``user:pass@host:port`` (userinfo and port dropped)."""
    if b"@" in authority:
        authority = authority.rsplit(b"@", 1)[1]
    if authority.startswith(b"["):
        end = authority.find(b"]")
        return authority[: end + 1] if end >= 0 else authority
    return authority.split(b":", 1)[0]


def _clean_path(path: bytes) -> bytes:
    """Resolve ``.`` and ``..`` segments and collapse runs of slashes."""
    segments = path.split(b"/")
    out: list[bytes] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == b"..":
            if out:
                out.pop()
            if last:
                out.append(b"")
        elif seg == b".":
            if last:
                out.append(b"")
        elif seg or last:
            out.append(seg)
    return b"/" + b"/".join(out)


def _parts(url: str | bytes) -> tuple[bytes, bytes, bytes, bytes | None]:
    """(scheme, host, path, query or None) of a URL after the Safe Browsing cleaning steps."""
    raw = url.encode("utf-8") if isinstance(url, str) else bytes(url)
    raw = raw.strip(b" \t\r\n\f\v").replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    raw = raw.split(b"#", 1)[0]  # the fragment, before unescaping: %23 is not one
    raw = _unescape_fully(raw)
    m = _SCHEME.match(raw)
    if m:
        scheme, rest = m.group(1).lower(), raw[m.end() :]
    else:
        scheme, rest = b"http", raw
    rest = rest.lstrip(b"/") if m else rest
    cut = len(rest)
    for sep in (b"/", b"?"):
        pos = rest.find(sep)
        if 0 <= pos < cut:
            cut = pos
    authority, tail = rest[:cut], rest[cut:]
    if tail.startswith(b"?") or not tail:
        tail = b"/" + tail
    path, sep, query = tail.partition(b"?")
    host = _clean_host(_split_authority(authority))
    if not host:
        raise InvalidURL(f"no host in {url!r}")
    return scheme, host, _clean_path(path), (query if sep else None)


def canonicalize(url: str | bytes) -> str:
    """The canonical form of ``url`` under Safe Browsing's rules.

    Tabs, CR and LF are removed, the fragment dropped, the URL percent-unescaped until
    nothing changes; the host lowercased, IDNA-encoded, its dots stripped and collapsed and
    an IPv4 address in any legal form written as a dotted quad; ``.``/``..`` resolved and
    slashes collapsed in the path (not in the query); the port and user info dropped; bytes
    up to 0x20, from 0x7F, ``#`` and ``%`` re-escaped with uppercase hex; ``http`` assumed
    without a scheme. ``str`` input is UTF-8 encoded first; ``bytes`` are taken as they are.
    Raises ``InvalidURL`` when no host is left.
    """
    scheme, host, path, query = _parts(url)
    text = scheme.decode("ascii") + "://" + _escape(host) + _escape(path)
    return text if query is None else text + "?" + _escape(query)


def _is_ip(host: str) -> bool:
    if not host[:1].isdigit():
        return host.startswith("[")  # every IPv4 form starts with a digit
    return _ipv4(host.encode()) == host.encode()


def host_suffixes(host: str, *, all_parents: bool = True) -> list[str]:
    """The exact host, then its parent domains from the longest down to two labels.

    With ``all_parents`` (host expressions) every parent domain; without it Safe
    Browsing's set for page expressions: the suffixes from the last five labels only.
    An IP address has no suffixes. The top-level domain alone is never a suffix.
    """
    out = [host]
    if _is_ip(host):
        return out
    labels = host.split(".")
    start = 1 if all_parents else max(1, len(labels) - MAX_HOST_SUFFIXES)
    for i in range(start, len(labels) - 1):
        out.append(".".join(labels[i:]))
    return out


def _path_prefixes(path: str, query: str | None) -> list[str]:
    out = []
    if query is not None:
        out.append(f"{path}?{query}")
    out.append(path)
    segments = path.split("/")[1:-1]  # directories: the last segment is not one
    prefix = "/"
    out.append(prefix)
    for seg in segments[: MAX_PATH_PREFIXES - 3]:
        prefix += seg + "/"
        out.append(prefix)
    return list(dict.fromkeys(out))  # drop repeats, keep the order


def split_expression(expression_or_url: str) -> tuple[str, str, str | None]:
    """(host, path, query or None) of a canonicalized URL or expression, escaped as in
    ``canonicalize``."""
    canonical = canonicalize(expression_or_url)
    rest = canonical.split("://", 1)[1]
    slash = rest.index("/")
    host, tail = rest[:slash], rest[slash:]
    path, sep, query = tail.partition("?")
    return host, path, (query if sep else None)


def expressions(url: str | bytes) -> list[str]:
    """The host-suffix x path-prefix expressions to look up for ``url``.

    First Safe Browsing's list (at most 5 x 6): for each host from the exact one to the
    shortest suffix of the last five labels, the exact path with query, without query,
    then ``/`` and up to three directory prefixes. Then ``suffix/`` for each parent
    domain deeper than five labels (a host entry covers every name beneath it, at any
    depth; page entries keep Safe Browsing's bound). Raises ``InvalidURL`` when ``url``
    has no host.
    """
    canonical = canonicalize(url)
    rest = canonical.split("://", 1)[1]
    slash = rest.index("/")
    host, tail = rest[:slash], rest[slash:]
    path, sep, query = tail.partition("?")
    paths = _path_prefixes(path, query if sep else None)
    hosts = host_suffixes(host, all_parents=False)
    out = [h + p for h in hosts for p in paths]
    out += [h + "/" for h in host_suffixes(host) if h not in hosts]
    return out


def canonical_host(host: str) -> str:
    """A bare host name as ``canonicalize`` writes it (lowercase, IDNA, no stray dots).

    Raises ``InvalidURL`` when nothing is left.
    """
    plain = host.lower().strip(".")
    if _PLAIN_HOST.match(plain) and not plain[:1].isdigit():
        return plain  # the fast path for everyday DNS names (no IPv4 form starts with a letter)
    raw = host.encode("utf-8").strip(b" \t\r\n\f\v")
    raw = raw.replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    canon = _clean_host(_unescape_fully(raw))
    if not canon:
        raise InvalidURL(f"no host name in {host!r}")
    return _escape(canon)


def host_expressions(host: str) -> list[str]:
    """The ``host/`` expressions a DNS query for ``host`` is checked against.

    The exact host and every parent domain, longest first; the top-level domain alone
    is skipped. Raises ``InvalidURL`` for an empty name.
    """
    return [h + "/" for h in host_suffixes(canonical_host(host))]


def host_expression_bytes(host: str) -> list[bytes]:
    """``host_expressions(host)`` as UTF-8 bytes, ready to hash.

    The resolver calls this for every query, so an everyday name takes a short path.
    Raises ``InvalidURL`` for an empty name.
    """
    plain = host.lower().strip(".")
    # Letters, digits, '-', '_' in non-empty labels, not starting with a digit (no IPv4
    # form): nothing for canonicalization to change. str methods beat a regex here.
    if (
        not plain.isascii()
        or not plain.replace(".", "").replace("-", "").replace("_", "").isalnum()
        or ".." in plain
        or plain[0].isdigit()
    ):
        return [e.encode() for e in host_expressions(host)]
    whole = plain.encode() + b"/"
    return [whole, *parent_expression_bytes(whole)]


def parent_expression_bytes(whole: bytes) -> list[bytes]:
    """The parent-domain expressions of a plain host expression ``whole`` (``host/`` in
    bytes): every suffix after a dot, longest first, as ``host_expressions`` makes them
    (the top-level domain alone is skipped)."""
    out = []
    pos = whole.find(b".")
    end = whole.rfind(b".")
    while 0 <= pos < end:  # a suffix after each dot but the last (no TLD alone)
        out.append(whole[pos + 1 :])
        pos = whole.find(b".", pos + 1)
    return out


def host_hashes(host: str) -> list[int]:
    """``hash_int`` of each of ``host_expressions(host)``. Raises ``InvalidURL``."""
    sha = name_sha256
    unpack = _U64.unpack_from
    return [unpack(sha(e).digest())[0] for e in host_expression_bytes(host)]


def url_hashes(url: str | bytes) -> list[int]:
    """``hash_int`` of each of ``expressions(url)``. Raises ``InvalidURL``."""
    sha = hashlib.sha256
    unpack = _U64.unpack_from
    return [unpack(sha(e.encode()).digest())[0] for e in expressions(url)]


def entry_hash(expression: str) -> bytes:
    """The 8-byte list entry for an expression: SHA-256 truncated to its first 8 bytes."""
    return hashlib.sha256(expression.encode("utf-8")).digest()[:8]


def hash_int(expression: str) -> int:
    """``entry_hash`` as an unsigned 64-bit integer (big-endian), the index's sort key."""
    return int.from_bytes(hashlib.sha256(expression.encode("utf-8")).digest()[:8], "big")
