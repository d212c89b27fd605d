"""The report contract shared by the kiosk's uploader and the regional server.

One reader (``parse_report``) and one exception (``ReportError``) for upload bodies;
the counter vocabulary is fixed here, so a name the server does not know is rejected
instead of silently widening what a kiosk may send. Also the request-signing string
and the enrollment messages, so both sides build them with the same code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kiosk_agent.contracts.tips import FEEDBACK_LOCALES, TIP_ID

SCHEMA_VERSION = 1
MAX_BODY_BYTES = 64 * 1024
"""Largest upload body (compressed or not) a server accepts, and the most a kiosk sends."""
MAX_INFLATED_BYTES = 256 * 1024
MAX_COUNTERS = 512
MAX_COUNT = 10**9

# The counter vocabulary. Each name is <family>.<detail>; details are short lowercase
# tokens, never free text, so a report cannot carry a site name or a person.
_TOKEN = r"[a-z0-9_]{1,32}"
COUNTER_PATTERNS: dict[str, re.Pattern[str]] = {
    "sessions": re.compile(r"sessions\.(login|idle_reset|billing_hook|agent_start)"),
    "notices.shown": re.compile(r"notices\.shown\.[a-z]{2,3}"),
    "notices.acknowledged": re.compile(r"notices\.acknowledged"),
    # shown without text shaping (docs/notices.md, "When text shaping is missing")
    "notices.degraded": re.compile(r"notices\.degraded"),
    "ui.crashes": re.compile(r"ui\.crashes"),
    "notices.feedback": re.compile(
        rf"notices\.feedback\.(?:helpful|not_helpful)\.(?:{'|'.join(FEEDBACK_LOCALES)})"
        rf"\.{TIP_ID.pattern}"
    ),
    "blocked": re.compile(rf"blocked\.{_TOKEN}"),
    "tamper": re.compile(rf"tamper\.{_TOKEN}"),  # doh, dns_settings, policy_removed, ...
    "p2p": re.compile(rf"p2p\.{_TOKEN}"),
    "safe_search": re.compile(r"safe_search\.(google|bing|duckduckgo|youtube)"),
    "feeds.rejected": re.compile(rf"feeds\.rejected\.{_TOKEN}"),
    "operator": re.compile(r"operator\.(pause|update_now|postpone_update|today|unlock)"),
    # Signed things other than feeds (issue 21): refusals per kind, accepted key changes.
    "signed.rejected": re.compile(rf"(?:content|settings|keys|release)\.rejected\.{_TOKEN}"),
    "keys.changed": re.compile(r"keys\.changed\.(?:rotation|recovery|revocation)"),
    # Program switches (issue 21): a release applied, or rolled back when it did not answer.
    "updates": re.compile(r"updates\.(?:applied|rolled_back)"),
}

REPORT_KEYS = frozenset(
    {
        "report_id",
        "kiosk_id",
        "period_start",
        "period_days",
        "counts",
        "agent_version",
        "feed_versions",
    }
)
OPTIONAL_REPORT_KEYS = frozenset({"schema", "merged_reports", "content", "settings"})
"""``content`` and ``settings`` (issue 21's fleet view): the versions of the content pack
and of the region's settings overlay the kiosk holds when it sends the report, omitted
while it draws the built-in pack / has no overlay. Optional within schema 1, so a server
accepts reports of kiosks that do not send them, and a kiosk that holds neither sends a
report older servers accept too."""

_KIOSK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_LIST_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_VERSION = re.compile(r"[A-Za-z0-9_.+-]{1,32}")

# Request signing (kiosk -> server). See signing_string().
HEADER_KIOSK_ID = "X-Kiosk-Id"
HEADER_TIMESTAMP = "X-Kiosk-Timestamp"
HEADER_SIGNATURE = "X-Kiosk-Signature"
SIGNATURE_WINDOW_SECONDS = 900
"""Server accepts a signed request whose timestamp is within this many seconds of its own
clock. Kiosks correct their clock from the server's ``Date`` header before signing."""


class ReportError(ValueError):
    """An upload body that is not a valid report; the message says what is wrong."""


# The same vocabulary as one pattern: a single match per name instead of one per family.
_COUNTER_NAME = re.compile("|".join(f"(?:{p.pattern})" for p in COUNTER_PATTERNS.values()))


def is_counter_name(name: str) -> bool:
    """True if ``name`` belongs to the fixed counter vocabulary."""
    return isinstance(name, str) and _COUNTER_NAME.fullmatch(name) is not None


@dataclass(frozen=True)
class Report:
    """The counts of one period accumulated since the kiosk's previous report.

    ``period_start`` is a UTC, hour-aligned time; ``period_days`` is 1 for a day,
    1/24 for an hour, or more when old reports were merged while the server was
    unreachable (``merged_reports`` then says how many were summed).
    """

    report_id: str
    kiosk_id: str
    period_start: datetime
    period_days: float
    counts: dict[str, int]
    agent_version: str
    feed_versions: dict[str, int] = field(default_factory=dict)
    merged_reports: int = 1
    content_version: int | None = None
    settings_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "report_id": self.report_id,
            "kiosk_id": self.kiosk_id,
            "period_start": format_period_start(self.period_start),
            "period_days": self.period_days,
            "counts": dict(sorted(self.counts.items())),
            "agent_version": self.agent_version,
            "feed_versions": dict(sorted(self.feed_versions.items())),
        }
        if self.merged_reports != 1:
            data["merged_reports"] = self.merged_reports
        if self.content_version is not None:
            data["content"] = self.content_version
        if self.settings_version is not None:
            data["settings"] = self.settings_version
        return data

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=True).encode()


