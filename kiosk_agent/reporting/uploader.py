"""The uploader: sends outbox reports when the café's link has room, within a daily budget.

``decide`` is the pure rule (link utilization, off-peak window, budget -> send or defer
with a reason); ``backoff_delay`` the pure retry rule (exponential, full jitter);
``LinkMonitor`` measures utilization from ``psutil.net_io_counters`` against a capacity
estimated from the peaks seen over the last days. ``Uploader.run_round`` is the I/O:
signed gzip POSTs, one report each, acknowledged by ``report_id``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as dtime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from kiosk_agent.contracts.report import SIGNATURE_WINDOW_SECONDS, encode_body
from kiosk_agent.net.clock import Clock
from kiosk_agent.reporting.held import Held
from kiosk_agent.reporting.identity import Enrollment, KioskKey
from kiosk_agent.reporting.outbox import Outbox, StoredReport

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

REPORTS_PATH = "/api/v1/reports"
MIN_CAPACITY = 8_000.0
"""Bytes/s assumed at least (64 kbit/s), so an idle first hour does not make every later
byte look like a saturated link."""
PEAK_DAYS = 7
REQUEST_OVERHEAD_BYTES = 350
"""Request line, headers and the response, on top of the body (measured, BENCHMARKS.md)."""
CONNECTION_OVERHEAD_BYTES = 4_000
"""A TLS handshake with a typical certificate chain, charged once per round."""
BACKOFF_BASE = 60.0
BACKOFF_CAP = 6 * 3600.0
REJECTED_RETRY_SECONDS = 86400.0


# -- the pure rules ---------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """Send now, or defer with a reason (``link_busy``, ``link_unmeasured``,
    ``outside_offpeak``, ``over_budget``)."""

    send: bool
    reason: str


def in_window(now: dtime, window: tuple[str, str]) -> bool:
    """Whether local time ``now`` is in ``("22:00", "06:00")`` (may wrap past midnight)."""
    start, end = (dtime.fromisoformat(t) for t in window)
    if start <= end:
        return start <= now < end
    return now >= start or now < end


def decide(
    *,
    utilization: float | None,
    max_utilization: float,
    local_time: dtime,
    offpeak: tuple[str, str] | None,
    bytes_sent_today: int,
    next_bytes: int,
    daily_budget: int,
    ignore_link: bool = False,
    ignore_budget: bool = False,
) -> Decision:
    """May ``next_bytes`` more go out now?

    The budget is checked first: it is the operator's hard promise. ``ignore_link``
    (operator's "send now") skips the off-peak window and the utilization gate;
    ``ignore_budget`` (``--force``) skips the budget.
    """
    if not ignore_budget and bytes_sent_today + next_bytes > daily_budget:
        return Decision(False, "over_budget")
    if not ignore_link:
        if offpeak is not None and not in_window(local_time, offpeak):
            return Decision(False, "outside_offpeak")
        if utilization is None:
            return Decision(False, "link_unmeasured")
        if utilization > max_utilization:
            return Decision(False, "link_busy")
    return Decision(True, "ok")


def backoff_delay(
    failures: int,
    *,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after ``failures`` consecutive failures: exponential, full jitter.

    Uniform in [0, min(cap, base * 2^(failures-1))): many kiosks that lost the server at
    the same moment (a regional outage) come back spread out instead of all at once.
    """
    if failures <= 0:
        return 0.0
    ceiling = min(cap, base * 2.0 ** min(failures - 1, 60))
    return rng() * ceiling


# -- link measurement -------------------------------------------------------------------


@dataclass(frozen=True)
class LinkReading:
    """Recent throughput and the estimated capacity, in bytes per second."""

    rx_rate: float
    tx_rate: float
    rx_capacity: float
    tx_capacity: float

    @property
    def utilization(self) -> float:
        return max(self.rx_rate / self.rx_capacity, self.tx_rate / self.tx_capacity)


def read_link_counters() -> tuple[int, int]:
    """Total (received, sent) bytes on the non-loopback interfaces."""
    import psutil

    rx = tx = 0
    for nic, c in psutil.net_io_counters(pernic=True).items():
        if nic == "lo" or nic.lower().startswith("loopback"):
            continue
        rx += c.bytes_recv
        tx += c.bytes_sent
    return rx, tx


@dataclass
class LinkMonitor:
    """Samples interface counters; rates over the last few windows, peaks per day.

    ``peaks`` maps a day number to the (rx, tx) peak rate seen that day; the capacity is
    the highest peak of the last ``PEAK_DAYS`` days (a link that got slower is believed
    within a week). The current rate is the highest of the last ``recent_windows``
    windows: customers' traffic is bursty, and a short lull is not room.
    """

    read: Callable[[], tuple[int, int]] = read_link_counters
    peaks: dict[int, tuple[float, float]] = field(default_factory=dict)
    recent_windows: int = 3
    min_window: float = 1.0
    _last: tuple[float, int, int] | None = None
    _recent: list[tuple[float, float]] = field(default_factory=list)

    def sample(self, monotonic: float, day: int) -> LinkReading | None:
        """Take a sample; the reading once two samples at least ``min_window`` apart exist."""
        rx, tx = self.read()
        if self._last is not None:
            t0, rx0, tx0 = self._last
            elapsed = monotonic - t0
            if elapsed < self.min_window:
                return self.reading()
            if rx >= rx0 and tx >= tx0:  # counters wrap or reset when an interface goes down
                rate = ((rx - rx0) / elapsed, (tx - tx0) / elapsed)
                self._recent = [*self._recent[-(self.recent_windows - 1) :], rate]
                old = self.peaks.get(day, (0.0, 0.0))
                self.peaks[day] = (max(old[0], rate[0]), max(old[1], rate[1]))
                for d in [d for d in self.peaks if d <= day - PEAK_DAYS]:
                    del self.peaks[d]
        self._last = (monotonic, rx, tx)
        return self.reading()

    def reading(self) -> LinkReading | None:
        if not self._recent:
            return None
        rx_cap = max([MIN_CAPACITY, *(p[0] for p in self.peaks.values())])
        tx_cap = max([MIN_CAPACITY, *(p[1] for p in self.peaks.values())])
        return LinkReading(
            rx_rate=max(r[0] for r in self._recent),
            tx_rate=max(r[1] for r in self._recent),
            rx_capacity=rx_cap,
            tx_capacity=tx_cap,
        )


# -- the I/O ----------------------------------------------------------------------------


@dataclass
class RoundResult:
    """What one upload round did."""

    outcome: str  # sent, nothing, deferred, backoff, failed, clock_corrected, not_enrolled, ...
    sent: int = 0
    duplicates: int = 0
    rejected: int = 0
    bytes: int = 0
    reason: str = ""
    left: int = 0


def _wire_bytes(request: requests.PreparedRequest, response: requests.Response) -> int:
    """HTTP bytes both ways for one exchange (TLS framing excluded)."""
    size = len(f"{request.method} {request.path_url} HTTP/1.1\r\n\r\n")
    size += sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    body = request.body
    size += len(body) if isinstance(body, bytes) else 0
    size += len(f"HTTP/1.1 {response.status_code} {response.reason}\r\n\r\n")
    size += sum(len(k) + len(v) + 4 for k, v in response.headers.items())
    return size + len(response.content)


def _not_received(error: Exception) -> bool:
    """Did the request certainly not reach the server (DNS, connect refused/timeout)?"""
    import requests
    from urllib3.exceptions import NameResolutionError, NewConnectionError

    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(error, requests.exceptions.SSLError):
        return True  # the handshake failed: no request bytes were sent
    if isinstance(error, requests.exceptions.ConnectionError):
        reason: Any = error.args[0] if error.args else None
        reason = getattr(reason, "reason", reason)
        return isinstance(reason, NameResolutionError | NewConnectionError)
    return False


class Uploader:
    """Sends due reports: gate, sign, POST, acknowledge; backoff state in the outbox meta."""

    def __init__(
        self,
        outbox: Outbox,
        key: KioskKey,
        clock: Clock,
        session: requests.Session,
        *,
        server: str,
        max_utilization: float,
        daily_budget: int,
        offpeak: tuple[str, str] | None = None,
        rng: Callable[[], float] = random.random,
        timeout: tuple[float, float] = (15.0, 30.0),
        held: Held | None = None,
    ) -> None:
        self.outbox = outbox
        self.held = held or Held()
        self.key = key
        self.clock = clock
        self.session = session
        self.server = server.rstrip("/")
        self.max_utilization = max_utilization
        self.daily_budget = daily_budget
        self.offpeak = offpeak
        self.rng = rng
        self.timeout = timeout
        self.connection_overhead = (
            CONNECTION_OVERHEAD_BYTES if self.server.startswith("https:") else 0
        )

    def _local_now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now())  # local time zone of the PC

    def _budget_used(self) -> int:
        budget = self.outbox.get_meta("budget", {})
        if budget.get("day") != self._local_now().date().isoformat():
            return 0
        return int(budget.get("bytes", 0))

    def _count_deferral(self, reason: str) -> None:
        deferrals: dict[str, int] = self.outbox.get_meta("deferrals", {})
        deferrals[reason] = deferrals.get(reason, 0) + 1
        self.outbox.set_meta({"deferrals": deferrals, "last_deferral": reason})

    def run_round(
        self,
        enrollment: Enrollment | None,
        link: LinkReading | None,
        *,
        ignore_link: bool = False,
        ignore_budget: bool = False,
        ignore_backoff: bool = False,
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> RoundResult:
        """Send what is due, oldest first, until done, deferred or failed. ``skip``: ids
        the café hub holds this round (kiosk_agent/hub/handoff.py)."""
        if enrollment is None:
            return RoundResult("not_enrolled", reason="the kiosk is not enrolled")
        now = self.clock.now()
        next_try = float(self.outbox.get_meta("next_attempt_at", 0.0))
        if not ignore_backoff and next_try > now:
            return RoundResult("backoff", reason=f"waiting {next_try - now:.0f} s after failures")
        due = [r for r in self.outbox.due_reports(now) if r.report_id not in skip]
        if not due:
            return RoundResult("nothing")
        result = RoundResult("sent")
        overhead = self.connection_overhead
        for stored in due:
            body = encode_body(
                stored.to_report(enrollment.kiosk_id, self.held.content, self.held.settings)
            )
            estimate = len(body) + REQUEST_OVERHEAD_BYTES + overhead
            decision = decide(
                utilization=None if link is None else link.utilization,
                max_utilization=self.max_utilization,
                local_time=self._local_now().time(),
                offpeak=self.offpeak,
                bytes_sent_today=self._budget_used(),
                next_bytes=estimate,
                daily_budget=self.daily_budget,
                ignore_link=ignore_link,
                ignore_budget=ignore_budget,
            )
            if not decision.send:
                self._count_deferral(decision.reason)
                result.outcome = "deferred" if result.sent == 0 else "sent"
                result.reason = decision.reason
                break
            if stored.clock_epoch in self.clock.corrections:
                # Cut before the clock was corrected: its period must move first.
                result.outcome = "clock_corrected"
                break
            status = self._send(stored, body, enrollment.kiosk_id, result)
            overhead = 0
            if status in ("failed", "clock_corrected"):
                result.outcome = status
                break
        result.left = self.outbox.report_count()
        if result.outcome == "sent":
            self.outbox.set_meta(
                {
                    "failures": 0,
                    "next_attempt_at": 0.0,
                    "last_upload": self.clock.now(),
                    "last_error": None,
                }
            )
        return result

    def _add_bytes(self, n: int) -> None:
        day = self._local_now().date().isoformat()
        self.outbox.set_meta({"budget": {"day": day, "bytes": self._budget_used() + n}})

    def _fail(self, result: RoundResult, message: str) -> str:
        failures = int(self.outbox.get_meta("failures", 0)) + 1
        delay = backoff_delay(failures, rng=self.rng)
        self.outbox.set_meta(
            {
                "failures": failures,
                "next_attempt_at": self.clock.now() + delay,
                "last_error": message[:300],
            }
        )
        result.reason = message
        log.warning(
            "report upload failed (%d in a row, next try in %.0f s): %s", failures, delay, message
        )
        return "failed"

    def _send(self, stored: StoredReport, body: bytes, kiosk_id: str, result: RoundResult) -> str:
        """POST one report; returns sent, duplicate, rejected or failed."""
        import requests

        self.outbox.mark_sending(stored.report_id)
        url = self.server + REPORTS_PATH
        path = urlsplit(url).path
        retried = False
        while True:
            offset_before = self.clock.offset
            timestamp = int(self.clock.now())
            headers = {
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "Accept": None,
                "Accept-Encoding": None,
                "Connection": None,
                **self.key.signed_headers(kiosk_id, "POST", path, timestamp, body),
            }
            try:
                response = self.session.post(
                    url,
                    data=body,
                    headers=headers,
                    timeout=self.timeout,
                )
            except requests.RequestException as e:
                self.outbox.mark_not_delivered(
                    stored.report_id, str(e), maybe_received=not _not_received(e)
                )
                return self._fail(result, f"could not reach {self.server}: {e}")
            wire = _wire_bytes(response.request, response)
            result.bytes += wire
            self._add_bytes(wire + (self.connection_overhead if result.bytes == wire else 0))
            code = response.status_code
            if code in (200, 201):
                status = _status_of(response)
                self.outbox.acknowledge(stored.report_id)
                if status == "duplicate":
                    result.duplicates += 1
                result.sent += 1
                return "sent"
            if (
                code == 401
                and not retried
                and self._skew_suspected(response, timestamp, offset_before)
            ):
                if stored.clock_epoch in self.clock.corrections:
                    # Its period came from the wrong clock too: the caller moves it, then
                    # sends again (a 401 is never stored).
                    self.outbox.mark_not_delivered(
                        stored.report_id, "clock corrected", maybe_received=False
                    )
                    return "clock_corrected"
                # The Date header has corrected the clock: sign again with the right time.
                retried = True
                log.info("server refused the timestamp; retrying once with the corrected clock")
                continue
            message = f"HTTP {code} from the server: {_error_text(response)}"
            if code in (400, 409, 413, 415, 422):
                self.outbox.mark_rejected(
                    stored.report_id, message, self.clock.now() + REJECTED_RETRY_SECONDS
                )
                result.rejected += 1
                log.error("server rejected report %s: %s", stored.report_id, message)
                return "rejected"
            # 401/403: not stored; 5xx: the server may have stored it before failing.
            self.outbox.mark_not_delivered(stored.report_id, message, maybe_received=code >= 500)
            return self._fail(result, message)

    def _skew_suspected(
        self, response: requests.Response, timestamp: int, offset_before: float
    ) -> bool:
        from kiosk_agent.net.clock import parse_http_date

        if abs(self.clock.offset - offset_before) > 1:
            return True
        server_time = parse_http_date(response.headers.get("Date"))
        return server_time is not None and abs(server_time - timestamp) > (
            SIGNATURE_WINDOW_SECONDS / 2
        )


def _status_of(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return "stored"
    return str(data.get("status", "stored")) if isinstance(data, Mapping) else "stored"


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return (response.text or response.reason or "")[:200]
    if isinstance(data, Mapping):
        for key in ("detail", "error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])[:200]
    return str(data)[:200]
