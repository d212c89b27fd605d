"""Weekly rollups: which (ISO week, counter) a report adds to. Pure functions.

A report's counts are attributed to the ISO week of its ``period_start``. Daily and
hourly reports never cross a week; a report merged over several days while a kiosk was
offline counts in the week it started (the kiosk no longer knows the split).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

from kiosk_agent.contracts.report import Report


def week_start(day: date) -> date:
    """The Monday that starts ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


def week_label(monday: date) -> str:
    """``2026-W48`` for the ISO week starting on ``monday``."""
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def weeks_between(first: date, last: date) -> list[date]:
    """Mondays of every ISO week that overlaps ``first``..``last`` (inclusive)."""
    out: list[date] = []
    monday = week_start(first)
    while monday <= last:
        out.append(monday)
        monday += timedelta(days=7)
    return out


def report_week(report: Report) -> date:
    return week_start(report.period_start.astimezone(UTC).date())


def rollup_deltas(report: Report) -> dict[str, int]:
    """What ``report`` adds to its week's rollup: counter -> count (zero counts skipped)."""
    return {name: value for name, value in report.counts.items() if value > 0}


def epoch_to_date(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def iter_weeks(weeks: list[date]) -> Iterator[tuple[date, str]]:
    for monday in weeks:
        yield monday, week_label(monday)
