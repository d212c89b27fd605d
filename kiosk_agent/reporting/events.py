"""Typed events and the in-process bus that carries them to subscribers.

Each event's docstring is its spec. Events carry no name, URL, address, user or time:
only the small vocabulary that the counters fold into reportable counts. Subscribers
run in a fixed order; one subscriber's exception is logged and contained, so a
crashing toast or counter never reaches the resolver that published the event.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import ClassVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all events. ``event_type`` names the event type on the wire (control API)."""

    event_type: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, str]:
        return {"type": self.event_type, **asdict(self)}


@dataclass(frozen=True, slots=True)
class Blocked(Event):
    """A query or request was blocked; ``category`` is the list category id (never the name)."""

    event_type: ClassVar[str] = "blocked"
    category: str


@dataclass(frozen=True, slots=True)
class NoticeShown(Event):
    """The safety notice appeared on screen in ``locale``."""

    event_type: ClassVar[str] = "notice_shown"
    locale: str


@dataclass(frozen=True, slots=True)
class NoticeAcknowledged(Event):
    """The customer pressed the notice's acknowledge button while it showed ``locale``."""

    event_type: ClassVar[str] = "notice_ack"
    locale: str


@dataclass(frozen=True, slots=True)
class NoticeDegraded(Event):
    """The notice was shown without text shaping (Raqm/FriBiDi missing on this PC), so only
    in languages drawable without it; ``reason`` is a token, e.g. ``no_shaping``."""

    event_type: ClassVar[str] = "notice_degraded"
    reason: str


@dataclass(frozen=True, slots=True)
class UiCrashed(Event):
    """The UI process (notice, tray) ended abnormally and was started again; ``kind`` is
    ``exit`` (non-zero status) or ``signal``."""

    event_type: ClassVar[str] = "ui_crashed"
    kind: str


@dataclass(frozen=True, slots=True)
class NoticeFeedback(Event):
    """The customer pressed "This helped" (``verdict`` helpful) or "Not for me"
    (not_helpful) under tip ``tip`` (an id like t03) shown in ``locale``. Optional: most
    notices get none. Nothing else about the customer is recorded."""

    event_type: ClassVar[str] = "notice_feedback"
    locale: str
    tip: str
    verdict: str


@dataclass(frozen=True, slots=True)
class SessionStarted(Event):
    """A customer session began; ``trigger`` is login, idle_reset, billing_hook or agent_start."""

    event_type: ClassVar[str] = "session_started"
    trigger: str


@dataclass(frozen=True, slots=True)
class TamperDetected(Event):
    """Something tried to get around the filter; ``kind`` is e.g. doh, dns_settings,
    dns_bypass, dns_firewall, operator_pause, service_stopped, pin_refused, policy_removed
    (browser guard policies)."""

    event_type: ClassVar[str] = "tamper"
    kind: str


@dataclass(frozen=True, slots=True)
class P2PSeen(Event):
    """A peer-to-peer client or tracker was seen; ``kind`` is the client family, e.g.
    bittorrent, ed2k, gnutella, tracker."""

    event_type: ClassVar[str] = "p2p_seen"
    kind: str


@dataclass(frozen=True, slots=True)
class SafeSearchApplied(Event):
    """A search engine's or YouTube's name was answered with its safe mode, counted once
    per customer session; ``engine`` is google, bing, duckduckgo or youtube."""

    event_type: ClassVar[str] = "safe_search"
    engine: str


@dataclass(frozen=True, slots=True)
class FeedRejected(Event):
    """A feed bundle was not applied; ``reason`` is the FeedError code (bad_signature,
    rollback, expired, truncated, ...). The last good list stays in force."""

    event_type: ClassVar[str] = "feed_rejected"
    reason: str


@dataclass(frozen=True, slots=True)
class OperatorAction(Event):
    """The operator did something with the PIN or as administrator; ``action`` is pause,
    update_now, postpone_update, today or unlock. Counted so coordinators see how often
    PCs are managed."""

    event_type: ClassVar[str] = "operator_action"
    action: str


