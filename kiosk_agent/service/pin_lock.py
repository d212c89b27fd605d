"""The operator PIN's lockout: attempts taken before verifying, exponential backoff, kept on disk.

A PIN attempt is *taken* (the lock checked and the attempt reserved, in one step with no
``await`` between) before scrypt runs, and PINs are verified one at a time, so many
requests sent at once cannot all pass the check (issue 15). After
``FAILURES_BEFORE_LOCK`` wrong PINs the PIN is locked for 1 minute; each wrong PIN after
a lock locks it again for twice as long (2, 4, 8 ... minutes, at most 1 hour) until a
right PIN resets the count. The state lives in ``state_dir/pin-lock.json`` (written
atomically, 0600), so restarting the service does not clear it; an administrator clears
it with ``kiosk-agent operator unlock`` (docs/security.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from kiosk_agent.atomic import write_text_atomic

LOCK_FILE = "pin-lock.json"
FAILURES_BEFORE_LOCK = 5
FIRST_LOCK_SECONDS = 60.0
MAX_LOCK_SECONDS = 3600.0


@dataclass(frozen=True)
class LockState:
    """``failures`` wrong PINs since the last lock (or right PIN); ``locks`` locks since the
    last right PIN; ``locked_until`` in Unix seconds (0: not locked)."""

    failures: int = 0
    locks: int = 0
    locked_until: float = 0.0


def lock_seconds(locks: int) -> float:
    """How long the ``locks``-th lock (1-based) lasts: 1 min, 2, 4 ... at most 1 h."""
    doublings: int = min(max(locks - 1, 0), 16)
    return float(min(FIRST_LOCK_SECONDS * (1 << doublings), MAX_LOCK_SECONDS))


def allowed_failures(state: LockState) -> int:
    """Wrong PINs allowed before the next lock: 5 at first, then 1 after each lock."""
    return FAILURES_BEFORE_LOCK if state.locks == 0 else 1


def is_locked(state: LockState, now: float, pending: int = 0) -> bool:
    """Whether a new attempt must be refused: locked now, or the attempts already being
    verified (``pending``) would use up what is allowed before the next lock."""
    # A clock set back must not stretch a lock beyond its longest length.
    if now < state.locked_until and state.locked_until - now <= MAX_LOCK_SECONDS:
        return True
    return state.failures + pending >= allowed_failures(state)


def after_failure(state: LockState, now: float) -> LockState:
    """The state after one more wrong PIN (a lock starts when the allowance is used up)."""
    failures = state.failures + 1
    if failures < allowed_failures(state):
        return LockState(failures, state.locks, state.locked_until)
    locks = state.locks + 1
    return LockState(0, locks, now + lock_seconds(locks))


def after_expiry(state: LockState, now: float) -> LockState:
    """Forget an expired lock's deadline (its count of locks stays, for the backoff)."""
    if state.locked_until and not (
        now < state.locked_until and state.locked_until - now <= MAX_LOCK_SECONDS
    ):
        return LockState(state.failures, state.locks, 0.0)
    return state


def parse_state(text: str) -> LockState:
    """The state in a lock file; a damaged file counts as one lock (fail closed, not open)."""
    try:
        data = json.loads(text)
        failures = int(data.get("failures", 0))
        locks = int(data.get("locks", 0))
        until = float(data.get("locked_until", 0.0))
    except (ValueError, TypeError, AttributeError):
        return LockState(0, 1, 0.0)
    if failures < 0 or locks < 0 or until != until:  # NaN
        return LockState(0, 1, 0.0)
    return LockState(min(failures, 1000), min(locks, 1000), until)


def render_state(state: LockState) -> str:
    return (
        json.dumps(
            {"failures": state.failures, "locks": state.locks, "locked_until": state.locked_until}
        )
        + "\n"
    )


class LockFile:
    """``state_dir/pin-lock.json``: read, written atomically (0600), and noticed when someone
    else (``kiosk-agent operator unlock``) replaced it."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._written: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_mtime_ns

    def load(self) -> LockState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._written = None
            return LockState()
        except OSError:
            return LockState(0, 1, 0.0)
        self._written = self._stamp()
        return parse_state(text)

    def changed_elsewhere(self) -> bool:
        """Whether the file is not the one this object last read or wrote."""
        return self._stamp() != self._written

    def save(self, state: LockState) -> None:
        write_text_atomic(self.path, render_state(state), mode=0o600)
        self._written = self._stamp()


def clear_lock(state_dir: Path) -> LockState:
    """Clear the lockout (the administrator's ``kiosk-agent operator unlock``); returns the
    state it replaced. The running service notices the new file at its next attempt."""
    lock = LockFile(state_dir)
    before = lock.load()
    lock.save(LockState())
    return before
