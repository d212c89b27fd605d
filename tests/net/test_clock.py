"""The corrected clock: Date parsing, offset learning, persistence, 10 years off."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk_agent.net.clock import CLOCK_FILE, Clock, clock_for, parse_http_date

REAL = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC).timestamp()
TEN_YEARS = 10 * 365.25 * 86400


class FakeTime:
    def __init__(self, t: float) -> None:
        self.t = t
        self.mono = 1000.0

    def __call__(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.mono


def test_parse_http_date_forms() -> None:
    assert parse_http_date("Fri, 27 Nov 2026 12:00:00 GMT") == REAL
    assert parse_http_date("Friday, 27-Nov-26 12:00:00 GMT") == REAL
    assert parse_http_date("Fri Nov 27 12:00:00 2026") == REAL
    assert parse_http_date("Fri, 27 Nov 2026 14:00:00 +0200") == REAL
    for bad in (
        None,
        "",
        "yesterday",
        "Fri, 32 Nov 2026 12:00:00 GMT",
        "Mon, 01 Jan 1990 0:0:0 GMT",
    ):
        assert parse_http_date(bad) is None


@given(st.text(max_size=80))
def test_parse_http_date_never_raises(text: str) -> None:
    result = parse_http_date(text)
    assert result is None or isinstance(result, float)


@given(st.integers(min_value=946684800, max_value=7258118399))
def test_parse_http_date_round_trip(stamp: int) -> None:
    assert parse_http_date(formatdate(stamp, usegmt=True)) == stamp


def test_pc_clock_ten_years_behind_is_corrected_and_persisted(tmp_path: Path) -> None:
    fake = FakeTime(REAL - TEN_YEARS)
    clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    assert abs(clock.now() - (REAL - TEN_YEARS)) < 1
    header = formatdate(REAL, usegmt=True)
    assert clock.observe_server_date(header, sent_at=fake.t - 0.2, received_at=fake.t)
    assert abs(clock.now() - REAL) < 1.5
    assert clock.now_utc().year == 2026
    # Same answer again: no change, no write.
    mtime = (tmp_path / CLOCK_FILE).stat().st_mtime_ns
    assert not clock.observe_server_date(header, sent_at=fake.t - 0.2, received_at=fake.t)
    assert (tmp_path / CLOCK_FILE).stat().st_mtime_ns == mtime
    # A new process on the same PC starts from the saved correction.
    again = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    assert abs(again.now() - REAL) < 1.5


def test_pc_clock_ten_years_ahead(tmp_path: Path) -> None:
    fake = FakeTime(REAL + TEN_YEARS)
    clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    clock.observe_server_date(formatdate(REAL, usegmt=True))
    assert abs(clock.now() - REAL) < 1.5
    assert clock.offset < -TEN_YEARS + 5


def test_small_disagreement_is_noise(tmp_path: Path) -> None:
    fake = FakeTime(REAL + 1.2)
    clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    assert not clock.observe_server_date(formatdate(REAL, usegmt=True))
    assert clock.offset == 0
    assert not (tmp_path / CLOCK_FILE).exists()


def test_slow_round_trip_widens_tolerance(tmp_path: Path) -> None:
    fake = FakeTime(REAL)
    clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    # 10 s round trip: a 4 s disagreement is within the uncertainty.
    assert not clock.observe_server_date(
        formatdate(REAL - 4, usegmt=True), sent_at=REAL - 10, received_at=REAL
    )


def test_bad_header_and_corrupt_file_are_ignored(tmp_path: Path) -> None:
    (tmp_path / CLOCK_FILE).write_text("{not json")
    fake = FakeTime(REAL)
    clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    assert clock.offset == 0
    assert not clock.observe_server_date("garbage")
    (tmp_path / CLOCK_FILE).write_text(json.dumps({"offset_seconds": "x"}))
    assert Clock(tmp_path, system_time=fake, monotonic=fake.monotonic).offset == 0


def test_other_process_correction_is_picked_up(tmp_path: Path) -> None:
    fake = FakeTime(REAL - TEN_YEARS)
    service_clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    cli_clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    cli_clock.observe_server_date(formatdate(REAL, usegmt=True))
    fake.mono += 61  # reload interval
    assert abs(service_clock.now() - REAL) < 1.5


def test_clock_for_is_shared(tmp_path: Path) -> None:
    assert clock_for(tmp_path) is clock_for(str(tmp_path))


def test_full_disk_keeps_correction_in_memory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("a file where a folder should be: every save fails")
    fake = FakeTime(REAL - TEN_YEARS)
    clock = Clock(state, system_time=fake, monotonic=fake.monotonic)
    assert clock.observe_server_date(formatdate(REAL, usegmt=True))
    assert abs(clock.now() - REAL) < 1.5


def test_corrections_end_epochs_and_are_saved(tmp_path: Path) -> None:
    fake = FakeTime(REAL - TEN_YEARS)
    clock = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    seen: list[tuple[str, float]] = []
    clock.add_listener(lambda epoch, step: seen.append((epoch, step)))
    first = clock.epoch
    clock.observe_server_date(formatdate(REAL, usegmt=True))
    assert clock.epoch != first
    assert seen == [(first, clock.corrections[first])]
    assert abs(clock.corrections[first] - TEN_YEARS) < 2
    again = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    assert first in again.corrections and again.epoch not in again.corrections
    # A correction saved by another process ends this process's epoch too.
    other = Clock(tmp_path, system_time=fake, monotonic=fake.monotonic)
    other.set_offset(clock.offset + 3600)
    epoch_before = again.epoch
    fake.mono += 61
    again.now()
    assert abs(again.corrections[epoch_before] - 3600) < 1


_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=100)
    | st.dictionaries(
        st.sampled_from(["offset_seconds", "saved_at", "corrections"]),
        _values | st.dictionaries(st.text(max_size=5), _values, max_size=3),
    ).map(lambda d: json.dumps(d).encode())
)
def test_clock_file_parser_never_raises(tmp_path: Path, data: bytes) -> None:
    (tmp_path / CLOCK_FILE).write_bytes(data)
    clock = Clock(tmp_path)
    assert isinstance(clock.offset, float)
    assert all(isinstance(v, float) for v in clock.corrections.values())
