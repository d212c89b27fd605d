"""The real notice window on a private Xvfb: every locale drawn, countdown, language switch,
keyboard, right-to-left layout, both screen sizes, and the `notices show` command."""

from __future__ import annotations

import os
import time
import tkinter as tk
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from kiosk_agent.content.countries import country_for
from kiosk_agent.content.locales import shipped_codes
from kiosk_agent.notices.contrast import AA_NORMAL, measured_contrast
from kiosk_agent.notices.layout import BACKGROUND
from kiosk_agent.notices.reading import min_display as reading_time
from kiosk_agent.notices.window import NoticeWindow
from kiosk_agent.reporting.events import Event, NoticeAcknowledged, NoticeFeedback, NoticeShown
from tests.conftest import run_cli
from tests.notices.xvfb import shared_xvfb

# The README screenshots come from tests/notices/test_layout.py (KIOSK_UPDATE_SCREENSHOTS).


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def display() -> str:
    return shared_xvfb(1024, 768)


@pytest.fixture
def root(display: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tk.Tk]:
    monkeypatch.setenv("DISPLAY", display)
    r = tk.Tk()
    r.withdraw()
    try:
        yield r
    finally:
        r.destroy()


def pump(root: tk.Misc, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.02)


def changed(a: Image.Image, b: Image.Image) -> int:
    """How many pixels of ``a`` and ``b`` differ clearly."""
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).convert("L")
    return diff.point(lambda v: 255 if v > 20 else 0).histogram()[255]


def ink(img: Image.Image) -> int:
    """How many pixels differ clearly from the notice background."""
    return changed(img, Image.new("RGB", img.size, BACKGROUND))


def make(
    root: tk.Tk,
    languages: list[str],
    events: list[Event],
    clock: FakeClock | None = None,
    min_display: float = 8.0,
) -> NoticeWindow:
    return NoticeWindow(
        root,
        languages=languages,
        country=country_for("KE"),
        min_display=min_display,
        font_size=22,
        on_event=events.append,
        clock=clock or FakeClock(),
    )


def test_every_locale_is_drawn_full_screen(root: tk.Tk, tmp_path: Path) -> None:
    for code in shipped_codes():
        events: list[Event] = []
        window = make(root, [code, "en"], events)
        window.show()
        pump(root, 0.15)
        shot = window.capture()
        assert shot.size == (1024, 768), code
        assert ink(shot) > 20_000, f"{code}: the screenshot is nearly blank"
        assert events == [NoticeShown(code)]
        window.close()


def test_acknowledge_is_disabled_until_min_display(root: tk.Tk) -> None:
    clock = FakeClock()
    events: list[Event] = []
    window = make(root, ["sw", "en"], events, clock, min_display=8.0)
    window.show()
    pump(root)
    assert not window.ack_enabled
    assert window.ack_button is not None
    assert not int(window.ack_button.cget("takefocus"))
    window.ack_button.invoke()  # pressing early does nothing
    pump(root, 0.1)
    assert window.is_open and events == [NoticeShown("sw")]
    # The wait follows the tip shown (Swahili has no measured speed: the Latin default).
    assert window.tip_id is not None
    tip = window.locale.tip(window.tip_id)
    assert tip is not None
    wait = reading_time(tip.text, 900, 8.0)
    assert window.display_for == wait and 4.0 <= wait <= 20.0
    clock.now += wait - 0.5
    pump(root)
    assert not window.ack_enabled
    clock.now += 0.6
    pump(root)
    assert window.ack_enabled
    assert root.focus_get() is window.ack_button  # Return now acknowledges
    window.ack_button.event_generate("<Return>")
    pump(root, 0.1)
    assert events == [NoticeShown("sw"), NoticeAcknowledged("sw")]
    assert not window.is_open


