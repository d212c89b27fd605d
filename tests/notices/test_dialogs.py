"""Toasts, the PIN prompt and the Tk popup menu on a private Xvfb."""

from __future__ import annotations

import time
import tkinter as tk
from collections.abc import Iterator

import pytest

from kiosk_agent.content.locales import load_locale
from kiosk_agent.notices.dialogs import PopupMenu, ask_pin
from kiosk_agent.notices.toast import ToastWindow, toast_image
from kiosk_agent.notices.tray import Entry
from tests.notices.xvfb import shared_xvfb


@pytest.fixture
def root(monkeypatch: pytest.MonkeyPatch) -> Iterator[tk.Tk]:
    monkeypatch.setenv("DISPLAY", shared_xvfb(1024, 768))
    r = tk.Tk()
    r.withdraw()
    try:
        yield r
    finally:
        r.destroy()


def pump(root: tk.Misc, seconds: float = 0.2) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        root.update()
        time.sleep(0.01)


def test_toast_sits_in_the_reading_corner_and_closes_itself(root: tk.Tk) -> None:
    toasts = ToastWindow(root, seconds=0.3)
    en = load_locale("en")
    toasts.show(en, en.text("toast.title"), en.text("toast.body"))
    pump(root)
    assert toasts.top is not None
    assert toasts.top.winfo_rootx() > 512  # bottom right for left-to-right languages
    pump(root, 0.4)
    assert toasts.top is None
    ar = load_locale("ar")
    toasts.show(ar, ar.text("toast.title"), ar.text("toast.body"))
    pump(root)
    assert toasts.top is not None and toasts.top.winfo_rootx() < 100  # bottom left for Arabic
    toasts.close()


def test_toast_image_fits_every_locale() -> None:
    for code in ("en", "ar", "am", "km", "th"):
        loc = load_locale(code)
        img = toast_image(loc, loc.text("toast.title"), loc.text("toast.body"))
        assert img.width == 420 and 60 < img.height < 200, code


def test_pin_prompt_hands_over_what_was_typed(root: tk.Tk) -> None:
    got: list[str] = []
    top = ask_pin(root, load_locale("sw"), got.append)
    pump(root)
    entry = next(w for w in top.winfo_children() if isinstance(w, tk.Entry))
    entry.insert(0, "4321")
    entry.event_generate("<Return>")
    pump(root)
    assert got == ["4321"]
    assert not top.winfo_exists()


def test_popup_menu_mirrors_the_entries(root: tk.Tk) -> None:
    pressed: list[str] = []
    entries = [
        Entry("status", "Protected"),
        Entry("show_notice", "Show", lambda: pressed.append("show")),
        Entry(
            "language",
            "Language",
            children=(
                Entry("language.en", "English", lambda: pressed.append("en"), checked=True),
                Entry("language.km", "ខ្មែរ", lambda: pressed.append("km"), checked=False),
            ),
        ),
    ]
    popup = PopupMenu(root)
    menu = popup.build(entries, load_locale("en"))
    assert menu.index("end") == 2
    assert menu.type(2) == "cascade"
    menu.invoke(1)
    submenu = root.nametowidget(menu.entrycget(2, "menu"))
    submenu.invoke(1)
    assert pressed == ["show", "km"]
    assert len(popup._photos) == 5  # every label is a Pillow-drawn image