@dataclass(frozen=True, slots=True)
class SignedRejected(Event):
    """A signed thing other than a feed bundle was not applied: ``kind`` is content,
    settings, keys or release; ``reason`` the refusal code. The last good one stays."""

    event_type: ClassVar[str] = "signed_rejected"
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class KeyChanged(Event):
    """A key announcement was accepted; ``how`` is rotation, recovery or revocation."""

    event_type: ClassVar[str] = "key_changed"
    how: str


@dataclass(frozen=True, slots=True)
class ReleaseSwitched(Event):
    """A program switch ended: ``outcome`` is applied (the new release answered DNS) or
    rolled_back (it did not; the previous release runs again). docs/fleet.md."""

    event_type: ClassVar[str] = "release_switched"
    outcome: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.event_type: cls
    for cls in (
        Blocked,
        NoticeShown,
        NoticeAcknowledged,
        NoticeDegraded,
        UiCrashed,
        NoticeFeedback,
        SessionStarted,
        TamperDetected,
        P2PSeen,
        SafeSearchApplied,
        FeedRejected,
        OperatorAction,
        SignedRejected,
        KeyChanged,
        ReleaseSwitched,
    )
}


def event_from_dict(data: object) -> Event:
    """Rebuild an event from ``Event.to_dict`` output; raises ``ValueError`` on anything else."""
    if not isinstance(data, dict):
        raise ValueError("event must be an object")
    cls = EVENT_TYPES.get(str(data.get("type")))
    if cls is None:
        raise ValueError(f"unknown event type {data.get('type')!r}")
    fields = {k: v for k, v in data.items() if k != "type"}
    expected = {f.name for f in dataclasses.fields(cls)}
    if set(fields) != expected or not all(isinstance(v, str) and v for v in fields.values()):
        raise ValueError(
            f"event {cls.event_type} needs exactly the string fields {sorted(expected)}"
        )
    return cls(**fields)


Subscriber = Callable[[Event], None]


class EventBus:
    """Delivers each published event to every subscriber, in subscription order.

    ``publish`` runs subscribers in the publisher's thread, so subscribers must be quick
    (count, enqueue); a subscriber's exception is logged and the others still run. A
    subscriber that needs only some event types says so (``types``): the resolver
    publishes one event per blocked query, and a call that only discards it is waste.
    """

    def __init__(self) -> None:
        self._entries: tuple[tuple[Subscriber, tuple[type[Event], ...] | None], ...] = ()
        self._by_type: dict[type[Event], tuple[Subscriber, ...]] = {}
        self._lock = threading.Lock()

    def subscribe(
        self, subscriber: Subscriber, types: Iterable[type[Event]] | None = None
    ) -> Callable[[], None]:
        """Add ``subscriber`` (for events of ``types`` only, when given; subclasses
        included); returns a function that removes it again."""
        entry = (subscriber, None if types is None else tuple(types))
        with self._lock:
            self._entries = (*self._entries, entry)
            self._by_type = {}

        def unsubscribe() -> None:
            with self._lock:
                self._entries = tuple(e for e in self._entries if e is not entry)
                self._by_type = {}

        return unsubscribe

    def _subscribers_of(self, cls: type[Event]) -> tuple[Subscriber, ...]:
        with self._lock:
            found = tuple(
                subscriber
                for subscriber, types in self._entries
                if types is None or issubclass(cls, types)
            )
            self._by_type[cls] = found
        return found

    def publish(self, event: Event) -> None:
        # The per-type tuple is a snapshot: safe against a concurrent subscribe, which
        # replaces the whole dict rather than changing it.
        subscribers = self._by_type.get(type(event))
        if subscribers is None:
            subscribers = self._subscribers_of(type(event))
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", subscriber, event.event_type)