def test_feedback_is_optional_counted_once_and_tips_rotate(root: tk.Tk) -> None:
    clock = FakeClock()
    events: list[Event] = []
    window = make(root, ["hi", "en"], events, clock)
    window.show()
    pump(root)
    first_tip = window.tip_id
    assert first_tip is not None
    before = window.capture()
    window.feedback_buttons[True].invoke()
    pump(root)
    window.feedback_buttons[False].invoke()  # a second answer is ignored
    pump(root)
    assert events == [NoticeShown("hi"), NoticeFeedback("hi", first_tip, "helpful")]
    assert changed(before, window.capture()) > 500  # the chosen button is drawn filled
    clock.now += 30
    pump(root)
    window.acknowledge()
    # The next notice shows another tip, and no feedback is needed to continue.
    window.show()
    pump(root)
    assert window.tip_id != first_tip and window.feedback is None
    clock.now += 30
    pump(root)
    window.acknowledge()
    assert events[-1] == NoticeAcknowledged("hi") and not window.is_open


def test_switching_language_changes_the_text(root: tk.Tk) -> None:
    events: list[Event] = []
    window = make(root, ["en", "sw", "ar"], events)
    window.show()
    pump(root)
    before = window.capture()
    en_x, ar_x = (window.lang_buttons[c].winfo_rootx() for c in ("en", "ar"))
    assert en_x < ar_x  # left to right: the café's first language on the left
    window.lang_buttons["sw"].invoke()
    pump(root)
    after = window.capture()
    assert window.locale.code == "sw"
    assert changed(before, after) > 10_000
    # Keyboard: Right moves to the next language (Arabic), whose bar runs right to left.
    assert window.top is not None
    window.top.event_generate("<Right>")
    pump(root)
    assert window.locale.code == "ar"
    en_x, ar_x = (window.lang_buttons[c].winfo_rootx() for c in ("en", "ar"))
    assert en_x > ar_x  # right to left: the bar is mirrored, the first language on the right
    window.close()


@pytest.mark.parametrize("size", [(800, 600), (1366, 768), (1920, 1080)])
def test_real_window_at_each_size(monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]) -> None:
    """One real Tk window per screen size (the other combinations are drawn with Pillow
    in test_layout.py): full screen, drawn, and the disabled button readable on screen."""
    monkeypatch.setenv("DISPLAY", shared_xvfb(*size))
    r = tk.Tk()
    r.withdraw()
    try:
        events: list[Event] = []
        window = make(r, ["km", "en"], events)
        window.show()
        pump(r)
        shot = window.capture()
        assert shot.size == size
        assert ink(shot) > 20_000
        assert window.ack_button is not None and window.top is not None
        b = window.ack_button
        x = b.winfo_rootx() - window.top.winfo_rootx()
        y = b.winfo_rooty() - window.top.winfo_rooty()
        w, h = b.winfo_width(), b.winfo_height()
        assert x >= 0 and x + w <= size[0] and y >= 0 and y + h <= size[1]
        inset = max(8, h // 4)  # inside the focus ring and the rounded corners
        face = shot.crop((x + inset, y + inset, x + w - inset, y + h - inset))
        assert measured_contrast(face)[2] >= AA_NORMAL
        window.close()
    finally:
        r.destroy()


def test_notices_show_screenshot_command(display: str, tmp_path: Path) -> None:
    out = tmp_path / "am.png"
    env_display = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        done = run_cli(
            ["notices", "show", "--locale", "am", "--country", "ET", "--screenshot", str(out)]
        )
    finally:
        if env_display is None:
            del os.environ["DISPLAY"]
        else:
            os.environ["DISPLAY"] = env_display
    assert done.returncode == 0, done.stderr
    with Image.open(out) as img:
        assert img.size == (1024, 768)
        assert ink(img) > 20_000


def test_notices_show_rejects_unknown_locale() -> None:
    done = run_cli(["notices", "show", "--locale", "xx", "--screenshot", "/dev/null"])
    assert done.returncode == 1
    assert "no notice in language 'xx'" in done.stderr
