"""The hub's report relay: kiosks' signed reports held durably, forwarded in one round.

``HubOutbox`` is one SQLite file (``state_dir/hub-outbox.sqlite3``, WAL,
``synchronous=FULL``): a kiosk's report is held only once it is committed, so the
hub's 202 means "on disk". A round (``relay_job``, in a worker: it needs ``requests`` and
TLS) forwards every held report, oldest first, over one HTTPS connection (one
``requests.Session``, keep-alive; several reports per request on a server with the
batch endpoint), with the kiosk's own signatures and bytes: the hub
cannot change a report, only delay or drop it. The regional server's answer is kept per
``report_id`` for a week, for the kiosk to collect (``answers``); a kiosk drops a report
only on ``stored`` or ``duplicate``. A held report whose signature has grown too old
for the server's window is marked ``expired``: the kiosk signs it again.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiosk_agent.contracts.report import (
    BATCH_ENCODING,
    BATCH_PATH_SUFFIX,
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BODY_BYTES,
    SIGNATURE_WINDOW_SECONDS,
    BatchItem,
    encode_batch,
)

log = logging.getLogger(__name__)

HUB_OUTBOX = "hub-outbox.sqlite3"
KEEP_ANSWERS = 7 * 86400.0
MAX_HELD = 20_000
"""40 PCs × 400 reports each: past it the hub refuses (503) and kiosks send directly."""
REPORT_ID = re.compile(r"^[0-9a-fA-F-]{36}\Z")
KIOSK_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
SIGNATURE = re.compile(r"^[A-Za-z0-9+/=]{1,200}\Z")
ANSWERS = ("held", "stored", "duplicate", "rejected", "expired")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS held (
    report_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    signature TEXT NOT NULL,
    body BLOB NOT NULL,
    received REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'held',
    answered REAL,
    detail TEXT,
    encoding TEXT NOT NULL DEFAULT 'gzip'
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
"""


class RelayError(ValueError):
    """A hand-off the hub refuses (missing headers, too large, ...)."""


@dataclass(frozen=True)
class HandOff:
    report_id: str
    kiosk_id: str
    timestamp: int
    signature: str
    body: bytes
    encoding: str | None = "gzip"
    """The body's Content-Encoding as the kiosk signed it: ``gzip``, or None (plain JSON,
    which the hub compresses with the whole batch)."""


def parse_hand_off(headers: Mapping[str, str], body: bytes) -> HandOff:
    """A kiosk's report as the hub receives it (lower-cased header names)."""
    report_id = headers.get("x-report-id", "")
    kiosk_id = headers.get(HEADER_KIOSK_ID.lower(), "")
    timestamp = headers.get(HEADER_TIMESTAMP.lower(), "")
    signature = headers.get(HEADER_SIGNATURE.lower(), "")
    if not REPORT_ID.match(report_id):
        raise RelayError("X-Report-Id is not a report id")
    if not KIOSK_ID.match(kiosk_id):
        raise RelayError("X-Kiosk-Id is not a kiosk id")
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise RelayError("X-Kiosk-Timestamp is not a time")
    if not SIGNATURE.match(signature):
        raise RelayError("X-Kiosk-Signature is missing")
    if not body or len(body) > MAX_BODY_BYTES:
        raise RelayError("the report body is empty or too large")
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in ("", "identity", "gzip"):
        raise RelayError("Content-Encoding must be gzip or none")
    return HandOff(
        report_id.lower(),
        kiosk_id,
        int(timestamp),
        signature,
        body,
        "gzip" if encoding == "gzip" else None,
    )


