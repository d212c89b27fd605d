from __future__ import annotations

import logging

import pytest

from kiosk_agent.reporting.events import (
    EVENT_TYPES,
    Blocked,
    Event,
    EventBus,
    FeedRejected,
    NoticeAcknowledged,
    NoticeDegraded,
    NoticeFeedback,
    NoticeShown,
    P2PSeen,
    SafeSearchApplied,
    SessionStarted,
    TamperDetected,
    UiCrashed,
    event_from_dict,
)


def test_subscribers_run_in_order_and_failures_are_contained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[str] = []

    def first(e: Event) -> None:
        seen.append("first")

    def broken(e: Event) -> None:
        raise RuntimeError("toast crashed")

    def last(e: Event) -> None:
        seen.append("last")

    bus.subscribe(first)
    bus.subscribe(broken)
    unsubscribe = bus.subscribe(last)
    with caplog.at_level(logging.ERROR):
        bus.publish(Blocked("csam"))
    assert seen == ["first", "last"]
    assert "toast crashed" in caplog.text
    unsubscribe()
    bus.publish(Blocked("csam"))
    assert seen == ["first", "last", "first"]


def test_a_subscriber_gets_only_the_types_it_asked_for() -> None:
    bus = EventBus()
    everything: list[Event] = []
    sessions: list[Event] = []
    bus.subscribe(everything.append)
    unsubscribe = bus.subscribe(sessions.append, types=(SessionStarted,))
    events = [Blocked("csam"), SessionStarted("login"), TamperDetected("doh")]
    for event in events:
        bus.publish(event)
    assert everything == events and sessions == [SessionStarted("login")]
    # the per-type lists are rebuilt after a change, whatever was published before
    late: list[Event] = []
    bus.subscribe(late.append, types=[Blocked, TamperDetected])
    unsubscribe()
    for event in events:
        bus.publish(event)
    assert sessions == [SessionStarted("login")]
    assert late == [Blocked("csam"), TamperDetected("doh")]
    assert everything == events * 2


@pytest.mark.parametrize(
    "event",
    [
        Blocked("csam"),
        NoticeShown("ar"),
        NoticeAcknowledged("sw"),
        NoticeFeedback("hi", "t03", "helpful"),
        SessionStarted("login"),
        TamperDetected("doh"),
        P2PSeen("bittorrent"),
        SafeSearchApplied("google"),
        FeedRejected("bad_signature"),
        NoticeDegraded("no_shaping"),
        UiCrashed("signal"),
    ],
)
def test_wire_round_trip(event: Event) -> None:
    assert event_from_dict(event.to_dict()) == event


def test_every_type_registered_once() -> None:
    assert len(EVENT_TYPES) == 15


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {"type": "nope"},
        {"type": "blocked"},
        {"type": "blocked", "category": 3},
        {"type": "blocked", "category": "x", "url": "http://a.test/"},
    ],
)
def test_bad_wire_events_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        event_from_dict(bad)
