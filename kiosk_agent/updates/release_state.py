"""The program update's state machine: where a switch stands, and pure decisions on it.

``state_dir/release/state.json`` says where the switch to a new release stands; every
change is written (atomically) *before* the step it announces, so a power cut at any
point finds a state that names what to do (docs/fleet.md, "Program releases")::

    idle --(worker: downloaded, verified, unpacked)--> staged
    staged --(helper: state first, then stops the service)--> trial
        trial: the candidate runs beside the stable command, which still names the
        old release; it must answer DNS within the bound
    trial --(answered)--> switched  (then the stable command names the candidate,
                                     the service starts from it, DNS checked again)
    trial --(no answer)--> idle, the version remembered as bad, the old release started
    switched --(answered again)--> idle, applied = the candidate
    switched --(no answer)--> idle, bad, the stable command back on the previous release

A power cut in ``trial`` boots the old release (the stable command never moved); one in
``switched`` boots whichever release the command names, and both answered DNS. The
service settles a state the helper left behind (``settle``) when it starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kiosk_agent.atomic import write_text_atomic

FOLDER = "release"
STATE = "state.json"
POSTPONED = "postponed.json"
PHASES = ("idle", "staged", "trial", "switched")
POSTPONE_SECONDS = 86400.0
MAX_ATTEMPTS = 3
"""A switch interrupted this often (power cuts, a helper killed) marks the version bad."""


@dataclass(frozen=True)
class Candidate:
    version: int  # the signed release version (contracts/release.py)
    program_version: str
    release: str  # the unpacked folder, app-<version>-<token>


@dataclass(frozen=True)
class ReleaseState:
    phase: str = "idle"
    candidate: Candidate | None = None
    previous: str | None = None  # the release the stable command named before the switch
    applied: int | None = None  # the last release confirmed by a switch
    bad: tuple[int, ...] = ()
    attempts: int = 0
    helper: tuple[str, int] | None = None  # (boot id, pid) of the helper doing the switch
    applied_count: int = 0  # switches confirmed, ever (the service counts the increase)
    rolled_back_count: int = 0

    def to_json(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "phase": self.phase,
            "candidate": None
            if c is None
            else {"version": c.version, "program_version": c.program_version, "release": c.release},
            "previous": self.previous,
            "applied": self.applied,
            "bad": list(self.bad),
            "attempts": self.attempts,
            "helper": None if self.helper is None else list(self.helper),
            "applied_count": self.applied_count,
            "rolled_back_count": self.rolled_back_count,
        }


def _int(value: object, default: int | None = None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def parse_state(obj: object) -> ReleaseState:
    """A state file's content; anything malformed becomes a field's default (a state file
    damaged by hand must not stop the service, and ``idle`` changes nothing on disk)."""
    if not isinstance(obj, dict):
        return ReleaseState()
    phase = obj.get("phase") if obj.get("phase") in PHASES else "idle"
    c = obj.get("candidate")
    candidate = None
    if isinstance(c, dict):
        version, text, rel = c.get("version"), c.get("program_version"), c.get("release")
        if _int(version) is not None and isinstance(text, str) and isinstance(rel, str):
            from kiosk_agent.installer.release import is_release_name

            if is_release_name(rel):
                candidate = Candidate(int(version), text[:40], rel)  # type: ignore[arg-type]
    if phase != "idle" and candidate is None:
        phase = "idle"
    previous = obj.get("previous")
    helper = obj.get("helper")
    bad = obj.get("bad")
    return ReleaseState(
        phase=str(phase),
        candidate=candidate,
        previous=previous if isinstance(previous, str) else None,
        applied=_int(obj.get("applied")),
        bad=tuple(b for b in bad if _int(b) is not None)[-100:] if isinstance(bad, list) else (),
        attempts=_int(obj.get("attempts"), 0) or 0,
        helper=(str(helper[0]), int(helper[1]))
        if isinstance(helper, list)
        and len(helper) == 2
        and isinstance(helper[0], str)
        and _int(helper[1]) is not None
        else None,
        applied_count=_int(obj.get("applied_count"), 0) or 0,
        rolled_back_count=_int(obj.get("rolled_back_count"), 0) or 0,
    )


def folder(state_dir: Path) -> Path:
    return state_dir / FOLDER


def load(state_dir: Path) -> ReleaseState:
    try:
        return parse_state(json.loads((folder(state_dir) / STATE).read_text("utf-8")))
    except (OSError, ValueError):
        return ReleaseState()


def save(state_dir: Path, state: ReleaseState) -> None:
    folder(state_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder(state_dir) / STATE, json.dumps(state.to_json(), indent=1) + "\n")


# -- postponement (the operator's, with the PIN) --------------------------------------


def postponed_until(state_dir: Path) -> float | None:
    try:
        value = json.loads((folder(state_dir) / POSTPONED).read_text("utf-8")).get("until")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def postpone(state_dir: Path, now: float) -> float:
    """Hold program updates for a day from ``now``; returns until when."""
    until = now + POSTPONE_SECONDS
    folder(state_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder(state_dir) / POSTPONED, json.dumps({"until": until}) + "\n")
    return until


def is_postponed(until: float | None, now: float) -> bool:
    return until is not None and now < until


# -- pure decisions -------------------------------------------------------------------


def floor_version(state: ReleaseState, running: int | None) -> int | None:
    """The version a new release must exceed: the one running, or the last applied."""
    known = [v for v in (state.applied, running) if v is not None]
    return max(known) if known else None


def should_fetch(
    state: ReleaseState, target: int, running: int | None, *, postponed: bool
) -> str | None:
    """Why the release ``target`` is not fetched now (a token), or None to fetch it."""
    if state.phase != "idle":
        return "switch_in_progress"
    if postponed:
        return "postponed"
    if target in state.bad:
        return "bad_version"
    floor = floor_version(state, running)
    if floor is not None and target <= floor:
        return "up_to_date"
    return None


def begin_trial(state: ReleaseState, helper: tuple[str, int]) -> ReleaseState:
    assert state.phase == "staged" and state.candidate is not None
    return replace(state, phase="trial", helper=helper, attempts=state.attempts + 1)


def after_trial(state: ReleaseState, answered: bool) -> ReleaseState:
    """The candidate answered DNS (go on to switch) or not (refused for good)."""
    assert state.phase == "trial" and state.candidate is not None
    if answered:
        return replace(state, phase="switched")
    return _rolled_back(state)


def after_switch(state: ReleaseState, answered: bool, previous: str | None) -> ReleaseState:
    """The service started from the candidate answered DNS again, or the switch is undone."""
    assert state.phase == "switched" and state.candidate is not None
    if not answered:
        return _rolled_back(state)
    return ReleaseState(
        applied=state.candidate.version,
        previous=previous,
        bad=state.bad,
        applied_count=state.applied_count + 1,
        rolled_back_count=state.rolled_back_count,
    )


def _rolled_back(state: ReleaseState) -> ReleaseState:
    assert state.candidate is not None
    return ReleaseState(
        applied=state.applied,
        previous=state.previous,
        bad=(*state.bad, state.candidate.version)[-100:],
        applied_count=state.applied_count,
        rolled_back_count=state.rolled_back_count + 1,
    )


@dataclass(frozen=True)
class Settled:
    """What the service does at start with a state the helper left: the new state, and
    the release the stable command must name (None: leave it)."""

    state: ReleaseState
    point_at: str | None = None
    notes: list[str] = field(default_factory=list)


def settle(state: ReleaseState, running_release: str | None, helper_alive: bool) -> Settled:
    """At service start: finish a switch whose helper is gone (a power cut, a kill).

    ``trial``: the stable command never moved, so the old release runs; the switch is
    tried again from ``staged`` (a version interrupted ``MAX_ATTEMPTS`` times is bad).
    ``switched``: the candidate answered DNS once; if the command already names it, it is
    kept; otherwise the switch is tried again the same way.
    """
    if state.phase not in ("trial", "switched") or helper_alive:
        return Settled(state)
    assert state.candidate is not None
    if state.phase == "switched" and running_release == state.candidate.release:
        done = after_switch(state, True, state.previous)
        return Settled(done, notes=["kept the new release (it answered before the cut)"])
    if state.attempts >= MAX_ATTEMPTS:
        return Settled(_rolled_back(state), notes=["interrupted too often: marked bad"])
    back = state.previous if state.phase == "switched" else None
    return Settled(replace(state, phase="staged", helper=None), point_at=back)


def boot_id() -> str:
    """This boot's id (Linux), so a helper pid from before a reboot is not taken as alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def helper_alive(helper: tuple[str, int] | None) -> bool:
    if helper is None or helper[0] != boot_id() or os.name == "nt":
        return False  # Windows: os.kill(pid, 0) would end the process
    try:
        os.kill(helper[1], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
