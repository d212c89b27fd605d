"""What every request handler shares: settings, the engine, the clock, caches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from regional_server.ingest_queue import IngestQueue
from regional_server.kiosk_keys import KioskKeys
from regional_server.settings import Settings


@dataclass
class ServerContext:
    settings: Settings
    engine: Engine
    clock: Callable[[], float] = time.time
    kiosk_keys: KioskKeys = field(init=False)
    """Enrolled kiosks' keys, cached per process (see ``kiosk_keys``)."""
    ingest_queue: IngestQueue = field(init=False)
    password_checks: threading.BoundedSemaphore = field(init=False)
    """Caps the scrypt checks running at once in this process (128 MiB each)."""

    def __post_init__(self) -> None:
        self.kiosk_keys = KioskKeys(self.engine, self.clock)
        self.ingest_queue = IngestQueue(self.engine, self.clock)
        self.password_checks = threading.BoundedSemaphore(self.settings.login_concurrency)

    def now(self) -> int:
        return int(self.clock())


def get_ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx
