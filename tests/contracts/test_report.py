from __future__ import annotations

import contextlib
import gzip
import json
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.contracts.report import (
    MAX_BODY_BYTES,
    Report,
    ReportError,
    encode_body,
    is_counter_name,
    parse_report,
    signing_string,
)


def _report(**over: object) -> Report:
    base = Report(
        report_id=str(uuid.uuid4()),
        kiosk_id="k-123",
        period_start=datetime(2026, 11, 27, tzinfo=UTC),
        period_days=1.0,
        counts={"sessions.login": 3, "blocked.csam": 2, "notices.shown.sw": 3},
        agent_version="0.1.0",
        feed_versions={"hotline": 7},
    )
    return Report(**{**base.__dict__, **over})


def test_round_trip_plain_and_gzip() -> None:
    r = _report()
    assert parse_report(r.to_bytes()) == r
    assert parse_report(encode_body(r)) == r
    assert parse_report(encode_body(r), "gzip") == r


def test_same_report_same_bytes() -> None:
    r = _report()
    assert encode_body(r) == encode_body(r)


@pytest.mark.parametrize(
    "name",
    [
        "sessions.login",
        "sessions.agent_start",
        "notices.shown.fil",
        "notices.acknowledged",
        "notices.degraded",
        "ui.crashes",
        "blocked.url_unverifiable",
        "tamper.doh",
        "p2p.bittorrent",
        "feeds.rejected.rollback",
        "notices.feedback.helpful.sw.t01",
        "notices.feedback.not_helpful.und.t39",
    ],
)
def test_vocabulary_accepts(name: str) -> None:
    assert is_counter_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "sessions.lunch",
        "notices.shown.EN",
        "blocked.evil.test",
        "blocked.",
        "users.alice",
        "blocked.a b",
        "p2p." + "x" * 40,
        "notices.acknowledged.en",
        "notices.degraded.en",
        "ui.crashes.x",
        "notices.feedback.helpful.zz.t01",  # a locale outside the closed list
        "notices.feedback.helpful.sw.t40",
        "notices.feedback.helpful.sw.t1",
        "notices.feedback.helpful.sw.cheese",
        "notices.feedback.maybe.sw.t01",
    ],
)
def test_vocabulary_rejects(name: str) -> None:
    assert not is_counter_name(name)


def test_feedback_vocabulary_is_bounded() -> None:
    """A forged report cannot invent feedback names: 2 verdicts x 24 locales x 39 tips."""
    from kiosk_agent.contracts.tips import FEEDBACK_LOCALES

    names = {
        f"notices.feedback.{v}.{loc}.t{i:02d}"
        for v in ("helpful", "not_helpful")
        for loc in FEEDBACK_LOCALES
        for i in range(0, 100)
    }
    accepted = {n for n in names if is_counter_name(n)}
    assert len(accepted) == 2 * len(FEEDBACK_LOCALES) * 39 <= 2000


def _body(**over: object) -> bytes:
    data = _report().to_json()
    data.update(over)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x1f\x8bnot gzip", "gzip"),
        (b"{", "JSON"),
        (b"[]", "object"),
        (_body(counts={"blocked.www.example.com": 1}), "unknown counter"),
        (_body(counts={"blocked.csam": -1}), "integer"),
        (_body(counts={"blocked.csam": True}), "integer"),
        (_body(period_start="2026-11-27T00:30:00Z"), "whole hour"),
        (_body(period_start="yesterday"), "period_start"),
        (_body(report_id="not-a-uuid"), "UUID"),
        (_body(kiosk_id="a/b"), "kiosk_id"),
        (_body(period_days=0), "period_days"),
        (_body(url="http://a.test/"), "unknown keys"),
        (_body(schema=2), "schema"),
        (b"x" * (MAX_BODY_BYTES + 1), "larger"),
        (gzip.compress(b" " * 300_000), "inflates"),
    ],
)
def test_rejections(body: bytes, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_report(body)


def test_missing_key() -> None:
    data = _report().to_json()
    del data["counts"]
    with pytest.raises(ReportError, match="missing keys: counts"):
        parse_report(json.dumps(data).encode())


def test_signing_string_binds_every_part() -> None:
    s = signing_string("post", "/api/v1/reports", 1700000000, b"body")
    assert s.startswith(b"POST\n/api/v1/reports\n1700000000\n")
    assert s != signing_string("POST", "/api/v1/reports", 1700000001, b"body")
    assert s != signing_string("POST", "/api/v1/reports", 1700000000, b"bodY")


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzz_bytes_only_raise_report_error(data: bytes) -> None:
    with contextlib.suppress(ReportError):
        parse_report(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=30), c, max_size=4),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(_report().to_json())), json_values))
def test_fuzz_json_only_raise_report_error(data: dict[str, object]) -> None:
    base = _report().to_json()
    base.update(data)
    with contextlib.suppress(ReportError):
        parse_report(json.dumps(base).encode())
