"""The reporting service component: subscribed to the bus, flushes, cuts, uploads, stops."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.config import config_from_mapping
from kiosk_agent.net.clock import Clock
from kiosk_agent.reporting.component import Reporting, ReportingComponent
from kiosk_agent.reporting.events import Blocked, NoticeShown, SessionStarted
from kiosk_agent.reporting.identity import enroll
from kiosk_agent.reporting.outbox import Outbox
from kiosk_agent.reporting.uploader import LinkMonitor
from kiosk_agent.service.context import ServiceContext
from kiosk_agent.service.wiring import build_components
from tests.reporting.report_server import ReportServer


def _config(tmp_path: Path, server: str | None, period: str = "day") -> ServiceContext:
    return ServiceContext(
        config_from_mapping(
            {
                "state_dir": str(tmp_path),
                "reporting": {"server": server, "flush_every": 1, "period": period},
                "filter": {"upstreams": ["127.0.0.1:9"]},
            }
        )
    )


def _idle_link() -> LinkMonitor:
    return LinkMonitor(read=lambda: (0, 0), min_window=0.0)


def test_reporting_is_the_first_component(tmp_path: Path) -> None:
    components = build_components(_config(tmp_path, None))
    assert components[0].name == "reporting"


def test_counts_survive_stop_and_are_cut_at_shutdown(tmp_path: Path) -> None:
    ctx = _config(tmp_path, None)
    component = ReportingComponent(ctx, link=_idle_link())

    async def run() -> None:
        await component.start()
        ctx.bus.publish(SessionStarted("login"))
        ctx.bus.publish(NoticeShown("sw"))
        ctx.bus.publish(Blocked("csam"))
        await asyncio.sleep(1.3)  # one flush
        assert component.status()["events_in_memory"] == 0
        ctx.bus.publish(Blocked("csam"))  # counted after the last flush: flushed at stop
        await component.stop()

    asyncio.run(run())
    outbox = Outbox.in_state_dir(tmp_path)
    [report] = outbox.all_reports()
    assert report.counts == {"blocked.csam": 2, "notices.shown.sw": 1, "sessions.login": 1}
    outbox.close()


def test_closed_period_is_cut_and_uploaded(tmp_path: Path) -> None:
    import time

    with ReportServer({"C": ("KE-NBO", "KE")}) as server:
        with requests.Session() as s:
            enroll(tmp_path, server.url, "C", s, now=time.time())
        ctx = _config(tmp_path, server.url)
        # The day (UTC) ends 1.5 s after start.
        start = time.time()
        day_end = (start // 86400 + 1) * 86400
        clock = Clock(None, system_time=lambda: day_end - 1.5 + (time.time() - start))
        component = ReportingComponent(ctx, clock=clock, link=_idle_link())

        async def run() -> None:
            await component.start()
            ctx.bus.publish(Blocked("csam"))
            for _ in range(100):
                await asyncio.sleep(0.1)
                status = component.status()
                if server.state.counts and status["reports_waiting"] == 0:
                    break  # stored and acknowledged
            await component.stop()
            assert status["reports_waiting"] == 0, status

        asyncio.run(run())
        assert server.state.counts == {"blocked.csam": 1}


def test_operator_upload_from_another_process_view(tmp_path: Path) -> None:
    import time

    with ReportServer({"C": ("KE-NBO", "KE")}) as server:
        with requests.Session() as s:
            enroll(tmp_path, server.url, "C", s, now=time.time())
        ctx = _config(tmp_path, server.url)
        reporting = Reporting(ctx.config, link=_idle_link())
        reporting.counters.count(Blocked("csam"))
        result = reporting.upload(operator=True, cut_all=True)
        assert (result.outcome, result.sent) == ("sent", 1)
        assert reporting.status()["reports_waiting"] == 0
        reporting.close()
        assert server.state.counts == {"blocked.csam": 1}


def test_feed_versions_come_from_the_updater_status(tmp_path: Path) -> None:
    from kiosk_agent.reporting.component import feed_versions_from

    class FakeUpdater:
        name = "updater"

        async def start(self) -> None: ...

        async def stop(self) -> None: ...

        def status(self) -> dict[str, Any]:
            return {"lists": [{"list_id": "hotline-ke", "version": 42}, {"list_id": 3}]}

    ctx = _config(tmp_path, None)
    ctx.components["updater"] = FakeUpdater()
    assert feed_versions_from(ctx)() == {"hotline-ke": 42}


def test_today_counts_include_sent_and_unflushed(tmp_path: Path) -> None:
    import time

    ctx = _config(tmp_path, None)
    reporting = Reporting(ctx.config, link=_idle_link())
    reporting.counters.count(Blocked("csam"))
    reporting.flush()
    reporting.cut(all_periods=True)
    [report] = reporting.outbox.all_reports()
    reporting.outbox.acknowledge(report.report_id)  # uploaded: still today's
    reporting.counters.count(Blocked("csam"))
    reporting.counters.count(SessionStarted("login"))
    assert reporting.today_counts() == {"blocked.csam": 2, "sessions.login": 1}
    yesterday = int(time.time() // 86400) * 86400 - 86400
    reporting.outbox.flush({(yesterday, "blocked.csam"): 9}, 86400)
    assert reporting.today_counts()["blocked.csam"] == 2
    reporting.close()


def test_stop_waits_for_a_flush_still_running_in_its_thread(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelling the flush task does not stop its thread: the final cut and the close
    must wait for it, or the flush meets a closed outbox."""
    import threading
    import time

    ctx = _config(tmp_path, None)
    component = ReportingComponent(ctx, link=_idle_link())
    in_flush = threading.Event()

    async def run() -> None:
        await component.start()
        assert component.reporting is not None
        real = component.reporting.maintain

        def slow_maintain() -> None:
            in_flush.set()
            time.sleep(0.5)
            real()

        component.reporting.maintain = slow_maintain  # type: ignore[method-assign]
        ctx.bus.publish(Blocked("csam"))
        while not in_flush.is_set():
            await asyncio.sleep(0.02)
        await component.stop()

    with caplog.at_level(logging.WARNING):
        asyncio.run(run())
    assert "could not" not in caplog.text and "failed" not in caplog.text
    outbox = Outbox.in_state_dir(tmp_path)
    [report] = outbox.all_reports()
    assert report.counts == {"blocked.csam": 1}
    outbox.close()