class HubOutbox:
    """The hub's held reports and the server's answers. Shared by the hub's service
    (hand-offs, answers) and its relay worker (forwarding), through SQLite's locking."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        with self._lock:
            for statement in _SCHEMA.split(";"):
                self._db.execute(statement)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(held)")}
            if "encoding" not in columns:  # an outbox from before plain hand-offs
                self._db.execute(
                    "ALTER TABLE held ADD COLUMN encoding TEXT NOT NULL DEFAULT 'gzip'"
                )

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> HubOutbox:
        return cls(Path(state_dir) / HUB_OUTBOX)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def hold(self, h: HandOff, now: float) -> str:
        """Keep a hand-off durably. A report already answered keeps its answer; one held
        or expired takes the new signature (the kiosk signed it again)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT state FROM held WHERE report_id = ?", (h.report_id,)
                ).fetchone()
                if row is not None and row[0] in ("stored", "duplicate"):
                    self._db.execute("COMMIT")
                    return str(row[0])
                count = self._db.execute(
                    "SELECT COUNT(*) FROM held WHERE state = 'held'"
                ).fetchone()[0]
                if row is None and count >= MAX_HELD:
                    self._db.execute("ROLLBACK")
                    raise RelayError("the hub holds too many reports; send it yourself")
                self._db.execute(
                    "INSERT INTO held (report_id, kiosk_id, timestamp, signature, body, "
                    "received, state, encoding) VALUES (?, ?, ?, ?, ?, ?, 'held', ?) "
                    "ON CONFLICT (report_id) DO UPDATE SET kiosk_id = excluded.kiosk_id, "
                    "timestamp = excluded.timestamp, signature = excluded.signature, "
                    "body = excluded.body, encoding = excluded.encoding, state = 'held', "
                    "answered = NULL, detail = NULL",
                    (
                        h.report_id,
                        h.kiosk_id,
                        h.timestamp,
                        h.signature,
                        h.body,
                        now,
                        h.encoding or "-",
                    ),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._db.execute("ROLLBACK")
                raise
        return "held"

    def answers(self, kiosk_id: str, report_ids: Iterable[str]) -> dict[str, str]:
        """The state of each of a kiosk's reports the hub knows (unknown ones are left out)."""
        ids = [r.lower() for r in report_ids if isinstance(r, str) and REPORT_ID.match(r)][:1000]
        out: dict[str, str] = {}
        with self._lock:
            for rid in ids:
                row = self._db.execute(
                    "SELECT state FROM held WHERE report_id = ? AND kiosk_id = ?",
                    (rid, kiosk_id),
                ).fetchone()
                if row is not None:
                    out[rid] = str(row[0])
        return out

    def oldest_held(self) -> tuple[float | None, float | None]:
        """(received, signed) times of the oldest held report, or (None, None)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(received), MIN(timestamp) FROM held WHERE state = 'held'"
            ).fetchone()
        return (row[0], None if row[1] is None else float(row[1]))

    def held(self, limit: int = 1000) -> list[HandOff]:
        with self._lock:
            rows = self._db.execute(
                "SELECT report_id, kiosk_id, timestamp, signature, body, encoding FROM held "
                "WHERE state = 'held' ORDER BY received LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            HandOff(r[0], r[1], int(r[2]), r[3], bytes(r[4]), None if r[5] == "-" else r[5])
            for r in rows
        ]

    def answer(self, report_id: str, state: str, now: float, detail: str | None = None) -> None:
        assert state in ANSWERS
        with self._lock:
            self._db.execute(
                "UPDATE held SET state = ?, answered = ?, detail = ?, "
                "body = CASE WHEN ? IN ('stored', 'duplicate') THEN x'' ELSE body END "
                "WHERE report_id = ?",
                (state, now, detail, state, report_id),
            )

    def expire_old(self, now: float, window: float = SIGNATURE_WINDOW_SECONDS) -> int:
        """Held reports whose signature the server would refuse as too old."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE held SET state = 'expired', answered = ? "
                "WHERE state = 'held' AND timestamp < ?",
                (now, now - window + 30),
            )
            self._db.execute(
                "DELETE FROM held WHERE state != 'held' AND answered < ?", (now - KEEP_ANSWERS,)
            )
        return int(cur.rowcount)

    def held_bytes(self) -> tuple[int, int]:
        """(reports, body bytes) held for the next round."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM held WHERE state = 'held'"
            ).fetchone()
        return int(row[0]), int(row[1])

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM held GROUP BY state").fetchall()
        return {str(s): int(n) for s, n in rows}

    def get_meta(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )


def forward(outbox: HubOutbox, session: Any, server: str, now: float) -> dict[str, Any]:
    """One relay round: every held report, oldest first, in one session (one connection
    while the server keeps it alive): in batches of ``BATCH`` (``POST .../reports/batch``,
    each item checked by the server as its own POST would be), or one POST each when the
    server has no batch endpoint (404/405). Stops at the first failure to reach the
    server (the rest waits for the next round). Returns what happened."""
    import requests

    from kiosk_agent.reporting.uploader import REPORTS_PATH

    outbox.expire_old(now)
    url = server.rstrip("/") + REPORTS_PATH
    tally = {"sent": 0, "duplicates": 0, "rejected": 0, "bytes": 0, "requests": 0}
    error = None
    held = outbox.held()
    single = False
    compress = True
    while held and not single:
        chunk, held = held[:BATCH], held[BATCH:]
        body = encode_batch(
            [
                BatchItem(h.kiosk_id, str(h.timestamp), h.signature, h.encoding, h.body)
                for h in chunk
            ]
        )
        headers: dict[str, str | None] = {**_BARE}
        if compress:
            body = zlib.compress(body, 9)
            headers["Content-Encoding"] = BATCH_ENCODING
        try:
            response = session.post(
                url + BATCH_PATH_SUFFIX, data=body, headers=headers, timeout=(15.0, 60.0)
            )
        except requests.RequestException as e:
            error = f"could not reach {server}: {e}"[:300]
            held = []
            break
        tally["bytes"] += len(body) + len(response.content)
        tally["requests"] += 1
        if response.status_code in (404, 405):
            single, held = True, chunk + held  # an older server: one POST each
            break
        if compress and response.status_code in (400, 415):
            compress, held = False, chunk + held  # a server that reads no compressed batch
            continue
        if response.status_code != 200:
            error = f"HTTP {response.status_code} from {server}"
            held = []
            break
        try:
            results = response.json()["results"]
            assert isinstance(results, list) and len(results) == len(chunk)
        except (ValueError, KeyError, TypeError, AssertionError):
            error = f"{server} gave a batch answer this hub cannot read"
            held = []
            break
        for h, result in zip(chunk, results, strict=True):
            status = result.get("status", 500) if isinstance(result, dict) else 200
            _record(outbox, h, result if isinstance(result, str) else None, status, now, tally)
    if single:
        error = _forward_one_by_one(outbox, session, url, server, held, now, tally)
    return {
        "connections": _connections(session),
        **tally,
        "left": outbox.counts().get("held", 0),
        "error": error,
    }


BATCH = 100
SKIP_HEADER = "@@@SKIP_HEADER@@@"
"""``urllib3.util.SKIP_HEADER`` (not imported: the hub's service never loads urllib3):
urllib3 then sends no ``User-Agent`` of its own and http.client no ``Accept-Encoding``."""
_BARE: dict[str, str | None] = {
    # None drops requests' session defaults; SKIP_HEADER the ones urllib3 and http.client
    # would add back (``python-urllib3/2.x``, ``identity``): 61 bytes per request.
    "Accept": None,
    "Accept-Encoding": SKIP_HEADER,
    "User-Agent": SKIP_HEADER,
    "Connection": None,
}


def _record(
    outbox: HubOutbox,
    h: HandOff,
    answer: str | None,
    status: int,
    now: float,
    tally: dict[str, int],
) -> None:
    """Keep the server's answer for one report (the kiosk collects it)."""
    if answer in ("stored", "duplicate"):
        outbox.answer(h.report_id, answer, now)
        tally["sent"] += 1
        tally["duplicates"] += answer == "duplicate"
    elif status in (400, 409, 413, 415, 422):
        outbox.answer(h.report_id, "rejected", now, f"HTTP {status}")
        tally["rejected"] += 1
    elif status == 401:
        # Its signature is refused (clock, key): the kiosk signs and sends it itself.
        outbox.answer(h.report_id, "expired", now, "HTTP 401")
    # anything else (5xx): still held, sent again at the next round


def _forward_one_by_one(
    outbox: HubOutbox,
    session: Any,
    url: str,
    server: str,
    held: list[HandOff],
    now: float,
    tally: dict[str, int],
) -> str | None:
    import requests

    for h in held:
        headers = {
            **_BARE,
            "Content-Type": "application/json",
            "Content-Encoding": h.encoding,
            HEADER_KIOSK_ID: h.kiosk_id,
            HEADER_TIMESTAMP: str(h.timestamp),
            HEADER_SIGNATURE: h.signature,
        }
        try:
            response = session.post(url, data=h.body, headers=headers, timeout=(15.0, 30.0))
        except requests.RequestException as e:
            return f"could not reach {server}: {e}"[:300]
        tally["bytes"] += len(h.body) + len(response.content)
        tally["requests"] += 1
        code = response.status_code
        answer = None
        if code in (200, 201):
            try:
                answer = "duplicate" if response.json().get("status") == "duplicate" else "stored"
            except (ValueError, AttributeError):
                answer = "stored"
        _record(outbox, h, answer, code, now, tally)
        if answer is None and code not in (400, 401, 409, 413, 415, 422):
            return f"HTTP {code} from {server}"
    return None


def _connections(session: Any) -> int:
    """Connections the session opened (urllib3's pools count them)."""
    total = 0
    for adapter in getattr(session, "adapters", {}).values():
        manager = getattr(adapter, "poolmanager", None)
        pools = getattr(manager, "pools", None)
        if pools is None:
            continue
        for key in list(pools.keys()):
            pool = pools.get(key)
            total += int(getattr(pool, "num_connections", 0) or 0)
    return total


OP_TLSEXT_PADDING = 0x10
"""OpenSSL's option that pads a ClientHello to 512 bytes (a 2013 workaround for some F5
load balancers that hang on hellos of 256-511 bytes); on in Python's contexts."""


def lean_client_hello(session: Any) -> None:
    """TLS for the relay without the ClientHello padding: 517 → 267 bytes per round on
    the café's uplink (measured with OpenSSL 3.0; the rest of the handshake is the
    server's). Certificates are still checked, against the session's ``verify`` CA file
    or requests' own bundle (a given context is not loaded with them by urllib3)."""
    import os

    from requests.utils import DEFAULT_CA_BUNDLE_PATH
    from urllib3.util.ssl_ import create_urllib3_context

    context = create_urllib3_context()
    context.options &= ~OP_TLSEXT_PADDING
    verify = session.verify
    ca = verify if isinstance(verify, str) else DEFAULT_CA_BUNDLE_PATH
    if os.path.isdir(ca):
        context.load_verify_locations(capath=ca)
    else:
        context.load_verify_locations(cafile=ca)
    adapter = session.get_adapter("https://")
    adapter.poolmanager.connection_pool_kw["ssl_context"] = context


def one_write_requests(session: Any) -> None:
    """The session's HTTPS requests with a ``bytes`` body go out in one socket write.

    urllib3 (and http.client under it) writes a request's head, then its body: over TLS
    two records, and with the TCP_NODELAY urllib3 sets, two TCP segments on the café's
    uplink (each with its 52 bytes of TCP/IP headers). Here the writes of one request
    are held and sent together once it is complete. The session's pools keep their own
    connection class (the agent's direct name lookups) under this one. urllib3 is
    imported here, in the relay's worker, never in the hub's service."""
    from urllib3.connection import HTTPConnection

    class OneWrite(HTTPConnection):
        _held: list[bytes] | None = None

        def request(
            self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any
        ) -> None:
            if not isinstance(body, bytes):
                super().request(method, url, body=body, headers=headers, **kwargs)
                return
            self._held = []
            try:
                super().request(method, url, body=body, headers=headers, **kwargs)
                data = b"".join(self._held)
            finally:
                self._held = None
            super().send(data)

        def send(self, data: Any) -> None:
            if self._held is not None and isinstance(data, bytes | bytearray | memoryview):
                self._held.append(bytes(data))
            else:
                super().send(data)

    manager = session.get_adapter("https://").poolmanager
    pool = manager.pool_classes_by_scheme["https"]
    # OneWrite first: its request/send wrap the pool's class (which still connects).
    connection = type("OneWrite" + pool.ConnectionCls.__name__, (OneWrite, pool.ConnectionCls), {})
    manager.pool_classes_by_scheme = {
        **manager.pool_classes_by_scheme,
        "https": type("OneWrite" + pool.__name__, (pool,), {"ConnectionCls": connection}),
    }


def relay_job(config: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker hub-relay``: one forwarding round of the hub."""
    from kiosk_agent.net.clock import clock_for
    from kiosk_agent.net.direct_http import session_for_config

    server = config.reporting.server
    if server is None:
        return {
            "sent": 0,
            "duplicates": 0,
            "rejected": 0,
            "bytes": 0,
            "left": 0,
            "error": "reporting.server is not set on the hub",
        }
    clock = clock_for(config.state_dir)
    outbox = HubOutbox.in_state_dir(config.state_dir)
    session = session_for_config(config, clock=clock)
    lean_client_hello(session)
    one_write_requests(session)
    try:
        return forward(outbox, session, server, clock.now())
    finally:
        session.close()
        outbox.close()
