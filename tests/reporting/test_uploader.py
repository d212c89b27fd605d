"""The uploader: decision table, backoff, link monitor, and rounds against the stand-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import time as dtime
from pathlib import Path

import pytest
import requests

from kiosk_agent.config_overlay import Overlay, save_overlay
from kiosk_agent.net.clock import Clock
from kiosk_agent.reporting.held import Held, held_versions
from kiosk_agent.reporting.identity import Enrollment, KioskKey, enroll
from kiosk_agent.reporting.outbox import Outbox
from kiosk_agent.reporting.uploader import (
    MIN_CAPACITY,
    LinkMonitor,
    LinkReading,
    Uploader,
    backoff_delay,
    decide,
    in_window,
)
from tests.reporting.report_server import ReportServer

NOON = dtime(12, 0)
D = 86400


@pytest.mark.parametrize(
    ("utilization", "offpeak", "local", "sent_today", "ignore_link", "ignore_budget", "expected"),
    [
        (0.1, None, NOON, 0, False, False, (True, "ok")),
        (0.3, None, NOON, 0, False, False, (True, "ok")),  # at the threshold: allowed
        (0.31, None, NOON, 0, False, False, (False, "link_busy")),
        (0.95, None, NOON, 0, True, False, (True, "ok")),  # operator: send now
        (None, None, NOON, 0, False, False, (False, "link_unmeasured")),
        (None, None, NOON, 0, True, False, (True, "ok")),
        (0.1, ("22:00", "06:00"), NOON, 0, False, False, (False, "outside_offpeak")),
        (0.1, ("22:00", "06:00"), dtime(23, 30), 0, False, False, (True, "ok")),
        (0.1, ("22:00", "06:00"), dtime(5, 59), 0, False, False, (True, "ok")),
        (0.1, ("22:00", "06:00"), dtime(6, 0), 0, False, False, (False, "outside_offpeak")),
        (0.1, ("22:00", "06:00"), NOON, 0, True, False, (True, "ok")),
        (0.1, None, NOON, 9_500, False, False, (False, "over_budget")),
        (0.1, None, NOON, 9_500, True, False, (False, "over_budget")),  # now != force
        (0.1, None, NOON, 9_500, True, True, (True, "ok")),  # --force
        (0.9, None, NOON, 9_500, False, True, (False, "link_busy")),
        (0.9, None, NOON, 9_000, False, False, (False, "link_busy")),  # 9000+1000 fits
    ],
)
def test_decision_table(
    utilization: float | None,
    offpeak: tuple[str, str] | None,
    local: dtime,
    sent_today: int,
    ignore_link: bool,
    ignore_budget: bool,
    expected: tuple[bool, str],
) -> None:
    decision = decide(
        utilization=utilization,
        max_utilization=0.3,
        local_time=local,
        offpeak=offpeak,
        bytes_sent_today=sent_today,
        next_bytes=1_000,
        daily_budget=10_000,
        ignore_link=ignore_link,
        ignore_budget=ignore_budget,
    )
    assert (decision.send, decision.reason) == expected


def test_window_without_wrap() -> None:
    assert in_window(dtime(13, 0), ("12:00", "14:00"))
    assert not in_window(dtime(14, 0), ("12:00", "14:00"))


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    assert backoff_delay(0) == 0
    assert backoff_delay(1, rng=lambda: 0.999999) < 60
    assert backoff_delay(3, rng=lambda: 0.5) == 120  # ceiling 240
    assert backoff_delay(50, rng=lambda: 1.0) == 6 * 3600
    assert backoff_delay(10**6, rng=lambda: 1.0) == 6 * 3600
    assert backoff_delay(5, rng=lambda: 0.0) == 0  # full jitter reaches down to zero
    import random

    rng = random.Random(7)
    samples = [backoff_delay(4, rng=rng.random) for _ in range(2000)]
    assert 0 <= min(samples) < 20 and 460 < max(samples) < 480  # uniform over [0, 480)


def test_link_monitor_capacity_from_peaks() -> None:
    counters = [(0, 0)]
    monitor = LinkMonitor(read=lambda: counters[0])
    assert monitor.sample(0.0, 100) is None
    counters[0] = (100_000, 10_000)  # 100 kB/s down during a busy second
    busy = monitor.sample(1.0, 100)
    assert busy is not None and busy.utilization == 1.0
    for t in range(2, 6):  # then quiet: 1 kB/s
        counters[0] = (counters[0][0] + 1_000, counters[0][1] + 100)
        reading = monitor.sample(float(t), 100)
    assert reading is not None
    assert reading.rx_capacity == 100_000
    assert reading.utilization == pytest.approx(0.01)
    # A week later the old peak is forgotten; the floor remains.
    counters[0] = (counters[0][0] + 1_000, counters[0][1] + 100)
    later = monitor.sample(6.0, 107)
    assert later is not None and later.rx_capacity == pytest.approx(max(MIN_CAPACITY, 1_000))
    # Counter reset (interface went down): no negative rate, no crash.
    counters[0] = (0, 0)
    assert monitor.sample(7.0, 107) is not None


# -- rounds against the stand-in server --------------------------------------------------

IDLE = LinkReading(0.0, 0.0, 100_000.0, 100_000.0)
BUSY = LinkReading(90_000.0, 0.0, 100_000.0, 100_000.0)


@dataclass
class Kiosk:
    server: ReportServer
    outbox: Outbox
    key: KioskKey
    enrollment: Enrollment
    clock: Clock
    session: requests.Session

    def uploader(self, **kwargs: object) -> Uploader:
        options: dict[str, object] = {"max_utilization": 0.3, "daily_budget": 200_000}
        options.update(kwargs)
        return Uploader(
            self.outbox,
            self.key,
            self.clock,
            self.session,
            server=self.server.url,
            rng=lambda: 0.5,
            **options,  # type: ignore[arg-type]
        )

    def add_report(self, counts: dict[str, int]) -> str:
        day = int(self.clock.now() // D) * D - D
        self.outbox.flush({(day, name): n for name, n in counts.items()}, D)
        [rid] = self.outbox.cut(self.clock.now(), all_periods=True, agent_version="0.1.0")
        return rid


@pytest.fixture
def kiosk(tmp_path: Path) -> Iterator[Kiosk]:
    with ReportServer({"C": ("KE-NBO", "KE")}) as server, requests.Session() as session:
        outbox = Outbox.in_state_dir(tmp_path)
        clock = Clock(tmp_path)
        enrollment = enroll(tmp_path, server.url, "C", session, now=clock.now())
        yield Kiosk(server, outbox, KioskKey.load_or_create(tmp_path), enrollment, clock, session)
        outbox.close()


def test_round_sends_and_acknowledges(kiosk: Kiosk) -> None:
    kiosk.add_report({"blocked.a": 3, "sessions.login": 30})
    result = kiosk.uploader().run_round(kiosk.enrollment, IDLE)
    assert (result.outcome, result.sent, result.left) == ("sent", 1, 0)
    assert kiosk.server.state.counts == {"blocked.a": 3, "sessions.login": 30}
    assert kiosk.outbox.totals()["blocked.a"] == (3, 3)
    assert 0 < result.bytes == kiosk.outbox.get_meta("budget")["bytes"]


def test_busy_link_sends_zero_bytes(kiosk: Kiosk) -> None:
    kiosk.add_report({"blocked.a": 1})
    uploader = kiosk.uploader()
    for _ in range(5):
        result = uploader.run_round(kiosk.enrollment, BUSY)
        assert (result.outcome, result.reason, result.bytes) == ("deferred", "link_busy", 0)
    assert kiosk.server.state.requests == 1  # the enrollment only
    assert kiosk.server.state.bytes_in > 0
    before = kiosk.server.state.bytes_in
    uploader.run_round(kiosk.enrollment, None)
    assert kiosk.server.state.bytes_in == before
    assert kiosk.outbox.get_meta("deferrals") == {"link_busy": 5, "link_unmeasured": 1}
    # The operator's "send now" goes through the busy link.
    assert uploader.run_round(kiosk.enrollment, BUSY, ignore_link=True).sent == 1


def test_budget_stops_the_day(kiosk: Kiosk) -> None:
    kiosk.add_report({"blocked.a": 1})
    uploader = kiosk.uploader(daily_budget=1_000)
    assert uploader.run_round(kiosk.enrollment, IDLE).outcome == "sent"
    day = int(kiosk.clock.now() // D) * D - D
    kiosk.outbox.flush({(day - D, "blocked.b"): 1}, D)
    kiosk.outbox.cut(kiosk.clock.now(), all_periods=True, agent_version="0.1.0")
    result = uploader.run_round(kiosk.enrollment, IDLE, ignore_link=True)
    assert (result.outcome, result.reason) == ("deferred", "over_budget")
    assert uploader.run_round(kiosk.enrollment, IDLE, ignore_budget=True).sent == 1


def test_ambiguous_failure_is_retried_under_the_same_id_and_counted_once(kiosk: Kiosk) -> None:
    rid = kiosk.add_report({"blocked.a": 2})
    kiosk.server.state.mode = "store_then_500"
    result = kiosk.uploader().run_round(kiosk.enrollment, IDLE)
    assert result.outcome == "failed"
    [stored] = kiosk.outbox.all_reports()
    assert stored.report_id == rid and stored.maybe_delivered
    kiosk.add_report({"blocked.a": 5})  # a new report, not merged into the maybe-sent one
    kiosk.server.state.mode = "ok"
    # Backoff holds automatic rounds back; the operator's round goes.
    assert kiosk.uploader().run_round(kiosk.enrollment, IDLE).outcome == "backoff"
    result = kiosk.uploader().run_round(kiosk.enrollment, IDLE, ignore_backoff=True)
    assert (result.sent, result.duplicates, result.left) == (2, 1, 0)
    assert kiosk.server.state.counts == {"blocked.a": 7}
    assert kiosk.outbox.get_meta("failures") == 0


def test_failures_back_off_exponentially(kiosk: Kiosk) -> None:
    kiosk.add_report({"blocked.a": 1})
    kiosk.server.state.mode = "error500"
    uploader = kiosk.uploader()
    delays = []
    for _ in range(4):
        start = kiosk.clock.now()
        assert uploader.run_round(kiosk.enrollment, IDLE, ignore_backoff=True).outcome == "failed"
        delays.append(kiosk.outbox.get_meta("next_attempt_at") - start)
    # rng 0.5: half of 60, 120, 240, 480
    assert [round(d) for d in delays] == [30, 60, 120, 240]
    assert "HTTP 500" in kiosk.outbox.get_meta("last_error")


def test_unreachable_server_is_not_a_maybe(kiosk: Kiosk) -> None:
    kiosk.add_report({"blocked.a": 1})
    uploader = kiosk.uploader()
    uploader.server = "http://127.0.0.1:9"
    assert uploader.run_round(kiosk.enrollment, IDLE).outcome == "failed"
    [stored] = kiosk.outbox.all_reports()
    assert not stored.maybe_delivered  # connection refused: may still be merged


def test_clock_ten_years_behind_retries_once_after_401(kiosk: Kiosk, tmp_path: Path) -> None:
    from kiosk_agent.net.direct_http import _clock_hook

    kiosk.add_report({"blocked.a": 4})
    ten_years = 10 * 365.25 * D
    wrong = Clock(tmp_path / "other", system_time=lambda: time.time() - ten_years)
    kiosk.clock = wrong
    kiosk.session.hooks["response"].append(_clock_hook(wrong))
    result = kiosk.uploader().run_round(kiosk.enrollment, IDLE, ignore_backoff=True)
    assert result.sent == 1, result.reason
    assert kiosk.server.state.requests == 3  # enroll, 401 (skew), accepted retry
    assert abs(wrong.now() - time.time()) < 3


def test_unauthorized_is_not_retried_in_a_loop(kiosk: Kiosk) -> None:
    kiosk.add_report({"blocked.a": 1})
    kiosk.server.state.mode = "unauthorized"
    result = kiosk.uploader().run_round(kiosk.enrollment, IDLE)
    assert result.outcome == "failed" and "HTTP 401" in result.reason
    assert kiosk.server.state.requests == 2  # enroll + one attempt: no skew, no retry


def test_rejected_report_is_kept_and_others_go_on(kiosk: Kiosk) -> None:
    day = int(kiosk.clock.now() // D) * D - 2 * D
    kiosk.outbox.flush({(day, "blocked.a"): 1}, D)
    kiosk.outbox.cut(kiosk.clock.now(), all_periods=True, agent_version="bad version!")
    kiosk.add_report({"blocked.b": 1})
    result = kiosk.uploader().run_round(kiosk.enrollment, IDLE)
    assert (result.sent, result.rejected, result.left) == (1, 1, 1)
    [kept] = kiosk.outbox.all_reports()
    assert kept.rejected_until is not None and "422" in (kept.last_error or "")
    assert kiosk.uploader().run_round(kiosk.enrollment, IDLE).outcome == "nothing"


def test_not_enrolled(kiosk: Kiosk) -> None:
    assert kiosk.uploader().run_round(None, IDLE).outcome == "not_enrolled"


def test_reports_name_the_content_pack_and_overlay_held_at_sending(
    kiosk: Kiosk, tmp_path: Path
) -> None:
    assert held_versions(tmp_path) == Held(None, None)  # built-in pack, no overlay
    (tmp_path / "content" / "v7" / "locales").mkdir(parents=True)
    (tmp_path / "content" / "current.json").write_text('{"version": 7, "dir": "v7"}')
    save_overlay(tmp_path, Overlay(3, "settings-KE-NBO", "DEMO region", {}))
    held = held_versions(tmp_path)
    assert held == Held(7, 3)
    kiosk.add_report({"sessions.login": 2})
    result = kiosk.uploader(held=held).run_round(kiosk.enrollment, IDLE)
    assert result.sent == 1
    (sent,) = kiosk.server.state.reports
    assert (sent["content"], sent["settings"]) == (7, 3)
    kiosk.add_report({"sessions.login": 1})
    kiosk.uploader().run_round(kiosk.enrollment, IDLE)  # no held versions: keys left out
    assert "content" not in kiosk.server.state.reports[1]
