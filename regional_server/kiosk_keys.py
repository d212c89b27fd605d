"""The enrolled kiosks' keys as uploads need them: cached per process, read cheaply.

A kiosk's key and region never change for its id (enrolling again with the same key
returns the same id; a new key is a new kiosk), so an entry can be kept; it counts
for ``ttl`` seconds only, so that a kiosk removed from the database stops being
accepted within that time.

Kiosks report once a day, so a cache filled by uploads alone would nearly always
miss. A background thread therefore loads every kiosk (one query, reusing the key
objects it already has) every ``ttl / 2`` seconds, up to ``MAX_CACHED`` kiosks; an
upload from a kiosk enrolled since the last load is a miss, read on its own with one
prepared statement on a connection each thread keeps (no pool checkout, no liveness
ping, no statement building), in autocommit on PostgreSQL so that no transaction
stays open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine

from regional_server.store.kiosks import KioskAuth, parse_public_key

KEY_CACHE_SECONDS = 300
MAX_CACHED = 100_000  # ≈ 0.75 KB each (entry and key object): ≈ 75 MB per worker at most
_SQL = (
    "SELECT k.public_key, k.region_id, r.country FROM kiosks k "
    "JOIN regions r ON r.id = k.region_id WHERE k.id = {}"
)
_ALL = (
    "SELECT k.id, k.public_key, k.region_id, r.country FROM kiosks k "
    "JOIN regions r ON r.id = k.region_id LIMIT {}"
)
log = logging.getLogger(__name__)

Entry = tuple[KioskAuth, Ed25519PublicKey]


class KioskKeys:
    """``get(kiosk_id)``: the kiosk's ``KioskAuth`` and key object, or None if unknown."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], float],
        ttl: float = KEY_CACHE_SECONDS,
        preload: bool = True,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[float, Entry]] = {}
        self._local = threading.local()
        self._sql = _SQL.format("%s" if engine.dialect.name == "postgresql" else "?")
        self._preload = preload
        self._loader: threading.Thread | None = None
        self._stop = threading.Event()
        self.loads = 0

    def get(self, kiosk_id: str) -> Entry | None:
        if self._loader is None and self._preload:
            self._start_loader()
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

    def load_all(self) -> int:
        """Replace the cache with every kiosk (at most ``MAX_CACHED``); how many."""
        started = self._clock()
        old = self._cache
        fresh: dict[str, tuple[float, Entry]] = {}
        with self._engine.connect() as conn:
            rows = conn.exec_driver_sql(_ALL.format(MAX_CACHED + 1)).all()
        if len(rows) > MAX_CACHED:
            return 0  # too many to keep: misses are read one by one
        for kiosk_id, public_key, region_id, country in rows:
            raw = parse_public_key(public_key)
            previous = old.get(kiosk_id)
            if previous is not None and previous[1][0].public_key == raw:
                key = previous[1][1]
            else:
                key = Ed25519PublicKey.from_public_bytes(raw)
            fresh[kiosk_id] = (started, (KioskAuth(kiosk_id, raw, region_id, country), key))
        self._cache = fresh
        self.loads += 1
        return len(fresh)

    def _start_loader(self) -> None:
        self._loader = threading.Thread(target=self._load_loop, name="kiosk-keys", daemon=True)
        self._loader.start()

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.load_all()
            except Exception:
                log.exception("loading the kiosk keys failed; uploads read them one by one")
            self._stop.wait(self._ttl / 2)

    def close(self) -> None:
        """Stop the loader; drop the calling thread's connection (the others close
        with the engine)."""
        self._stop.set()
        if self._loader is not None:
            self._loader.join(timeout=10)
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.invalidate()
