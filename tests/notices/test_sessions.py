"""The session decision table (pure) and the watcher loop with fake signals and clock."""

from __future__ import annotations

import threading

import pytest

from kiosk_agent.notices.sessions import (
    LOGIN_RECENT,
    Observation,
    Policy,
    SessionWatcher,
    WatchState,
    decide,
)
from kiosk_agent.platform.base import DesktopSession
from kiosk_agent.reporting.events import SessionStarted

ALL = Policy(frozenset({"login", "idle_reset", "billing_hook", "agent_start"}), 600, 120)
WALL = 1_800_000_000.0


def sess(sid: str, started: float = WALL - 3600) -> DesktopSession:
    return DesktopSession(sid, "h", started)


def run(policy: Policy, steps: list[tuple[float, Observation]]) -> list[str | None]:
    state = WatchState()
    out: list[str | None] = []
    for now, obs in steps:
        state, event = decide(state, obs, now, policy)
        out.append(event.trigger if event else None)
    return out


@pytest.mark.parametrize(
    ("policy", "steps", "expected"),
    [
        # First look: agent start; a session that began moments ago is a login.
        (ALL, [(0, Observation((sess("a"),), 1, wall=WALL))], ["agent_start"]),
        (ALL, [(0, Observation((sess("a", WALL - 5),), 1, wall=WALL))], ["login"]),
        (
            ALL,
            [(0, Observation((sess("a", WALL - LOGIN_RECENT - 1),), 1, wall=WALL))],
            ["agent_start"],
        ),
        # agent_start not configured: the UI restarting in an old session shows nothing.
        (
            Policy(frozenset({"login", "idle_reset"}), 600, 120),
            [(0, Observation((sess("a"),), 1, wall=WALL))],
            [None],
        ),
        # A new login id later on, after the gap.
        (
            ALL,
            [
                (0, Observation((sess("a"),), 1, wall=WALL)),
                (500, Observation((sess("a"), sess("b")), 1, wall=WALL)),
            ],
            ["agent_start", "login"],
        ),
        # Idle for idle_reset_after, then input: a new customer.
        (
            ALL,
            [
                (0, Observation((), 1)),
                (700, Observation((), 650)),
                (701, Observation((), 0.5)),
                (702, Observation((), 1.5)),
            ],
            ["agent_start", None, "idle_reset", None],
        ),
        # Idle but not long enough: nothing.
        (
            ALL,
            [(0, Observation((), 1)), (300, Observation((), 599)), (301, Observation((), 0))],
            ["agent_start", None, None],
        ),
        # Unknown idle time (Wayland): no idle trigger ever.
        (
            ALL,
            [(0, Observation()), (900, Observation()), (901, Observation())],
            ["agent_start", None, None],
        ),
        # Billing hook wins over an idle reset in the same look; debounce within min_gap.
        (
            ALL,
            [
                (0, Observation((), 1)),
                (1000, Observation((), 700)),
                (1001, Observation((), 0, billing_hook=True)),
                (1050, Observation((), 0, billing_hook=True)),
                (1122, Observation((), 0, billing_hook=True)),
            ],
            ["agent_start", None, "billing_hook", None, "billing_hook"],
        ),
        # A trigger that is not configured is ignored.
        (
            Policy(frozenset({"login"}), 600, 120),
            [(0, Observation()), (10, Observation(billing_hook=True))],
            [None, None],
        ),
        # min_gap 0: every signal counts.
        (
            Policy(frozenset({"billing_hook"}), 600, 0),
            [(0, Observation(billing_hook=True)), (0.1, Observation(billing_hook=True))],
            ["billing_hook", "billing_hook"],
        ),
    ],
)
def test_decision_table(
    policy: Policy, steps: list[tuple[float, Observation]], expected: list[str | None]
) -> None:
    assert run(policy, steps) == expected


class FakeSignals:
    def __init__(self) -> None:
        self.sessions: list[DesktopSession] = [sess("a")]
        self.idle: float | None = 1.0
        self.fail = False

    def desktop_sessions(self) -> list[DesktopSession]:
        if self.fail:
            raise OSError("boom")
        return list(self.sessions)

    def idle_seconds(self) -> float | None:
        return self.idle


def test_watcher_steps_and_survives_failing_signals() -> None:
    signals = FakeSignals()
    now = [0.0]
    seen: list[SessionStarted] = []
    watcher = SessionWatcher(signals, ALL, seen.append, clock=lambda: now[0], wall=lambda: WALL)
    assert watcher.step() == SessionStarted("agent_start")
    now[0] = 500
    signals.fail = True
    assert watcher.step() is None
    signals.fail = False
    signals.sessions.append(sess("b"))
    assert watcher.step() == SessionStarted("login")
    assert seen == [SessionStarted("agent_start"), SessionStarted("login")]


def test_billing_hook_wakes_the_thread_at_once() -> None:
    signals = FakeSignals()
    got = threading.Event()
    events: list[SessionStarted] = []

    def on_session(e: SessionStarted) -> None:
        events.append(e)
        if e.trigger == "billing_hook":
            got.set()

    policy = Policy(frozenset({"billing_hook"}), 600, 0)
    watcher = SessionWatcher(signals, policy, on_session, interval=60)
    watcher.start()
    try:
        watcher.billing_hook()
        assert got.wait(2), "the hook waited for the 60 s poll interval"
    finally:
        watcher.stop()
    assert events == [SessionStarted("billing_hook")]


def test_logins_are_read_every_5_s_idle_time_every_poll() -> None:
    class Counting(FakeSignals):
        def __init__(self) -> None:
            super().__init__()
            self.session_reads = 0
            self.idle_reads = 0

        def desktop_sessions(self) -> list[DesktopSession]:
            self.session_reads += 1
            return super().desktop_sessions()

        def idle_seconds(self) -> float | None:
            self.idle_reads += 1
            return super().idle_seconds()

    signals = Counting()
    now = [0.0]
    watcher = SessionWatcher(signals, ALL, lambda e: None, clock=lambda: now[0], wall=lambda: WALL)
    for _ in range(10):
        watcher.step()
        now[0] += 1
    assert signals.idle_reads == 10
    assert signals.session_reads == 2  # at 0 s and 5 s
