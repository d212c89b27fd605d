"""Indicator definitions (pure functions over rolled-up counts)."""

from __future__ import annotations

from regional_server.indicators import (
    NO_DATA,
    Coverage,
    compute_indicators,
    family_totals,
    format_value,
    per_thousand,
    percent,
    shown_count,
)
from regional_server.perturb import KEY_RANGE, NO_NOISE, Cell, noise_table


def test_family_totals() -> None:
    fam = family_totals(
        {
            "sessions.login": 10,
            "sessions.idle_reset": 5,
            "notices.shown.sw": 8,
            "notices.shown.en": 7,
            "notices.acknowledged": 12,
            "notices.feedback.helpful.sw.t01": 6,
            "notices.feedback.helpful.en.t03": 1,
            "notices.feedback.not_helpful.sw.t01": 2,
            "blocked.csam": 3,
            "blocked.malware": 2,
            "tamper.dns_changed": 1,
            "p2p.bittorrent": 4,
            "feeds.rejected.bad_signature": 9,
        }
    )
    assert fam == {
        "sessions": 15,
        "notices_shown": 15,
        "notices_acknowledged": 12,
        "feedback_helpful": 7,
        "feedback_not_helpful": 2,
        "blocked": 5,
        "tamper": 1,
        "p2p": 4,
    }


def test_rates() -> None:
    assert per_thousand(25, 5000) == 5.0
    assert per_thousand(None, 5000) is None and per_thousand(3, 0) is None
    assert percent(30, 40) == 75.0 and percent(1, None) is None


def _cells(counts: dict[str, int]) -> dict[str, Cell]:
    return {name: Cell(v, (7919 * i) % KEY_RANGE) for i, (name, v) in enumerate(counts.items())}


def test_tables_and_rates() -> None:
    weeks = [
        (
            "2026-W47",
            _cells(
                {
                    "sessions.login": 2000,
                    "notices.shown.en": 400,
                    "notices.acknowledged": 300,
                    "blocked.csam": 50,
                    "tamper.x": 10,
                }
            ),
        ),
        (
            "2026-W48",
            _cells(
                {
                    "sessions.login": 1000,
                    "notices.shown.en": 200,
                    "notices.acknowledged": 180,
                    "blocked.csam": 30,
                    "tamper.x": 2,
                }
            ),
        ),
    ]
    regions = [
        (
            "KE-NBO",
            "Nairobi",
            _cells({"sessions.login": 3000, "blocked.csam": 80, "tamper.x": 12}),
            Coverage(Cell(10, 1), Cell(8, 2), Cell(6, 3)),
        ),
    ]
    ind = compute_indicators(weeks, regions, 5, NO_NOISE)
    w47, w48 = ind.weekly.rows
    assert w47.values["ack_rate"] == 75.0 and w47.values["blocked_per_1000"] == 25.0
    # W48 tamper = 2 is hidden, and so is its rate; W47's 10 and the total 12 are shown.
    assert w48.values["tamper"] is None and w48.values["tamper_per_1000"] is None
    assert w47.values["tamper"] == 10
    assert ind.weekly.total is not None and ind.weekly.total.values["tamper"] == 12
    assert ind.blocked_series == {"csam": [50, 30]}
    assert ind.ack_rate_series == [75.0, 90.0]
    assert ind.regions.total is not None
    assert ind.regions.total.values["kiosks_active"] == 8
    assert format_value(None, "count", 5) == "<5" and format_value(None, "rate", 5) == ""
    assert format_value(None, "kiosks", 5) == "<5"
    assert format_value(2.25, "rate", 5) == "2.2" or format_value(2.25, "rate", 5) == "2.3"


def test_with_noise_every_count_is_within_the_noise_and_totals_agree() -> None:
    weeks = [
        ("2026-W47", _cells({"sessions.login": 2000, "blocked.csam": 50, "blocked.x": 9})),
        ("2026-W48", _cells({"sessions.login": 1000, "blocked.csam": 30, "tamper.x": 2})),
    ]
    regions = [("KE-NBO", "Nairobi", cell_sum_map(weeks), Coverage(Cell(10, 5)))]
    table = noise_table(3, 3.0)
    ind = compute_indicators(weeks, regions, 5, table)
    assert ind.weekly.total is not None and ind.regions.total is not None
    assert ind.blocked.total is not None
    truth = {"sessions": 3000, "blocked": 89}
    for key, value in truth.items():
        shown = ind.weekly.total.values[key]
        assert isinstance(shown, int) and abs(shown - value) <= 3
        # The same records make the same cell: one figure wherever it is shown.
        assert ind.regions.total.values[key] == shown
    assert ind.blocked.total.values["blocked"] == ind.weekly.total.values["blocked"]
    assert [r.values["blocked"] for r in ind.blocked.rows] == [
        r.values["blocked"] for r in ind.weekly.rows
    ]


def cell_sum_map(weeks: list[tuple[str, dict[str, Cell]]]) -> dict[str, Cell]:
    out: dict[str, Cell] = {}
    for _label, counts in weeks:
        for name, cell in counts.items():
            out[name] = out.get(name, Cell()) + cell
    return out


def test_empty_period() -> None:
    ind = compute_indicators([("2026-W48", {})], [], 5, NO_NOISE)
    assert ind.categories == [] and ind.regions.rows == []
    assert ind.weekly.rows[0].values["sessions"] == NO_DATA


def test_zero_no_data_and_hidden_are_three_things() -> None:
    """A week with reports but no tamper shows 0, a small count <5, a week without
    reports "no data"; the page, CSV and JSON print them differently."""
    table = noise_table()
    weeks = [
        ("2026-W47", {"sessions.login": Cell(40, 123), "tamper.dns_changed": Cell(2, 77)}),
        ("2026-W48", {"sessions.login": Cell(50, 999)}),
        ("2026-W49", {}),
    ]
    ind = compute_indicators(weeks, [], 5, table)
    tamper = [r.values["tamper"] for r in ind.weekly.rows]
    assert tamper == [None, 0, NO_DATA]
    assert [format_value(v, "count", 5) for v in tamper] == ["<5", "0", ""]
    assert shown_count(Cell(0, 0), table, 5) == 0
    assert shown_count(Cell(0, 0), table, 5, has_data=False) == NO_DATA
    # Zero stays zero under any key: the perturbation never makes a count appear.
    assert all(shown_count(Cell(0, k), table, 5) == 0 for k in range(0, KEY_RANGE, 2**28))
    # A zero count in a week with data has no rate but is not "no data" either.
    assert ind.weekly.rows[1].values["tamper_per_1000"] == 0.0
