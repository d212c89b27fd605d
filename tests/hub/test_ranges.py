"""The hub's ``Range`` decision (``hub/ranges.py``): fixed cases and fuzzed headers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.hub.ranges import RangeAnswer, plan_range

ETAG = '"abc"'


@pytest.mark.parametrize(
    ("header", "size", "want"),
    [
        (None, 10, RangeAnswer(200, 0, 9)),
        ("bytes=0-", 10, RangeAnswer(206, 0, 9)),
        ("bytes=4-", 10, RangeAnswer(206, 4, 9)),
        ("bytes=4-6", 10, RangeAnswer(206, 4, 6)),
        ("bytes=4-600", 10, RangeAnswer(206, 4, 9)),
        ("bytes=-3", 10, RangeAnswer(206, 7, 9)),
        ("bytes=-30", 10, RangeAnswer(206, 0, 9)),
        ("bytes=10-", 10, RangeAnswer(416)),
        ("bytes=11-20", 10, RangeAnswer(416)),
        ("bytes=-0", 10, RangeAnswer(416)),
        ("bytes=0-", 0, RangeAnswer(416)),
        ("BYTES = 2-", 10, RangeAnswer(206, 2, 9)),
        ("bytes=6-4", 10, RangeAnswer(200, 0, 9)),  # invalid: ignored
        ("bytes=0-1,4-5", 10, RangeAnswer(200, 0, 9)),  # several: the whole file
        ("items=0-1", 10, RangeAnswer(200, 0, 9)),
        ("bytes=-", 10, RangeAnswer(200, 0, 9)),
        ("bytes=x-", 10, RangeAnswer(200, 0, 9)),
        ("bytes=+1-", 10, RangeAnswer(200, 0, 9)),
    ],
)
def test_ranges(header: str | None, size: int, want: RangeAnswer) -> None:
    assert plan_range(header, None, ETAG, size) == want


def test_if_range() -> None:
    assert plan_range("bytes=4-", ETAG, ETAG, 10) == RangeAnswer(206, 4, 9)
    assert plan_range("bytes=4-", '"other"', ETAG, 10).status == 200
    assert plan_range("bytes=4-", "W/" + ETAG, ETAG, 10).status == 200  # weak: never


def test_content_range() -> None:
    assert RangeAnswer(206, 4, 9).content_range(10) == "bytes 4-9/10"
    assert RangeAnswer(416).content_range(10) == "bytes */10"
    assert RangeAnswer(200, 0, 9).content_range(10) is None
    assert RangeAnswer(416).length == 0 and RangeAnswer(206, 4, 9).length == 6


@given(st.text(max_size=40), st.integers(0, 10**12))
def test_any_header_gives_a_sendable_answer(header: str, size: int) -> None:
    a = plan_range(header, None, ETAG, size)
    assert a.status in (200, 206, 416)
    if a.status == 200:
        assert (a.start, a.end) == (0, size - 1)
    if a.status == 206:
        assert 0 <= a.start <= a.end < size
        assert a.length == a.end - a.start + 1


@given(st.integers(0, 10**12), st.integers(0, 10**12), st.one_of(st.none(), st.integers(0, 10**12)))
def test_a_resumed_download_gets_exactly_the_rest(have: int, size: int, last: int | None) -> None:
    header = f"bytes={have}-" + ("" if last is None else str(last))
    a = plan_range(header, None, ETAG, size)
    if last is not None and last < have:
        assert a.status == 200
    elif have >= size:
        assert a.status == 416
    else:
        end = size - 1 if last is None else min(last, size - 1)
        assert (a.status, a.start, a.end) == (206, have, end)


@given(st.integers(1, 10**12), st.integers(0, 10**12))
def test_suffix_ranges(suffix: int, size: int) -> None:
    a = plan_range(f"bytes=-{suffix}", None, ETAG, size)
    if size == 0:
        assert a.status == 416
    else:
        assert (a.status, a.start, a.end) == (206, max(0, size - suffix), size - 1)