def test_the_key_is_read_when_first_needed_not_at_start(tmp_path: Path) -> None:
    """Reading the key imports cryptography: kept off the way to the resolver's first
    answer at boot, and made (0600) by the first upload that needs it."""
    ctx = _config(tmp_path, None)
    component = ReportingComponent(ctx, link=_idle_link())

    async def run() -> None:
        await component.start()
        assert component.reporting is not None
        assert not (tmp_path / "kiosk-key.pem").exists()
        key = component.reporting.key
        assert component.reporting.key is key
        assert (tmp_path / "kiosk-key.pem").stat().st_mode & 0o777 == 0o600
        await component.stop()

    asyncio.run(run())


# -- the default path: upload rounds in a worker process --------------------------------

TEN_YEARS = 3653 * 86400.0  # whole days: periods move by whole days


def _config_file(tmp_path: Path, server: str | None) -> ServiceContext:
    from kiosk_agent.config import load_config

    path = tmp_path / "agent.yaml"
    tmp_path.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"state_dir: {json.dumps(str(tmp_path / 'state'))}\n"
        f"reporting: {{server: {json.dumps(server)}, flush_every: 60s}}\n"
        "filter: {upstreams: ['127.0.0.1:9']}\n"
    )
    return ServiceContext(load_config(path))


