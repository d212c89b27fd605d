"""Reading time: from the message's length and the locale's speed, within bounds."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.notices.reading import default_cpm, min_display, reading_chars


def test_longer_messages_and_slower_readers_wait_longer() -> None:
    short = "You can always say no."
    long = "If someone you met online wants to meet you, tell an adult you trust first."
    assert min_display(short, 987, 8.0) < min_display(long, 987, 8.0)
    assert min_display(long, 612, 8.0) > min_display(long, 987, 8.0)


def test_bounds_follow_the_configured_reference() -> None:
    assert min_display("Hi", 987, 8.0) == 4.0
    assert min_display("word " * 300, 987, 8.0) == 20.0
    assert min_display("word " * 300, 987, 0.0) == 0.0  # 0: enabled at once
    assert min_display("word " * 300, None, 3.0) == 7.5


def test_marks_and_zero_width_spaces_are_not_read_as_characters() -> None:
    assert reading_chars("स्कूल") == 3  # स क ल: the virama and the vowel sign are marks
    assert reading_chars("ก\u200bข ค") == 3
    assert default_cpm("Latn") > default_cpm("Khmr")


@given(st.text(max_size=400), st.one_of(st.none(), st.integers(-5, 5000)), st.floats(0, 120))
def test_always_within_bounds(text: str, cpm: int | None, reference: float) -> None:
    seconds = min_display(text, cpm, reference)
    assert reference * 0.5 - 0.05 <= seconds <= reference * 2.5 + 0.05 or seconds == 0.0
