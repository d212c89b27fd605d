"""Counters: events folded into (period start, counter name) -> count, and nothing else.

The counter vocabulary is ``schema.COUNTER_PATTERNS``: an event whose detail cannot be
expressed in it is normalized (``"Child-Abuse"`` -> ``blocked.child_abuse``, ``"pt-BR"``
-> ``notices.shown.pt``) or, if even that fails, dropped and counted in ``dropped``.
Periods are UTC days of the corrected clock. Counting appends to an
in-memory queue (see docs/BENCHMARKS.md for its cost); the outbox persists the counts
every few seconds (``take`` / ``put_back``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Literal

from kiosk_agent.contracts.report import is_counter_name
from kiosk_agent.contracts.tips import FEEDBACK_LOCALES, TIP_ID
from kiosk_agent.reporting.events import (
    Blocked,
    Event,
    FeedRejected,
    KeyChanged,
    NoticeAcknowledged,
    NoticeDegraded,
    NoticeFeedback,
    NoticeShown,
    OperatorAction,
    P2PSeen,
    ReleaseSwitched,
    SafeSearchApplied,
    SessionStarted,
    SignedRejected,
    TamperDetected,
    UiCrashed,
)

log = logging.getLogger(__name__)

PERIOD_SECONDS: dict[str, int] = {"day": 86400}
CounterKey = tuple[int, str]
"""(period start in Unix seconds, counter name)."""

_NOT_TOKEN = re.compile(r"[^a-z0-9_]+")
_LOCALE = re.compile(r"[a-z]{2,3}")
_NAME_CACHE_MAX = 4096


def _token(value: str) -> str:
    """A detail as a vocabulary token: lowercase, ``[a-z0-9_]``, at most 32 characters."""
    token = _NOT_TOKEN.sub("_", value.strip().lower()).strip("_")[:32]
    return token or "other"


def counter_name(event: Event) -> str | None:
    """The counter an event increments, or None if it has no place in the vocabulary."""
    name: str
    if isinstance(event, Blocked):
        name = f"blocked.{_token(event.category)}"
    elif isinstance(event, NoticeShown):
        language = re.split(r"[-_.@]", event.locale.strip().lower(), maxsplit=1)[0]
        name = f"notices.shown.{language if _LOCALE.fullmatch(language) else 'und'}"
    elif isinstance(event, NoticeAcknowledged):
        name = "notices.acknowledged"
    elif isinstance(event, NoticeDegraded):
        name = "notices.degraded"
    elif isinstance(event, UiCrashed):
        name = "ui.crashes"
    elif isinstance(event, NoticeFeedback):
        # A closed vocabulary (contracts.report): an unknown locale counts as und, an
        # unknown verdict or tip id is dropped.
        language = event.locale.strip().lower().replace("_", "-").split("-")[0]
        locale = language if language in FEEDBACK_LOCALES else "und"
        if event.verdict not in ("helpful", "not_helpful") or not TIP_ID.fullmatch(event.tip):
            return None
        name = f"notices.feedback.{event.verdict}.{locale}.{event.tip}"
    elif isinstance(event, SessionStarted):
        name = f"sessions.{_token(event.trigger)}"
    elif isinstance(event, TamperDetected):
        name = f"tamper.{_token(event.kind)}"
    elif isinstance(event, P2PSeen):
        name = f"p2p.{_token(event.kind)}"
    elif isinstance(event, SafeSearchApplied):
        name = f"safe_search.{_token(event.engine)}"
    elif isinstance(event, FeedRejected):
        name = f"feeds.rejected.{_token(event.reason)}"
    elif isinstance(event, OperatorAction):
        name = f"operator.{_token(event.action)}"
    elif isinstance(event, SignedRejected):
        name = f"{_token(event.kind)}.rejected.{_token(event.reason)}"
    elif isinstance(event, KeyChanged):
        name = f"keys.changed.{_token(event.how)}"
    elif isinstance(event, ReleaseSwitched):
        name = f"updates.{_token(event.outcome)}"
    else:
        return None
    return name if is_counter_name(name) else None


def period_start(timestamp: float, period: str) -> int:
    """Start (Unix seconds, UTC-aligned) of the period holding ``timestamp``."""
    length = PERIOD_SECONDS[period]
    return int(timestamp // length) * length


class _PeriodMark:
    """Queued when the period changes: the events after it belong to ``start``."""

    __slots__ = ("start",)

    def __init__(self, start: int) -> None:
        self.start = start


class Counters:
    """An event-bus subscriber that counts events per period.

    ``count`` is on the publisher's hot path (the resolver's loop, the UI bridge,
    watchdog threads), so it only checks the period and appends the event to a deque
    (atomic under the GIL, no lock); the deque is folded into counts at each flush, or
    when it grows long. A period change is queued as a mark, so events keep the period
    in which they happened. ``now`` is the corrected clock (``Clock.now``).
    """

    FOLD_AT = 10_000
    """Queued events that trigger a fold in the publisher's thread (bounds memory)."""

    def __init__(self, now: Callable[[], float], period: Literal["day"] = "day") -> None:
        self._now = now
        self.period = period
        self.period_seconds = PERIOD_SECONDS[period]
        self._queue: deque[Event | _PeriodMark] = deque()
        self._current_start = 0
        self._current_end = 0
        self._fold_lock = threading.Lock()
        self._fold_period = 0
        self._counts: dict[CounterKey, int] = {}
        self._names: dict[Event, str | None] = {}
        self.dropped = 0
        """Events that had no counter (unknown type or unusable detail)."""

    def __call__(self, event: Event) -> None:
        self.count(event)

    def count(self, event: Event) -> None:
        """Count one event in the current period."""
        now = self._now()
        if not self._current_start <= now < self._current_end:
            start = int(now // self.period_seconds) * self.period_seconds
            self._current_start, self._current_end = start, start + self.period_seconds
            self._queue.append(_PeriodMark(start))
        self._queue.append(event)
        if len(self._queue) > self.FOLD_AT:
            self._fold()

    def _fold(self) -> None:
        with self._fold_lock:
            queue, counts, names = self._queue, self._counts, self._names
            while True:
                try:
                    item = queue.popleft()
                except IndexError:
                    break
                if isinstance(item, _PeriodMark):
                    self._fold_period = item.start
                    continue
                # Events are frozen and few distinct: remember each one's name (bounded).
                try:
                    name = names[item]
                except KeyError:
                    name = counter_name(item)
                    if len(names) < _NAME_CACHE_MAX:
                        names[item] = name
                if name is None:
                    self.dropped += 1
                    log.debug("event %s has no counter; not counted", item.event_type)
                    continue
                key = (self._fold_period, name)
                counts[key] = counts.get(key, 0) + 1

    def shift(self, step: float) -> None:
        """The clock was corrected by ``step`` seconds: move unflushed counts with it.

        Counts made before the correction carry periods of the wrong clock; the events
        really happened ``step`` seconds later (or earlier) than it said.
        """
        self._fold()
        with self._fold_lock:
            moved: dict[CounterKey, int] = {}
            for (start, name), n in self._counts.items():
                key = (period_start(start + step, self.period), name)
                moved[key] = moved.get(key, 0) + n
            self._counts = moved
            self._current_end = 0  # the next event computes its period afresh

    def take(self) -> dict[CounterKey, int]:
        """Remove and return everything counted so far (for a flush)."""
        self._fold()
        with self._fold_lock:
            counts, self._counts = self._counts, {}
        return counts

    def put_back(self, counts: dict[CounterKey, int]) -> None:
        """Return counts whose flush failed, so they are tried again next time."""
        with self._fold_lock:
            for key, n in counts.items():
                self._counts[key] = self._counts.get(key, 0) + n

    def snapshot(self) -> dict[CounterKey, int]:
        """A copy of the unflushed counts (for status)."""
        self._fold()
        with self._fold_lock:
            return dict(self._counts)

    def pending_total(self) -> int:
        return sum(self.snapshot().values())
