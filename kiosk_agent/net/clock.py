"""The agent's notion of the time: the PC clock corrected from servers' ``Date`` headers.

Café PCs often have dead CMOS batteries: after a power cut the clock may be years off.
Feed expiry, report periods and request signatures need the real time, so every HTTP
response the agent receives from its servers (feeds, uploads, enrollment) may correct
the offset between the PC clock and real time. The offset is kept in
``state_dir/clock.json`` (written atomically) so that the next start, before any server
has been reached, begins from the last known correction.

Use one ``Clock`` per state dir per process: ``clock_for(state_dir)``.

Epochs: counts made before a correction carry the period of the wrong clock. Each
stretch of time between corrections is an *epoch* (a random id, new at every start and
after every correction); ``corrections`` maps an ended epoch to the step that ended it,
and is saved too, so the reporting outbox can move counts made in that epoch to the
period in which they really happened (``kiosk_agent.reporting.outbox``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from kiosk_agent.atomic import write_text_atomic

log = logging.getLogger(__name__)

CLOCK_FILE = "clock.json"
MIN_STEP_SECONDS = 2.0
"""A ``Date`` header has one-second resolution: smaller disagreements are noise."""
RELOAD_EVERY_SECONDS = 60.0
MAX_CORRECTIONS_KEPT = 64
CorrectionListener = Callable[[str, float], None]
"""Called as ``listener(ended_epoch, step_seconds)`` after a correction, under the lock."""
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
_LATEST = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


def parse_http_date(value: str | None) -> float | None:
    """Unix seconds from an HTTP ``Date`` value, or None if it is not a usable date.

    Accepts the IMF-fixdate of RFC 9110 (``Sun, 06 Nov 1994 08:49:37 GMT``) and the
    obsolete forms Python's e-mail parser reads. Dates outside 2000-2200 are refused:
    a server with a broken clock must not drag every kiosk with it. Never raises.
    """
    if not value or len(value) > 64:
        return None
    try:
        from email.utils import parsedate_tz  # here: the email package costs start-up time

        parts = parsedate_tz(value)
        if parts is None:
            return None
        year, month, day, hour, minute, second = parts[:6]
        if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59):
            return None
        if second > 60:
            return None
        dt = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
        stamp = dt.timestamp() - (parts[9] or 0)
    except (ValueError, OverflowError, TypeError, IndexError):
        return None
    if not _EARLIEST <= stamp <= _LATEST:
        return None
    return stamp


class Clock:
    """Corrected wall-clock time: the system clock plus a learned offset.

    ``now()`` is cheap (one ``time.time()`` call and an addition) so it may be used
    per event. ``observe_server_date`` learns from a response; the offset is saved
    only when it moves by more than the measurement's uncertainty.
    """

    def __init__(
        self,
        state_dir: Path | None = None,
        *,
        system_time: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._system_time = system_time
        self._monotonic = monotonic
        self._path = Path(state_dir) / CLOCK_FILE if state_dir is not None else None
        self._lock = threading.RLock()
        self._offset = 0.0
        self._file_mtime: float | None = None
        self._next_reload = 0.0
        self._listeners: list[CorrectionListener] = []
        self.epoch = _new_epoch()
        """Id of the current stretch of time without a correction (new at each start)."""
        self.corrections: dict[str, float] = {}
        """Ended epoch -> the step (seconds) that corrected it, oldest first."""
        self.last_sync: float | None = None
        """Corrected time of the last ``Date`` observation in this process, if any."""
        self._load(initial=True)

    def add_listener(self, listener: CorrectionListener) -> None:
        """Call ``listener(ended_epoch, step)`` after each correction."""
        with self._lock:
            self._listeners.append(listener)

    @contextmanager
    def steady(self) -> Iterator[None]:
        """Hold off corrections (e.g. while counts are moved to the outbox with ``epoch``)."""
        with self._lock:
            yield

    @property
    def offset(self) -> float:
        """Seconds to add to the PC clock to get real time."""
        return self._offset

    def system_now(self) -> float:
        """The uncorrected PC clock (for measuring a request's send/receive times)."""
        return self._system_time()

    def now(self) -> float:
        """Corrected Unix time in seconds."""
        if self._path is not None and self._monotonic() >= self._next_reload:
            self._maybe_reload()
        return self._system_time() + self._offset

    def now_utc(self) -> datetime:
        """Corrected time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now(), UTC)

    def observe_server_date(
        self,
        date_header: str | None,
        *,
        sent_at: float | None = None,
        received_at: float | None = None,
    ) -> bool:
        """Learn from a server's ``Date`` header; True if the offset changed.

        ``sent_at`` / ``received_at`` are ``system_now()`` readings taken around the
        request; the server's time is taken to be at their midpoint.
        """
        server_time = parse_http_date(date_header)
        if server_time is None:
            return False
        received = self._system_time() if received_at is None else received_at
        sent = received if sent_at is None else min(sent_at, received)
        # The header is truncated to whole seconds: its true value is on average +0.5 s.
        estimate = server_time + 0.5 - (sent + received) / 2
        uncertainty = MIN_STEP_SECONDS + (received - sent) / 2
        with self._lock:
            self.last_sync = server_time
            if abs(estimate - self._offset) <= uncertainty:
                return False
            log.info(
                "clock corrected from a server Date header: PC clock is %+.0f s off", -estimate
            )
            self._correct(estimate)
            self._save()
            return True

    def set_offset(self, offset: float) -> None:
        """Force the offset (tests, or a trusted time source) and save it."""
        with self._lock:
            self._correct(float(offset))
            self._save()

    def _correct(self, new_offset: float) -> None:
        """Step to ``new_offset``: end the epoch, remember the step, tell the listeners."""
        ended, step = self.epoch, new_offset - self._offset
        self._offset = new_offset
        self.corrections[ended] = step
        while len(self.corrections) > MAX_CORRECTIONS_KEPT:
            del self.corrections[next(iter(self.corrections))]
        self.epoch = _new_epoch()
        for listener in list(self._listeners):
            try:
                listener(ended, step)
            except Exception:
                log.exception("clock correction listener failed")

    def _save(self) -> None:
        if self._path is None:
            return
        data = {
            "offset_seconds": round(self._offset, 3),
            "saved_at": round(self._system_time() + self._offset, 3),
            "corrections": {k: round(v, 3) for k, v in self.corrections.items()},
        }
        try:
            write_text_atomic(self._path, json.dumps(data) + "\n", 0o600)
            self._file_mtime = self._path.stat().st_mtime
        except OSError as e:
            # A full disk must not stop the correction from working in memory.
            log.warning("could not save the clock offset to %s: %s", self._path, e)

    def _load(self, initial: bool = False) -> None:
        if self._path is None:
            return
        self._next_reload = self._monotonic() + RELOAD_EVERY_SECONDS
        try:
            mtime = self._path.stat().st_mtime
            if mtime == self._file_mtime:
                return
            data = json.loads(self._path.read_text(encoding="utf-8"))
            offset = data["offset_seconds"]
            if isinstance(offset, bool) or not isinstance(offset, int | float):
                raise ValueError("offset_seconds is not a number")
            if abs(offset) > 200 * 365 * 86400:
                raise ValueError("offset_seconds is out of range")
            corrections = data.get("corrections") or {}
            if not isinstance(corrections, dict):
                raise ValueError("corrections is not an object")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            log.warning("ignoring unreadable clock file %s: %s", self._path, e)
            return
        self._file_mtime = mtime
        for epoch, step in corrections.items():
            if isinstance(step, int | float) and not isinstance(step, bool):
                self.corrections.setdefault(str(epoch), float(step))
        if initial:
            self._offset = float(offset)
        elif abs(float(offset) - self._offset) > MIN_STEP_SECONDS:
            # Another process (e.g. `kiosk-agent report upload --now`) corrected the clock.
            self._correct(float(offset))

    def reload(self) -> None:
        """Read ``clock.json`` now: take over a correction another process of this kiosk
        saved (a worker that uploaded, `report upload --now`), as ``now()`` does every
        minute. Ends this process's epoch and tells the listeners if the offset moved."""
        with self._lock:
            self._load()

    def _maybe_reload(self) -> None:
        with self._lock:
            self._load()


def _new_epoch() -> str:
    return secrets.token_hex(6)


_clocks: dict[Path, Clock] = {}
_clocks_lock = threading.Lock()


def clock_for(state_dir: Path | str) -> Clock:
    """The process-wide ``Clock`` for ``state_dir`` (one instance, shared by all parts)."""
    key = Path(state_dir).resolve()
    with _clocks_lock:
        clock = _clocks.get(key)
        if clock is None:
            clock = _clocks[key] = Clock(key)
        return clock