def test_worker_round_takes_over_the_clock_correction_and_moves_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PC clock is 10 years behind. The worker's upload is refused (401), the
    server's Date corrects the clock, the report moves to its real day and is sent;
    the service then takes the correction over and moves a count made meanwhile."""
    import time

    from kiosk_agent.service import worker

    with ReportServer({"C": ("KE-NBO", "KE")}) as server:
        ctx = _config_file(tmp_path, server.url)
        with requests.Session() as s:
            enroll(ctx.state_dir, server.url, "C", s, now=time.time())
        (ctx.state_dir / "clock.json").write_text(json.dumps({"offset_seconds": -TEN_YEARS}))
        component = ReportingComponent(ctx, link=_idle_link())
        assert component.config_path is not None
        real_run = worker.run_worker
        started: list[object] = []

        async def run_and_count(*args: Any, **kwargs: Any) -> dict[str, Any]:
            started.append(args)
            ctx.bus.publish(SessionStarted("login"))  # counted while the worker runs
            return await real_run(*args, **kwargs)

        monkeypatch.setattr(worker, "run_worker", run_and_count)

        moved_to: list[int] = []

        async def run() -> None:
            await component.start()
            reporting = component.reporting
            assert reporting is not None
            epoch = reporting.clock.epoch
            wrong_day = int(reporting.clock.now() // 86400) * 86400
            ctx.bus.publish(Blocked("csam"))
            await asyncio.to_thread(reporting.flush)
            await asyncio.to_thread(reporting.cut, all_periods=True)  # a report dated 2016
            for _ in range(2):  # an idle link measured: the service passes its reading
                reporting.sample_link()
            result = await component.upload_round()
            assert (result.outcome, result.sent) == ("sent", 1), result
            assert abs(reporting.clock.now() - time.time()) < 5
            step = reporting.clock.corrections[epoch]
            assert abs(step - TEN_YEARS) < 5
            # Periods move by the step, as a correction inside the service moves them.
            moved_to.append(int((wrong_day + step) // 86400) * 86400)
            assert abs(moved_to[0] - time.time()) < 2 * 86400
            assert {start for start, _ in reporting.counters.snapshot()} == set(moved_to)
            await component.stop()

        asyncio.run(run())
        assert len(started) == 1
        [sent] = server.state.reports
        assert sent["counts"] == {"blocked.csam": 1}
        assert sent["period_start"] == time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(moved_to[0]))
    outbox = Outbox.in_state_dir(ctx.state_dir)
    left = [r for r in outbox.all_reports() if r.counts == {"sessions.login": 1}]
    assert [r.period_start for r in left] == moved_to
    outbox.close()


def test_worker_rounds_start_only_when_there_is_something_to_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from kiosk_agent.service import worker

    async def no_worker(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise AssertionError("no worker expected")

    monkeypatch.setattr(worker, "run_worker", no_worker)
    for server, outcome in ((None, "no_server"), ("http://127.0.0.1:9", "not_enrolled")):
        ctx = _config_file(tmp_path / outcome, server)
        component = ReportingComponent(ctx, link=_idle_link())

        async def run(component: ReportingComponent) -> str:
            await component.start()
            result = await component.upload_round()
            await component.stop()
            return result.outcome

        assert asyncio.run(run(component)) == outcome
    with ReportServer({"C": ("KE-NBO", "KE")}) as report_server:
        ctx = _config_file(tmp_path / "backoff", report_server.url)
        with requests.Session() as s:
            enroll(ctx.state_dir, report_server.url, "C", s, now=time.time())
        outbox = Outbox.in_state_dir(ctx.state_dir)
        outbox.set_meta({"next_attempt_at": time.time() + 600})
        outbox.flush({(int(time.time() // 86400) * 86400, "blocked.csam"): 1}, 86400)
        outbox.cut(time.time(), all_periods=True, agent_version="0.1.0")
        outbox.close()
        assert asyncio.run(run(ReportingComponent(ctx, link=_idle_link()))) == "backoff"


def test_a_failing_upload_worker_is_a_failed_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import time

    from kiosk_agent.service import worker

    with ReportServer({"C": ("KE-NBO", "KE")}) as server:
        ctx = _config_file(tmp_path, server.url)
        with requests.Session() as s:
            enroll(ctx.state_dir, server.url, "C", s, now=time.time())
        monkeypatch.setattr(
            worker, "worker_argv", lambda *a, **k: [sys.executable, "-c", "print('{}')"]
        )
        component = ReportingComponent(ctx, link=_idle_link())

        async def run() -> None:
            await component.start()
            assert component.reporting is not None
            ctx.bus.publish(Blocked("csam"))
            await asyncio.to_thread(component.reporting.flush)
            await asyncio.to_thread(component.reporting.cut, all_periods=True)
            result = await component.upload_round()
            assert result.outcome == "failed" and "answer" in result.reason
            await component.stop()

        asyncio.run(run())
        assert server.state.reports == []


def _round(**change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "outcome": "sent",
        "sent": 2,
        "duplicates": 0,
        "rejected": 0,
        "bytes": 900,
        "reason": "",
        "left": 0,
        "clock_offset": -3.5,
    }
    data.update(change)
    return data


def test_round_answers_are_read_strictly() -> None:
    from kiosk_agent.reporting.component import parse_round_result

    result, offset = parse_round_result(_round())
    assert (result.outcome, result.sent, result.bytes, offset) == ("sent", 2, 900, -3.5)
    for bad in (
        {"outcome": "Sent!"},
        {"sent": -1},
        {"sent": True},
        {"bytes": 1.5},
        {"reason": None},
        {"clock_offset": float("inf")},
        {"clock_offset": 1e12},
        {"extra": 1},
    ):
        with pytest.raises(ValueError):
            parse_round_result(_round(**bad))
    missing = _round()
    del missing["left"]
    with pytest.raises(ValueError):
        parse_round_result(missing)


@given(
    st.dictionaries(
        st.sampled_from([*_round(), "x"]),
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    )
)
def test_the_round_parser_returns_a_round_or_raises_value_error(obj: dict[str, Any]) -> None:
    from kiosk_agent.reporting.component import parse_round_result

    try:
        result, offset = parse_round_result(obj)
    except ValueError:
        return
    assert result.sent >= 0 and abs(offset) < 1e10
