"""The PIN lockout's decisions: allowance, exponential backoff, clock set back, damaged file."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.service.pin_lock import (
    LockState,
    after_expiry,
    after_failure,
    is_locked,
    lock_seconds,
    parse_state,
    render_state,
)


def test_five_failures_then_doubling_locks_up_to_an_hour() -> None:
    state, now = LockState(), 1000.0
    for _ in range(4):
        state = after_failure(state, now)
        assert not is_locked(state, now)
    state = after_failure(state, now)
    assert state.locked_until == now + 60 and is_locked(state, now + 59)
    lengths = []
    for _ in range(9):
        now = state.locked_until
        state = after_expiry(state, now)
        assert not is_locked(state, now)
        state = after_failure(state, now)  # one wrong PIN after a lock locks again
        lengths.append(state.locked_until - now)
    assert lengths == [120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]
    assert lock_seconds(1) == 60 and lock_seconds(10**6) == 3600


def test_pending_attempts_use_the_allowance() -> None:
    assert not is_locked(LockState(), 0, pending=4)
    assert is_locked(LockState(), 0, pending=5)
    assert is_locked(LockState(failures=3), 0, pending=2)


def test_a_clock_set_back_does_not_lengthen_a_lock() -> None:
    state = LockState(0, 1, locked_until=10_000.0)
    assert is_locked(state, 9_999.0)
    assert not is_locked(state, 1.0)  # 2.7 h before the deadline: more than the longest lock


def test_damaged_file_fails_closed() -> None:
    assert parse_state("{nonsense").locks == 1
    assert parse_state('{"failures": -1}').locks == 1
    assert parse_state(render_state(LockState(2, 3, 5.5))) == LockState(2, 3, 5.5)


@given(st.text(max_size=200))
def test_parse_never_raises(text: str) -> None:
    state = parse_state(text)
    assert state.failures >= 0 and state.locks >= 0
