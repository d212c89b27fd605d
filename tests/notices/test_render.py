"""Text runs, font fallback, wrapping, RTL placement and the fit check (pure Pillow)."""

from __future__ import annotations

import contextlib
import struct
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from kiosk_agent.content.countries import country_for
from kiosk_agent.content.locales import Tip, load_locale
from kiosk_agent.notices.fontcov import FontFormatError, font_coverage
from kiosk_agent.notices.layout import (
    BACKGROUND,
    fit_problems,
    notice_content,
    render_body,
)
from kiosk_agent.notices.render import (
    FONTS_DIR,
    ZWSP,
    Run,
    TextStyle,
    coverage,
    draw_line,
    split_runs,
    wrap,
)


def test_bundled_fonts_and_licence_are_present() -> None:
    names = {p.name for p in FONTS_DIR.iterdir()}
    assert "OFL.txt" in names
    assert {
        "NotoSans-Regular.ttf",
        "NotoSansArabic-Regular.ttf",
        "NotoSansKhmer-Regular.ttf",
    } <= names
    assert "SIL OPEN FONT LICENSE" in (FONTS_DIR / "OFL.txt").read_text()


def test_coverage_reads_the_cmap() -> None:
    assert "ሰ" in coverage("Ethi") and "1" not in coverage("Ethi")
    assert "ក" in coverage("Khmr")
    assert "A" in coverage("Latn") and "ሰ" not in coverage("Latn")
    assert "ب" in coverage("Arab")


def test_digits_in_geez_text_go_to_the_latin_font() -> None:
    runs = split_runs("ወደ 116 111 ደውል።", "Ethi")
    assert [r.script for r in runs] == ["Ethi", "Latn", "Ethi"]
    assert runs[1].text.strip() == "116 111"  # the space between the digits stays Latin


def test_neutrals_between_arabic_and_latin_take_the_paragraph_direction() -> None:
    runs = split_runs("للإبلاغ: cybercrime.gov.in.", "Arab")
    # The colon and space before the address belong to the Arabic run; the final full stop
    # sits at the paragraph end (Arabic side), the dots inside the address stay Latin.
    assert runs[0] == Run("للإبلاغ: ", "Arab")
    assert runs[1] == Run("cybercrime.gov.in", "Latn")
    assert runs[2].script == "Arab" and runs[2].text == "."
    assert runs[0].rtl and not runs[1].rtl


def test_marks_stay_with_their_base() -> None:
    runs = split_runs("स्कूल", "Deva")
    assert runs == [Run("स्कूल", "Deva")]


def test_thai_wraps_at_zero_width_spaces_and_fits() -> None:
    text = load_locale("th").tips[4].text
    style = TextStyle(22)
    lines = wrap(text, "Thai", style, 300)
    assert len(lines) > 1
    assert all(line.width <= 300 and not line.overflow for line in lines)
    assert "".join(line.text for line in lines).replace(ZWSP, "").replace(" ", "") == text.replace(
        ZWSP, ""
    ).replace(" ", "")


def test_overlong_word_is_broken_and_flagged() -> None:
    lines = wrap("a" * 200, "Latn", TextStyle(22), 200)
    assert len(lines) > 1 and lines[0].overflow


def test_rtl_line_is_placed_from_the_right() -> None:
    style = TextStyle(24)
    line = wrap("مرحبا 116", "Arab", style, 10_000)[0]
    img = Image.new("RGB", (600, 60), (255, 255, 255))
    draw_line(ImageDraw.Draw(img), line, style, left=0, right=600, baseline=40, rtl=True)
    box = Image.eval(img.convert("L"), lambda v: 255 - v).getbbox()
    assert box is not None and box[2] >= 595 and box[0] > 300


def _icon_columns(img: Image.Image) -> set[int]:
    """Columns holding the picture's saturated colours (text is dark, the paper pale)."""
    hsv = img.convert("HSV")
    return {
        x
        for x in range(img.width)
        for y in range(0, img.height, 2)
        if (p := hsv.getpixel((x, y))) is not None
        and isinstance(p, tuple)
        and p[1] > 150
        and p[2] > 120
    }


def test_the_picture_is_on_the_reading_side() -> None:
    ar = render_body(notice_content(load_locale("ar"), None, "t05"), 800, 22).image
    en = render_body(notice_content(load_locale("en"), None, "t05"), 800, 22).image
    assert min(_icon_columns(ar)) > 700
    assert max(_icon_columns(en)) < 100
    assert ar.getpixel((0, 0)) == BACKGROUND


def test_every_locale_fits_1024x768_at_the_default_size() -> None:
    for code in ("en", "ar", "am", "km", "id", "sw"):
        assert fit_problems(load_locale(code), None, 22) == [], code
        assert fit_problems(load_locale(code), country_for("IN"), 22) == [], code


def test_fit_check_finds_text_that_is_too_long() -> None:
    en = load_locale("en")
    long_tips = tuple(
        Tip(f"t{i + 1:02d}", "lock", "This tip is much too long for a small screen. " * 12)
        for i in range(12)
    )
    strings = dict(en.strings)
    strings.update({f"notice.tips.{t.id}": t.text for t in long_tips})
    strings["notice.acknowledge"] = "OK " * 40
    strings["tray.pause"] = "x" * 80
    big = replace(en, tips=long_tips, strings=strings)
    problems = fit_problems(big, None, 22)
    assert any(p.startswith("notice (t01): ") and "px tall" in p for p in problems)
    assert any(p.startswith("notice.acknowledge: wider") for p in problems)
    assert any(p.startswith("tray.pause: 80 characters") for p in problems)


def test_font_coverage_rejects_garbage() -> None:
    with pytest.raises(FontFormatError):
        font_coverage(b"")
    with pytest.raises(FontFormatError):
        font_coverage(b"\x00\x01\x00\x00" + struct.pack(">H", 3) + b"\x00" * 6)


@given(st.binary(max_size=400))
def test_font_coverage_never_fails_otherwise(data: bytes) -> None:
    with contextlib.suppress(FontFormatError):
        font_coverage(data)


@given(st.binary(min_size=0, max_size=200))
def test_truncated_real_font_headers_fail_cleanly(tail: bytes) -> None:
    head = (FONTS_DIR / "NotoSansThai-Regular.ttf").read_bytes()[:300]
    with contextlib.suppress(FontFormatError):
        font_coverage(head + tail)
