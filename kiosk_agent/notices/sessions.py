"""When does a new customer sit down? The session watcher's decision and its polling loop.

``decide`` is a pure function of the previous state, one observation of the desktop and
the clock; it returns the next state and, at most, one ``SessionStarted(trigger)``. The
triggers (``notices.triggers``):

- ``login``: a desktop session appeared (a new login id), or — on the first observation
  — the session we run in started less than ``LOGIN_RECENT`` seconds ago (the UI is
  started at login, so its first look is the login);
- ``idle_reset``: no input for ``idle_reset_after``, then input again;
- ``billing_hook``: `kiosk-agent session-start` (café billing software), relayed by the
  service's control API;
- ``agent_start``: the first observation after the UI started.

Debounce: never two SessionStarted within ``min_gap`` seconds (a login that also ends an
idle period is one session, not two). ``SessionWatcher`` is the I/O edge: it polls the
platform once a second (wakes at once for a billing hook) and calls back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from kiosk_agent.config import NoticesConfig
from kiosk_agent.platform.base import DesktopSession, SessionSignals
from kiosk_agent.reporting.events import SessionStarted

log = logging.getLogger(__name__)

LOGIN_RECENT = 120.0
# Order of precedence when several triggers fire in one observation: the most specific.
PRECEDENCE = ("billing_hook", "login", "idle_reset", "agent_start")


@dataclass(frozen=True)
class Policy:
    triggers: frozenset[str]
    idle_reset_after: float
    min_gap: float

    @classmethod
    def from_config(cls, notices: NoticesConfig) -> Policy:
        return cls(frozenset(notices.triggers), notices.idle_reset_after, notices.min_gap)


@dataclass(frozen=True)
class Observation:
    """One look at the desktop. ``wall`` is epoch seconds, only compared with session starts."""

    sessions: tuple[DesktopSession, ...] = ()
    idle_seconds: float | None = None
    billing_hook: bool = False
    wall: float = 0.0


@dataclass(frozen=True)
class WatchState:
    started: bool = False  # an observation has been made since the agent started
    known_sessions: frozenset[str] = frozenset()
    idle_seen: bool = False  # idle for idle_reset_after, no input since
    last_session_at: float | None = None  # monotonic time of the last SessionStarted


def decide(
    state: WatchState, obs: Observation, now: float, policy: Policy
) -> tuple[WatchState, SessionStarted | None]:
    """The next state, and the session start this observation means (if any)."""
    fired: set[str] = set()
    ids = frozenset(s.session_id for s in obs.sessions)

    if not state.started:
        fired.add("agent_start")
        if any(0 <= obs.wall - s.started <= LOGIN_RECENT for s in obs.sessions):
            fired.add("login")
    elif ids - state.known_sessions:
        fired.add("login")

    idle_seen = state.idle_seen
    if obs.idle_seconds is not None:
        if obs.idle_seconds >= policy.idle_reset_after:
            idle_seen = True
        elif idle_seen:
            fired.add("idle_reset")  # input after a long idle: someone new, probably
            idle_seen = False

    if obs.billing_hook:
        fired.add("billing_hook")

    new_state = replace(state, started=True, known_sessions=ids, idle_seen=idle_seen)
    trigger = next((t for t in PRECEDENCE if t in fired and t in policy.triggers), None)
    if trigger is None:
        return new_state, None
    if state.last_session_at is not None and now - state.last_session_at < policy.min_gap:
        return new_state, None
    return replace(new_state, last_session_at=now), SessionStarted(trigger)


class SessionWatcher:
    """Polls ``signals`` every ``interval`` s in a daemon thread; calls ``on_session``.

    ``billing_hook()`` may be called from any thread; it wakes the loop immediately, so
    the notice follows the billing software's call within a poll's work, not an interval.
    """

    def __init__(
        self,
        signals: SessionSignals,
        policy: Policy,
        on_session: Callable[[SessionStarted], None],
        *,
        interval: float = 1.0,
        session_every: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.signals = signals
        self.policy = policy
        self.on_session = on_session
        self.interval = interval
        # Logins are read less often than idle time: loginctl is a process spawn, and a
        # login shows the notice a few seconds late at worst (the desktop is still
        # starting then anyway).
        self.session_every = session_every
        self._sessions: tuple[DesktopSession, ...] = ()
        self._sessions_at: float | None = None
        self.clock = clock
        self.wall = wall
        self.state = WatchState()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._hook_pending = False
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._watch_sessions = bool({"login"} & policy.triggers)
        self._watch_idle = "idle_reset" in policy.triggers

    def billing_hook(self) -> None:
        with self._lock:
            self._hook_pending = True
        self._wake.set()

    def observe(self) -> Observation:
        with self._lock:
            hook, self._hook_pending = self._hook_pending, False
        idle = None
        try:
            now = self.clock()
            due = self._sessions_at is None or now - self._sessions_at >= self.session_every
            if self._watch_sessions and due:
                self._sessions = tuple(self.signals.desktop_sessions())
                self._sessions_at = now
            if self._watch_idle:
                idle = self.signals.idle_seconds()
        except Exception:  # an OS query failing must not stop the watcher
            log.exception("reading session signals failed")
        return Observation(self._sessions, idle, hook, self.wall())

    def step(self) -> SessionStarted | None:
        """One observation and decision (the loop's body; tests call it directly)."""
        self.state, event = decide(self.state, self.observe(), self.clock(), self.policy)
        if event is not None:
            try:
                self.on_session(event)
            except Exception:
                log.exception("session callback failed")
        return event

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="session-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._wake.wait(self.interval)
            self._wake.clear()
