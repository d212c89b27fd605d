"""The dashboard's first screen: the few figures a coordinator acts on, with their trend.

For the chosen regions and period, each figure is compared with the previous period of
the same number of weeks. Counts go through ``indicators.shown_count`` (the cell key
method's ``perturb.publish``); rates are computed from the published counts, as in the
tables. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from regional_server.indicators import (
    NO_DATA,
    Coverage,
    Kind,
    Value,
    family_cells,
    per_thousand,
    percent,
    shown_count,
)
from regional_server.perturb import Cell, NoiseTable, cell_sum

FIGURES = ("sessions", "ack_rate", "blocked_per_1000", "tamper", "p2p")


@dataclass(frozen=True)
class Figure:
    key: str
    kind: Kind
    current: Value
    previous: Value
    change: float | None
    """Change against the previous period in percent; ``None`` when either figure is
    not a number (hidden, no data) or the previous one is 0."""


@dataclass(frozen=True)
class Headline:
    figures: list[Figure]
    kiosks_reporting: Value
    """Kiosks with a report in the last 7 days (published like every count)."""
    kiosks_enrolled: Value


def period_counters(weeks: Sequence[Mapping[str, Cell]]) -> dict[str, Cell]:
    """counter -> cell summed over ``weeks`` (a total is a cell of its own)."""
    names = {name for week in weeks for name in week}
    return {name: cell_sum(w[name] for w in weeks if name in w) for name in sorted(names)}


def _number(value: Value) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def change_percent(current: Value, previous: Value) -> float | None:
    """``current`` against ``previous`` in percent (rounded to a whole percent)."""
    cur, prev = _number(current), _number(previous)
    if cur is None or prev is None or prev == 0:
        return None
    return float(round((cur - prev) * 100 / prev))


def _values(
    weeks: Sequence[Mapping[str, Cell]], noise: NoiseTable, threshold: int
) -> dict[str, Value]:
    has_data = any(weeks)
    fam = family_cells(period_counters(weeks))

    def count(key: str) -> Value:
        return shown_count(fam[key], noise, threshold, has_data)

    def num(v: Value) -> int | None:
        return v if isinstance(v, int) else None

    sessions, blocked = count("sessions"), count("blocked")
    shown, acked = count("notices_shown"), count("notices_acknowledged")
    out: dict[str, Value] = {
        "sessions": sessions,
        "tamper": count("tamper"),
        "p2p": count("p2p"),
        "ack_rate": percent(num(acked), num(shown)),
        "blocked_per_1000": per_thousand(num(blocked), num(sessions)),
    }
    if not has_data:
        out["ack_rate"] = out["blocked_per_1000"] = NO_DATA
    return out


_KINDS: dict[str, Kind] = {
    "sessions": "count",
    "tamper": "count",
    "p2p": "count",
    "ack_rate": "percent",
    "blocked_per_1000": "rate",
}


def headline(
    current: Sequence[Mapping[str, Cell]],
    previous: Sequence[Mapping[str, Cell]],
    coverage: Sequence[Coverage],
    noise: NoiseTable,
    threshold: int,
) -> Headline:
    """The first screen's figures: ``current`` and ``previous`` are the weeks (counter ->
    cell, summed over the chosen regions) of the period and of the one before it."""
    now = _values(current, noise, threshold)
    before = _values(previous, noise, threshold)
    figures = [
        Figure(k, _KINDS[k], now[k], before[k], change_percent(now[k], before[k])) for k in FIGURES
    ]
    enrolled = cell_sum(c.enrolled for c in coverage)
    active = cell_sum(c.active for c in coverage)
    return Headline(
        figures,
        shown_count(active, noise, threshold),
        shown_count(enrolled, noise, threshold),
    )
