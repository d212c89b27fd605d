"""Group commit for uploads: one writer thread per process stores reports in batches.

Each upload is acknowledged only after the transaction holding it has committed, so
nothing acknowledged is lost; but while one commit (and its fsync) is in progress the
next uploads gather, and are committed together. Under load that turns one fsync per
report into one per batch; when idle, a batch is a single report and waits for nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from sqlalchemy import Engine

from regional_server.store.ingest import Pending, ReportConflict, store_batch

log = logging.getLogger(__name__)
MAX_BATCH = 256

_Item = tuple[Pending, "Future[bool]"]


class IngestQueue:
    """Queue verified reports; ``submit`` returns a future of stored (True) / retry (False)."""

    def __init__(self, engine: Engine, clock: Callable[[], float]) -> None:
        self._engine = engine
        self._clock = clock
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, item: Pending) -> Future[bool]:
        future: Future[bool] = Future()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
                self._thread.start()
        self._queue.put((item, future))
        return future

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._store(batch)
            if stop:
                return

    def _store(self, batch: list[_Item]) -> None:
        try:
            with self._engine.begin() as conn:
                results = store_batch(conn, [p for p, _f in batch], int(self._clock()))
        except Exception:
            if len(batch) == 1:
                log.exception("storing a report failed")
                batch[0][1].set_exception(RuntimeError("storage failed"))
                return
            # One bad item must not fail the others: store them one by one.
            for item in batch:
                self._store([item])
            return
        for (_p, future), result in zip(batch, results, strict=True):
            if isinstance(result, ReportConflict):
                future.set_exception(result)
            else:
                future.set_result(result)
