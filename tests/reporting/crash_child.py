"""The process the crash test kills: counts random events, flushes, cuts and uploads.

Imported by the multiprocessing fork server once (all heavy imports happen here), so
each child starts in milliseconds and the test can kill 200 of them in a few minutes.
Progress goes to an append-only log: ``UPLOADING`` and ``UPLOADED`` around each upload
round, ``FLUSHED <lifetime flushed total>`` after each committed flush, ``DRAINED``
when ``drain`` emptied the outbox.
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

import requests  # noqa: F401  (preloaded for fast children)
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: F401

from kiosk_agent.config import config_from_mapping
from kiosk_agent.net.clock import Clock
from kiosk_agent.reporting.component import Reporting
from kiosk_agent.reporting.events import Blocked, EventBus, NoticeShown, SessionStarted
from kiosk_agent.reporting.uploader import LinkMonitor


def _log(path: Path, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _reporting(state_dir: Path, server: str) -> Reporting:
    config = config_from_mapping(
        {
            "state_dir": str(state_dir),
            # The budget is not what this test is about: 200 cycles of uploads (many of
            # them failed on purpose) would spend the default 200 kB/day and leave the
            # final drain deferred.
            "reporting": {
                "server": server,
                "period": "day",
                "max_reports": 10,
                "daily_budget_bytes": 100_000_000,
            },
            "filter": {"upstreams": ["127.0.0.1:9"]},
        }
    )
    idle = LinkMonitor(read=lambda: (0, 0), min_window=0.0)
    idle.sample(0.0, 0)
    idle.sample(1.0, 0)
    return Reporting(config, clock=Clock(state_dir), link=idle, rng=lambda: 0.0)


def run_child(state_dir: str, server: str, seed: int, log_path: str) -> None:
    """Generate, flush, cut and upload until killed."""
    rng = random.Random(seed)
    log = Path(log_path)
    reporting = _reporting(Path(state_dir), server)
    bus = EventBus()
    bus.subscribe(reporting.counters)
    _log(log, "READY")
    events = [Blocked("csam"), Blocked("grooming"), NoticeShown("sw"), SessionStarted("login")]
    i = 0
    while True:
        for _ in range(rng.randint(1, 20)):
            bus.publish(rng.choice(events))
        reporting.flush()
        flushed = sum(f for f, _ in reporting.outbox.totals().values())
        _log(log, f"FLUSHED {flushed}")
        i += 1
        if i % 3 == 0:
            reporting.cut(all_periods=rng.random() < 0.5)
            _log(log, "UPLOADING")
            reporting.upload(operator=rng.random() < 0.3)
            _log(log, "UPLOADED")


def drain(state_dir: str, server: str) -> int:
    """Send everything that is left (no kill); returns the reports still waiting."""
    reporting = _reporting(Path(state_dir), server)
    reporting.flush()
    reporting.cut(all_periods=True)
    for _ in range(20):
        result = reporting.upload(operator=True)
        if result.outcome in ("nothing",) or reporting.outbox.report_count() == 0:
            break
    left = reporting.outbox.report_count()
    if left:
        print(f"drain: {left} report(s) left; last round: {result!r}", file=sys.stderr)
    reporting.close()
    return left
