"""Pure decisions on the café's shared link: when a kiosk's feed check may wait for the
link, and what the hub's relay round costs against its daily byte budget. No I/O here.

Protection first: a feed check waits for a busy café link only while the kiosk's list is
recent. A kiosk with no list (a first install), an operator's "update now", and a list
last known current ``FEED_WAIT_BOUND`` × ``update_every`` ago or more go at once, busy
link or not: a list that is late is a risk to children, a busy link only an annoyance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time as dtime

from kiosk_agent.reporting.uploader import (
    CONNECTION_OVERHEAD_BYTES,
    REQUEST_OVERHEAD_BYTES,
    in_window,
)

FEED_WAIT_BOUND = 2.0
"""A check waits for the link only while the list was known current less than this many
``update_every`` ago: a busy café delays an update by one interval at most."""
BUSY_RETRY = 120.0
"""Seconds before a check that waited for the link is tried again (at most
``update_every`` / 4)."""


@dataclass(frozen=True)
class FeedGate:
    go: bool
    reason: str
    """``operator``, ``no_list``, ``list_too_old``, ``no_reading``, ``link_has_room``
    (go), or ``link_busy`` (wait)."""


def feed_gate(
    *,
    now: float,
    utilization: float | None,
    max_utilization: float,
    has_list: bool,
    last_current: float | None,
    update_every: float,
    operator: bool = False,
) -> FeedGate:
    """Whether a feed check (manifest and any bundle) may use the café's uplink now.

    ``utilization`` is the café's link reading from the hub (None without a hub or
    before its first reading: a kiosk alone cannot see the café's load, and then checks
    as it always did). ``last_current`` is when the list was last known current (a
    version applied, or a check that found it up to date), from any source.
    """
    if operator:
        return FeedGate(True, "operator")
    if not has_list:
        return FeedGate(True, "no_list")
    if last_current is None or now - last_current >= FEED_WAIT_BOUND * update_every:
        return FeedGate(True, "list_too_old")
    if utilization is None:
        return FeedGate(True, "no_reading")
    if utilization <= max_utilization:
        return FeedGate(True, "link_has_room")
    return FeedGate(False, "link_busy")


def busy_retry(update_every: float) -> float:
    return min(BUSY_RETRY, update_every / 4)


def last_current(
    applied_at: float | None, last_check: float | None, last_result: str | None
) -> float | None:
    """When a feed's list was last known current: the later of the last version applied
    and the last check that found nothing newer."""
    marks = [applied_at]
    if last_result in ("applied", "up_to_date"):
        marks.append(last_check)
    known = [t for t in marks if t is not None]
    return max(known) if known else None


def relay_estimate(body_bytes: int, requests: int) -> int:
    """Bytes a relay round will cost the uplink, charged before it starts: the bodies (as
    held; the batch is compressed, so this errs high), each request's overhead, and one
    new TLS connection."""
    return body_bytes + requests * REQUEST_OVERHEAD_BYTES + CONNECTION_OVERHEAD_BYTES


def relay_spent(body_bytes: int, requests: int, connections: int) -> int:
    """Bytes a finished round is charged: what it sent and received, each request's
    overhead, and each TLS connection it opened."""
    return body_bytes + requests * REQUEST_OVERHEAD_BYTES + connections * CONNECTION_OVERHEAD_BYTES


def spent_today(meta: object, day: str) -> int:
    """The hub's relay bytes charged today from its ``{"day", "bytes"}`` record."""
    if not isinstance(meta, dict) or meta.get("day") != day:
        return 0
    value = meta.get("bytes", 0)
    return value if isinstance(value, int) and value > 0 else 0


def release_gate(
    *,
    utilization: float | None,
    max_utilization: float,
    local_time: dtime,
    offpeak: tuple[str, str] | None,
) -> tuple[bool, str]:
    """Whether the hub may download a program release for the café now: the rule a kiosk
    applies to its own release download (``updates/component.py``, ``link_room``): inside
    ``reporting.offpeak`` when one is set, and the café's link at or under
    ``max_utilization``. A link not measured yet does not hold it back (a release is
    not urgent, but a hub that just started must not wait for a reading for ever)."""
    if offpeak is not None and not in_window(local_time, offpeak):
        return False, "outside_offpeak"
    if utilization is not None and utilization > max_utilization:
        return False, "link_busy"
    return True, "link_has_room" if utilization is not None else "no_reading"
