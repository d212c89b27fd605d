"""Pure decisions of the hub protocol: who is the hub, which source a kiosk asks, when a
kiosk stops waiting for the hub. No I/O here."""

from __future__ import annotations

import hashlib

SERVICE_TYPE = "_kiosk-agent._tcp.local."
"""The DNS-SD service type the hub advertises (address and port only, no names)."""
API = "/hub/v1"
STALE_FACTOR = 2.0
"""A kiosk asks the regional server itself once its list is older than this many
``filter.update_every`` (a hub that withholds updates cannot keep it behind longer)."""
HUB_WAIT = (3.0, 20.0)
"""(connect, read) seconds a kiosk waits for the hub before asking the server itself."""
GATHER_SECONDS = 60.0
"""The hub waits this long after the first report of a round before forwarding, so the
reports the café's PCs cut at the same period end share one connection."""
SIGNATURE_MARGIN = 120.0
"""A held report is forwarded while its signature has at least this long left."""


def feed_key(feed_url: str) -> str:
    """The name under which a hub mirrors a feed directory (the URL itself never goes
    over the LAN twice, and a kiosk cannot name an arbitrary URL for the hub to fetch)."""
    return hashlib.sha256(feed_url.encode("utf-8")).hexdigest()[:16]


def hub_feed_url(hub: str, feed_url: str) -> str:
    return f"{hub.rstrip('/')}{API}/feeds/{feed_key(feed_url)}"


def use_hub_for_feed(
    *,
    now: float,
    first_seen: float | None,
    applied_at: float | None,
    direct_at: float | None,
    update_every: float,
) -> bool:
    """Whether a feed check may ask the hub first.

    The list's age is counted from the last time it was known current: a version applied
    (from anywhere: every bundle is verified), a check answered by the regional server
    itself, or, for a kiosk that never had either, its first check. Past
    ``STALE_FACTOR × update_every`` the kiosk asks the server directly: a hub that replays
    an old manifest (withholding) delays a kiosk by that bound at most.
    """
    marks = [t for t in (first_seen, applied_at, direct_at) if t is not None]
    if not marks:
        return True
    return now - max(marks) < STALE_FACTOR * update_every


def hand_off_bound(upload_every: float) -> float:
    """Seconds a kiosk leaves a report with the hub before sending it itself."""
    return max(2.0 * upload_every, 600.0)


def report_route(
    *,
    now: float,
    handed_at: float | None,
    hub_answer: str | None,
    bound: float,
) -> str:
    """What a kiosk does with one due report this round: ``done`` (the regional server
    acknowledged it through the hub), ``wait`` (the hub holds it), ``hub`` (hand it, again,
    to the hub), or ``direct`` (send it itself: the hub kept it too long, or refused it)."""
    if hub_answer in ("stored", "duplicate"):
        return "done"
    if handed_at is not None and now - handed_at > bound:
        return "direct"
    if hub_answer == "rejected":
        return "direct"  # the server refused it: the kiosk's own rules keep and retry it
    if hub_answer == "held":
        return "wait"
    return "hub"  # never handed, or the hub lost or let it expire: hand (re-signed) again


def relay_due(
    *,
    now: float,
    oldest_received: float | None,
    oldest_signed: float | None,
    window: float,
    gather: float = GATHER_SECONDS,
) -> bool:
    """Whether the hub forwards its held reports now: the gathering time has passed since
    the first one arrived, or the oldest signature is close to the server's window."""
    if oldest_received is None:
        return False
    if now - oldest_received >= gather:
        return True
    return oldest_signed is not None and now - oldest_signed >= window - SIGNATURE_MARGIN
