"""Refusals of signed things and accepted key changes have counters the server accepts."""

from __future__ import annotations

from kiosk_agent.contracts.report import is_counter_name
from kiosk_agent.reporting.counters import counter_name
from kiosk_agent.reporting.events import KeyChanged, SignedRejected, event_from_dict


def test_names() -> None:
    assert counter_name(SignedRejected("content", "invalid")) == "content.rejected.invalid"
    assert counter_name(SignedRejected("settings", "rollback")) == "settings.rejected.rollback"
    assert counter_name(SignedRejected("keys", "bad_chain")) == "keys.rejected.bad_chain"
    assert counter_name(KeyChanged("rotation")) == "keys.changed.rotation"
    assert counter_name(KeyChanged("made up")) is None
    assert counter_name(SignedRejected("other", "x")) is None
    assert not is_counter_name("content.rejected.")
    e = SignedRejected("content", "expired")
    assert event_from_dict(e.to_dict()) == e
