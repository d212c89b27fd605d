"""The program switch's state machine: every transition, and power cuts at each phase."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.updates import release_state as rs

CAND = rs.Candidate(2_000_000_000_000, "2.0.0", "app-2.0.0-abcd")
OLD = "app-1.0.0-beef"
HELPER = ("boot", 42)


def staged() -> rs.ReleaseState:
    return rs.ReleaseState(phase="staged", candidate=CAND, previous=OLD, applied=None)


def test_should_fetch() -> None:
    idle = rs.ReleaseState()
    assert rs.should_fetch(idle, 5, 4, postponed=False) is None
    assert rs.should_fetch(idle, 4, 4, postponed=False) == "up_to_date"
    assert rs.should_fetch(idle, 3, 4, postponed=False) == "up_to_date"  # never older
    assert rs.should_fetch(replace(idle, applied=6), 5, 4, postponed=False) == "up_to_date"
    assert rs.should_fetch(replace(idle, bad=(5,)), 5, 4, postponed=False) == "bad_version"
    assert rs.should_fetch(idle, 5, 4, postponed=True) == "postponed"
    assert rs.should_fetch(staged(), 5, 4, postponed=False) == "switch_in_progress"
    assert rs.should_fetch(idle, 5, None, postponed=False) is None  # a development build


def test_a_switch_that_answers() -> None:
    trial = rs.begin_trial(staged(), HELPER)
    assert trial.phase == "trial" and trial.attempts == 1 and trial.helper == HELPER
    switched = rs.after_trial(trial, True)
    assert switched.phase == "switched"
    done = rs.after_switch(switched, True, OLD)
    assert done.phase == "idle" and done.candidate is None
    assert done.applied == CAND.version and done.previous == OLD
    assert (done.applied_count, done.rolled_back_count) == (1, 0)


def test_a_candidate_that_does_not_answer_is_bad_for_good() -> None:
    trial = rs.begin_trial(staged(), HELPER)
    back = rs.after_trial(trial, False)
    assert back.phase == "idle" and back.bad == (CAND.version,) and back.applied is None
    assert back.rolled_back_count == 1
    assert rs.should_fetch(back, CAND.version, 1, postponed=False) == "bad_version"
    # Answered in the trial, not under the service manager: also rolled back.
    switched = rs.after_trial(rs.begin_trial(staged(), HELPER), True)
    again = rs.after_switch(switched, False, OLD)
    assert again.phase == "idle" and CAND.version in again.bad


def test_power_cut_during_the_trial_boots_the_old_release_and_tries_again() -> None:
    trial = rs.begin_trial(staged(), HELPER)
    settled = rs.settle(trial, OLD, helper_alive=False)
    assert settled.state.phase == "staged" and settled.point_at is None
    assert settled.state.helper is None and settled.state.attempts == 1
    # A helper still at work (the trial candidate starting) is left alone.
    assert rs.settle(trial, OLD, helper_alive=True).state == trial


def test_interrupted_too_often_is_bad() -> None:
    state = staged()
    for _ in range(rs.MAX_ATTEMPTS):
        state = rs.settle(rs.begin_trial(state, HELPER), OLD, helper_alive=False).state
    assert state.phase == "idle" and CAND.version in state.bad


def test_power_cut_after_the_switch() -> None:
    switched = rs.after_trial(rs.begin_trial(staged(), HELPER), True)
    # The stable command already names the candidate (it answered in the trial): kept.
    kept = rs.settle(switched, CAND.release, helper_alive=False)
    assert kept.state.phase == "idle" and kept.state.applied == CAND.version
    assert kept.point_at is None
    # Cut before the command moved: the old release runs, the switch is tried again.
    retry = rs.settle(switched, OLD, helper_alive=False)
    assert retry.state.phase == "staged" and retry.point_at == OLD


def test_idle_and_staged_are_left_as_they_are() -> None:
    for state in (rs.ReleaseState(), staged()):
        assert rs.settle(state, OLD, helper_alive=False).state == state


def test_state_file_round_trip_and_damage(tmp_path: Path) -> None:
    state = replace(rs.begin_trial(staged(), HELPER), bad=(7,), applied_count=3)
    rs.save(tmp_path, state)
    assert rs.load(tmp_path) == state
    (tmp_path / "release" / "state.json").write_text("{not json")
    assert rs.load(tmp_path) == rs.ReleaseState()


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "phase",
                        "candidate",
                        "previous",
                        "applied",
                        "bad",
                        "attempts",
                        "helper",
                        "version",
                        "program_version",
                        "release",
                        "applied_count",
                    ]
                ),
                inner,
                max_size=6,
            )
        ),
        max_leaves=12,
    )
)
def test_parse_state_never_dies(obj: object) -> None:
    state = rs.parse_state(obj)
    assert state.phase in rs.PHASES
    assert state.phase == "idle" or state.candidate is not None


def test_postponement(tmp_path: Path) -> None:
    assert rs.postponed_until(tmp_path) is None
    until = rs.postpone(tmp_path, 1000.0)
    assert until == 1000.0 + 86400 and rs.postponed_until(tmp_path) == until
    assert rs.is_postponed(until, 1000.0 + 86399)
    assert not rs.is_postponed(until, until)
