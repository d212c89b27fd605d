"""The dashboard's first screen: figures of the period against the previous period."""

from __future__ import annotations

from regional_server.dashboard.headline import change_percent, headline, period_counters
from regional_server.indicators import NO_DATA, Coverage
from regional_server.perturb import NO_NOISE, Cell, noise_table


def _week(sessions: int, blocked: int, tamper: int, shown: int, acked: int) -> dict[str, Cell]:
    out = {
        "sessions.login": Cell(sessions, sessions * 7),
        "blocked.malware": Cell(blocked, blocked * 11),
        "notices.shown.en": Cell(shown, 5),
        "notices.acknowledged": Cell(acked, 9),
    }
    if tamper:
        out["tamper.dns_changed"] = Cell(tamper, 3)
    return out


def test_figures_and_trends() -> None:
    current = [_week(1000, 30, 6, 900, 810), _week(1000, 30, 0, 100, 90)]
    previous = [_week(800, 16, 0, 500, 400), _week(800, 0, 0, 500, 400)]
    cov = [Coverage(Cell(12, 1), Cell(9, 2), Cell(7, 3))]
    head = headline(current, previous, cov, NO_NOISE, 5)
    fig = {f.key: f for f in head.figures}
    assert fig["sessions"].current == 2000 and fig["sessions"].previous == 1600
    assert fig["sessions"].change == 25.0
    assert fig["ack_rate"].current == 90.0 and fig["ack_rate"].previous == 80.0
    assert fig["blocked_per_1000"].current == 30.0 and fig["blocked_per_1000"].previous == 10.0
    assert fig["blocked_per_1000"].change == 200.0
    # Tamper 6 now, a true 0 before: no percentage from a zero.
    assert fig["tamper"].current == 6 and fig["tamper"].previous == 0
    assert fig["tamper"].change is None
    assert fig["p2p"].current == 0
    assert head.kiosks_reporting == 9 and head.kiosks_enrolled == 12


def test_hidden_and_no_data_have_no_trend() -> None:
    current = [_week(1000, 3, 0, 10, 9)]
    head = headline(current, [{}], [Coverage()], NO_NOISE, 5)
    fig = {f.key: f for f in head.figures}
    assert fig["sessions"].previous == NO_DATA and fig["sessions"].change is None
    assert fig["ack_rate"].previous == NO_DATA
    assert fig["blocked_per_1000"].current is None  # blocked is hidden (<5): no rate
    assert head.kiosks_enrolled == 0  # nothing enrolled is a zero, not "<5"
    empty = headline([{}], [{}], [], NO_NOISE, 5)
    assert all(f.current == NO_DATA for f in empty.figures)


def test_counts_go_through_the_perturbation() -> None:
    """The first screen shows exactly the cell the weekly table's total shows."""
    from regional_server.indicators import compute_indicators

    table = noise_table()
    weeks = [_week(1000 + i, 30 + i, 7, 900, 800) for i in range(4)]
    head = headline(weeks, [{}], [], table, 5)
    ind = compute_indicators([(f"w{i}", w) for i, w in enumerate(weeks)], [], 5, table)
    fig = {f.key: f for f in head.figures}
    assert ind.weekly.total is not None
    assert fig["sessions"].current == ind.weekly.total.values["sessions"]
    assert fig["tamper"].current == ind.weekly.total.values["tamper"]
    assert period_counters(weeks)["sessions.login"].value == sum(1000 + i for i in range(4))


def test_change_percent() -> None:
    assert change_percent(150, 100) == 50.0
    assert change_percent(50, 100) == -50.0
    assert change_percent(5, 0) is None
    assert change_percent(None, 3) is None and change_percent(NO_DATA, 3) is None