def format_period_start(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z")


# Exactly what format_period_start writes (ASCII digits, every field zero-padded). A
# hand parser: strptime cost 10 us a report, and it also accepted unpadded fields.
_PERIOD_START = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
# A report id exactly as str(uuid.UUID(...)) writes it, in either case.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _parse_period_start(value: object) -> datetime:
    if not isinstance(value, str):
        raise ReportError("period_start must be a string like 2026-11-27T00:00:00Z")
    match = _PERIOD_START.fullmatch(value)
    try:
        if match is None:
            raise ValueError
        year, month, day, hour, minute, second = map(int, match.groups())
        parsed = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise ReportError("period_start must look like 2026-11-27T00:00:00Z") from None
    if minute or second:
        raise ReportError("period_start must be aligned to a whole hour")
    if not 2020 <= parsed.year <= 2100:
        raise ReportError("period_start is outside 2020-2100")
    return parsed


def decode_body(body: bytes, content_encoding: str | None = None) -> bytes:
    """Inflate a gzip body (by header or magic) within ``MAX_INFLATED_BYTES``."""
    if len(body) > MAX_BODY_BYTES:
        raise ReportError(f"body larger than {MAX_BODY_BYTES} bytes")
    encoding = (content_encoding or "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise ReportError(f"unsupported Content-Encoding {content_encoding!r}; use gzip")
    if encoding == "gzip" or body[:2] == b"\x1f\x8b":
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out = d.decompress(body, MAX_INFLATED_BYTES + 1)
        except zlib.error:
            raise ReportError("body is not valid gzip") from None
        if len(out) > MAX_INFLATED_BYTES:
            raise ReportError(f"body inflates to more than {MAX_INFLATED_BYTES} bytes")
        if not d.eof:
            raise ReportError("gzip body is truncated")
        return out
    return body


def encode_body(report: Report) -> bytes:
    """The gzip-compressed upload body for ``report`` (mtime 0: same report, same bytes)."""
    return gzip.compress(report.to_bytes(), compresslevel=9, mtime=0)


def parse_report(body: bytes, content_encoding: str | None = None) -> Report:
    """Validate an upload body (gzip or plain JSON) into a ``Report``.

    Raises ``ReportError`` only, with a message a kiosk can log.
    """
    raw = decode_body(body, content_encoding)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ReportError("body is not valid UTF-8 JSON") from None
    return report_from_json(data)


def report_from_json(data: object) -> Report:
    if not isinstance(data, dict):
        raise ReportError("report must be a JSON object")
    keys = set(data)
    missing = REPORT_KEYS - keys
    if missing:
        raise ReportError(f"missing keys: {', '.join(sorted(missing))}")
    extra = keys - REPORT_KEYS - OPTIONAL_REPORT_KEYS
    if extra:
        raise ReportError(f"unknown keys: {', '.join(sorted(map(str, extra)))[:200]}")
    if data.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise ReportError(f"schema must be {SCHEMA_VERSION}")

    report_id = data["report_id"]
    if not isinstance(report_id, str) or not _UUID.fullmatch(report_id):
        raise ReportError("report_id must be a UUID")
    kiosk_id = data["kiosk_id"]
    if not isinstance(kiosk_id, str) or not _KIOSK_ID.fullmatch(kiosk_id):
        raise ReportError("kiosk_id must be 1-64 letters, digits, '-' or '_'")
    period_start = _parse_period_start(data["period_start"])
    period_days = data["period_days"]
    if (
        isinstance(period_days, bool)
        or not isinstance(period_days, int | float)
        or not (1 / 24 - 1e-9 <= period_days <= 366)
    ):
        raise ReportError("period_days must be a number from 1/24 to 366")
    agent_version = data["agent_version"]
    if not isinstance(agent_version, str) or not _VERSION.fullmatch(agent_version):
        raise ReportError("agent_version must be a short version string")

    counts = data["counts"]
    if not isinstance(counts, dict) or len(counts) > MAX_COUNTERS:
        raise ReportError(f"counts must be an object of at most {MAX_COUNTERS} counters")
    for name, value in counts.items():
        if not is_counter_name(name):
            raise ReportError(f"unknown counter name {name[:80]!r}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
            raise ReportError(f"counter {name!r} must be an integer from 0 to {MAX_COUNT}")

    feed_versions = data["feed_versions"]
    if not isinstance(feed_versions, dict) or len(feed_versions) > 32:
        raise ReportError("feed_versions must be an object of at most 32 lists")
    for list_id, version in feed_versions.items():
        if not _LIST_ID.fullmatch(list_id):
            raise ReportError(f"bad list id {list_id[:80]!r} in feed_versions")
        if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**63:
            raise ReportError(f"feed version of {list_id!r} must be a non-negative integer")

    merged = data.get("merged_reports", 1)
    if isinstance(merged, bool) or not isinstance(merged, int) or not 1 <= merged <= 100_000:
        raise ReportError("merged_reports must be an integer from 1 to 100000")

    signed_versions: list[int | None] = []
    for key in ("content", "settings"):
        value = data.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63
        ):
            raise ReportError(f"{key} must be a non-negative integer (a version)")
        signed_versions.append(value)

    return Report(
        report_id=report_id.lower(),
        kiosk_id=kiosk_id,
        period_start=period_start,
        period_days=float(period_days),
        counts=dict(counts),
        agent_version=agent_version,
        feed_versions=dict(feed_versions),
        merged_reports=merged,
        content_version=signed_versions[0],
        settings_version=signed_versions[1],
    )


def signing_string(method: str, path: str, timestamp: int | str, body: bytes) -> bytes:
    """What a kiosk signs with its Ed25519 key and the server verifies.

    ``METHOD \\n PATH \\n TIMESTAMP \\n sha256-hex(body as sent)``; the path is the
    request path without the query string; the timestamp is Unix seconds.
    """
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{int(timestamp)}\n{digest}".encode("ascii")


@dataclass(frozen=True)
class EnrollRequest:
    """``POST /api/v1/enroll`` body: a one-time code and the kiosk's public key."""

    code: str
    public_key: str  # "ed25519:<base64 of the 32 raw bytes>"
    cafe_name: str = ""
    agent_version: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "code": self.code,
            "public_key": self.public_key,
            "cafe_name": self.cafe_name,
            "agent_version": self.agent_version,
        }


@dataclass(frozen=True)
class EnrollResponse:
    """The server's answer to an enrollment: the kiosk's pseudonymous id and its region."""

    kiosk_id: str
    region: str
    country: str

    def to_json(self) -> dict[str, str]:
        return {"kiosk_id": self.kiosk_id, "region": self.region, "country": self.country}


def now_utc() -> datetime:
    return datetime.now(UTC)


# -- several signed reports in one request (the café hub's relay, docs/cafe-hub.md) -------

BATCH_PATH_SUFFIX = "/batch"
MAX_BATCH_ITEMS = 200
MAX_BATCH_BYTES = 4 * 1024 * 1024
BATCH_ENCODING = "deflate"
"""A hub compresses a whole batch (``Content-Encoding: deflate``, zlib format): items
handed as plain JSON share their keys, date and list names across the batch, which
each item's own gzip could not. The server inflates it within ``MAX_BATCH_BYTES``."""


@dataclass(frozen=True)
class BatchItem:
    """One kiosk's signed upload, exactly as it would have been POSTed on its own."""

    kiosk_id: str
    timestamp: str
    signature: str
    content_encoding: str | None
    body: bytes


def encode_batch(items: list[BatchItem]) -> bytes:
    """Each item as a line ``KIOSK_ID TIMESTAMP SIGNATURE ENCODING LENGTH`` and its body
    bytes (no base64: the gzip bodies would only grow)."""
    out = bytearray()
    for item in items:
        head = (
            f"{item.kiosk_id} {item.timestamp} {item.signature} "
            f"{item.content_encoding or '-'} {len(item.body)}\n"
        )
        out += head.encode("ascii") + item.body
    return bytes(out)


def decode_batch(data: bytes) -> list[BatchItem]:
    """The items of a batch body; ``ReportError`` for anything malformed."""
    items: list[BatchItem] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\n", pos, pos + 400)
        if end < 0:
            raise ReportError("batch: an item header is missing or too long")
        try:
            fields = data[pos:end].decode("ascii").split(" ")
        except UnicodeDecodeError:
            raise ReportError("batch: an item header is not ASCII") from None
        if len(fields) != 5 or not fields[4].isdigit() or len(fields[4]) > 8:
            raise ReportError("batch: an item header has not 5 fields")
        length = int(fields[4])
        if length > MAX_BODY_BYTES or end + 1 + length > len(data):
            raise ReportError("batch: an item body is cut short or too large")
        body = data[end + 1 : end + 1 + length]
        encoding = None if fields[3] == "-" else fields[3]
        items.append(BatchItem(fields[0], fields[1], fields[2], encoding, body))
        if len(items) > MAX_BATCH_ITEMS:
            raise ReportError(f"batch: more than {MAX_BATCH_ITEMS} items")
        pos = end + 1 + length
    return items
