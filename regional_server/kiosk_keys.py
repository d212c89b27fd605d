"""The enrolled kiosks' keys as uploads need them: cached per process, read cheaply.

A kiosk's key and region never change for its id (enrolling again with the same key
returns the same id; a new key is a new kiosk), so an entry can be kept; it is read
again after ``ttl`` seconds so that a kiosk removed from the database stops being
accepted within that time. A miss is the common case in production (a kiosk reports
once a day), so it must be cheap: one prepared statement on a connection each thread
keeps (no pool checkout, no liveness ping, no statement building), in autocommit on
PostgreSQL so a read leaves no transaction open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from regional_server.store.kiosks import KioskAuth, parse_public_key

KEY_CACHE_SECONDS = 300
MAX_CACHED = 200_000
_SQL = (
    "SELECT k.public_key, k.region_id, r.country FROM kiosks k "
    "JOIN regions r ON r.id = k.region_id WHERE k.id = {}"
)

Entry = tuple[KioskAuth, Ed25519PublicKey]


class KioskKeys:
    """``get(kiosk_id)``: the kiosk's ``KioskAuth`` and key object, or None if unknown."""

    def __init__(
        self, engine: Engine, clock: Callable[[], float], ttl: float = KEY_CACHE_SECONDS
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Entry]] = {}
        self._local = threading.local()
        self._sql = _SQL.format("%s" if engine.dialect.name == "postgresql" else "?")

    def get(self, kiosk_id: str) -> Entry | None:
        now = self._clock()
        cached = self._cache.get(kiosk_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        row = self._read(kiosk_id)
        if row is None:
            self._cache.pop(kiosk_id, None)
            return None
        auth = KioskAuth(kiosk_id, parse_public_key(row[0]), row[1], row[2])
        entry = (auth, Ed25519PublicKey.from_public_bytes(auth.public_key))
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        self._cache[kiosk_id] = (now, entry)
        return entry

    def forget(self, kiosk_id: str) -> None:
        """Drop a cached entry (for a change made by this process)."""
        self._cache.pop(kiosk_id, None)

    def _read(self, kiosk_id: str) -> tuple[Any, ...] | None:
        try:
            return self._query(kiosk_id)
        except Exception:
            # The kept connection may have died (database restarted): once more on a
            # new one; a second failure is a real error.
            return self._query(kiosk_id)

    def _query(self, kiosk_id: str) -> tuple[Any, ...] | None:
        conn = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = self._engine.raw_connection()
                driver: Any = conn.driver_connection
                if self._engine.dialect.name == "postgresql":
                    driver.autocommit = True
                self._local.conn = conn
            cur = conn.cursor()
            try:
                cur.execute(self._sql, (kiosk_id,))
                row = cur.fetchone()
            finally:
                cur.close()
        except Exception:
            self._local.conn = None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.invalidate()  # never back to the pool in autocommit
            raise
        return tuple(row) if row is not None else None

    def close(self) -> None:
        """Drop the calling thread's connection (the others close with the engine)."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
