"""Group commit for uploads: one writer thread per process stores reports in batches.

Each upload is acknowledged only after the transaction holding it has committed, so
nothing acknowledged is lost; but while one commit (and its fsync) is in progress the
next uploads gather, and are committed together. Under load that turns one fsync per
report into one per batch; when idle, a batch is a single report and waits for nothing.

On SQLite, the writers of all server processes take turns through an exclusive
``flock`` on a file beside the database, taken *before* the batch is drained from the
queue: a waiting writer sleeps in the kernel until the other's commit is done (instead
of SQLite's busy handler polling in sleeps of up to 100 ms), and wakes up to a batch
that grew while it waited. The writer keeps one database connection for its lifetime
(no pool checkout or liveness ping per batch); a failed batch drops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from regional_server.store.ingest import Pending, store_batch_dbapi

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: SQLite's busy handler alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)
MAX_BATCH = 512

# A waiter is a concurrent future (``submit``, any thread) or an asyncio future
# (``store``, from the event loop): the writer settles all the asyncio ones of a
# batch with one call into their loop, instead of one thread-safe wake-up and two
# chained futures per report.
_Waiter = Future[bool] | asyncio.Future[bool]
_Item = tuple[Pending, _Waiter]


def _settle(settled: list[tuple[asyncio.Future[bool], bool | BaseException]]) -> None:
    for future, result in settled:
        if future.done():  # the request was cancelled (client gone)
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def writer_lock_path(engine: Engine) -> Path | None:
    """The file whose ``flock`` serializes ingest writers of a SQLite database (None on
    PostgreSQL, which has row locks, and for an in-memory database)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().with_name(Path(database).name + "-ingest.lock")


class _FileLock:
    """An exclusive ``flock`` shared by every process that opens the same path."""

    def __init__(self, path: Path | None) -> None:
        self._fd: int | None = None
        if path is not None and fcntl is not None:
            try:
                self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as e:  # e.g. a read-only folder: SQLite's busy handler alone
                log.warning("no ingest writer lock at %s (%s); writers poll instead", path, e)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fd = self._fd
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
            except OSError as e:  # e.g. no locks on this file system
                log.warning("ingest writer lock failed (%s); writers poll instead", e)
                self.close()
                fd = None
        try:
            yield
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class IngestQueue:
    """Queue verified reports; ``submit`` returns a future of stored (True) / retry (False)."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._conn: Any = None  # the writer thread's own pooled DB-API connection
        self.batches = 0
        self.reports = 0

    def submit(self, item: Pending) -> Future[bool]:
        """Queue ``item``; the future says stored (True) or a retry (False)."""
        future: Future[bool] = Future()
        self._put((item, future))
        return future

    async def store(self, item: Pending) -> bool:
        """Queue ``item`` and wait for its commit: stored (True) or a retry (False);
        raises ``ReportConflict`` or ``RuntimeError`` (storage failed)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._put((item, future))
        return await future

    def _put(self, item: _Item) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="ingest-writer", daemon=True
                    )
                    self._thread.start()
        self._queue.put(item)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _run(self) -> None:
        file_lock = _FileLock(writer_lock_path(self._engine))
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                with file_lock.held():
                    batch, stop = self._drain(first)
                    self._store(batch)
                if stop:
                    return
        finally:
            file_lock.close()
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()  # back to the pool

    def _drain(self, first: _Item) -> tuple[list[_Item], bool]:
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _connection(self) -> Any:
        if self._conn is None:
            self._conn = self._engine.raw_connection()
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            conn.rollback()
        with contextlib.suppress(Exception):
            conn.invalidate()  # a connection that failed a batch is not reused
        with contextlib.suppress(Exception):
            conn.close()

    def _store(self, batch: list[_Item]) -> None:
        try:
            conn = self._connection()
            results: list[bool | BaseException] = list(
                store_batch_dbapi(
                    conn, self._engine.dialect.name, [p for p, _f in batch], int(self._clock())
                )
            )
            conn.commit()
        except Exception:
            self._drop_connection()
            if len(batch) == 1:
                log.exception("storing a report failed")
                self._resolve(batch, [RuntimeError("storage failed")])
                return
            # One bad item must not fail the others: store them one by one.
            for item in batch:
                self._store([item])
            return
        self.batches += 1
        self.reports += len(batch)
        self._resolve(batch, results)

    @staticmethod
    def _resolve(batch: list[_Item], results: list[bool | BaseException]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[bool], Any]]] = {}
        for (_p, future), result in zip(batch, results, strict=True):
            if isinstance(future, asyncio.Future):
                by_loop.setdefault(future.get_loop(), []).append((future, result))
            elif not future.set_running_or_notify_cancel():
                continue  # cancelled by its caller: nobody waits for it
            elif isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(_settle, settled)
