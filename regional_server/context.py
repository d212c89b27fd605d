"""What every request handler shares: settings, the engine, the clock, caches."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import Engine

from regional_server.ingest_queue import IngestQueue
from regional_server.settings import Settings


@dataclass
class ServerContext:
    settings: Settings
    engine: Engine
    clock: Callable[[], float] = time.time
    kiosk_cache: dict[str, tuple[float, Any]] = field(default_factory=dict)
    """kiosk id -> (time cached, (KioskAuth, Ed25519PublicKey)): a key never changes
    for a kiosk id, so verifying an upload needs no database read in the common case."""
    ingest_queue: IngestQueue = field(init=False)

    def __post_init__(self) -> None:
        self.ingest_queue = IngestQueue(self.engine, self.clock)

    def now(self) -> int:
        return int(self.clock())


def get_ctx(request: Request) -> ServerContext:
    ctx: ServerContext = request.app.state.ctx
    return ctx
