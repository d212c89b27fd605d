"""Reading a publisher's cleartext list files into hashed feed entries.

One category per source file. Each line is one of: a domain name, a hosts-file line
(``0.0.0.0 name [name ...]``), an adblock-style ``||name^`` rule, or a URL. Comments
(``#``, ``!``, ``[Adblock ...]``) and blank lines are skipped. A line that is none of these
is a bad line: it is skipped and reported with its number, up to a limit. Nothing read
here is written anywhere in cleartext: entries leave as hashes only.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kiosk_agent.contracts import feed
from kiosk_agent.filter.urls import InvalidURL, canonical_host, hash_int, split_expression

__all__ = [
    "BadLine",
    "SourceError",
    "SourceResult",
    "entries_from_sources",
    "parse_line",
    "read_source",
]

DEFAULT_MAX_BAD_LINES = 1000
_HOSTS_IPS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0", "255.255.255.255"})
_HOSTS_SKIP = frozenset(
    {
        *("localhost", "localhost.localdomain", "local", "broadcasthost"),
        *("ip6-localhost", "ip6-loopback", "0.0.0.0"),
    }
)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
# A plain lowercase name of two or more labels starting with a letter: nothing to normalize.
_PLAIN_NAME = re.compile(
    r"^(?=[a-z])(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+"
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z"
)
_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}\Z")
_ADBLOCK = re.compile(r"^\|\|([^/^$|*]+)\^(?:\|)?(?:\$(?:important|all|document))?\Z")


class SourceError(Exception):
    """A source file could not be used (unreadable, or too many bad lines)."""


@dataclass(frozen=True, slots=True)
class BadLine:
    """A skipped line: its number (1-based) and why."""

    number: int
    reason: str


@dataclass
class SourceResult:
    """What one source file gave: entry hashes, suspect-host hashes and bad lines."""

    entries: set[int] = field(default_factory=set)
    suspects: set[int] = field(default_factory=set)
    bad_lines: list[BadLine] = field(default_factory=list)
    lines: int = 0


def _host(name: str) -> str:
    """A list host name in canonical form, or ValueError with the reason."""
    plain = name.lower().rstrip(".")
    if _PLAIN_NAME.match(plain) and len(plain) <= 253:
        return plain  # the common case, without the general canonicalization
    if not name or any(c.isspace() for c in name):
        raise ValueError("not a host name")
    try:
        host = canonical_host(name)
    except InvalidURL:
        raise ValueError("not a host name") from None
    if _IPV4.match(host):
        return host
    labels = host.split(".")
    if len(labels) < 2:
        raise ValueError("a single label (a top-level domain?) is not a list entry")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("not a valid host name")
    return host


def parse_line(line: str) -> list[str]:
    """The expressions one list line stands for ([] for comments and blank lines).

    Raises ValueError, with a short reason, for a line that is none of the known forms.
    """
    text = line.strip().lstrip("\ufeff")
    plain = text.lower()
    if _PLAIN_NAME.match(plain) and len(plain) <= 253:
        return [plain + "/"]  # a plain domain line: most of every list
    if not text or text[0] in "#!" or text.startswith("[Adblock"):
        return []
    if text.startswith("||"):
        m = _ADBLOCK.match(text)
        if not m:
            raise ValueError("unsupported adblock rule (only ||name^ is)")
        return [_host(m.group(1)) + "/"]
    fields = text.split("#", 1)[0].split()
    if len(fields) > 1 and (fields[0] in _HOSTS_IPS or _IPV4.match(fields[0])):
        names = [n for n in fields[1:] if n.lower() not in _HOSTS_SKIP]
        return [_host(n) + "/" for n in names]
    if len(fields) != 1:
        raise ValueError("more than one word on the line")
    word = fields[0]
    if "/" not in word and "?" not in word:
        return [_host(word) + "/"]
    try:
        host, path, query = split_expression(word)
    except InvalidURL:
        raise ValueError("not a URL") from None
    host = _host(host)
    return [host + path + ("?" + query if query is not None else "")]


def read_source(
    lines: Iterable[str],
    *,
    max_bad_lines: int = DEFAULT_MAX_BAD_LINES,
    progress: Callable[[int], None] | None = None,
) -> SourceResult:
    """Hash every entry of one source. Raises ``SourceError`` past ``max_bad_lines``.

    For a URL-level entry (a path beyond ``/`` or a query), the hash of its ``host/`` is
    also kept as a suspect host, so a kiosk knows which hosts need a closer look.
    """
    result = SourceResult()
    add, add_suspect = result.entries.add, result.suspects.add
    for number, line in enumerate(lines, 1):
        result.lines = number
        if progress is not None and number % 65536 == 0:
            progress(number)
        try:
            exprs = parse_line(line)
        except ValueError as e:
            result.bad_lines.append(BadLine(number, str(e)))
            if len(result.bad_lines) > max_bad_lines:
                first = result.bad_lines[0]
                raise SourceError(
                    f"more than {max_bad_lines} bad lines (the first: line {first.number}: "
                    f"{first.reason})"
                ) from None
            continue
        for expr in exprs:
            add(hash_int(expr))
            slash = expr.index("/")
            if slash + 1 < len(expr):
                add_suspect(hash_int(expr[: slash + 1]))
    if progress is not None:
        progress(result.lines)
    return result


def entries_from_sources(
    categories: Sequence[feed.Category], results: Mapping[str, SourceResult]
) -> feed.FeedEntries:
    """Feed entries for a list: one sorted array per category, suspect hosts merged.

    A hash listed in several categories stays in each. A suspect host that is itself
    blocked stays suspect too: removing the block later must not lose it.
    """
    hashes: dict[int, array[int]] = {}
    suspects: set[int] = set()
    for cat in categories:
        res = results[cat.id]
        hashes[cat.code] = array("Q", sorted(res.entries))
        suspects |= res.suspects
    if suspects:
        hashes[feed.SUSPECT] = array("Q", sorted(suspects))
    return feed.FeedEntries(tuple(categories), hashes)


def read_source_file(
    path: Path | str,
    *,
    max_bad_lines: int = DEFAULT_MAX_BAD_LINES,
    progress: Callable[[int, int], None] | None = None,
) -> SourceResult:
    """``read_source`` over a UTF-8 text file (undecodable bytes make a line bad).

    ``progress(bytes_read, total_bytes)`` is called every 64k lines and at the end.
    """
    p = Path(path)
    try:
        total = p.stat().st_size
        with p.open("rb") as f:
            done = 0

            def lines() -> Iterator[str]:
                nonlocal done
                for raw in f:
                    done += len(raw)
                    yield raw.decode("utf-8", errors="replace")

            def tick(_: int) -> None:
                if progress is not None:
                    progress(done, total)

            return read_source(lines(), max_bad_lines=max_bad_lines, progress=tick)
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}") from None
