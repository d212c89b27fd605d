"""The hand parsers of report fields against the library parsers they replaced.

``period_start`` was parsed with ``strptime``, ``report_id`` with ``uuid.UUID`` and
counter names with one regex per family: each replacement must accept nothing the old
one refused, give the same value, and accept everything a kiosk writes.
"""

from __future__ import annotations

import json
import string
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.contracts.report import (
    COUNTER_PATTERNS,
    Report,
    ReportError,
    format_period_start,
    is_counter_name,
    parse_report,
)


def _old_period_start(value: str) -> datetime | None:
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    if parsed.minute or parsed.second or not 2020 <= parsed.year <= 2100:
        return None
    return parsed


def _old_report_id(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


def _old_counter(name: str) -> bool:
    return any(p.fullmatch(name) for p in COUNTER_PATTERNS.values())


def _body(**fields: object) -> bytes:
    base: dict[str, object] = {
        "report_id": str(uuid.uuid4()),
        "kiosk_id": "k-1",
        "period_start": "2026-11-27T00:00:00Z",
        "period_days": 1,
        "counts": {"sessions.login": 1},
        "agent_version": "0.1.0",
        "feed_versions": {},
    }
    base.update(fields)
    return json.dumps(base).encode()


def _new_period_start(value: str) -> datetime | None:
    try:
        return parse_report(_body(period_start=value)).period_start
    except ReportError:
        return None


def _new_report_id(value: str) -> bool:
    try:
        parse_report(_body(report_id=value))
    except ReportError:
        return False
    return True


_TIMESTAMPISH = st.text(alphabet="0123456789-:TZ +１٣", min_size=0, max_size=24)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(_TIMESTAMPISH, st.text(max_size=24)))
def test_period_start_accepts_nothing_strptime_refused(value: str) -> None:
    new = _new_period_start(value)
    if new is not None:
        assert _old_period_start(value) == new


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2100, 12, 31, 23)))
def test_period_start_accepts_every_hour_a_kiosk_writes(when: datetime) -> None:
    hour = when.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    text = format_period_start(hour)
    assert _new_period_start(text) == hour == _old_period_start(text)
    off = format_period_start(hour).replace(":00:00Z", ":30:00Z")
    assert _new_period_start(off) is None


@pytest.mark.parametrize(
    "value",
    [
        "2026-1-27T00:00:00Z",  # strptime took unpadded fields; a kiosk never writes them
        "2026-11-27T00:00:00",
        "2026-11-27 00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-11-27T24:00:00Z",
        "2019-12-31T23:00:00Z",
        "２０２６-11-27T00:00:00Z",
    ],
)
def test_period_start_rejects(value: str) -> None:
    assert _new_period_start(value) is None


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        st.uuids().map(str),
        st.uuids().map(lambda u: str(u).upper()),
        st.uuids().map(lambda u: u.hex),
        st.uuids().map(lambda u: "{" + str(u) + "}"),
        st.uuids().map(lambda u: "urn:uuid:" + str(u)),
        st.text(alphabet=string.hexdigits + "-_{}", min_size=30, max_size=40),
        st.text(max_size=40),
    )
)
def test_report_id_same_verdict_as_uuid(value: str) -> None:
    assert _new_report_id(value) == _old_report_id(value)


_NAMEISH = st.text(alphabet=string.ascii_lowercase + string.digits + "._", max_size=45)


@settings(max_examples=1000, deadline=None)
@given(
    st.one_of(
        _NAMEISH,
        st.builds(
            lambda fam, rest: fam + rest,
            st.sampled_from(
                ["sessions.", "notices.shown.", "notices.", "blocked.", "tamper.", "p2p.", "feeds."]
            ),
            _NAMEISH,
        ),
        st.text(max_size=40),
    )
)
def test_counter_name_same_verdict_as_per_family_patterns(name: str) -> None:
    assert is_counter_name(name) == _old_counter(name)


def test_round_trip_of_a_period_start() -> None:
    start = datetime(2026, 11, 27, 13, tzinfo=UTC)
    report = Report(str(uuid.uuid4()), "k-1", start, 1 / 24, {"p2p.x": 1}, "1", {})
    assert parse_report(report.to_bytes()).period_start == start
