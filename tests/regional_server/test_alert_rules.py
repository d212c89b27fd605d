"""The alert rules and the completeness arithmetic: pure functions, examples and
properties (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from regional_server.alerts import (
    MAD_FLOOR,
    MIN_HISTORY,
    MIN_JUMP_COUNT,
    Subscription,
    baseline,
    is_jump,
    mad,
    median,
    region_alerts,
)
from regional_server.completeness import (
    KioskLife,
    expected_cells,
    is_expected,
    rate,
    week_end,
)
from regional_server.perturb import KEY_RANGE

counts = st.integers(min_value=0, max_value=100_000)
history = st.lists(st.one_of(st.none(), counts), max_size=8)


def test_median_and_mad() -> None:
    assert median([1, 2, 3, 100]) == 2.5
    assert mad([1, 2, 3, 4, 100]) == 1.0  # one wild week barely moves the spread


def test_jump_examples() -> None:
    usual = [20, 22, 19, 21, 20, 23, 18, 20]
    base = baseline(usual)
    assert base is not None and base.median == 20.0
    # MAD = 1 -> threshold 20 + 3 * 1.4826 = 24.4
    assert round(base.threshold, 2) == 24.45
    assert is_jump(25, usual) and not is_jump(24, usual)
    # A flat history of zeros: MAD = 0, the floor keeps the threshold at 3, and the
    # minimum count keeps small values quiet.
    zeros = [0] * 8
    assert not is_jump(MIN_JUMP_COUNT - 1, zeros) and is_jump(MIN_JUMP_COUNT, zeros)
    # Too little history (hidden weeks and weeks without data left out): no usual level.
    assert not is_jump(1000, [0, 0, 0, None, None])
    assert is_jump(1000, [0, 0, 0, 0, None])
    # A hidden current week is never an alert.
    assert not is_jump(None, usual)
    # One past outlier does not raise the usual level.
    assert is_jump(60, [20, 20, 20, 20, 20, 20, 20, 500])


@given(value=counts, past=history)
def test_jump_needs_a_large_value_above_the_usual_level(value: int, past: list[int | None]) -> None:
    fired = is_jump(value, past)
    known = [v for v in past if v is not None]
    if fired:
        assert value >= MIN_JUMP_COUNT and len(known) >= MIN_HISTORY
        assert value > median(known) + 3 * MAD_FLOOR - 1e-9
    if len(known) < MIN_HISTORY or value <= median(known):
        assert not fired


@given(value=counts, extra=st.integers(min_value=0, max_value=1000), past=history)
def test_a_larger_value_is_at_least_as_much_a_jump(
    value: int, extra: int, past: list[int | None]
) -> None:
    if is_jump(value, past):
        assert is_jump(value + extra, past)


@given(past=st.lists(counts, min_size=MIN_HISTORY, max_size=8), shift=counts)
def test_the_rule_moves_with_the_level(past: list[int], shift: int) -> None:
    """Adding the same number to every week moves the threshold by that number."""
    a, b = baseline(past), baseline([v + shift for v in past])
    assert a is not None and b is not None
    assert abs((b.threshold - a.threshold) - shift) < 1e-6


def test_region_alerts_follow_the_subscription() -> None:
    series = [20] * 8 + [200]
    everything = Subscription(1, 7, True, True)
    alerts = region_alerts("KE-NBO", "2026-W47", everything, series, series, (2, None), ["k-1"], 1)
    assert [a.kind for a in alerts] == ["silent", "blocked_jump", "tamper_jump", "feed_rejections"]
    assert alerts[1].value == 200 and alerts[1].usual == 20.0
    assert alerts[3].value is None  # 2 rejections: published as <5
    quiet = Subscription(1, 7, False, False)
    alerts = region_alerts("KE-NBO", "2026-W47", quiet, series, series, (2, None), [], 0)
    assert alerts == []


def test_expected_examples() -> None:
    weeks = [date(2026, 11, 2) + timedelta(weeks=i) for i in range(4)]
    ends = [week_end(w) for w in weeks]
    assert ends[0] == datetime(2026, 11, 9, tzinfo=UTC).timestamp()  # the next Monday
    kiosks = [
        KioskLife(1, ends[0] - 1, None, 10),  # enrolled in the first week
        KioskLife(1, ends[1], None, 20),  # enrolled at the very end of week 2: from week 3
        KioskLife(1, 0, ends[2] - 1, 30),  # retired during week 3: expected weeks 1-2
        KioskLife(2, 0, ends[0], 40),  # retired exactly when week 1 ended: expected then
    ]
    cells = expected_cells(kiosks, weeks)
    assert [cells[(1, w)].value for w in weeks] == [2, 2, 2, 2]
    assert [cells[(1, w)].key for w in weeks] == [40, 40, 30, 30]
    assert cells[(2, weeks[0])].value == 1 and (2, weeks[1]) not in cells


lives = st.builds(
    KioskLife,
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=1_760_000_000, max_value=1_770_000_000),
    st.one_of(st.none(), st.integers(min_value=1_760_000_000, max_value=1_770_000_000)),
    st.integers(min_value=0, max_value=KEY_RANGE - 1),
)


@given(kiosks=st.lists(lives, max_size=30), n=st.integers(min_value=1, max_value=20))
def test_expected_cells_match_the_definition(kiosks: list[KioskLife], n: int) -> None:
    weeks = [date(2025, 10, 6) + timedelta(weeks=i) for i in range(n)]
    cells = expected_cells(kiosks, weeks)
    for region in (1, 2, 3):
        for w in weeks:
            members = [
                k
                for k in kiosks
                if k.region_id == region and is_expected(k.enrolled_at, k.retired_at, week_end(w))
            ]
            cell = cells.get((region, w))
            assert (cell.value if cell else 0) == len(members)
            assert (cell.key if cell else 0) == sum(k.record_key for k in members) % KEY_RANGE


@given(part=st.integers(min_value=0, max_value=10**6), whole=st.integers(0, 10**6))
def test_rates_are_percentages(part: int, whole: int) -> None:
    """Published figures carry independent noise: received can exceed expected by a
    little, the rate still reads at most 100 %."""
    r = rate(part, whole)
    if whole == 0:
        assert r is None
    else:
        assert r is not None and 0 <= r <= 100
    assert rate(None, 10) is None and rate(3, None) is None
