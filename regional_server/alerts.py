"""Alert rules for coordinators. Pure functions (docs/indicators.md, "Alerts").

- **Silent kiosk**: no report for more than the subscription's number of days.
- **Jump** in blocked or tamper attempts: the region's figure for the last complete
  week against its usual level over the previous ``HISTORY_WEEKS`` weeks, with a rule
  that a single odd week cannot move (median and MAD): the week is a jump when

      value >= MIN_JUMP_COUNT  and  value > median + K * max(1.4826 * MAD, MAD_FLOOR)

  1.4826 · MAD estimates the standard deviation of normal data; ``MAD_FLOOR`` keeps a
  flat history (MAD = 0, e.g. eight weeks of 0) from turning every small rise into an
  alert; ``MIN_JUMP_COUNT`` keeps small counts quiet. A history of fewer than
  ``MIN_HISTORY`` weeks with a published figure gives no alert (no usual level yet).
- **Feed rejections**: kiosks of the region refused a feed (``feeds.rejected.*``) in
  the last complete week.

The rules read the published figures (perturbed, ``None`` when hidden), so an alert
tells nothing the dashboard does not show.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

HISTORY_WEEKS = 8
MIN_HISTORY = 4
K = 3.0
MAD_SCALE = 1.4826
MAD_FLOOR = 1.0
MIN_JUMP_COUNT = 10
KINDS = ("silent", "blocked_jump", "tamper_jump", "feed_rejections")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation from the median."""
    m = median(values)
    return median([abs(v - m) for v in values])


@dataclass(frozen=True)
class Baseline:
    median: float
    threshold: float
    """A value above this (and at least ``MIN_JUMP_COUNT``) is a jump."""


def baseline(history: Sequence[int | None]) -> Baseline | None:
    """The usual level of ``history`` (published weekly figures; ``None`` hidden or no
    data, left out), or ``None`` with fewer than ``MIN_HISTORY`` figures."""
    known = [float(v) for v in history if v is not None]
    if len(known) < MIN_HISTORY:
        return None
    m = median(known)
    return Baseline(m, m + K * max(MAD_SCALE * mad(known), MAD_FLOOR))


def is_jump(value: int | None, history: Sequence[int | None]) -> bool:
    """True when ``value`` (the last complete week) jumps above ``history``."""
    if value is None or value < MIN_JUMP_COUNT:
        return False
    base = baseline(history)
    return base is not None and value > base.threshold


@dataclass(frozen=True)
class Alert:
    kind: str
    """One of ``KINDS``."""
    region: str
    week: str = ""
    """The ISO week the alert is about (``2026-W48``); empty for silent kiosks."""
    value: int | None = None
    """The published figure (``None``: hidden, shown as ``<5``)."""
    usual: float | None = None
    """The median of the previous weeks, for a jump."""
    kiosks: tuple[str, ...] = field(default_factory=tuple)
    """Silent kiosks' pseudonymous ids (the first few)."""
    total: int = 0
    """Silent kiosks: how many."""
    days: int = 0
    """Silent kiosks: for more than this many days."""


@dataclass(frozen=True)
class Subscription:
    region_id: int
    silent_days: int
    jumps: bool
    feed_rejections: bool


def region_alerts(
    region: str,
    week: str,
    sub: Subscription,
    blocked: Sequence[int | None],
    tamper: Sequence[int | None],
    rejected: tuple[int, int | None],
    silent: Sequence[str],
    silent_total: int,
) -> list[Alert]:
    """The alerts of one subscribed region.

    ``blocked`` and ``tamper``: published weekly figures, oldest first, the last one
    being ``week``; ``rejected``: the true count of feed rejections in ``week`` and its
    published figure; ``silent``: the ids of kiosks silent for ``sub.silent_days``.
    """
    out: list[Alert] = []
    if sub.silent_days > 0 and silent_total:
        out.append(
            Alert("silent", region, total=silent_total, kiosks=tuple(silent), days=sub.silent_days)
        )
    if sub.jumps:
        for kind, series in (("blocked_jump", blocked), ("tamper_jump", tamper)):
            if series and is_jump(series[-1], series[:-1]):
                base = baseline(series[:-1])
                out.append(Alert(kind, region, week, series[-1], base.median if base else None))
    if sub.feed_rejections and rejected[0] > 0:
        out.append(Alert("feed_rejections", region, week, rejected[1]))
    return out
