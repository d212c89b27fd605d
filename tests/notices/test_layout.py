"""The notice's layout on every locale and screen size, drawn with Pillow (no display):
contrast of every text on the rendered pixels, no text outside its box, the configured
size kept at 1024×768, shaping in use for the complex scripts; and the screenshots.

``KIOSK_SCREENSHOT_DIR=<folder>`` keeps every rendered notice as a PNG there (one per
locale and size); ``KIOSK_UPDATE_SCREENSHOTS=1`` refreshes the ones in docs/screenshots.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from kiosk_agent.content.countries import country_for
from kiosk_agent.content.locales import Locale, Tip, load_locale, shipped_codes
from kiosk_agent.notices.contrast import AA_NORMAL, contrast_ratio, measured_contrast
from kiosk_agent.notices.layout import (
    ACK,
    ACK_DISABLED,
    ACK_DISABLED_TEXT,
    BACKGROUND,
    BOX,
    BOX_TEXT,
    FEEDBACK,
    FEEDBACK_CHOSEN,
    FEEDBACK_TEXT,
    LANG,
    LANG_SELECTED,
    MUTED,
    TEXT,
    TITLE,
    WHITE,
    Composed,
    Frame,
    compose,
    font_px,
    notice_content,
    render_body,
)
from kiosk_agent.notices.render import FONTS_DIR, SCRIPT_FONTS, ZWSP, font
from tests.conftest import REPO_ROOT

SIZES = ((800, 600), (1024, 768), (1920, 1080))
FONT_SIZE = 22
COUNTRY = {"hi": "IN", "bn": "BD", "km": "KH", "vi": "VN", "id": "ID", "fil": "PH", "sw": "KE"}
SHOT_DIR = os.environ.get("KIOSK_SCREENSHOT_DIR")
UPDATE = os.environ.get("KIOSK_UPDATE_SCREENSHOTS") == "1"
README_SHOTS = {("en", (1024, 768)), ("ar", (1024, 768)), ("km", (800, 600)), ("hi", (1920, 1080))}
README_SHOTS |= {("my", (800, 600)), ("th", (800, 600))}


def _longest_tip(loc: Locale) -> str:
    return max(loc.tips, key=lambda t: len(t.text)).id


def _notice(code: str, size: tuple[int, int], *, waiting: bool = True) -> Composed:
    loc = load_locale(code)
    frame = Frame(size[0], size[1], font_px(FONT_SIZE, *size))
    content = notice_content(loc, country_for(COUNTRY.get(code)), _longest_tip(loc))
    others = [load_locale(c) for c in ("en", "fr") if c != code]
    return compose(
        content,
        frame,
        languages=(loc, *others),
        wait_text=loc.text("notice.wait", seconds=12) if waiting else None,
    )


def _inner(img: Image.Image, box: tuple[int, int, int, int], inset: int) -> Image.Image:
    x0, y0, x1, y1 = box
    return img.crop((x0 + inset, y0 + inset, x1 - inset, y1 - inset))


def test_palette_meets_wcag_aa() -> None:
    for fg, bg in (
        (TEXT, BACKGROUND),
        (TITLE, BACKGROUND),
        (MUTED, BACKGROUND),
        (BOX_TEXT, BOX),
        (WHITE, ACK),
        (ACK_DISABLED_TEXT, ACK_DISABLED),
        (TITLE, LANG),
        (WHITE, LANG_SELECTED),
        (FEEDBACK_TEXT, FEEDBACK),
        (WHITE, FEEDBACK_CHOSEN),
    ):
        assert contrast_ratio(fg, bg) >= AA_NORMAL, (fg, bg)
    assert round(contrast_ratio((255, 255, 255), (0, 0, 0)), 1) == 21.0
    assert contrast_ratio(WHITE, (176, 176, 176)) < AA_NORMAL  # the old disabled button


def _check(code: str, size: tuple[int, int], shot: Composed) -> None:
    img = shot.image
    assert img.size == size
    assert shot.body_fits, f"{code} {size}: the body is taller than its space"
    assert not shot.overflow, f"{code} {size}: a word is wider than its line"
    for region in shot.regions:
        x0, y0, x1, y1 = region.box
        where = f"{code} {size} {region.name} {region.box}"
        assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1], f"{where}: off screen"
        assert all(line.width <= region.max_width + 0.5 for line in region.lines), where
        inset = 0 if region.name in ("body", "wait") else max(3, (y1 - y0) // 5)
        _bg, _ink, ratio = measured_contrast(_inner(img, region.box, inset))
        assert ratio >= AA_NORMAL, f"{where}: contrast {ratio:.2f}"
    # No two parts overlap (the buttons, the countdown and the body's blocks).
    boxes = [r.box for r in shot.regions]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"{code} {size}: {a} overlaps {b}"


@pytest.mark.parametrize("code", shipped_codes())
def test_every_locale_at_every_size(code: str) -> None:
    for size in SIZES:
        shot = _notice(code, size)
        _check(code, size, shot)
        if size == (1024, 768):
            assert shot.size == FONT_SIZE, f"{code}: shrunk below the configured size"
        if SHOT_DIR:
            Path(SHOT_DIR).mkdir(parents=True, exist_ok=True)
            shot.image.save(Path(SHOT_DIR) / f"notice-{code}-{size[0]}x{size[1]}.png")
        if UPDATE and (code, size) in README_SHOTS:
            shot.image.save(
                REPO_ROOT / "docs" / "screenshots" / f"notice-{code}-{size[0]}x{size[1]}.png",
                optimize=True,
            )
    # The enabled button (after the reading time) and a chosen feedback button too.
    loc = load_locale(code)
    frame = Frame(800, 600, font_px(FONT_SIZE, 800, 600))
    content = notice_content(loc, None, loc.tips[0].id)
    _check(code, (800, 600), compose(content, frame, chosen=True))
    _check(code, (800, 600), compose(content, frame, chosen=False))


def test_every_tip_fits_every_size() -> None:
    for code in shipped_codes():
        loc = load_locale(code)
        for w, h in SIZES:
            frame = Frame(w, h, font_px(FONT_SIZE, w, h))
            for tip in loc.tips:
                content = notice_content(loc, None, tip.id)
                body = render_body(content, frame.body_width, frame.font_px)
                assert body.image.height <= frame.body_height, f"{code} {tip.id} {w}x{h}"
                assert not body.overflow, f"{code} {tip.id} {w}x{h}"


@pytest.mark.parametrize("code", ["th", "km", "lo", "my"])
def test_long_thai_and_khmer_tips_wrap_without_overflow(code: str) -> None:
    loc = load_locale(code)
    # About three times the longest tip, without a single space: every line break must
    # come from the dictionary (no zero-width space is typed in the files either).
    long_text = "".join(t.text.replace(" ", "") for t in loc.tips[:3])
    assert ZWSP not in long_text
    tip = Tip("t01", "lock", long_text)
    big = replace(loc, tips=(tip,))
    frame = Frame(800, 600, font_px(FONT_SIZE, 800, 600))
    body = render_body(notice_content(big, None, "t01"), frame.body_width, frame.font_px)
    assert not body.overflow
    message = next(t for t in body.texts if t.fg == TEXT)
    assert len(message.lines) >= 3
    assert all(line.width <= message.max_width for line in message.lines)
    # Nothing lost or duplicated at the breaks.
    joined = "".join(line.text for line in message.lines)
    assert joined.replace(ZWSP, "").replace(" ", "") == long_text.replace(ZWSP, "").replace(" ", "")


SHAPED = {
    **{"ar": "Arab", "ur": "Arab", "km": "Khmr", "hi": "Deva", "ne": "Deva"},
    **{"my": "Mymr", "si": "Sinh", "lo": "Laoo", "th": "Thai"},
}


@pytest.mark.parametrize(("code", "script"), SHAPED.items())
def test_shaping_is_used(code: str, script: str) -> None:
    """The rendering differs from an unshaped (BASIC layout) one of the same text."""
    text = load_locale(code).tips[0].text.replace(ZWSP, "")
    size = 28
    shaped = font(script, size)
    basic = ImageFont.truetype(
        str(FONTS_DIR / SCRIPT_FONTS[script]), size, layout_engine=ImageFont.Layout.BASIC
    )
    assert shaped.layout_engine == ImageFont.Layout.RAQM

    def draw(f: ImageFont.FreeTypeFont, direction: str | None) -> Image.Image:
        img = Image.new("L", (2400, 80), 255)
        ImageDraw.Draw(img).text((10, 60), text, font=f, fill=0, anchor="ls", direction=direction)
        return img

    a = draw(shaped, "rtl" if script == "Arab" else None)
    b = draw(basic, None)
    diff = ImageChops.difference(a, b).point(lambda v: 255 if v > 64 else 0)
    assert diff.histogram()[255] > 500, f"{code}: shaped and unshaped look the same"


@pytest.mark.parametrize("code", ["en", "ar", "km"])
def test_author_line_under_the_tip_when_the_pack_names_one(code: str) -> None:
    """A tip written by a youth group carries its name ("Written by young people in
    Nairobi"): drawn under the message, smaller than it, in the quieter colour, readable."""
    loc = load_locale(code)
    author = "Written by young people in Nairobi"
    tip = replace(loc.tips[0], author=author)
    with_author = replace(loc, tips=(tip, *loc.tips[1:]))
    for size in SIZES:
        frame = Frame(size[0], size[1], font_px(FONT_SIZE, *size))
        shot = compose(notice_content(with_author, None, tip.id), frame)
        _check(code, size, shot)
        body = render_body(
            notice_content(with_author, None, tip.id), frame.body_width, frame.font_px
        )
        message = next(t for t in body.texts if t.fg == TEXT)
        by = [t for t in body.texts if t.fg == MUTED]
        assert len(by) == 1, f"{code} {size}: no author line"
        assert "".join(line.text for line in by[0].lines).replace(" ", "") == author.replace(
            " ", ""
        )
        assert by[0].box[1] >= message.box[3], "the author line is under the message"
        assert by[0].box[3] - by[0].box[1] < message.box[3] - message.box[1]
    plain = render_body(notice_content(loc, None, loc.tips[0].id), 800, 18)
    assert not [t for t in plain.texts if t.fg == MUTED], "no author line without an author"
